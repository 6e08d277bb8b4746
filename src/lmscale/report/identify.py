"""Which headline quantities the L(N, D) fit leaves unidentified, why, and what would pin them.

lmscale.fit lists such quantities in ``FitResult.unidentified`` (an interval at a bound, E's interval
reaching 0, a compute-optimal quantity whose interval spans over a decade, rival basins). An
unidentified quantity is never a headline: the summary, the HTML page and the demo's printout read
the flags from here, so all three say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmscale.fit import FitResult
from lmscale.fit.law import budget_key

#: The compute-optimal allocation's derived quantities (keys ``<name>@C=<budget>`` in a fit).
OPTIMUM = ("N_opt", "D_opt", "tokens_per_param")

#: What data would identify each kind of quantity (a noun phrase: "what would identify it: ...").
REMEDY_OPTIMUM = (
    "more compute budgets, each with model sizes on both sides of its lowest loss (IsoFLOP profiles), "
    "and larger budgets closer to the target"
)
REMEDY_FLOOR = "larger runs (more parameters and tokens), where the loss flattens toward its floor"
REMEDY_OTHER = "model sizes and token counts spanning a wider range (2 decades or more each)"


@dataclass(frozen=True)
class Flags:
    """The fit's unidentified quantities, split by the headline they would otherwise feed."""

    names: tuple[str, ...] = ()  # every quantity the fit flags
    optimum: tuple[str, ...] = ()  # of those, the compute-optimal allocation at the target budget
    warnings: tuple[str, ...] = ()  # the fit's warnings that name a flagged quantity

    def __bool__(self) -> bool:
        return bool(self.names)

    @property
    def floor(self) -> bool:
        """E, the irreducible loss, is unidentified."""
        return "E" in self.names

    def why(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """The warnings that name any of ``names`` (the diagnostics' own words)."""
        return [w for w in self.warnings if any(mentions(w, n) for n in names)]


def mentions(warning: str, name: str) -> bool:
    """Whether ``warning`` names ``name`` as a whole token ("E" in "E's interval", not in "1e+13")."""
    return re.search(rf"(?<![\w@=+.*]){re.escape(name)}(?![\w@=+*])", warning) is not None


def flags(fit: FitResult | None, target_flops: float) -> Flags:
    """The flags of ``fit`` (none without a fit), with the optimum at ``target_flops`` picked out."""
    if fit is None or not fit.unidentified:
        return Flags()
    names = tuple(fit.unidentified)
    keys = {budget_key(q, target_flops) for q in OPTIMUM}
    warnings = tuple(w for w in fit.warnings if any(mentions(w, n) for n in names))
    return Flags(names, tuple(n for n in names if n in keys), warnings)


def remedy(name: str) -> str:
    """What kind of data would identify ``name``."""
    if name == "E":
        return REMEDY_FLOOR
    if name.startswith(tuple(f"{q}@" for q in OPTIMUM)):
        return REMEDY_OPTIMUM
    return REMEDY_OTHER


def not_identified(label: str, names: tuple[str, ...] | list[str], fl: Flags, verb: str = "is") -> str:
    """'<label> is not identified by this data. Why: <the fit's warnings>. What would identify it: ...'"""
    why = "; ".join(fl.why(names)) or "the fit's diagnostics flag it"
    it = "it" if verb == "is" else "them"
    return f"{label} {verb} not identified by this data. Why: {why}. What would identify {it}: {remedy(names[0])}."


def display_name(name: str) -> str:
    """A flagged quantity as the page names it."""
    return "E (the irreducible loss)" if name == "E" else name
