"""Figures of the critical-batch study (Kaplan §5): the steps/examples trade-off, B_crit(L) and L(N, S_min)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lmscale.fit import FitResult
from lmscale.fit.batch import BatchSweepResult, BcritFit, critical_batch, steps_min
from lmscale.fit.intervals import percentile_interval
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    FIT_COLOR,
    PUBLISHED_COLORS,
    SizeColors,
    log_span,
    new_figure,
)


def tradeoff(sweep: BatchSweepResult):
    fig, (ax,) = new_figure(1, width=6.2)
    t = sweep.table[np.isfinite(sweep.table["B_crit"]) & (sweep.table["B_crit"] > 0)]
    colors = SizeColors.for_values(sweep.table["loss"].to_numpy())
    for r in t.itertuples():
        pts = sweep.points[np.isclose(sweep.points["loss"], r.loss) & np.isfinite(sweep.points["S"])]
        c = colors(r.loss)
        ax.plot(pts["S"], pts["E"], "o", color=c, ms=4)
        # eq. 5.1 along B: S = S_min + E_min/B, E = B·S_min + E_min
        b = np.geomspace(pts["B"].min() / 3, pts["B"].max() * 3, 100)
        ax.plot(r.S_min + r.E_min / b, b * r.S_min + r.E_min, "-", color=c, lw=1)
    loglog_axes(ax, "steps S to reach the target", "tokens E = B·S processed (bytes)")
    ax.set_title("Steps vs tokens per target loss, eq. 5.1 fits (Figure 11)")
    colors.colorbar(fig, ax, label="target loss (nats/byte)")
    return fig


def bcrit(
    sweep: BatchSweepResult,
    law: BcritFit,
    boot: np.ndarray,
    targets: np.ndarray,
    cur: pd.DataFrame,
    noise: pd.DataFrame | None,
    kaplan: Callable[[np.ndarray], np.ndarray],
):
    fig, (ax,) = new_figure(1, width=6.2)
    t = sweep.table.set_index("loss").loc[targets]
    lo, hi = np.array([percentile_interval(boot[:, j]) for j in range(len(targets))]).T
    y = t["B_crit"].to_numpy(float)
    err = np.vstack([np.clip(y - lo, 0, None), np.clip(hi - y, 0, None)])
    err = np.where(np.isfinite(err), err, 0.0)
    ax.errorbar(targets, y, yerr=err, fmt="o", color="k", label="B_crit = E_min/S_min (95% CI)")
    grid = log_span(targets, n=100)
    if np.isfinite(law.alpha_B):
        ax.plot(grid, law.predict(grid), "-", color=FIT_COLOR, label=f"fit: α_B = {law.alpha_B:.3g}")
    ax.plot(
        grid,
        kaplan(grid),
        "--",
        color=PUBLISHED_COLORS["kaplan2020"],
        label="Kaplan eq. 5.3 (in bytes)",
    )
    if noise is not None and len(noise):
        raw = cur[np.isfinite(cur["noise_scale"]) & (cur["loss"] <= targets.max() * 1.1)]
        ax.scatter(
            raw["loss"], raw["noise_scale"], s=6, alpha=0.25, color="#1f77b4", label="B_simple along curves"
        )
        med = noise.groupby("loss")["B_simple"].median()
        ax.plot(med.index, med.to_numpy(), "s", color="#1f77b4", label="median B_simple at target")
    loglog_axes(ax, "loss (nats/byte)", "batch size (bytes)")
    ax.set_title("Critical batch size vs loss (Figure 10)")
    ax.legend(fontsize=7)
    return fig


def ns(table: pd.DataFrame, res: FitResult, bcrit: tuple[float, float]):
    fig, (ax,) = new_figure(1, width=6.2)
    colors = SizeColors.for_values(table["N"].to_numpy())
    smin = steps_min(table["S"], table["B"], critical_batch(table["loss"], *bcrit))
    for n in np.sort(table["N"].unique()):
        m = (table["N"] == n).to_numpy()
        c = colors(n)
        ax.plot(smin[m], table["loss"][m], "o", ms=3, color=c)
        grid = log_span(smin[m], n=100)
        ax.plot(grid, res.predict(N=np.full_like(grid, n), S=grid), "-", color=c, lw=1)
    loglog_axes(ax, "S_min (steps at B ≫ B_crit)", "held-out loss (nats/byte)")
    ax.set_title("L(N, S_min) fit (lines) on kaplan-cpu curves")
    colors.colorbar(fig, ax)
    return fig
