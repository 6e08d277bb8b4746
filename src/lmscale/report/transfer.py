"""The page of `lmscale fit-transfer --html`: the from-scratch law with every run's early-stopped loss,
and the effective data transferred against D_F with eq. 1.1's fitted lines (Hernandez et al. 2021)."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd

from lmscale.fit.transfer import TransferFit
from lmscale.report.figures import FigureSpec, loglog_axes
from lmscale.report.html import figure_page, render_png
from lmscale.report.style import SizeColors, new_figure


def transfer_figure(fit: TransferFit, scratch: pd.DataFrame, published: dict | None = None) -> FigureSpec:
    """Left: target loss against distinct target tokens, from-scratch runs (dots) on the fitted law
    (lines) and fine-tuned runs (squares) at their D_F. Right: D_T against D_F (fitted runs), with
    eq. 1.1's fitted line per size and, dashed, the published law at the middle size."""
    rows = fit.rows
    sizes = np.unique(np.concatenate([scratch["N"].to_numpy(float), rows["N"].to_numpy(float)]))
    colors = SizeColors.for_values(sizes)
    fig, (left, right) = new_figure(2, width=5.4, height=4.2)
    d_all = np.concatenate([scratch["D"].to_numpy(float), rows["D_F"].to_numpy(float)])
    grid = np.geomspace(d_all.min() / 2, d_all.max() * 2, 100)
    for n in sizes:
        c = colors(n)
        s = scratch[scratch["N"] == n]
        left.scatter(s["D"], s["loss"], color=c, s=16, zorder=3)
        left.plot(grid, fit.scratch.predict(N=n, D=grid), color=c, lw=1.2)
        t = rows[rows["N"] == n]
        left.scatter(t["D_F"], t["loss"], color=c, marker="s", s=22, facecolors="none", zorder=3)
        used = t[t["used"]]
        right.scatter(used["D_F"], used["D_T"], color=c, s=18, zorder=3)
        if fit.fitted:
            right.plot(grid, fit.predict(grid, n), color=c, lw=1.2)
    if published:
        mid = float(sizes[len(sizes) // 2])
        law = published["k"] * grid ** published["alpha"] * mid ** published["beta"]
        right.plot(grid, law, color="#555", lw=1.0, ls="--", label=f"published {published['pair']}, N = {mid:.2g}")
        right.legend(fontsize=8)
    loglog_axes(left, "distinct target tokens D (D_F for fine-tuned runs)", "early-stopped target loss (nats/token)")
    left.set_title("from scratch (dots, law) and fine-tuned (squares)", fontsize=10)
    if rows["used"].any() or published:  # else nothing to draw on log axes
        loglog_axes(right, "fine-tuning tokens D_F", "effective data transferred D_T (tokens)")
    else:
        right.text(0.5, 0.5, "no run has a finite, positive D_T", ha="center", va="center", transform=right.transAxes)
    right.set_title("D_T = k·D_F^α·N^β", fontsize=10)
    colors.colorbar(fig, [left, right])
    p, ci = fit.params, fit.ci
    counted = f"{int(rows['used'].sum())} of {len(rows)} fine-tuned runs have a finite, positive D_T."
    caption = (
        f"α = {p['alpha']:.3f} ({ci['alpha'][0]:.3f}–{ci['alpha'][1]:.3f}), β = {p['beta']:.3f} "
        f"({ci['beta'][0]:.3f}–{ci['beta'][1]:.3f}), k = {p['k']:.3g}; {fit.level:.0%} intervals over "
        f"{fit.n_draws} bootstrap draws. {counted}"
        if fit.fitted
        else f"Eq. 1.1 is not fitted: {counted}"
    )
    data = rows[[c for c in ("run", "N", "D_F", "loss", "D_E", "D_T", "fraction", "used", "beyond_data") if c in rows]]
    return FigureSpec("transfer", "Effective data transferred", caption, fig, data)


def transfer_html(study: str, fit: TransferFit, scratch: pd.DataFrame, published: dict | None = None) -> str:
    """The whole page: the caption's numbers, the warnings, the figure."""
    fig = render_png(transfer_figure(fit, scratch, published))
    notes = "".join(f"<li>{escape(w)}</li>" for w in fit.warnings)
    summary = f"<p>{escape(fig.spec.caption)}</p>" + (f"<ul>{notes}</ul>" if notes else "")
    return figure_page(f"Transfer: {study}", "lmscale fit-transfer", summary, fig)
