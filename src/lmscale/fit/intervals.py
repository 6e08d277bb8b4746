"""The one percentile interval of lmscale: every bootstrap interval, in fit, plan and report, is this.

Definition: the (1 − level)/2 and (1 + level)/2 quantiles of the draws by linear interpolation
between order statistics (Hyndman & Fan's type 7, numpy's default), NaN draws (failed refits)
left out. A draw of +inf (a target loss that draw never reaches) sorts last: a bound that
interpolates towards it is +inf, an open interval, rather than NaN.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def percentile_interval(draws: Array | list[float], level: float = 0.95, axis: int = 0) -> tuple[Array, Array]:
    """(low, high) over ``axis`` of ``draws``; NaN where fewer than two draws are usable.

    For a 1-D input the two bounds are floats.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    x = np.moveaxis(np.asarray(draws, dtype=float), axis, 0)
    x = np.sort(x, axis=0)  # NaN sorts last
    n = np.sum(~np.isnan(x), axis=0)
    bounds = []
    for q in ((1.0 - level) / 2.0, (1.0 + level) / 2.0):
        h = (np.maximum(n, 1) - 1) * q
        lo = np.floor(h).astype(int)
        t = h - lo
        a = np.take_along_axis(x, lo[None, ...], axis=0)[0]
        b = np.take_along_axis(x, np.minimum(lo + 1, np.maximum(n - 1, 0))[None, ...], axis=0)[0]
        with np.errstate(invalid="ignore"):
            value = np.where((t == 0) | (a == b), a, a + (b - a) * t)
        bounds.append(np.where(n >= 2, value, np.nan))
    low, high = bounds
    if low.ndim == 0:
        return float(low), float(high)
    return low, high
