"""Learning-rate schedules and the per-size learning-rate rule: pure functions of the step.

Convention: `lr_at(step, ...)` is the rate used for the update that takes the model from `step`
to `step + 1` (step counts from 0 to total_steps - 1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lmscale.errors import InputError


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warmup: (step + 1) / warmup_steps during warmup, then 1 (the first update is not 0)."""
    if warmup_steps <= 0 or step >= warmup_steps:
        return 1.0
    return (step + 1) / warmup_steps


def cosine_lr(step: int, total_steps: int, peak: float, warmup_steps: int, min_ratio: float) -> float:
    """Linear warmup, then cosine from `peak` at the end of warmup to `min_ratio * peak` at the
    last step (Kaplan et al. 2020 and Hoffmann et al. 2022 decay to a floor; Chinchilla used 10x)."""
    if step < warmup_steps:
        return peak * warmup_factor(step, warmup_steps)
    floor = min_ratio * peak
    span = total_steps - 1 - warmup_steps
    progress = 1.0 if span <= 0 else min(1.0, (step - warmup_steps) / span)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def constant_lr(step: int, total_steps: int, peak: float, warmup_steps: int) -> float:
    """Linear warmup, then `peak` for the rest of the run."""
    return peak * warmup_factor(step, warmup_steps)


def wsd_lr(
    step: int, total_steps: int, peak: float, warmup_steps: int, min_ratio: float, decay_fraction: float
) -> float:
    """Warmup-stable-decay: warmup, flat at `peak`, then a linear decay over the last
    ceil(decay_fraction * total_steps) steps reaching `min_ratio * peak` at the last step. Any
    prefix of the stable phase is shared by runs of every longer budget, so one long stable run
    can be branched into several budgets (Hu et al. 2024, MiniCPM; lmscale.train.branch). A decay
    that starts before warmup ends starts from the last rate warmup reached, and never rises."""
    start = decay_start(total_steps, decay_fraction)
    decay_steps = total_steps - start
    if step < start:
        return peak * warmup_factor(step, warmup_steps)
    top = peak * warmup_factor(max(start - 1, 0), warmup_steps)  # = peak once warmup is over
    floor = min(min_ratio * peak, top)
    progress = 1.0 if decay_steps <= 1 else min(1.0, (step - start + 1) / decay_steps)
    return top + (floor - top) * progress


def decay_start(total_steps: int, decay_fraction: float) -> int:
    """The first step of a WSD run's decay: the last ceil(decay_fraction * total_steps) steps
    (at least one) decay; every step before it is the stable phase shared with longer runs."""
    return total_steps - max(1, math.ceil(decay_fraction * total_steps))


def lr_at(
    schedule: str,
    step: int,
    total_steps: int,
    peak: float,
    warmup_steps: int,
    min_ratio: float = 0.1,
    decay_fraction: float = 0.2,
) -> float:
    if schedule == "cosine":
        return cosine_lr(step, total_steps, peak, warmup_steps, min_ratio)
    if schedule == "constant":
        return constant_lr(step, total_steps, peak, warmup_steps)
    if schedule == "wsd":
        return wsd_lr(step, total_steps, peak, warmup_steps, min_ratio, decay_fraction)
    raise InputError(f"unknown schedule {schedule!r} (choose cosine, constant or wsd)")


def lr_for_size(
    n_non_embedding: int, rule: str = "power", scale: float = 0.1, exponent: float = 0.25
) -> float:
    """Peak learning rate from model size N (non-embedding parameters).

    "power": scale * N**-exponent (smaller models tolerate larger rates).
    "kaplan": 0.003239 - 0.0001395 * ln(N), Kaplan et al. 2020 eq. D.1, floored at 1e-5 (the line
    crosses zero near N = 1e10).
    """
    n = max(int(n_non_embedding), 1)
    if rule == "power":
        return scale * n**-exponent
    if rule == "kaplan":
        return max(0.003239 - 0.0001395 * math.log(n), 1e-5)
    raise InputError(f"unknown lr_rule {rule!r} (choose power or kaplan)")


def log_spaced_steps(total_steps: int, points: int) -> list[int]:
    """`points` distinct steps (numbers of completed updates) spaced evenly in log from 1 to
    total_steps, always including total_steps (the final evaluation)."""
    if total_steps < 1:
        return []
    if points <= 1:
        return [total_steps]
    out = {total_steps}
    for i in range(points):
        out.add(max(1, min(total_steps, round(total_steps ** (i / (points - 1))))))
    return sorted(out)


def run_lr(spec: Any, step: int, peak: float) -> float:
    """The rate of update `step` of a run (a RunSpec) whose peak rate is `peak`."""
    return lr_at(spec.schedule, step, spec.steps, peak, spec.warmup_steps, spec.min_lr_ratio, spec.decay_fraction)


def lr_trace(spec: Any, peak: float) -> np.ndarray:
    """The rate of every update of a run: what the trainer used, for fits that need the whole
    schedule (lmscale.fit.annealing)."""
    return np.array([run_lr(spec, step, peak) for step in range(spec.steps)])


def run_traces(runs: Any) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Per-step rates of the store's runs (a runs table with `id`, `spec` and `final` JSON) and
    their schedule names, by id, and the reason for each run left out: a run of another trainer,
    or one without its peak rate."""
    import json

    from lmscale.train.spec import RunSpec

    traces: dict[str, np.ndarray] = {}
    schedules: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for row in runs.itertuples(index=False):
        try:
            spec = RunSpec.from_dict(json.loads(row.spec))
            peak = float(json.loads(row.final or "{}")["peak_lr"])
        except (InputError, ValueError, KeyError, TypeError):
            skipped[row.id] = "no lmscale run spec with a peak learning rate"
            continue
        if spec.command is not None:
            skipped[row.id] = "trained by its own command: lmscale does not know its schedule"
            continue
        traces[row.id] = lr_trace(spec, peak)
        schedules[row.id] = spec.schedule
    return traces, schedules, skipped
