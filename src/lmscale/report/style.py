"""One look for every figure: a colormap keyed on log N, so a model size has the same colour everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

CMAP = "viridis"
FIT_COLOR = "#d62728"  # this study's fits
APPROACH_COLORS = {1: "#2ca02c", 2: "#1f77b4", 3: FIT_COLOR}  # the Chinchilla approaches, in every figure
PUBLISHED_COLORS = {"kaplan2020": "#7f7f7f", "hoffmann2022": "#ff7f0e", "epoch2024": "#1f77b4"}
DPI = 110


@dataclass(frozen=True)
class SizeColors:
    """Colour of a model size N: viridis on log N over the study's range."""

    n_min: float
    n_max: float

    @classmethod
    def for_values(cls, n: np.ndarray) -> SizeColors:
        n = np.asarray(n, float)
        n = n[np.isfinite(n) & (n > 0)]
        lo, hi = (float(n.min()), float(n.max())) if n.size else (1.0, 10.0)
        if hi <= lo:  # one size: widen so the norm is defined
            lo, hi = lo / 2, hi * 2
        return cls(lo, hi)

    @property
    def norm(self) -> LogNorm:
        return LogNorm(vmin=self.n_min, vmax=self.n_max)

    def __call__(self, n: float | np.ndarray) -> np.ndarray:
        return colormaps[CMAP](self.norm(np.asarray(n, float)))

    def colorbar(self, fig: Figure, ax: Axes | list[Axes], label: str = "N (parameters)") -> None:
        sm = ScalarMappable(norm=self.norm, cmap=colormaps[CMAP])
        fig.colorbar(sm, ax=ax, label=label, pad=0.02)


def new_figure(ncols: int = 1, width: float = 5.2, height: float = 3.9) -> tuple[Figure, list[Axes]]:
    """A figure with ncols panels (no pyplot: nothing global, no display needed)."""
    fig = Figure(figsize=(width * ncols, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)
    return fig, list(axes)


def log_span(values: np.ndarray, extend_to: float | None = None, n: int = 200) -> np.ndarray:
    """A log grid over the values' range, optionally stretched to include ``extend_to``."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = float(v.min()), float(v.max())
    if extend_to is not None and np.isfinite(extend_to) and extend_to > 0:
        lo, hi = min(lo, extend_to), max(hi, extend_to)
    if hi <= lo:
        lo, hi = lo / 2, hi * 2
    return np.geomspace(lo, hi, n)


def plain_loss_ticks(fig: Figure) -> None:
    """Log y axes spanning less than a decade (losses) read better as 2, 2.5, 3 than as 2×10⁰."""
    for ax in fig.axes:
        lo, hi = ax.get_ylim()
        if ax.get_yscale() == "log" and lo > 0 and hi / lo < 10:
            fmt = FuncFormatter(lambda v, _: f"{v:.3g}")
            ax.yaxis.set_major_formatter(fmt)
            ax.yaxis.set_minor_formatter(fmt)
