"""A planned number with its bootstrap interval, and the vectorised searches every plan shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lmscale.fit.intervals import percentile_interval

DEFAULT_LEVEL = 0.95
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class Estimate:
    """A point value and, when the law carries bootstrap draws, a percentile interval.

    The interval is a confidence interval on the *law's prediction* (parameter uncertainty
    only); it does not include run-to-run noise.
    """

    value: float
    low: float | None = None
    high: float | None = None

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def interval(self) -> list[float | None] | None:
        return [self.low, self.high] if self.has_interval else None


def estimate(value: float, draws: np.ndarray | None, level: float = DEFAULT_LEVEL) -> Estimate:
    """The point value with the percentile interval of its per-draw values (none without draws)."""
    if draws is None:
        return Estimate(float(value))
    low, high = percentile_interval(np.ravel(np.asarray(draws, dtype=float)), level)
    if not (np.isfinite(low) or np.isinf(low)):  # NaN: fewer than two usable draws
        return Estimate(float(value))
    return Estimate(float(value), float(low), float(high))


def argmin_grid(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, rows: int, grid: int = 241) -> np.ndarray:
    """argmin over x in [lo, hi] of f, for ``rows`` independent problems at once: (rows,).

    ``f`` maps x of shape (rows, k) to (rows, k). A grid finds each row's basin (robust to the flat and
    piecewise objectives of constrained plans), golden-section search polishes inside it.
    """
    xs = np.linspace(lo, hi, grid)
    with np.errstate(all="ignore"):
        ys = np.asarray(f(np.broadcast_to(xs, (rows, grid))), dtype=float)
    ys = np.where(np.isfinite(ys), ys, np.inf)
    i = np.argmin(ys, axis=1)
    a, b = xs[np.maximum(i - 1, 0)], xs[np.minimum(i + 1, grid - 1)]
    for _ in range(80):  # 0.618^80 of a grid step: far below float resolution of the bracket
        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        with np.errstate(all="ignore"):
            fc, fd = (np.asarray(f(v[:, None]), dtype=float)[:, 0] for v in (c, d))
        left = np.nan_to_num(fc, nan=np.inf) <= np.nan_to_num(fd, nan=np.inf)
        a, b = np.where(left, a, c), np.where(left, d, b)
    x = 0.5 * (a + b)
    with np.errstate(all="ignore"):
        fx = np.nan_to_num(np.asarray(f(x[:, None]), dtype=float)[:, 0], nan=np.inf)
    return np.where(fx <= ys[np.arange(rows), i], x, xs[i])
