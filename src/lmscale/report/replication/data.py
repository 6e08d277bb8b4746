"""Figures of the data studies (Kaplan §4): L(N, D), the overfitting penalty, learning curves, early stopping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit import FitResult
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    FIT_COLOR,
    PUBLISHED_COLORS,
    SizeColors,
    log_span,
    new_figure,
)


def penalty_curve(res: FitResult, x: np.ndarray) -> np.ndarray:
    """δL(N, D) = L(N, D)/L(N, ∞) − 1 as a function of x = N^(α_N/α_D)/D (eq. 4.3), which it depends on
    alone under eq. 1.5: evaluated at one size, N = N_c, where D = N_c^(α_N/α_D)/x."""
    p = res.params
    n = p["N_c"]
    d = n ** (p["alpha_N"] / p["alpha_D"]) / np.asarray(x, float)
    return res.predict(N=n, D=d) / res.unlimited_data_loss_of(res.theta(), n)[0] - 1.0


def loss_vs_d(table: pd.DataFrame, res: FitResult):
    fig, (ax,) = new_figure(1, width=6.2)
    colors = SizeColors.for_values(table["N"].to_numpy())
    grid = log_span(table["D"].to_numpy(), n=100)
    for n, g in table.groupby("N"):
        c = colors(n)
        ax.plot(g["D"], g["loss"], "o", color=c)
        ax.plot(grid, res.predict(N=np.full_like(grid, n), D=grid), "-", color=c, lw=1.2)
    loglog_axes(ax, "D: distinct training tokens (bytes)", "early-stopped held-out loss (nats/byte)")
    ax.set_title("Early-stopped loss vs data, L(N, D) fit (lines)")
    colors.colorbar(fig, ax)
    return fig


def penalty(table: pd.DataFrame, res: FitResult, penalty: float):
    fig, (ax,) = new_figure(1, width=6.2)
    colors = SizeColors.for_values(table["N"].to_numpy())
    ax.scatter(table["x"], table["penalty"], c=colors(table["N"].to_numpy()), zorder=3)
    grid = log_span(table["x"].to_numpy(), n=200)
    ax.plot(grid, penalty_curve(res, grid), "-", color=FIT_COLOR, label="fit: eq. 4.3")
    ax.axhline(penalty, color=PUBLISHED_COLORS["kaplan2020"], ls=":", label=f"{100 * penalty:g}% penalty")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1e-3)
    r = res.params["alpha_N"] / res.params["alpha_D"]
    ax.set_xlabel(f"N^(α_N/α_D) / D   (α_N/α_D = {r:.3g})")
    ax.set_ylabel("L / L(N, ∞) − 1")
    ax.set_title("Overfitting penalty (Kaplan Figure 9 right)")
    ax.legend(fontsize=8)
    colors.colorbar(fig, ax)
    return fig


def curves(curves: pd.DataFrame, table: pd.DataFrame, target_n: float = 1e5):
    sizes = table["N"].unique()
    n = float(sizes[np.argmin(np.abs(np.log(sizes / target_n)))])
    sub = table[table["N"] == n].sort_values("D")
    fig, (ax,) = new_figure(1, width=6.2)
    caps = SizeColors.for_values(sub["D"].to_numpy())
    for row in sub.itertuples():
        g = curves[curves["run"] == row.run].sort_values("tokens")
        c = caps(row.D)
        ax.plot(
            g["tokens"], g["loss"], "-", color=c, lw=1.2, label=f"{row.D:.3g} distinct ({row.epochs:.3g} ep)"
        )
        ax.plot([row.tokens_at_min], [row.loss], "v", color=c)
    ax.set_xscale("log")
    ax.set_xlabel("tokens trained")
    ax.set_ylabel("held-out loss (nats/byte)")
    ax.set_title(f"N = {n:.3g}: learning curves per data cap (▼ = minimum)")
    lo = float(sub["loss"].min())
    ax.set_ylim(lo * 0.97, lo * 1.6)
    ax.legend(fontsize=8)
    return fig


def early_stop(table: pd.DataFrame, ld: FitResult | None, n_star: float) -> Any:
    fig, (ax,) = new_figure(1, width=6.2)
    colors = SizeColors.for_values(table["N"].to_numpy())
    for n, g in table.groupby("N"):
        g = g.sort_values("D")
        ax.plot(g["D"], g["loss"], "-", color=colors(n), lw=0.8)
        stopped = g[g["stopped"]]
        ax.plot(stopped["D"], stopped["loss"], "o", color=colors(n), label=f"N={n:.3g}, early-stopped")
        still = g[~g["stopped"]]
        ax.plot(
            still["D"], still["loss"], "o", mfc="none", color=colors(n), label=f"N={n:.3g}, still falling"
        )
    if ld is not None:
        grid = log_span(table["D"].to_numpy(), n=100)
        ax.plot(grid, ld.predict(D=grid), "--", color=FIT_COLOR, label=f"L(D) at N={n_star:.3g}")
    loglog_axes(ax, "D: distinct training tokens (bytes)", "lowest held-out loss (nats/byte)")
    ax.set_title("L(D): 1e7 tokens per run, open markers still falling at the end")
    ax.legend(fontsize=7)
    return fig
