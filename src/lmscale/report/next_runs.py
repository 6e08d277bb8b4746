"""The runs that would narrow an unidentified allocation, with their cost on the machine that ran the study.

When no method pins the compute-optimal model size at the target, the useful answer is what to train
next. This proposes the study's next two IsoFLOP budgets (its own spacing between budgets, continued
upward) with five sizes each, centred on the best-backtested method's N_opt there and spanning a
factor of 16 in N, as Hoffmann et al.'s profiles do. The cost is 6ND FLOPs, and the time comes from
this study's own throughput at its largest budget (sum of C over sum of run wall times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmscale.report.analysis import Analysis
from lmscale.report.wording import fmt

#: Sizes per proposed budget, as multiples of the predicted N_opt (a factor of 16 end to end).
SIZE_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Budgets proposed beyond the largest one the study has.
NEW_BUDGETS = 2


@dataclass(frozen=True)
class NextRuns:
    budgets: tuple[float, ...]  # FLOPs (6ND) of each proposed IsoFLOP budget
    sizes: tuple[tuple[float, ...], ...]  # N of the runs at each budget
    method: str  # whose N_opt the sizes are centred on
    flops: float  # all proposed runs together
    rate: float  # 6ND FLOPs per second of one run, measured on this study's largest budget
    seconds: float  # summed run time: parallel workers divide it

    def to_dict(self) -> dict[str, Any]:
        return {"budgets": list(self.budgets), "sizes": [list(s) for s in self.sizes], "method": self.method,
                "flops": self.flops, "flops_per_s": self.rate, "run_seconds": self.seconds}


def _budget_of(runs: Any) -> np.ndarray:
    """Each run's IsoFLOP budget: the `budget` column, else its own C."""
    return np.asarray(runs["budget"] if "budget" in runs.columns else runs["C"], float)


def _centre(a: Analysis) -> tuple[str, Any] | None:
    """The allocation to centre the sizes on: the best-backtested of approaches 1 and 2, else approach 3."""
    best = a.selection.best if a.selection is not None else None
    if best in a.allocation_fits:  # as the backtest fitted it
        return best, a.allocation_fits[best]
    return ("approach3", a.main) if a.main is not None else None


def next_runs(a: Analysis) -> NextRuns | None:
    """Two more IsoFLOP budgets above the study's largest, five sizes each, with their cost; None
    without budgets to continue, an allocation to centre on, or run times to price them."""
    runs = a.data.runs
    budget = _budget_of(runs)
    budgets = np.unique(budget[np.isfinite(budget)])
    centre = _centre(a)
    if len(budgets) < 2 or centre is None or "wall_time" not in runs.columns:
        return None
    top = runs[np.isclose(budget, budgets[-1])]
    wall = top["wall_time"].astype(float)
    if not (wall > 0).any():
        return None
    rate = float(top.loc[wall > 0, "C"].sum() / wall[wall > 0].sum())
    step = budgets[-1] / budgets[-2]
    new = tuple(float(budgets[-1] * step**k) for k in range(1, NEW_BUDGETS + 1))
    name, law = centre
    sizes = tuple(tuple(float(np.ravel(law.optimal(c)[0])[0]) * f for f in SIZE_FACTORS) for c in new)
    flops = len(SIZE_FACTORS) * sum(new)
    return NextRuns(new, sizes, name, flops, rate, flops / rate)


def next_runs_sentence(nr: NextRuns | None) -> str:
    """One sentence: which runs, how much compute, how long here ("" when none were proposed)."""
    if nr is None or not math.isfinite(nr.seconds):
        return ""
    n_lo = min(min(s) for s in nr.sizes)
    n_hi = max(max(s) for s in nr.sizes)
    return (
        f"Runs that would test the allocation further: {len(SIZE_FACTORS)} model sizes at each of "
        f"{' and '.join(fmt(c) for c in nr.budgets)} FLOPs (N from {fmt(n_lo)} to {fmt(n_hi)}, centred on "
        f"{nr.method.replace('approach', 'approach ')}'s N_opt), {fmt(nr.flops)} FLOPs in all: about "
        f"{nr.seconds / 60:.0f} minutes of run time at this study's measured {fmt(nr.rate)} FLOP/s per run "
        "on its largest budget (parallel workers divide it)."
    )
