"""Figures of the Chinchilla study: IsoFLOP profiles, N_opt(C) by approach, and approach 3's backtest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit.compute_optimal import ComputeOptimal
from lmscale.report.figures import draw_allocation, draw_isoflop, loglog_axes
from lmscale.report.style import (
    APPROACH_COLORS,
    FIT_COLOR,
    SizeColors,
    new_figure,
)


def isoflop(a2: ComputeOptimal) -> Any:
    fig, (ax,) = new_figure(1)
    colors = SizeColors.for_values(a2.points["N"].to_numpy(float))
    draw_isoflop(ax, a2, colors)
    colors.colorbar(fig, ax)
    ax.set_xlabel("non-embedding parameters N")
    ax.set_ylabel("final loss (nats/byte)")
    ax.set_title("IsoFLOP profiles (approach 2)")
    return fig


def allocation(a1: ComputeOptimal, a2: ComputeOptimal, law: Any, a2_small: ComputeOptimal, top: float) -> Any:
    fig, (ax,) = new_figure(1)
    c = np.geomspace(min(a1.table["C"].min(), a2.table["C"].min()), top * 10, 100)
    draw_allocation(a1, c, APPROACH_COLORS[1], "approach 1", ax)
    draw_allocation(a2, c, APPROACH_COLORS[2], "approach 2", ax)
    ax.plot(c, law.optimal(c)[0], color=APPROACH_COLORS[3], label=f"approach 3: N ∝ C^{law.derived['a']:.2f}")
    ax.plot(c, a2_small.optimal(c)[0], color="#7f7f7f", ls=":", label="approach 2, small budgets only")
    loglog_axes(ax, "compute C = 6ND (FLOPs)", "compute-optimal N")
    ax.set_title("N_opt(C): three approaches")
    ax.legend(fontsize=8)
    return fig


def backtest(iso: pd.DataFrame, bt: Any) -> Any:
    fig, (ax,) = new_figure(1)
    t = bt.table
    ax.plot(iso["C"], iso["loss"], "o", color="#bbbbbb", label="runs used for the fit")
    ax.errorbar(
        t["C"],
        t["loss_pred"],
        yerr=[t["loss_pred"] - t["pi_low"], t["pi_high"] - t["loss_pred"]],
        fmt="s",
        color=FIT_COLOR,
        label="predicted (95% PI)",
    )
    ax.plot(t["C"], t["loss"], "kx", ms=8, label="actual")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel("final loss (nats/byte)")
    ax.set_title("backtest: approach 3 fitted below the largest budget")
    ax.legend(fontsize=8)
    return fig
