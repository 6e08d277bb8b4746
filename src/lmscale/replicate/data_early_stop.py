"""Study 3's L(D), from a design where early stopping is reached (Kaplan et al. 2020 §4, eq. 1.2).

Design (preset ``data-early-stop``): two sizes (1e5, 3e5) x caps of 1e4 … 1e6 distinct tokens, every
run trained on 1e7 tokens (1,000 … 10 epochs) with 30 log-spaced held-out evaluations. Kaplan's L(D)
is the early-stopped loss of a large model on D tokens. A run's early-stopped loss only measures its
data when the held-out loss turned up after its minimum; a run whose loss was still falling at the
end measures its training length. So only caps whose last evaluation lies at least 1% above their
lowest count (the criterion in criteria.toml).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit import FitResult
from lmscale.fit.curves import early_stopped
from lmscale.replicate.common import ci_text, fit_power, param_ci, pct, sci
from lmscale.replicate.context import Context
from lmscale.replicate.result import Finding, judged
from lmscale.report.replication import data as data_figures

PRESET = "data-early-stop"
RISE_MIN = 0.01  # early stopping reached: the last evaluation is >= 1% above the lowest
MIN_CAPS = 3  # fewest early-stopped caps for a power law in D


def stopped_table(ctx: Context) -> pd.DataFrame:
    """One row per run: N, D (the cap), the lowest held-out loss, where it fell, and whether the loss
    turned up after it (`stopped`)."""
    table = early_stopped(ctx.runs(PRESET, min_runs=MIN_CAPS), ctx.curves(PRESET))
    table["stopped"] = table["rise_after_min"] >= RISE_MIN
    return table


def fit_ld(table: pd.DataFrame, ctx: Context) -> tuple[float, FitResult | None]:
    """L(D) = (D_c/D)^α_D at the largest size with MIN_CAPS early-stopped caps (None when no size has)."""
    for n in sorted(table["N"].unique(), reverse=True):
        rows = table[(table["N"] == n) & table["stopped"]]
        if len(rows) >= MIN_CAPS:
            return float(n), fit_power(rows, "D", ctx.bootstrap, seed=ctx.seed)
    return float(table["N"].max()), None


def _caps_text(table: pd.DataFrame, n: float) -> str:
    g = table[table["N"] == n].sort_values("D")
    return "; ".join(
        f"cap {sci(r.D)}: lowest {r.loss:.4f} after {r.tokens_at_min / r.D:.3g} epochs, "
        f"final {pct(r.rise_after_min)} above it"
        + ("" if r.stopped else " (still falling: not early-stopped)")
        for r in g.itertuples()
    )


def early_stop_findings(
    ctx: Context, alpha_d_paper: float, d_c_paper: float
) -> tuple[list[Finding], dict[str, Any], pd.DataFrame, Any]:
    """The design check and L(D): findings, numbers, the per-run table and the figure."""
    table = stopped_table(ctx)
    n_top = float(table["N"].max())
    n_stopped = int(table[table["N"] == n_top]["stopped"].sum())
    check = _design_check(table, n_top, n_stopped)
    n_star, ld = fit_ld(table, ctx)
    a, lo, hi = param_ci(ld, "alpha_D") if ld is not None else (np.nan, np.nan, np.nan)
    ours = (
        f"at N={n_star:.3g} on {ld.n_points} early-stopped caps: α_D = {ci_text(a, lo, hi)}, "
        f"D_c = {ci_text(*param_ci(ld, 'D_c'))} bytes, R²(log) = {ld.r2_log:.3f}"
        if ld is not None
        else f"no size has {MIN_CAPS} early-stopped caps, so L(D) is not estimated"
    )
    f = judged(
        "data",
        "L(D), early stopping reached",
        a,
        lo,
        hi,
        paper=f"§4 / eq. 1.2: the early-stopped loss of large models trained on D tokens follows "
        f"L(D) = (D_c/D)^α_D, α_D ≈ {alpha_d_paper:g}, D_c ≈ {sci(d_c_paper)} BPE tokens",
        ours=ours + f". Per cap at N={n_star:.3g}: {_caps_text(table, n_star)}",
        why="byte tokens of the 13.5M-byte English corpus, context 128, LR 0.06·N^-0.25 untuned, cosine "
        "schedule over the 1e7 tokens (the minimum of a small cap falls while the rate is still high)",
        figure="data_early_stop",
    )
    numbers = {
        "headline_N": n_star,
        "early_stopped_caps": n_stopped,
        "alpha_D": [a, lo, hi],
        "D_c": list(param_ci(ld, "D_c")) if ld is not None else None,
        "r2_log": ld.r2_log if ld is not None else None,
    }
    return [check, f], numbers, table, data_figures.early_stop(table, ld, n_star)


def _design_check(table: pd.DataFrame, n_top: float, n_stopped: int) -> Finding:
    return judged(
        "data",
        "Early stopping reached",
        float(n_stopped),
        paper="(method) L(D) needs runs whose loss is limited by their data, not by their training length",
        ours=f"{n_stopped} of {int((table['N'] == n_top).sum())} caps at N={n_top:.3g} turned up after their "
        f"lowest evaluation: {_caps_text(table, n_top)}",
        figure="data_early_stop",
    )


