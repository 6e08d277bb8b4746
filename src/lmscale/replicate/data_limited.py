"""Study 3: L(D) and L(N, D) with early stopping, and the overfitting penalty (Kaplan et al. 2020, §4).

Design (preset ``data-limited``): four sizes x five caps on distinct training tokens (1e5 … 5e6),
every run trained on 5e6 tokens (50 … 1 epochs) with 20 log-spaced held-out evaluations. Kaplan
early-stops on the test loss, so a run's loss here is the *minimum* held-out loss along its curve and
its data size D is the cap (distinct tokens), not the tokens it was trained on. These runs give
L(N, D), its backtest, α_N/α_D and the overfitting penalty.

L(D) itself comes from the ``data-early-stop`` preset (lmscale.replicate.data_early_stop): in the
runs above, caps of 3e5 and more are still improving when their 5e6 tokens end.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from lmscale.errors import InputError
from lmscale.fit import FitResult, backtest, fit, get_law
from lmscale.fit.curves import early_stopped
from lmscale.fit.intervals import percentile_interval
from lmscale.replicate.common import BYTES_PER_BPE, ci_text, param_ci, pct, sci
from lmscale.replicate.context import Context
from lmscale.replicate.data_early_stop import early_stop_findings
from lmscale.replicate.result import Finding, StudyResult, judged
from lmscale.report.analysis import attempt
from lmscale.report.replication import data as data_figures

PRESET = "data-limited"

# ---- Kaplan et al. 2020 (arXiv:2001.08361), as shipped in lmscale.reference ----------------------
_L_OF_D, _L_OF_ND = get_law("kaplan2020-d").params, get_law("kaplan2020").params
K_ALPHA_D_SINGLE, K_DC_SINGLE = _L_OF_D["alpha_D"], _L_OF_D["D_c"]  # eq. 1.2: L(D), early-stopped: 0.095, 5.4e13
K_ALPHA_N, K_ALPHA_D = _L_OF_ND["alpha_N"], _L_OF_ND["alpha_D"]  # Table 2, joint L(N, D) (eq. 1.5): 0.076, 0.103
K_NC, K_DC = _L_OF_ND["N_c"], _L_OF_ND["D_c"]  # Table 2: 6.4e13, 1.8e13
K_RATIO = round(K_ALPHA_N / K_ALPHA_D, 2)  # α_N/α_D as eq. 4.4 prints it: 0.74
K_D2_COEF = 5e3  # eq. 4.4: δL < 2% needs D ≳ 5e3·N^0.74 (BPE tokens)
PENALTY = 0.02  # the 2% overfitting penalty of eq. 4.4

# ---- How the statistics are measured (their bands are in criteria.toml) ---------------------------
MONO_TOL = (
    0.01  # "loss decreases with D": no step up by > 1% (2x the ~0.5% noise of a difference of two evals)
)
CURVE_RISE_MIN = 0.01  # overfitting visible: final held-out loss ≥ 1% above the minimum
MIN_RUNS = 8


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------


def check_design(table: pd.DataFrame) -> None:
    """Enough runs for a 4-parameter surface: several sizes and several caps."""
    n_sizes, n_caps = table["N"].nunique(), table["D"].nunique()
    if len(table) < MIN_RUNS or n_sizes < 2 or n_caps < 3:
        raise InputError(
            f"study {PRESET!r}: {len(table)} run(s) with curves over {n_sizes} size(s) and {n_caps} cap(s); "
            f"need >= {MIN_RUNS} runs, >= 2 sizes and >= 3 caps (run `lmscale sweep run {PRESET}`)"
        )


# ---------------------------------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------------------------------


def ratio_draws(res: FitResult) -> np.ndarray:
    """α_N/α_D for each bootstrap draw (draws are in form-parameter order)."""
    if res.draws is None:
        return np.empty(0)
    names = res.form.names
    return res.draws[:, names.index("alpha_N")] / res.draws[:, names.index("alpha_D")]


def l_inf(res: FitResult, n: np.ndarray) -> np.ndarray:
    """L(N, ∞) = (N_c/N)^α_N: the loss with unlimited data."""
    return res.unlimited_data_loss_of(res.theta(), n)[0]


def d2_table(res: FitResult, sizes: np.ndarray) -> pd.DataFrame:
    """D_2%(N) with bootstrap intervals, next to Kaplan's eq. 4.4 in BPE tokens and in bytes."""
    rows = []
    point = res.data_for_penalty_of(res.theta(), sizes, PENALTY)[0]
    draws = res.data_for_penalty_of(res.theta_draws(), sizes, PENALTY) if res.has_draws else None
    for i, n in enumerate(sizes):
        lo = hi = float("nan")
        if draws is not None:
            col = draws[:, i][np.isfinite(draws[:, i])]
            if col.size >= 2:
                lo, hi = percentile_interval(col)
        kap = K_D2_COEF * n**K_RATIO
        rows.append(
            {
                "N": n,
                "D_2pct": float(point[i]),
                "D_2pct_low": lo,
                "D_2pct_high": hi,
                "kaplan_bpe": kap,
                "kaplan_bytes": kap * BYTES_PER_BPE,
            }
        )
    return pd.DataFrame(rows)


def power_of_d2(table: pd.DataFrame) -> tuple[float, float]:
    """D_2% = K·N^r: (K, r) from two sizes of the table (exact, since r is a fit parameter)."""
    a, b = table.iloc[0], table.iloc[-1]
    r = math.log(b["D_2pct"] / a["D_2pct"]) / math.log(b["N"] / a["N"])
    return a["D_2pct"] / a["N"] ** r, r


def add_penalties(table: pd.DataFrame, res: FitResult) -> pd.DataFrame:
    out = table.copy()
    r = res.params["alpha_N"] / res.params["alpha_D"]
    out["L_inf"] = l_inf(res, out["N"].to_numpy())
    out["penalty"] = out["loss"] / out["L_inf"] - 1.0
    out["x"] = out["N"].to_numpy() ** r / out["D"].to_numpy()
    out["loss_pred"] = res.predict(N=out["N"].to_numpy(), D=out["D"].to_numpy())
    return out


def run_backtest(table: pd.DataFrame, ctx: Context):
    """Fit kaplan-nd on all but the largest size; predict the largest."""
    sizes = np.sort(table["N"].unique())
    if len(sizes) < 3:
        raise InputError(f"backtest needs 3 sizes (2 to fit, 1 to predict), have {len(sizes)}")
    return backtest(
        table[["N", "D", "loss"]],
        "kaplan-nd",
        cutoff=float(sizes[-2]),
        by="N",
        bootstrap=min(ctx.bootstrap, 200),
        seed=ctx.seed,
    )


def fit_data_constrained(runs: pd.DataFrame, table: pd.DataFrame, ctx: Context) -> FitResult:
    """Muennighoff et al. 2023 on the final (not early-stopped) losses: D = tokens trained, U = cap."""
    final = runs[["run", "N", "D", "loss"]].merge(table[["run", "D"]].rename(columns={"D": "U"}), on="run")
    # A cap within 1% of the tokens trained is one epoch (the trainer rounds to whole 128-token windows).
    final["U"] = np.where(final["U"] >= 0.99 * final["D"], final["D"], final["U"])
    return fit(final, "data-constrained", bootstrap=min(ctx.bootstrap, 100), seed=ctx.seed)


# ---------------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------------


def monotone_in_d(table: pd.DataFrame) -> dict[float, bool]:
    """Per size: the early-stopped loss never rises by more than MONO_TOL as the cap grows."""
    out = {}
    for n, g in table.groupby("N"):
        loss = g.sort_values("D")["loss"].to_numpy()
        out[float(n)] = bool(np.all(loss[1:] <= loss[:-1] * (1 + MONO_TOL)))
    return out


def finding_nd(res: FitResult, bt, skipped: dict[str, str]) -> tuple[Finding, dict]:
    an, ad = param_ci(res, "alpha_N"), param_ci(res, "alpha_D")
    nc, dc = param_ci(res, "N_c"), param_ci(res, "D_c")
    bt_err = bt.summary()["mean_abs_rel_error"] if bt is not None else float("nan")
    bt_text = (
        f"backtest (fit N ≤ {bt.cutoff:.3g}, predict the {len(bt.table)} runs above): mean |error| "
        f"{pct(bt_err)}, max {pct(bt.summary()['max_abs_rel_error'])}"
        if bt is not None
        else f"backtest skipped: {skipped.get('backtest', '?')}"
    )
    ours = (
        f"α_N = {ci_text(*an)}, α_D = {ci_text(*ad)}, N_c = {ci_text(*nc)}, D_c = {ci_text(*dc)} bytes; "
        f"R²(log) = {res.r2_log:.3f} over {res.n_points} runs; {bt_text}"
    )
    why = (
        f"α_N differs from {K_ALPHA_N:g} by {pct(an[0] / K_ALPHA_N - 1)}, α_D from {K_ALPHA_D:g} by "
        f"{pct(ad[0] / K_ALPHA_D - 1)}. The backtest extrapolates one size up from 3 tiny sizes. Our sizes "
        "(1e3-3e5) are where embeddings/width effects bend L(N), all runs see the same 5e6 trained tokens "
        "(the 1-epoch caps are not early-stopped), byte tokens, untuned LR."
    )
    f = judged(
        "data",
        "L(N,D)",
        bt_err,
        paper=(
            "§4 / eq. 1.5 (4.1): L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D fits all early-stopped runs; "
            f"Table 2: α_N = {K_ALPHA_N:g}, α_D = {K_ALPHA_D:g}, N_c = {sci(K_NC)}, D_c = {sci(K_DC)}"
        ),
        ours=ours,
        why=why,
        figure="data_loss_vs_d",
    )
    nums = {
        "alpha_N": an,
        "alpha_D": ad,
        "N_c": nc,
        "D_c": dc,
        "r2_log": res.r2_log,
        "n_points": res.n_points,
        "warnings": list(res.warnings),
        "backtest": bt.summary() if bt is not None else None,
    }
    return f, nums


def finding_ratio(res: FitResult, d2: pd.DataFrame) -> tuple[Finding, dict]:
    r = res.params["alpha_N"] / res.params["alpha_D"]
    draws = ratio_draws(res)
    draws = draws[np.isfinite(draws)]
    lo, hi = percentile_interval(draws) if draws.size >= 2 else (np.nan, np.nan)
    k, _ = power_of_d2(d2) if len(d2) >= 2 else (float("nan"), r)
    ours = f"α_N/α_D = {ci_text(r, lo, hi)}; so D_2%(N) = {k:.3g}·N^{r:.3g} bytes"
    span = f"; its 95% CI spans a factor {hi / lo:.3g}" if np.isfinite(lo) and lo > 0 else ""
    f = judged(
        "data",
        "alpha_N/alpha_D",
        r,
        float(lo),
        float(hi),
        paper=(
            "§4.2 / eq. 4.4: the overfitting penalty depends on N^(α_N/α_D)/D with α_N/α_D ≈ 0.74 (Table 2), "
            "so data must grow as N^0.74 to keep it fixed"
        ),
        ours=ours,
        why=f"ours is {pct(r / K_RATIO - 1)} from {K_RATIO:g}{span}: α_D is barely identified because the "
        "loss hardly depends on D above 1e6 distinct bytes. The ratio of two small exponents fitted on 4 "
        "sizes over 2.5 decades of N.",
        figure="data_penalty",
    )
    return f, {"ratio": (r, float(lo), float(hi)), "D2_coef": k, "D2_exponent": r}


def finding_d2(d2: pd.DataFrame) -> tuple[Finding, dict]:
    ratio = (d2["D_2pct"] / d2["kaplan_bytes"]).to_numpy()
    worst = float(np.max(np.abs(np.log10(ratio)))) if len(ratio) else float("nan")
    parts = "; ".join(
        f"N={row.N:.3g}: {ci_text(row.D_2pct, row.D_2pct_low, row.D_2pct_high)} vs Kaplan "
        f"{row.kaplan_bytes:.3g}"
        for row in d2.itertuples()
    )
    f = judged(
        "data",
        "D for 2% penalty",
        worst,
        paper="§4.2 / eq. 4.4: keeping the overfitting penalty below ~2% needs D ≳ 5e3·N^0.74 BPE tokens",
        ours=f"D at which our fitted δL(N, D) = 2% (bytes): {parts} (Kaplan converted at 4.2 bytes/BPE token)",
        why=f"ours differs from Kaplan's eq. 4.4 (in bytes) by up to a factor {10**worst:.3g}. D_c and N_c "
        "carry the corpus' entropy and tokenizer; a 2% penalty on a per-byte loss is not the same "
        "absolute penalty as on a per-BPE-token loss, and N is 5-8 decades below Kaplan's.",
        figure="data_penalty",
    )
    return f, {"table": d2.to_dict(orient="list"), "max_log10_ratio": worst}


def finding_overfit(table: pd.DataFrame, res: FitResult) -> tuple[Finding, dict]:
    mono = monotone_in_d(table)
    all_mono = all(mono.values())
    rho = float(stats.spearmanr(table["x"], table["penalty"]).statistic) if len(table) > 2 else float("nan")
    smallest = table[table["D"] == table["D"].min()]
    top = smallest.loc[smallest["N"].idxmax()]
    rise = float(top["rise_after_min"])
    # Reported beside ρ, which the criterion judges (its band lives in criteria.toml only).
    checks = {"monotone_in_D": all_mono, "curve_rises": rise >= CURVE_RISE_MIN}
    bad = [f"{n:.3g}" for n, ok in mono.items() if not ok]
    ours = (
        f"early-stopped loss falls with D at {sum(mono.values())}/{len(mono)} sizes"
        + (f" (not at N={', '.join(bad)})" if bad else "")
        + f"; Spearman ρ(N^(α_N/α_D)/D, δL) = {rho:.3f} over {len(table)} runs; at the smallest cap "
        f"({top['D']:.3g}, {top['epochs']:.3g} epochs) the N={top['N']:.3g} curve ends {pct(rise)} above "
        f"its minimum (reached at {top['tokens_at_min']:.3g} tokens)"
    )
    failed = [k for k, ok in checks.items() if not ok]
    f = judged(
        "data",
        "overfitting",
        rho,
        paper=(
            "§4.2 / Figure 9: with early stopping the loss falls with D at every N; the penalty "
            "δL = L(N,D)/L(N,∞) − 1 is a single function of N^(α_N/α_D)/D (eq. 4.3), growing with N at fixed D"
        ),
        ours=ours + (f"; checks not met: {', '.join(failed)}" if failed else ""),
        why="evaluation noise (~0.3% per point) blurs small penalties; the 1-epoch caps are trained on the "
        "same 5e6 tokens as the repeated ones, so their loss is limited by training length too, which "
        "L(N, ∞) from the fit does not account for.",
        figure="data_penalty",
    )
    return f, {"monotone_in_D": {f"{n:.6g}": v for n, v in mono.items()}, "spearman": rho, "rise": rise}


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def analyse_data(ctx: Context) -> StudyResult:
    runs = ctx.runs(PRESET, min_runs=MIN_RUNS)
    curves = ctx.curves(PRESET)
    table = early_stopped(runs, curves)
    check_design(table)
    skipped: dict[str, str] = {}

    nd = fit(table[["N", "D", "loss"]], "kaplan-nd", bootstrap=ctx.bootstrap, seed=ctx.seed)
    table = add_penalties(table, nd)
    bt = attempt(skipped, "backtest", lambda: run_backtest(table, ctx))
    dc = attempt(skipped, "data-constrained fit", lambda: fit_data_constrained(runs, table, ctx))
    d2 = d2_table(nd, np.sort(table["N"].unique()))

    result = StudyResult(study="data", title="3. L(D) and L(N, D) with early stopping (Kaplan §4)")
    numbers: dict = {}
    early, numbers["L_D"], es_table, es_figure = early_stop_findings(ctx, K_ALPHA_D_SINGLE, K_DC_SINGLE)
    result.findings += early
    for make in (
        lambda: finding_nd(nd, bt, skipped),
        lambda: finding_ratio(nd, d2),
        lambda: finding_d2(d2),
        lambda: finding_overfit(table, nd),
    ):
        f, nums = make()
        result.findings.append(f)
        numbers[f.key] = nums
    if dc is not None:
        numbers["data_constrained"] = {
            "R_D_star": param_ci(dc, "R_D_star"),
            "R_N_star": param_ci(dc, "R_N_star"),
            "r2_log": dc.r2_log,
        }
        result.notes.append(
            f"Muennighoff et al. 2023 data-constrained fit (final losses, U = cap): R_D* = "
            f"{ci_text(*param_ci(dc, 'R_D_star'))}, R_N* = {ci_text(*param_ci(dc, 'R_N_star'))} "
            f"(paper: 15.4, 5.3), R²(log) = {dc.r2_log:.3f}"
        )
    result.numbers = numbers
    result.notes += [f"{k} skipped: {v}" for k, v in skipped.items()]
    result.notes.append(
        "Early-stopped loss = minimum of the 20 held-out evaluations; D = distinct-token cap (bytes). "
        "Kaplan's D is in BPE tokens (~4.2 bytes each) and his loss per token; exponents are unit-free, "
        "scales (N_c, D_c) are not comparable."
    )
    result.tables["data_runs"] = table
    result.tables["data_d2pct"] = d2
    if bt is not None:
        result.tables["data_backtest"] = bt.table
    result.tables["data_early_stop_runs"] = es_table
    result.figures["data_loss_vs_d"] = data_figures.loss_vs_d(table, nd)
    result.figures["data_early_stop"] = es_figure
    result.figures["data_penalty"] = data_figures.penalty(table, nd, PENALTY)
    result.figures["data_curves"] = data_figures.curves(curves, table)
    return result
