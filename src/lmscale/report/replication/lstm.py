"""Figures of the LSTM study (Kaplan §3.2.3): L(N) by family, loss by context position, the LR sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lmscale.fit import FitResult
from lmscale.fit.position import log2_bins
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    SizeColors,
    log_span,
    new_figure,
)
from lmscale.report.wording import param_ci, short_n


def loss(df: pd.DataFrame, fits: dict[str, FitResult], families: tuple[str, ...]) -> Figure:
    fig, (ax,) = new_figure(1)
    style = {"gpt": ("#1f77b4", "o", "transformer (GPT)"), "lstm": ("#d62728", "s", "LSTM")}
    grid = log_span(df["N"].to_numpy())
    for fam in families:
        color, marker, label = style[fam]
        d = df[df["family"] == fam]
        a = param_ci(fits[fam], "alpha_N")[0]
        ax.scatter(d["N"], d["loss"], color=color, marker=marker, label=label, zorder=3)
        ax.plot(grid, fits[fam].predict(N=grid), color=color, lw=1.5, label=f"{label} fit: α_N = {a:.3f}")
    loglog_axes(ax, "N (non-embedding parameters)", "held-out English loss (nats/byte)")
    ax.set_title("Transformers vs LSTMs (Kaplan Fig. 7 left)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def position(p: pd.DataFrame, curves: dict[str, np.ndarray]) -> Figure:
    fig, (ax, ax2) = new_figure(2)
    colors = SizeColors.for_values(p["N_gpt"].to_numpy())
    for r in p.itertuples():
        if r.run_gpt not in curves or r.run_lstm not in curves:
            continue
        g, lstm = curves[r.run_gpt], curves[r.run_lstm]
        n = min(len(g), len(lstm))
        x = np.arange(1, n + 1)
        c = colors(r.N_gpt)
        # Raw per-position losses are noisy: faint lines, with log2-bin means as markers.
        ax.plot(x, g[:n], "-", color=c, alpha=0.3, lw=0.8)
        ax.plot(x, lstm[:n], "--", color=c, alpha=0.3, lw=0.8)
        xb, gb = log2_bins(g[:n])
        _, lb = log2_bins(lstm[:n])
        ax.plot(xb, gb, "o-", color=c, ms=3, label=f"GPT N≈{short_n(r.N_gpt)}")
        ax.plot(xb, lb, "s--", color=c, ms=3, label=f"LSTM N≈{short_n(r.N_lstm)}")
        ax2.plot(x, lstm[:n] - g[:n], "-", color=c, alpha=0.3, lw=0.8)
        ax2.plot(xb, lb - gb, "o-", color=c, ms=3, label=f"N≈{short_n(r.N_gpt)}")
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_xlabel("token position in context")
        a.legend(fontsize=6)
    ax.set_ylabel("held-out loss at position (nats/byte)")
    ax.set_title("Per-position loss: GPT (solid) vs LSTM (dashed)", fontsize=9)
    ax2.axhline(0, color="k", lw=0.8)
    ax2.set_ylabel("LSTM − GPT loss (nats)")
    ax2.set_title("Where the transformer's advantage comes from", fontsize=9)
    colors.colorbar(fig, [ax, ax2])
    return fig


def learning_rates(sweep: pd.DataFrame, families: tuple[str, ...], lr_scales: tuple[float, ...]) -> Figure:
    fig, axes = new_figure(2)
    for ax, family in zip(axes, families, strict=True):
        g = sweep[sweep["family"] == family]
        colors = SizeColors.for_values(sweep["N"].to_numpy(float))
        for n, h in g.groupby("N"):
            ax.plot(h["lr_scale"], h["loss"], "o-", color=colors(n), label=f"N≈{short_n(n)}")
            b = h[h["best"]]
            ax.plot(b["lr_scale"], b["loss"], "*", ms=12, color=colors(n))
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(lr_scales, [f"{x:g}" for x in lr_scales])
        ax.set_xlabel("lr_scale (lr = lr_scale·N^-0.25)")
        ax.set_ylabel("final held-out loss (nats/byte)")
        ax.set_title(f"{family}: learning-rate sweep (star: best)", fontsize=9)
        ax.legend(fontsize=7)
    return fig
