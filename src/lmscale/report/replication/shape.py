"""Figure of the shape study (Kaplan §3.1): loss against aspect ratio, heads and feed-forward ratio."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmscale.report.style import (
    new_figure,
)


def shape(tables: dict[str, pd.DataFrame], flat_pct: float, paper_aspect: tuple[float, float]):
    fig, axes = new_figure(3, width=4.4)
    spec = [
        ("aspect", "aspect", "aspect ratio d_model / n_layer", True),
        ("heads", "n_head", "n_head at 4×48 (head dim 48/n_head)", True),
        ("ff_ratio", "ff_ratio", "feed-forward ratio d_ff / d_model", True),
    ]
    for ax, (name, x, label, logx) in zip(axes, spec, strict=True):
        t = tables.get(name)
        ax.axhspan(0, flat_pct, color="#2ca02c", alpha=0.08, label=f"within {flat_pct:g}%")
        if t is not None and len(t):
            yerr = np.vstack([t["increase_pct"] - t["increase_lo"], t["increase_hi"] - t["increase_pct"]])
            yerr = np.nan_to_num(np.clip(yerr, 0, None))
            ax.errorbar(t[x], t["increase_pct"], yerr=yerr, marker="o", color="#1f77b4", capsize=3)
            for v, y, lab in zip(t[x], t["increase_pct"], t["label"], strict=True):
                ax.annotate(lab, (v, y), textcoords="offset points", xytext=(3, 4), fontsize=6)
        if name == "aspect":
            ax.axvspan(
                *paper_aspect,
                color="#7f7f7f",
                alpha=0.1,
                label=f"paper's flat range {paper_aspect[0]:g}–{paper_aspect[1]:g}",
            )
        if logx:
            ax.set_xscale("log")
            if t is not None and len(t):  # label the swept values, not powers of ten
                ax.set_xticks(sorted(set(t[x])), [f"{v:g}" for v in sorted(set(t[x]))])
                ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel("loss increase over best (%)")
        ax.legend(fontsize=7, loc="upper right")
    axes[0].set_title("Shape at N≈1e5 (losses moved to N = 1e5)", fontsize=9)
    return fig
