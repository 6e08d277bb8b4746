"""Profiles: the best objective with one parameter held at each value of a grid, the others refitted.

A point estimate hides a flat or many-basined objective. E (the irreducible loss) is often flat
(Besiroglu et al. 2024) and Muennighoff et al.'s R_D* has two basins on their own runs (15.4 and
~95, the second slightly lower); a profile shows both, and says which values the data cannot tell
apart from the optimum.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmscale.fit.estimate import Problem, multistart
from lmscale.fit.forms import Array

#: Half the 95% quantile of χ²(1): a profile-likelihood interval keeps values whose log-likelihood is
#: within this of the best.
CHI2_95_HALF = 1.92
GRID_POINTS = 25  # about 2 s for E on Epoch's 240 points (varpro starts at every point)


@dataclass(frozen=True)
class Profile:
    """Σ Huber at each fixed value of ``param`` (others refitted); basins are its local minima."""

    param: str
    values: Array
    objective: Array
    best_objective: float  # the unconstrained fit's
    basins: tuple[tuple[float, float], ...]  # (value, objective) of each local minimum, best first
    n_points: int

    @property
    def rtol(self) -> float:
        """The relative rise of the objective that a 95% profile-likelihood interval tolerates.

        With Laplace errors of scale b (Huber/δ ≈ Σ|r| at these residuals), −log-likelihood is
        Σ|r|/b and b ≈ Σ|r|/n at the optimum, so a rise of 1.92 in log-likelihood is a rise of
        1.92/n in the objective's relative value (about 1% for Muennighoff et al.'s 182 runs).
        """
        return CHI2_95_HALF / max(self.n_points, 1)

    def near_best(self) -> tuple[float, float]:
        """The range of grid values the data cannot tell from the optimum (within ``rtol``)."""
        ok = self.objective <= self.best_objective * (1.0 + self.rtol)
        if not ok.any():
            return (float("nan"), float("nan"))
        return float(self.values[ok].min()), float(self.values[ok].max())

    def open_ends(self) -> tuple[str, ...]:
        """"below"/"above" where the near-best range runs to the end of the grid: the data set no
        limit on that side (within the grid's reach)."""
        finite = np.isfinite(self.objective)
        if not finite.any():
            return ()
        lo, hi = self.near_best()
        grid_lo, grid_hi = self.values[finite].min(), self.values[finite].max()
        return tuple(side for side, end, edge in (("below", lo, grid_lo), ("above", hi, grid_hi)) if end == edge)

    def rivals(self) -> tuple[tuple[float, float], ...]:
        """Basins other than the best whose objective is within ``rtol`` of the best one."""
        if not self.basins:
            return ()
        top = self.basins[0][1]
        return tuple(b for b in self.basins[1:] if b[1] <= top * (1.0 + self.rtol))

    def to_dict(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "values": self.values.tolist(),
            "objective": self.objective.tolist(),
            "best_objective": self.best_objective,
            "basins": [list(b) for b in self.basins],
            "near_best": list(self.near_best()),
            "open_ends": list(self.open_ends()),
            "n_points": self.n_points,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Profile:
        basins = tuple((float(v), float(o)) for v, o in d.get("basins", ()))
        return cls(d["param"], np.asarray(d["values"], float), np.asarray(d["objective"], float),
                   float(d["best_objective"]), basins, int(d.get("n_points", 0)))


def default_grid(problem: Problem, param: str, estimate: float) -> Array:
    """A log grid over the parameter's plausible range, with the estimate itself on it.

    E lives below the lowest observed loss; R* from one repetition's worth to far beyond any
    epoch count a study runs.
    """
    if param == "E":  # a decade-wide sweep below the lowest loss, dense near the estimate
        top = float(np.exp(problem.log_loss.min()))
        near = estimate * np.array([0.8, 0.9, 0.95, 1.05, 1.1]) if estimate > 1e-3 * top else []
        grid = np.r_[np.geomspace(1e-3 * top, 0.999 * top, GRID_POINTS // 2), near]
        grid = grid[grid < top]
    elif param.startswith("R_"):
        grid = np.geomspace(0.5, 5e3, GRID_POINTS)
    else:
        grid = estimate * np.geomspace(0.1, 10.0, GRID_POINTS)
    return np.unique(np.append(grid, estimate))


def _basins(values: Array, objective: Array) -> tuple[tuple[float, float], ...]:
    """Local minima of a profile (ends included), best first."""
    f = np.where(np.isfinite(objective), objective, np.inf)
    left = np.r_[np.inf, f[:-1]]
    right = np.r_[f[1:], np.inf]
    idx = np.flatnonzero((f <= left) & (f <= right) & np.isfinite(f))
    return tuple((float(values[i]), float(f[i])) for i in sorted(idx, key=lambda i: f[i]))


def profile(problem: Problem, theta_hat: Array, param: str, values: Array | None = None, seed: int = 0) -> Profile:
    """The profile of ``param``: refit everything else at each value, from the fit's own starts plus
    the full-data optimum (so a profile point is never worse than what the fit itself found)."""
    form = problem.form
    k = form.index(param)
    estimate = float(form.params[k].to_public(theta_hat[k]))
    grid = default_grid(problem, param, estimate) if values is None else np.asarray(values, float)
    objective = np.full(len(grid), np.inf)
    for i, v in enumerate(grid):
        fixed = {**problem.fixed, param: float(v)}
        sub = dataclasses.replace(problem, fixed=fixed, tie_exponents=problem.tie_exponents and param not in (form.tie or ()))
        start = theta_hat.copy()
        start[k] = form.params[k].to_internal(float(v))
        _, report = multistart(sub, None, seed=seed, extra=sub.reduce(start[None, :]))
        objective[i] = report.best_objective
    best = float(problem.huber_sum(theta_hat[None, :])[0])
    return Profile(param, grid, objective, best, _basins(grid, objective), problem.log_loss.size)
