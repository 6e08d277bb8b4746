"""How the report writes numbers: one place, so the summary, the page and the demo agree."""

from __future__ import annotations

import math


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
