"""Loss by token position in the context: how much two models gain from context, compared over the
early and the late positions (Kaplan et al. 2020, §3.2.1 and Fig. 7 right: an LSTM improves over its
first ~100 tokens and then plateaus, a transformer keeps improving through the whole context).

Each input is one model's mean loss at positions 1..n. Per-position losses are noisy (each averages
only eval_tokens / n_ctx windows), so plateaus are read from log2 bins of positions and intervals
come from a paired bootstrap over positions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from lmscale.fit.intervals import percentile_interval


def log2_bins(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss over positions 1, 2–3, 4–7, …, the last bin at least as wide as the one before:
    (first position of each bin, its mean)."""
    n = len(loss)
    starts = [1]
    while 2 * starts[-1] <= n and n - 2 * starts[-1] + 1 >= starts[-1]:
        starts.append(2 * starts[-1])
    ends = [*(a - 1 for a in starts[1:]), n]
    means = np.array([loss[a - 1 : b].mean() for a, b in zip(starts, ends, strict=True)])
    return np.array(starts), means


def plateau_position(loss: np.ndarray, within_pct: float) -> int:
    """First position of the log2 bin from which every later bin is within ``within_pct`` percent of
    the last bin."""
    starts, means = log2_bins(loss)
    bad = np.flatnonzero(means > means[-1] * (1 + within_pct / 100))  # the last bin is never bad
    return int(starts[bad[-1] + 1]) if len(bad) else 1


def _ratio(early_gap: float, late_gap: float) -> float:
    """Early gap over late gap; NaN without a late gap (the ratio is then undefined)."""
    return float(early_gap / late_gap) if late_gap != 0 else math.nan


@dataclass(frozen=True)
class PositionComparison:
    """Model a (the reference) against model b over the first ``early`` and the last ``late``
    positions. improvement = early − late mean loss; gap = b − a; the intervals are paired over
    positions (NaN when a resample has no late gap)."""

    early_a: float
    late_a: float
    early_b: float
    late_b: float
    plateau_a: int
    plateau_b: int
    improvement_diff: float  # a's improvement minus b's
    improvement_diff_ci: tuple[float, float]
    early_late_ratio: float  # early gap over late gap
    early_late_ratio_ci: tuple[float, float]

    @property
    def early_gap(self) -> float:
        return self.early_b - self.early_a

    @property
    def late_gap(self) -> float:
        return self.late_b - self.late_a

    def to_dict(self) -> dict:
        return {**asdict(self), "early_gap": self.early_gap, "late_gap": self.late_gap}


def compare_positions(
    a: np.ndarray,
    b: np.ndarray,
    early: int,
    late: int,
    plateau_pct: float,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PositionComparison:
    """Compare per-position losses ``a`` and ``b`` over their common length (see PositionComparison)."""
    n = min(len(a), len(b))
    if n < early + late:
        raise ValueError(f"need at least {early + late} positions (early {early} + late {late}), got {n}")
    a, b = np.asarray(a[:n], float), np.asarray(b[:n], float)
    first, last = np.arange(early), np.arange(n - late, n)
    rng = np.random.default_rng(seed)
    diffs, ratios = [], []
    for _ in range(bootstrap):
        e, la = rng.choice(first, early), rng.choice(last, late)
        diffs.append((a[e].mean() - a[la].mean()) - (b[e].mean() - b[la].mean()))
        ratios.append(_ratio(b[e].mean() - a[e].mean(), b[la].mean() - a[la].mean()))
    lo, hi = percentile_interval(diffs, level) if diffs else (math.nan, math.nan)
    finite = all(np.isfinite(ratios)) and len(ratios) > 0
    r_lo, r_hi = percentile_interval(ratios, level) if finite else (math.nan, math.nan)
    means = {
        k: float(x[idx].mean())
        for k, x, idx in (("ea", a, first), ("la", a, last), ("eb", b, first), ("lb", b, last))
    }
    return PositionComparison(
        means["ea"],
        means["la"],
        means["eb"],
        means["lb"],
        plateau_position(a, plateau_pct),
        plateau_position(b, plateau_pct),
        (means["ea"] - means["la"]) - (means["eb"] - means["lb"]),
        (float(lo), float(hi)),
        _ratio(means["eb"] - means["ea"], means["lb"] - means["la"]),
        (float(r_lo), float(r_hi)),
    )


__all__ = ["PositionComparison", "compare_positions", "log2_bins", "plateau_position"]
