"""Pre-registered criteria: per finding, the statistic, its estimator and the rule for each verdict.

The criteria live in criteria.toml, committed before the runs they judge. A study computes a
statistic (a value and, usually, its 95% interval) and the finding's verdict follows from the
criterion alone:

- reproduced: the whole 95% interval lies inside the criterion's band;
- not reproduced: the whole interval lies outside the band;
- partly: the interval straddles an edge of the band (consistent with it, not shown inside it);
- inconclusive: the statistic could not be estimated, or its interval is wider than `max_width`
  (too wide to decide either way).

Each judged finding stores its criterion's hash, so a result judged by a criterion that has since
changed is found by `stale_findings` (and by the test suite, for docs/replication).
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from lmscale.errors import InputError
from lmscale.sweep.spec import tomllib

Verdict = Literal["reproduced", "partly", "not reproduced", "inconclusive"]
VERDICTS: tuple[str, ...] = ("reproduced", "partly", "not reproduced", "inconclusive")
Group = Literal["kaplan-main", "kaplan-secondary", "chinchilla", "self-check"]
GROUPS: dict[str, str] = {
    "kaplan-main": "Kaplan's main laws",
    "kaplan-secondary": "Kaplan's secondary findings",
    "chinchilla": "The Chinchilla comparison",
    "self-check": "Self-checks of the method (not findings, not counted)",
}
LEGEND = (
    "reproduced: the whole 95% interval of the statistic lies inside the pre-registered band; "
    "partly: the interval straddles an edge of the band; not reproduced: the interval lies wholly "
    "outside the band; inconclusive: no estimate, or an interval wider than the criterion's maximum "
    "width (too wide to decide). A statistic without an interval (a point check) is judged on its value."
)


class Criterion(BaseModel):
    """One finding's pre-registered test. band: [low, high] (±inf allowed); max_width: the widest
    interval that can still decide (in decades when log); point: judged on the value alone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    study: str
    key: str
    group: Group
    statistic: str
    estimator: str
    band: tuple[float, float]
    max_width: float | None = None
    log: bool = False
    point: bool = False

    @model_validator(mode="after")
    def _check(self) -> Criterion:
        lo, hi = self.band
        if not lo < hi:
            raise ValueError(f"band must be [low, high] with low < high, got {list(self.band)}")
        if self.max_width is not None and self.max_width <= 0:
            raise ValueError(f"max_width must be positive, got {self.max_width}")
        return self

    @property
    def sha(self) -> str:
        """Hash of everything that decides the verdict (and what the statistic is)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def judge(self, value: float, low: float = math.nan, high: float = math.nan) -> Verdict:
        if not math.isfinite(value):
            return "inconclusive"
        if self.point:
            low = high = value
        if not (math.isfinite(low) and math.isfinite(high)):
            return "inconclusive"  # an interval statistic without an interval (e.g. no bootstrap)
        if self.max_width is not None and self._width(low, high) > self.max_width:
            return "inconclusive"
        b_lo, b_hi = self.band
        if b_lo <= low and high <= b_hi:
            return "reproduced"
        if high < b_lo or low > b_hi:
            return "not reproduced"
        return "partly"

    def _width(self, low: float, high: float) -> float:
        if not self.log:
            return high - low
        return math.log10(high / low) if low > 0 and high > 0 else math.inf

    def rule(self) -> str:
        """The criterion in words, as findings.md prints it."""
        band = _band_text(*self.band)
        if self.point:
            text = f"{self.statistic}: reproduced if its value lies {band}, else not reproduced"
        else:
            text = (
                f"{self.statistic}: reproduced if its 95% interval lies {band}, not reproduced if wholly "
                "outside, partly if it straddles an edge"
            )
        if self.max_width is not None:
            unit = " decades" if self.log else ""
            text += f"; inconclusive if the interval is wider than {self.max_width:g}{unit}"
        return text + f" (estimator: {self.estimator})"


def _band_text(lo: float, hi: float) -> str:
    if math.isinf(lo):
        return f"at or below {hi:g}"
    if math.isinf(hi):
        return f"at or above {lo:g}"
    return f"within [{lo:g}, {hi:g}]"


def _read(text: str, where: str) -> dict[tuple[str, str], Criterion]:
    try:
        rows = tomllib.loads(text).get("finding", [])
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where}: {exc}") from None
    out: dict[tuple[str, str], Criterion] = {}
    for i, row in enumerate(rows, 1):
        try:
            c = Criterion(**row)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(part) for part in err["loc"]) or "entry"
            raise InputError(f"{where}: finding {i}: {field}: {err['msg']}") from None
        if (c.study, c.key) in out:
            raise InputError(f"{where}: finding {i}: {c.study}/{c.key} appears twice")
        out[(c.study, c.key)] = c
    return out


@cache
def load_criteria() -> dict[tuple[str, str], Criterion]:
    """The shipped criteria, by (study, finding key)."""
    text = resources.files("lmscale.replicate").joinpath("criteria.toml").read_text()
    return _read(text, "lmscale/replicate/criteria.toml")


def criterion(study: str, key: str) -> Criterion:
    found = load_criteria().get((study, key))
    if found is None:
        raise KeyError(f"no pre-registered criterion for {study}/{key} in criteria.toml")
    return found


def stale_findings(results_dir: Path) -> list[str]:
    """Findings under results_dir/<study>/results.json judged by a criterion that is missing or has
    changed since (or judged by none): one line each."""
    criteria = load_criteria()
    problems = []
    for path in sorted(results_dir.glob("*/results.json")):
        study = path.parent.name
        for f in json.loads(path.read_text()).get("findings", []):
            c = criteria.get((study, f["key"]))
            stored = f.get("criterion_sha")
            if stored is None:
                problems.append(f"{study}/{f['key']}: judged before criteria were pre-registered")
            elif c is None:
                problems.append(f"{study}/{f['key']}: its criterion was removed from criteria.toml")
            elif c.sha != stored:
                problems.append(f"{study}/{f['key']}: criterion changed since it was judged ({stored} → {c.sha})")
    return problems
