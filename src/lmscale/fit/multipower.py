"""The loss curve under any learning-rate schedule: the multi-power law of Luo et al. 2025, "A
Multi-Power Law for Loss Curve Prediction Across Learning Rate Schedules" (arXiv 2503.12811),

    L(t) = L0 + A · (S1(t) + S_W)^(−α) − LD(t),
    LD(t) = B · Σ_{k=1..t} (η_{k−1} − η_k) · G(η_k^(−γ) · S_k(t)),   G(x) = 1 − (C·x + 1)^(−β),

with η_k the rate of post-warmup step k (η_0 = the peak), S1(t) = Σ_{k≤t} η_k, S_W the warmup's
sum of rates, and S_k(t) = Σ_{τ=k..t} η_τ the area since drop k (form and symbols as the authors'
repository, thu-yao-01-luo/MultiPowerLaw, states them). Each rate drop lowers the loss by
an amount that saturates, as a power, with the area trained since: unlike the annealing law
(lmscale.fit.annealing), a drop's effect grows with the time spent after it rather than fading.

Pure analysis, like the annealing law: the caller passes per-step rates; `decay_terms` adds each
row's terms; fit → fitted attributes → predict. Estimation: for fixed (α, β, γ, C) the law is
linear in (L0, A, B), solved by non-negative least squares on relative residuals (variable
projection); the four are searched on a coarse grid in log space, and the best starts refined by bounded
least squares.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

from lmscale.errors import InputError
from lmscale.fit.annealing import MIN_ROWS, CurveFit, warmup_end

#: Bounds of the nonlinear parameters, searched in log10: α, β, γ, C.
BOUNDS = {"alpha": (0.02, 3.0), "beta": (0.05, 5.0), "gamma": (0.01, 2.0), "C": (1e-4, 1e4)}
_GRID = {"alpha": (0.1, 0.4, 1.0), "beta": (0.2, 0.6, 2.0), "gamma": (0.1, 0.5), "C": (0.01, 1.0, 100.0)}


def _run_terms(post: np.ndarray, ends: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
    """For each row that ends after `t` post-warmup steps (t in `ends`; None where t < 1): the drops
    η_{k−1} − η_k, rates η_k and areas S_k(t) of its steps whose rate changed (the others add nothing
    to LD). The drops and the running area are computed once for the run; each row takes a prefix."""
    drops = -np.diff(post, prepend=post[0])
    area = np.concatenate([[0.0], np.cumsum(post)])
    changed = np.flatnonzero(drops)
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    for t in ends:
        keep = changed[changed < t]
        out.append((drops[keep], post[keep], area[t] - area[keep]) if t >= 1 else None)
    return out


def decay_terms(curves: pd.DataFrame, traces: dict[str, np.ndarray]) -> pd.DataFrame:
    """`curves` (run_id, step, loss, ...) with each row's total area S1 + S_W (column `S_all`),
    `after_warmup`, and its decay terms (column `terms`: drops, rates, areas)."""
    missing = sorted(set(curves["run_id"]) - set(traces))
    if missing:
        raise InputError(f"multi-power law: no learning-rate trace for run {missing[0]}")
    parts = []
    for run_id, rows in curves.groupby("run_id", sort=False):
        lr = np.asarray(traces[run_id], dtype=float)
        steps = rows["step"].to_numpy(dtype=int)
        if steps.min() < 1 or steps.max() > len(lr):
            raise InputError(f"multi-power law: run {run_id} has a curve row at step outside 1..{len(lr)}")
        start = warmup_end(lr) - 1  # the first step at the peak rate: η_0 = η_1 = the peak
        total = np.cumsum(lr)
        terms = _run_terms(lr[start:], steps - start)
        parts.append(rows.assign(S_all=total[steps - 1], after_warmup=steps > start + 1, terms=terms))
    return pd.concat(parts, ignore_index=True)


class _Flat:
    """Every row's decay terms in flat arrays (with the row each belongs to), so that LD of all rows
    is one vectorised expression per evaluation."""

    def __init__(self, rows: pd.DataFrame) -> None:
        terms = [t if t is not None else (np.zeros(0),) * 3 for t in rows["terms"]]
        self.n = len(terms)
        self.row = np.repeat(np.arange(self.n), [len(t[0]) for t in terms])
        self.drop, self.eta, self.area = (np.concatenate([t[i] for t in terms] or [np.zeros(0)]) for i in range(3))

    def unit_ld(self, beta: float, gamma: float, c: float) -> np.ndarray:
        """LD of each row for B = 1."""
        g = 1.0 - (c * self.eta ** (-gamma) * self.area + 1.0) ** (-beta)
        return np.bincount(self.row, weights=self.drop * g, minlength=self.n)


@dataclass
class MultiPowerFit(CurveFit):
    """L0, A, alpha and the loss-drop term's B, C, beta, gamma of one model's curves."""

    B: float = np.nan
    C: float = np.nan
    beta: float = np.nan
    gamma: float = np.nan

    def predict_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """The loss at rows that `decay_terms` prepared."""
        ld = _Flat(rows).unit_ld(self.beta, self.gamma, self.C)
        return self.L0 + self.A * rows["S_all"].to_numpy(dtype=float) ** (-self.alpha) - self.B * ld

    def predict_final(self, trace: np.ndarray) -> float:
        """The loss after the last step of a schedule (its per-step rates)."""
        one = decay_terms(pd.DataFrame({"run_id": ["run"], "step": [len(trace)]}), {"run": np.asarray(trace)})
        return float(self.predict_rows(one)[0])



def _projection(theta: np.ndarray, flat: _Flat, s_all: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L0, A, B) >= 0 minimising the squared relative residuals at log10 (α, β, γ, C), and those
    residuals (huge where the law cannot be evaluated, so the search stays away)."""
    alpha, beta, gamma, c = 10.0**theta
    design = np.column_stack([np.ones_like(loss), s_all ** (-alpha), -flat.unit_ld(beta, gamma, c)]) / loss[:, None]
    if not np.all(np.isfinite(design)):
        return np.zeros(3), np.full(len(loss), 1e6)
    coef, _ = nnls(design, np.ones_like(loss))
    return coef, design @ coef - 1.0


#: Grid starts refined by least squares (the best by cost on the grid).
REFINED_STARTS = 3


def fit_multipower(rows: pd.DataFrame) -> MultiPowerFit:
    """Fit the law to rows of one model (from `decay_terms`; warmup rows are left out)."""
    use = rows[rows["after_warmup"]]
    use = use[np.isfinite(use["loss"]) & (use["loss"] > 0)]
    if len(use) < MIN_ROWS:
        raise InputError(f"multi-power law: {len(use)} curve rows after warmup; it needs at least {MIN_ROWS}")
    flat = _Flat(use)
    s_all, loss = use["S_all"].to_numpy(dtype=float), use["loss"].to_numpy(dtype=float)
    names = ("alpha", "beta", "gamma", "C")
    lower, upper = (np.log10([BOUNDS[k][i] for k in names]) for i in (0, 1))

    def residuals(theta: np.ndarray) -> np.ndarray:
        return _projection(theta, flat, s_all, loss)[1]

    grid = [np.array(th) for th in itertools.product(*(np.log10(_GRID[k]) for k in names))]
    starts = sorted(grid, key=lambda th: float(np.sum(residuals(th) ** 2)))[:REFINED_STARTS]
    best = min((least_squares(residuals, th, bounds=(lower, upper), xtol=1e-12) for th in starts), key=lambda r: r.cost)
    (l0, a, b), res = _projection(best.x, flat, s_all, loss)
    alpha, beta, gamma, c = (float(v) for v in 10.0**best.x)
    runs = list(dict.fromkeys(use["run_id"])) if "run_id" in use else []
    return MultiPowerFit(
        rms_rel=float(np.sqrt(np.mean(res**2))), n_rows=len(use), runs=runs,
        L0=float(l0), A=float(a), alpha=alpha, B=float(b), C=c, beta=beta, gamma=gamma,
    )
