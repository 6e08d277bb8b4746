"""Which allocation the headline quotes, from the method backtest (lmscale.fit.select) and each
method's N_opt at the target. Pure functions of fitted results, so the rule is tested without a study.

The rule (issue 15):
1. Candidates are approaches 1 and 2 where the backtest cannot rank them below the best-backtested
   method (their N_opt errors are within the held-out minimum's own uncertainty of the best one's)
   and ranks them above approach 3 by more than that uncertainty. Without a candidate, approach 3
   (the L(N, D) law, which also predicts loss) keeps the headline.
2. A candidate's allocation is identified when its 95% interval for N_opt at the target spans at most
   MAX_HEADLINE_DECADES. The headline quotes the best-backtested identified candidate.
3. It is quoted only if every other candidate's N_opt at the target lies inside its interval: two
   methods the backtest cannot tell apart that disagree at the target leave the allocation open.

Steps 1 and 3 are why the choice no longer flips with float rounding: on the demo, approaches 1 and 2
came 0.010 decades apart on an AMD EPYC, inside the held-out minimum's ±0.03 decades, and 0.032 on an
Intel Xeon, just outside it; before, the best-backtested method alone decided (docs/demo.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit.intervals import percentile_interval
from lmscale.fit.select import MethodSelection, ranks_above, tied_with_best

#: A headline allocation whose 95% interval for N_opt spans more decades than this is not quoted.
MAX_HEADLINE_DECADES = 1.0
#: The methods that give an allocation without a loss law (Hoffmann et al.'s approaches 1 and 2).
ALLOCATION_METHODS = ("approach1", "approach2")


@dataclass(frozen=True)
class HeadlineChoice:
    """``method``: the one the headline quotes ("approach3" when neither approach 1 nor 2 is);
    ``candidates``: approaches 1 and 2 the backtest ranks above approach 3 and cannot rank apart,
    best first; ``note``: why the best-backtested candidate is not quoted, or why none is;
    ``horizon_method``: whose identified range the summary gives when none is quoted ("" for none)."""

    method: str = "approach3"
    candidates: tuple[str, ...] = ()
    note: str = ""
    horizon_method: str = ""


def _with_span(value: Any, low: Any, high: Any) -> tuple[float, float, float, float]:
    """(value, low, high, decades from low to high); a missing bound is NaN and spans infinitely many."""
    v, lo, hi = (math.nan if x is None else float(x) for x in (value, low, high))
    ok = lo > 0 and math.isfinite(lo) and math.isfinite(hi)
    return v, lo, hi, math.log10(hi / lo) if ok else math.inf


def target_allocation(fit: Any) -> tuple[float, float, float, float]:
    """(N_opt, low, high, decades spanned by the 95% interval) at the fit's target; NaNs without one."""
    if fit is None or fit.target is None:
        return (math.nan,) * 4
    return _with_span(fit.target["N_opt"], *fit.target["ci"]["N_opt"])


def label(method: str) -> str:
    """"approach2" → "approach 2", as the summary and the table name the methods."""
    return method.replace("approach", "approach ")


def _none_identified(candidates: tuple[str, ...], at: dict[str, tuple[float, ...]]) -> str:
    if len(candidates) == 1:
        return f"{label(candidates[0])}, the closest, spans {at[candidates[0]][3]:.1f} decades at the target (95% interval)"
    spans = " and ".join(f"{at[m][3]:.1f}" for m in candidates)
    names = " and ".join(label(m) for m in candidates)
    return (
        f"{names}, which the backtest cannot rank apart, span {spans} decades at the target (95% intervals)"
    )


def choose_headline(sel: MethodSelection | None, fits: dict[str, Any]) -> HeadlineChoice:
    """Apply the module's rule to the backtest ``sel`` and ``fits`` (approach 1 and 2 ComputeOptimal
    results with a target, as the backtest fitted them; a missing one is no candidate)."""
    if sel is None:
        return HeadlineChoice()
    candidates = tuple(
        m
        for m in tied_with_best(sel)
        if m in ALLOCATION_METHODS and fits.get(m) is not None and ranks_above(sel, m, "approach3")
    )
    if not candidates:
        return HeadlineChoice()
    at = {m: target_allocation(fits[m]) for m in candidates}
    identified = [m for m in candidates if at[m][3] <= MAX_HEADLINE_DECADES]
    if not identified:
        return HeadlineChoice("approach3", candidates, _none_identified(candidates, at), candidates[0])
    chosen = identified[0]
    _, lo, hi, _ = at[chosen]
    outside = [m for m in candidates if m != chosen and not lo <= at[m][0] <= hi]
    if outside:
        other = outside[0]
        note = (
            f"{label(chosen)} and {label(other)} tie in the backtest but disagree at the target: "
            f"{label(other)} puts N_opt at {at[other][0]:.3g}, outside {label(chosen)}'s 95% interval "
            f"{lo:.3g}–{hi:.3g}"
        )
        return HeadlineChoice("approach3", candidates, note, "")
    note = ""
    if chosen != candidates[0]:
        first = candidates[0]
        note = (
            f"{label(first)}, which the backtest cannot rank above it, spans {at[first][3]:.1f} decades at the "
            f"target, and its N_opt there ({at[first][0]:.3g}) lies inside {label(chosen)}'s interval"
        )
    return HeadlineChoice(chosen, candidates, note, "")


def method_table(
    sel: MethodSelection | None,
    fits: dict[str, Any],
    law_allocation: Any,
    law_a: tuple[float, float, float] | None,
    law_failed: float = math.nan,
) -> pd.DataFrame:
    """Approaches 1, 2 and 3 side by side: backtest error, exponent a with its interval, N_opt at the
    target with its interval and span, whether each is identified there, and the share of bootstrap
    resamples that could not be refitted (its intervals leave those out, so a large share means they
    may be too narrow). ``law_allocation`` is approach 3's plan at the target
    (lmscale.plan.Allocation), ``law_a`` its (a, low, high) and ``law_failed`` its failed share."""
    err = (
        sel.table.set_index("method")["N_opt_error_dex"].astype(float)
        if sel is not None
        else pd.Series(dtype=float)
    )
    rows = []
    for m in (*ALLOCATION_METHODS, "approach3"):
        if m == "approach3":
            a = law_a or (math.nan,) * 3
            n = law_allocation.N_opt if law_allocation is not None else None
            alloc = _with_span(n.value, n.low, n.high) if n is not None else (math.nan,) * 4
            failed = law_failed
        else:
            fit = fits.get(m)
            a = (fit.a, *fit.ci["a"]) if fit is not None else (math.nan,) * 3
            alloc = target_allocation(fit)
            failed = fit.n_bootstrap_failed / fit.bootstrap if fit is not None and fit.bootstrap else math.nan
        rows.append(
            {
                "method": label(m),
                "backtest N_opt error (decades)": float(err.get(m, math.nan)),
                "a": a[0],
                "a low": a[1],
                "a high": a[2],
                "N_opt at target": alloc[0],
                "N low": alloc[1],
                "N high": alloc[2],
                "decades": alloc[3],
                "identified": "yes" if alloc[3] <= MAX_HEADLINE_DECADES else "no",
                "resamples failed (%)": 100 * failed,
            }
        )
    return pd.DataFrame(rows)


def identified_horizon(chosen: Any, c_from: float, c_to: float, points: int = 41) -> dict[str, float] | None:
    """The largest budget in [c_from, c_to] at which ``chosen``'s N_opt interval spans at most
    MAX_HEADLINE_DECADES, with the allocation there; None when even c_from is wider."""
    if not chosen.bootstrap or not c_to > c_from:
        return None
    grid = np.geomspace(c_from, c_to, points)
    n_draws = chosen.optimal_draws(grid)[0]
    ok = np.all(np.isfinite(n_draws), axis=1)
    if ok.sum() < 2:
        return None
    lo, hi = np.array([percentile_interval(n_draws[ok, j], chosen.level) for j in range(points)]).T
    wide = np.flatnonzero(~(np.log10(hi / lo) <= MAX_HEADLINE_DECADES))  # NaN counts as wide
    k = wide[0] - 1 if len(wide) else points - 1  # the last budget before the first wide one
    if k < 0:
        return None
    n_opt, d_opt = chosen.optimal(grid[k])
    return {
        "C": float(grid[k]),
        "N_opt": float(n_opt),
        "D_opt": float(d_opt),
        "N_low": float(lo[k]),
        "N_high": float(hi[k]),
    }
