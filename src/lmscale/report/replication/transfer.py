"""Figure of the transfer study (Kaplan §3.2.2): loss on other text against loss on the training text."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lmscale.report.style import (
    FIT_COLOR,
    SizeColors,
    new_figure,
)


def transfer(f: pd.DataFrame, cp: pd.DataFrame | None, a: float, b: float) -> Figure:
    fig, (ax, ax2) = new_figure(2)
    colors = SizeColors.for_values(f["N"].to_numpy())
    if cp is not None:
        for run, g in cp.groupby("run"):
            n = (
                float(f.loc[f["run"] == run, "N"].iloc[0])
                if (f["run"] == run).any()
                else float(g["N"].iloc[0])
            )
            ax.plot(g["english"], g["code"], "-", color=colors(n), alpha=0.5, lw=1)
    ax.scatter(
        f["english"], f["code"], c=colors(f["N"].to_numpy()), s=45, edgecolor="k", zorder=3, label="final"
    )
    xs = np.linspace(f["english"].min(), f["english"].max(), 50)
    ax.plot(xs, a + b * xs, color=FIT_COLOR, lw=2, label=f"fit to finals: slope {b:.2f}")
    xm, ym = f["english"].mean(), f["code"].mean()
    ax.plot(xs, ym + (xs - xm), "--", color="#7f7f7f", label="slope 1 (constant offset)")
    ax.set_xlabel("English (training distribution) loss, nats/byte")
    ax.set_ylabel("Python-code loss, nats/byte")
    ax.set_title("Transfer: finals (points) and learning curves (lines)", fontsize=9)
    ax.legend(fontsize=7)
    ax2.scatter(f["N"], f["code"] - f["english"], c=colors(f["N"].to_numpy()), s=45, edgecolor="k")
    ax2.set_xscale("log")
    ax2.set_xlabel("N (non-embedding parameters)")
    ax2.set_ylabel("offset: code − English loss (nats)")
    ax2.set_title("Offset at the end of training", fontsize=9)
    colors.colorbar(fig, [ax, ax2])
    return fig
