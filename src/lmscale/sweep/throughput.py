"""How long a run will take: wall = steps · overhead + FLOPs / (FLOP/s), per run on one thread.

Assumed figures come from DESIGN.md's measurements on this class of CPU (Zen 4, torch 2.13, fp32,
one thread per run, two runs side by side): nanoGPT-style models reach ~25% of the 95 GFLOP/s
single-thread peak at 1e5 parameters and more at larger sizes; tiny models are dominated by
per-step overhead (optimizer, Python). When the store already holds finished runs from this
machine, the two coefficients are fitted to them instead (non-negative least squares).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from lmscale.errors import InputError
from lmscale.sweep.expand import PlannedRun, planned_run
from lmscale.train.spec import RunSpec

ASSUMED_FLOPS_PER_S = 4.5e10  # exact FLOPs/s per one-thread run, fitted to runs of 1e4-3e5 params here
ASSUMED_STEP_OVERHEAD_S = 4.4e-3  # s per optimizer step regardless of size (Python, AdamW, data)


@dataclass(frozen=True)
class Throughput:
    flops_per_s: float
    step_overhead_s: float
    source: str

    def seconds(self, run: PlannedRun) -> float:
        """Estimated wall seconds of one run on one thread: training plus its evaluations."""
        return self.step_overhead_s * run.steps * run.own_fraction + work_flops(run) / self.flops_per_s


def work_flops(run: PlannedRun) -> float:
    """Training FLOPs the run spends itself (a branch: not its shared trunk) plus evaluation FLOPs
    (forward only: a third of the training count per token)."""
    spec = run.spec
    per_token_fwd = run.flops_exact / max(run.D, 1) / 3.0
    evals = (spec.eval_points + 1) * spec.eval_tokens * (1 + len(spec.eval_sets))
    return run.spent_exact + evals * per_token_fwd


def assumed() -> Throughput:
    return Throughput(
        ASSUMED_FLOPS_PER_S,
        ASSUMED_STEP_OVERHEAD_S,
        "assumed: measured on a loaded 2-core CPU, one thread per run",
    )


def fitted(runs: pd.DataFrame) -> Throughput | None:
    """Fit (overhead, 1/rate) to the store's completed runs (`Store.runs()` rows) trained with one
    thread on CPU; None when there are too few or the fit is degenerate."""
    rows = []
    for r in runs.itertuples(index=False):
        if r.status != "completed" or r.source != "lmscale" or not r.wall_time > 0:
            continue
        try:
            spec = RunSpec.from_dict(json.loads(r.spec))
        except (InputError, ValueError, TypeError):
            continue
        if spec.device != "cpu" or (spec.threads or 1) != 1:
            continue
        run = planned_run(spec)
        rows.append((run.steps, work_flops(run), float(r.wall_time)))
    if len(rows) < 3:
        return None
    a = np.array([[s, f] for s, f, _ in rows], dtype=float)
    b = np.array([w for _, _, w in rows], dtype=float)
    scale = a.max(axis=0)
    coef, _ = nnls(a / scale, b)
    overhead, inv_rate = coef / scale
    if inv_rate <= 0:
        return None
    return Throughput(
        1.0 / inv_rate, float(overhead), f"measured from {len(rows)} finished runs in the store"
    )


def sweep_seconds(seconds: list[float], workers: int) -> float:
    """Wall time of running these on `workers` slots, longest first (LPT list scheduling)."""
    slots = [0.0] * max(1, workers)
    for s in sorted(seconds, reverse=True):
        i = slots.index(min(slots))
        slots[i] += s
    return max(slots)
