"""Loss on another distribution as a line in the training-distribution loss (Kaplan et al. 2020,
§3.2.2 and Fig. 8): L_other = a + b·L_train. A roughly constant offset is b ≈ 1.

Points are final losses (one per run) or evaluations along learning curves (several per run). The
bootstrap resamples whole runs, because the points of one curve are not independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.loglog import r_squared


def line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(a, b) of y = a + b·x by least squares."""
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


@dataclass(frozen=True)
class ShiftLine:
    """L_other = a + b·L_train fitted to ``n_points`` points of ``n_runs`` runs, with percentile
    intervals over ``draws`` (rows of (a, b), one per run resample that had two distinct x)."""

    a: float
    b: float
    r2: float
    residual_rms: float
    n_points: int
    n_runs: int
    level: float
    draws: np.ndarray = field(repr=False)

    def predict(self, loss_train: float | np.ndarray) -> np.ndarray:
        return self.a + self.b * np.asarray(loss_train, float)

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        """Intervals of a and b (NaN with fewer than two draws)."""
        if len(self.draws) < 2:
            return {"a": (math.nan, math.nan), "b": (math.nan, math.nan)}
        lo, hi = percentile_interval(self.draws, self.level)
        return {"a": (float(lo[0]), float(hi[0])), "b": (float(lo[1]), float(hi[1]))}


def resample_lines(df: pd.DataFrame, x: str, y: str, bootstrap: int, seed: int) -> np.ndarray:
    """(a, b) for ``bootstrap`` resamples of the runs of ``df`` (column ``run``), each run with all its
    points; a resample whose x takes one value is skipped. One run gives no draws: resampling it
    repeats it, which would be a zero-width interval, not certainty."""
    rng = np.random.default_rng(seed)
    runs = df["run"].unique()
    if len(runs) < 2:
        return np.empty((0, 2))
    rows = {r: np.asarray(g, dtype=int) for r, g in df.reset_index(drop=True).groupby("run").indices.items()}
    xs, ys = df[x].to_numpy(float), df[y].to_numpy(float)
    out = []
    for _ in range(bootstrap):
        pick = np.concatenate([rows[r] for r in rng.choice(runs, size=len(runs))])
        if np.unique(xs[pick]).size < 2:
            continue
        out.append(line(xs[pick], ys[pick]))
    return np.array(out).reshape(-1, 2)


def fit_shift(
    df: pd.DataFrame, x: str, y: str, bootstrap: int = 1000, seed: int = 0, level: float = 0.95
) -> ShiftLine:
    """Fit ``y`` (loss on the other distribution) against ``x`` (training-distribution loss) over the
    rows of ``df``, which carry a ``run`` column; intervals resample runs."""
    missing = {"run", x, y} - set(df.columns)
    if missing:
        raise InputError(f"a transfer line needs columns {sorted(missing)}")
    if df[x].nunique() < 2:
        raise InputError(f"a transfer line needs at least two distinct values of {x!r}")
    xs, ys = df[x].to_numpy(float), df[y].to_numpy(float)
    a, b = line(xs, ys)
    pred = a + b * xs
    return ShiftLine(
        a,
        b,
        r_squared(ys - pred, ys),
        float(np.sqrt(np.mean((ys - pred) ** 2))),
        len(df),
        int(df["run"].nunique()),
        level,
        resample_lines(df, x, y, bootstrap, seed),
    )


__all__ = ["ShiftLine", "fit_shift", "line", "resample_lines"]
