"""Straight lines in log-log space, y = coef·x^exponent, with a bootstrap over resampled points.

The curve-based fitters (approaches 1 and 2, the L(C_min) frontier's N(C) allocation, the critical
batch size law) all regress a log quantity on log compute (or log loss); this module is their one
least-squares line, its bootstrap bookkeeping and the resampling of runs they share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.intervals import percentile_interval
from lmscale.jsonsafe import plain

Array = np.ndarray
NAN_PAIR = (float("nan"), float("nan"))


def r_squared(residual: Array, values: Array) -> float:
    """1 − SS_res/SS_tot of ``values`` given their residuals (NaN when every value is equal)."""
    values = np.asarray(values, float)
    ss_tot = float(np.sum((values - values.mean()) ** 2))
    return 1.0 - float(np.sum(np.asarray(residual, float) ** 2)) / ss_tot if ss_tot > 0 else float("nan")


def fit_loglog(x: Array, y: Array) -> tuple[float, float, float]:
    """Least squares of log y on log x: returns (slope, intercept, R² in log space)."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(intercept), r_squared(ly - (slope * lx + intercept), ly)


@dataclass(frozen=True)
class LogLogLine:
    """y = coef · x^exponent fitted in log space, with bootstrap draws and percentile intervals.

    ``draws`` (S, 2) holds (exponent, log coef) per resample, NaN where a resample had too few
    points: rows stay aligned with the resample index, so two lines fitted on the same resamples
    (N_opt and D_opt, or two FLOP conventions) pair draw by draw.
    """

    exponent: float
    coef: float
    r2_log: float
    n_points: int
    level: float = 0.95
    draws: Array = field(default_factory=lambda: np.empty((0, 2)), repr=False)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def n_draws(self) -> int:
        return int(np.isfinite(self.draws).all(axis=1).sum())

    def predict(self, x: float | Array) -> Array:
        return self.coef * np.asarray(x, float) ** self.exponent

    def predict_draws(self, x: float | Array) -> Array:
        """Every draw's line at x: (S, *shape of x), NaN rows for failed resamples."""
        lx = np.log(np.asarray(x, float))
        shape = (len(self.draws),) + (1,) * lx.ndim
        return np.exp(self.draws[:, 1].reshape(shape) + self.draws[:, 0].reshape(shape) * lx)

    def interval(self, x: float | Array, level: float | None = None) -> tuple[Array, Array]:
        """Bootstrap confidence interval of the fitted line at x (not a prediction interval)."""
        if self.n_draws < 2:
            nan = np.full(np.shape(x), np.nan)
            return (float("nan"), float("nan")) if nan.ndim == 0 else (nan, nan.copy())
        return percentile_interval(self.predict_draws(x), self.level if level is None else level)

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "exponent": self.exponent,
                "coef": self.coef,
                "ci": self.ci,
                "level": self.level,
                "r2_log": self.r2_log,
                "n_points": self.n_points,
                "n_draws": self.n_draws,
            }
        )


def fit_line(
    x: Array, y: Array, resamples: list[tuple[Array, Array]], min_points: int = 2, level: float = 0.95
) -> LogLogLine:
    """Fit y ∝ x^k on the full data and on each resampled (x, y) pair; failed resamples give NaN rows."""
    slope, intercept, r2 = fit_loglog(x, y)
    draws = np.full((len(resamples), 2), np.nan)
    for i, (bx, by) in enumerate(resamples):
        if len(bx) >= min_points and np.ptp(np.log(bx)) > 0:
            draws[i, 0], draws[i, 1], _ = fit_loglog(bx, by)
    ci = {"exponent": NAN_PAIR, "coef": NAN_PAIR}
    if len(draws):
        ci = {
            "exponent": percentile_interval(draws[:, 0], level),
            "coef": percentile_interval(np.exp(draws[:, 1]), level),
        }
    return LogLogLine(
        exponent=slope,
        coef=math.exp(intercept),
        r2_log=r2,
        n_points=len(x),
        level=level,
        draws=draws,
        ci=ci,
    )


def run_resamples(n_runs: int, bootstrap: int, seed: int) -> Array:
    """(bootstrap, n_runs) boolean masks: which runs appear in each resample-with-replacement of runs.

    The envelope of a multiset of runs is the envelope of its distinct members, so a mask is all a
    resample of whole learning curves needs.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_runs, size=(bootstrap, n_runs))
    mask = np.zeros((bootstrap, n_runs), dtype=bool)
    np.put_along_axis(mask, picks, True, axis=1)
    return mask


def check_bootstrap(bootstrap: int, level: float, where: str) -> None:
    """The options every curve-based fitter shares, checked the way lmscale.fit.fit checks them."""
    if not (isinstance(bootstrap, (int, np.integer)) and not isinstance(bootstrap, bool) and bootstrap >= 0):
        raise InputError(f"{where}: bootstrap must be an integer >= 0, got {bootstrap!r}")
    if not 0 < level < 1:
        raise InputError(f"{where}: level must be between 0 and 1, got {level!r}")
