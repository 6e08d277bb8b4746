"""How the report writes numbers: one place, so the summary, the page and the demo agree."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lmscale.fit import FitResult


def fmt(x: float, digits: int = 3) -> str:
    """3 significant digits; large and small numbers as 1.23e21 (no '+', no leading zeros)."""
    if x is None or not math.isfinite(x):
        return "n/a"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        m, e = f"{x:.{digits - 1}e}".split("e")
        return f"{m}e{int(e)}"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def pct(x: float) -> str:
    return f"{100 * x:.2g}%" if abs(x) < 0.1 else f"{100 * x:.0f}%"


def short_n(n: float) -> str:
    """A size as the text writes it: 1e+03 -> 1e3, 3.2e+05 -> 3.2e5."""
    return f"{n:.2g}".replace("e+0", "e").replace("e+", "e")


def param_ci(result: FitResult, name: str) -> tuple[float, float, float]:
    """(estimate, low, high) of a fitted parameter (or derived quantity); NaN bounds without bootstrap."""
    est = float(result.params[name]) if name in result.params else float(result.derived.get(name, np.nan))
    lo, hi = result.ci.get(name, (np.nan, np.nan))
    return est, float(lo), float(hi)
