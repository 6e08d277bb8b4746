"""Figures of the learning-rate study: the sweep per size, and L(N) tuned against the shared rule."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from lmscale.fit import FitResult
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    SizeColors,
    log_span,
    new_figure,
)
from lmscale.report.wording import short_n


def sweep(table: pd.DataFrame, opt: pd.DataFrame, lr_scales: tuple[float, ...]) -> Figure:
    fig, (ax,) = new_figure(1)
    colors = SizeColors.for_values(table["N"].to_numpy(float))
    for n, g in table.groupby("N"):
        o = opt[opt["N"] == n].iloc[0]
        rel = g["loss"] / o["best_loss"] - 1.0
        ax.plot(g["lr_scale"], 100 * rel, "o-", color=colors(n), label=f"N≈{short_n(n)}")
        ax.axvline(o["lr_scale_star"], color=colors(n), lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(lr_scales, [f"{x:g}" for x in lr_scales])
    ax.set_xlabel("lr_scale (lr = lr_scale·N^-0.25)")
    ax.set_ylabel("final held-out loss above the size's best (%)")
    ax.set_title("Learning-rate sweep (dotted: parabola vertex lr_scale*)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def loss(best: pd.DataFrame, rule: pd.DataFrame, fits: dict[str, FitResult], rule_scale: float) -> Figure:
    fig, (ax,) = new_figure(1)
    grid = log_span(best["N"].to_numpy(float))
    for key, df, color in (("tuned", best, "C3"), ("rule", rule, "C0")):
        fit = fits[key]
        label = "each size's best rate" if key == "tuned" else f"lr_scale {rule_scale:g}"
        ax.plot(df["N"], df["loss"], "o", color=color, label=label)
        ax.plot(grid, fit.predict(N=grid), "-", color=color, lw=1, label=f"α_N {fit.params['alpha_N']:.3f}")
    loglog_axes(ax, "non-embedding parameters N", "final held-out loss (nats/byte)")
    ax.set_title("L(N) at the shared rule and at each size's best rate", fontsize=9)
    ax.legend(fontsize=7)
    return fig
