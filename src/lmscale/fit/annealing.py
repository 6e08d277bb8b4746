"""The loss curve under any learning-rate schedule: Tissue et al. 2024, "Scaling Law with Learning
Rate Annealing" (arXiv 2408.11029),

    L(s) = L0 + A · S1(s)^(−α) − C · S2(s),

S1(s) = Σ_{i≤s} η_i, the area under the learning-rate curve ("forward area"), and
S2(s) = Σ_{i≤s} Σ_{k≤i} (η_{k−1} − η_k)·λ^{i−k}, the annealing area: the rate drops so far, each
fading with λ = 0.999 (`DECAY`). The law is the abstract's; S1, S2 and λ as the same authors state
them in Wang, Tissue et al. 2025 (arXiv 2505.07796, §3.1, eq. 1). One model's parameters describe all
its curves, whatever their schedule and length, so a fit to some runs predicts the final loss of
another schedule, or of a run not yet finished.

Warmup is counted at the peak rate (our choice: its climb is not annealing, and the law does not
describe warmup; those rows are left out of fits).

Pure analysis: the caller passes each run's per-step learning rates (for lmscale's own runs,
`lmscale.train.schedule.lr_trace` rebuilds them from the run's spec). fit → fitted attributes →
predict, as elsewhere in `fit/`; the backtests on a store's curves are in
`lmscale.fit.schedule_backtest`. Estimation: for a fixed α the law is linear in (L0, A, C), solved
by non-negative least squares on relative residuals; α is the one-dimensional search outside
(variable projection), so no starting point is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar, nnls

from lmscale.errors import InputError

#: λ of the annealing momentum (the per-step fading of past rate drops).
DECAY = 0.999
#: α is searched in this range (log-spaced grid, then a bounded refinement).
ALPHA_RANGE = (0.02, 3.0)
MIN_ROWS = 4


def lr_areas(lr: np.ndarray, decay: float = DECAY) -> tuple[np.ndarray, np.ndarray]:
    """S1 and S2 after each step: entry s−1 holds the areas after s updates (rates lr[0..s−1]),
    with the warmup counted at the peak rate."""
    lr = np.asarray(lr, dtype=float)
    if lr.ndim != 1 or not len(lr) or not np.all(np.isfinite(lr)) or np.any(lr < 0):
        raise InputError("learning-rate trace: needs a non-empty list of finite rates >= 0")
    lr = lr.copy()
    lr[: warmup_end(lr)] = lr.max()
    s1 = np.cumsum(lr)
    drops = -np.diff(lr, prepend=lr[0])  # η_{k−1} − η_k, with η_0 = the peak
    m = np.empty_like(drops)
    acc = 0.0
    for i, drop in enumerate(drops.tolist()):  # m_i = λ·m_{i−1} + drop_i (scipy.signal would pull in scipy.stats)
        acc = decay * acc + drop
        m[i] = acc
    return s1, np.cumsum(m)


def warmup_end(lr: np.ndarray) -> int:
    """Steps until the rate first reaches its maximum: rows up to there are warmup, which the law
    does not describe, and are left out of fits."""
    lr = np.asarray(lr, dtype=float)
    return int(np.argmax(lr >= lr.max())) + 1


def areas_at(curves: pd.DataFrame, traces: dict[str, np.ndarray], decay: float = DECAY) -> pd.DataFrame:
    """`curves` (run_id, step, loss, ...) with S1 and S2 at each row's step, and `after_warmup`.
    A run without a trace, or a row beyond its trace, is an error naming it."""
    missing = sorted(set(curves["run_id"]) - set(traces))
    if missing:
        raise InputError(f"annealing law: no learning-rate trace for run {missing[0]}")
    parts = []
    for run_id, rows in curves.groupby("run_id", sort=False):
        trace = traces[run_id]
        s1, s2 = lr_areas(trace, decay)
        steps = rows["step"].to_numpy(dtype=int)
        if steps.min() < 1:
            raise InputError(f"annealing law: run {run_id} has a curve row at step {steps.min()}; steps count from 1")
        if steps.max() > len(trace):
            raise InputError(f"annealing law: run {run_id} has a curve row at step {steps.max()} beyond its {len(trace)} steps")
        parts.append(
            rows.assign(S1=s1[steps - 1], S2=s2[steps - 1], after_warmup=steps > warmup_end(trace))
        )
    return pd.concat(parts, ignore_index=True)


@dataclass
class CurveFit:
    """What the schedule-aware laws share: L0 + A·area^(−α), the loss of a constant rate, and how
    well the law fits one model's curves (rms relative residual, over how many rows, of which
    runs). Each law's fit adds the parameters of its decay term."""

    L0: float = np.nan
    A: float = np.nan
    alpha: float = np.nan
    rms_rel: float = np.nan
    n_rows: int = 0
    runs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class AnnealingFit(CurveFit):
    """L0, A, alpha and the annealing term's C of one model's curves."""

    C: float = np.nan

    def predict(self, s1: Any, s2: Any) -> np.ndarray:
        s1, s2 = np.asarray(s1, dtype=float), np.asarray(s2, dtype=float)
        return self.L0 + self.A * s1 ** (-self.alpha) - self.C * s2

    def predict_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """The loss at rows that `areas_at` prepared."""
        return self.predict(rows["S1"], rows["S2"])

    def predict_final(self, trace: np.ndarray, decay: float = DECAY) -> float:
        """The loss after the last step of a schedule (its per-step rates)."""
        s1, s2 = lr_areas(trace, decay)
        return float(self.predict(s1[-1], s2[-1]))



def _solve(alpha: float, s1: np.ndarray, s2: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, float]:
    """(L0, A, C) >= 0 minimising the squared relative residuals at this α, and that sum."""
    design = np.column_stack([np.ones_like(s1), s1 ** (-alpha), -s2]) / loss[:, None]
    coef, norm = nnls(design, np.ones_like(loss))
    return coef, float(norm**2)


def fit_annealing(rows: pd.DataFrame) -> AnnealingFit:
    """Fit the law to rows of one model (columns S1, S2, loss; `areas_at` adds them; warmup rows
    are left out when the column `after_warmup` says so)."""
    use = rows[rows["after_warmup"]] if "after_warmup" in rows else rows
    use = use[np.isfinite(use["loss"]) & (use["loss"] > 0) & (use["S1"] > 0)]
    if len(use) < MIN_ROWS:
        raise InputError(f"annealing law: {len(use)} curve rows after warmup; it needs at least {MIN_ROWS}")
    s1, s2, loss = (use[c].to_numpy(dtype=float) for c in ("S1", "S2", "loss"))
    grid = np.geomspace(*ALPHA_RANGE, 60)
    cost = [_solve(a, s1, s2, loss)[1] for a in grid]
    k = int(np.argmin(cost))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    best = minimize_scalar(lambda a: _solve(a, s1, s2, loss)[1], bounds=(lo, hi), method="bounded")
    alpha = float(best.x) if best.fun <= cost[k] else float(grid[k])
    (l0, a, c), ssr = _solve(alpha, s1, s2, loss)
    runs = list(dict.fromkeys(use["run_id"])) if "run_id" in use else []
    rms = float(np.sqrt(ssr / len(use)))
    return AnnealingFit(rms_rel=rms, n_rows=len(use), runs=runs, L0=float(l0), A=float(a), alpha=alpha, C=float(c))
