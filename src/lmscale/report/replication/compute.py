"""Figure of the compute study: the L(C_min) frontier under two FLOP conventions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit.frontier import FrontierResult
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    FIT_COLOR,
    SizeColors,
    new_figure,
)


def frontiers(curves: pd.DataFrame, f6: FrontierResult, fx: FrontierResult) -> Any:
    fig, axes = new_figure(2)
    colors = SizeColors.for_values(curves["N"].to_numpy(float))
    for _, g in curves.groupby("run"):
        axes[0].plot(g["flops_6n"], g["loss"], color=colors(g["N"].iloc[0]), lw=1)
    env = f6.envelope
    grid = np.geomspace(env["C"].min(), env["C"].max() * 10, 100)
    axes[0].plot(
        grid, f6.predict(C=grid), color=FIT_COLOR, lw=2, label=f"L(C_min), α_C = {f6.params['alpha_C']:.3f}"
    )
    loglog_axes(axes[0], "compute C = 6ND (FLOPs)", "held-out loss (nats/byte)")
    axes[0].set_title("learning curves and their envelope (Figure 13)")
    axes[0].legend(fontsize=8)
    colors.colorbar(fig, axes[0])
    for f, label, color in ((f6, "C = 6ND", FIT_COLOR), (fx, "exact FLOPs", "#1f77b4")):
        used = f.envelope[f.envelope["used"]] if "used" in f.envelope.columns else f.envelope
        axes[1].plot(used["C"], used["N"], "o", color=color, ms=3, alpha=0.6)
        g = np.geomspace(used["C"].min(), used["C"].max(), 50)
        axes[1].plot(
            g, f.allocation.predict(g), color=color, label=f"{label}: N ∝ C^{f.allocation.exponent:.2f}"
        )
    loglog_axes(axes[1], "compute C (FLOPs)", "N attaining the frontier")
    axes[1].set_title("compute-efficient model size (Figure 14)")
    axes[1].legend(fontsize=8)
    return fig
