"""Figures of the scaling study (Kaplan §3, §6): L(N), embedding parameters, sample efficiency."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit.loglog import fit_loglog
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    FIT_COLOR,
    SizeColors,
    new_figure,
)


def l_of_n(runs: pd.DataFrame, law: Any, law_e: Any, bt: Any) -> Any:
    fig, (ax,) = new_figure(1)
    n = runs["N"].to_numpy(float)
    grid = np.geomspace(n.min() / 2, n.max() * 3, 200)
    ax.scatter(n, runs["loss"], color="k", zorder=3, label="final held-out loss")
    ax.plot(grid, law.predict(N=grid), color=FIT_COLOR, label=f"(N_c/N)^α, α = {law.params['alpha_N']:.3f}")
    if law.draws is not None:
        lo, hi = law.interval(N=grid)
        ax.fill_between(grid, lo, hi, color=FIT_COLOR, alpha=0.15, lw=0)
    ax.plot(
        grid,
        law_e.predict(N=grid),
        color="#1f77b4",
        ls="--",
        label=f"E + A/N^α, α = {law_e.params['alpha']:.3f}",
    )
    ax.plot(
        grid, bt.fit.predict(N=grid), color="#7f7f7f", ls=":", label=f"backtest fit (N ≤ {bt.cutoff:.2g})"
    )
    loglog_axes(ax, "non-embedding parameters N", "loss (nats/byte)")
    ax.set_title("L(N): kaplan-cpu, 1e7 byte tokens per size")
    ax.legend(fontsize=8)
    return fig


def embedding(runs: pd.DataFrame) -> Any:
    fig, axes = new_figure(2)
    colors = {
        int(d): c
        for d, c in zip(
            sorted(runs["n_layer"].unique()),
            ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"],
            strict=False,
        )
    }
    for ax, col, label in (
        (axes[0], "N_total", "total parameters (with embeddings)"),
        (axes[1], "N", "non-embedding parameters N"),
    ):
        for depth, g in runs.groupby("n_layer"):
            ax.plot(g[col], g["loss"], "o", color=colors.get(int(depth), "k"), label=f"{int(depth)} layer(s)")
        x = runs[col].to_numpy(float)
        slope, intercept, _ = fit_loglog(x, runs["loss"].to_numpy(float))
        grid = np.geomspace(x.min(), x.max(), 100)
        ax.plot(grid, np.exp(intercept) * grid**slope, color="k", lw=0.8, ls="--")
        loglog_axes(ax, label, "loss (nats/byte)")
        ax.legend(fontsize=8)
    axes[0].set_title("with embeddings (Figure 6 left)")
    axes[1].set_title("without embeddings (Figure 6 right)")
    return fig


def samples(curves: pd.DataFrame, reach: pd.DataFrame, targets: list[float]) -> Any:
    fig, axes = new_figure(2)
    colors = SizeColors.for_values(curves["N"].to_numpy(float))
    for _, g in curves.groupby("run"):
        axes[0].plot(g["tokens"], g["loss"], color=colors(g["N"].iloc[0]))
    for t in targets:
        axes[0].axhline(t, color="k", lw=0.5, ls=":")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("tokens processed")
    axes[0].set_ylabel("held-out loss (nats/byte)")
    axes[0].set_title("learning curves (Figure 2)")
    colors.colorbar(fig, axes[0])
    for t, g in reach.groupby("target"):
        g = g.sort_values("N")
        axes[1].plot(g["N"], g["tokens"], "o-", label=f"loss ≤ {t:.3g}")
    loglog_axes(axes[1], "non-embedding parameters N", "tokens to reach the loss", plain_loss=False)
    axes[1].set_title("larger models need fewer tokens")
    axes[1].legend(fontsize=8)
    return fig
