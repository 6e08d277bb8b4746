"""Study 5: critical batch size, the S–E trade-off, the noise scale and L(N, S_min) (Kaplan et al. 2020, §5).

Design: preset ``batch-size`` trains one model (N ≈ 1e5) on the same 4e6 tokens at batch sizes of
4 … 256 sequences x 128 tokens with one constant LR, logging the gradient noise scale B_simple
(McCandlish et al. 2018) in tokens. The steps S and tokens E each run needs to reach a target loss give,
per target, S_min, E_min and B_crit = E_min/S_min (eq. 5.1-5.2; :func:`lmscale.fit.bcrit_from_batch_sweep`).
L(N, S_min) (eq. 1.6) is fitted on the learning curves of preset ``kaplan-cpu`` with S converted to
S_min through our own B_crit(L).

Units: our tokens are bytes and our losses nats per byte. Kaplan's B* = 2e8 BPE tokens and losses are
per BPE token (~4.2 bytes); B_crit = B*/L^(1/α_B) in bytes at a per-byte loss is then
4.2·B*/(4.2·L)^(1/α_B), a crude conversion (the corpora's entropies differ), used only for reference.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from lmscale.errors import InputError
from lmscale.fit import FitResult, exclude_warmup, fit, get_law
from lmscale.fit.batch import (
    BatchSweepResult,
    BcritFit,
    bcrit_from_batch_sweep,
    critical_batch,
    fit_bcrit,
)
from lmscale.fit.curves import at_first_reach, log_grid
from lmscale.fit.intervals import percentile_interval
from lmscale.replicate.common import BYTES_PER_BPE, ci_text, param_ci, pct, sci
from lmscale.replicate.context import Context
from lmscale.replicate.result import Finding, StudyResult, judged
from lmscale.report.analysis import attempt
from lmscale.report.replication import batch as batch_figures

BATCH_PRESET = "batch-size"
CURVES_PRESET = "kaplan-cpu"

# ---- Kaplan et al. 2020 (arXiv:2001.08361), as shipped in lmscale.reference ----------------------
_BCRIT, _NS = get_law("kaplan2020-bcrit"), get_law("kaplan2020-ns")
K_B_STAR, K_ALPHA_B = _BCRIT.B_star, _BCRIT.alpha_B  # eq. 5.3, BPE tokens: 2e8, 0.21
K_ALPHA_S, K_S_C = _NS.params["alpha_S"], _NS.params["S_c"]  # Table 3 / eq. 1.6: 0.76, 2.1e3
K_ALPHA_N_NS, K_N_C_NS = _NS.params["alpha_N"], _NS.params["N_c"]  # Table 3: 0.077, 6.5e13

# ---- How the statistics are measured (their bands are in criteria.toml) ---------------------------
N_TARGETS = 8
MIN_BATCHES = 3  # a target needs 3 batch sizes for eq. 5.1 to be tested (2 fit it exactly)
# Targets go down to the best loss that this many runs reach: requiring every run (the largest batch
# gets only ~120 steps) would leave a few % of loss, too narrow to measure how B_crit moves with L.
MIN_REACH = 4
TRADEOFF_RMS_MAX = 0.10  # eq. 5.1 holds at a target: rms relative residual of S = S_min + E_min/B ≤ 10%


#: Kaplan's eq. 5.3 in our units (bytes, nats/byte) under the crude 4.2 bytes/BPE-token mapping:
#: 4.2·B*/(4.2·L)^(1/α_B) = B*_bytes/L^(1/α_B) with B*_bytes = 4.2^(1 − 1/α_B)·B*.
KAPLAN_BCRIT_BYTES = (BYTES_PER_BPE ** (1.0 - 1.0 / K_ALPHA_B) * K_B_STAR, K_ALPHA_B)


def kaplan_bcrit_bytes(loss: np.ndarray) -> np.ndarray:
    """Kaplan's B_crit(L) in bytes at a per-byte loss (see KAPLAN_BCRIT_BYTES)."""
    return critical_batch(loss, *KAPLAN_BCRIT_BYTES)


# ---------------------------------------------------------------------------------------------------
# The batch sweep
# ---------------------------------------------------------------------------------------------------


def sweep_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """The runs of the size trained at the most batch sizes (as lmscale.report.analysis.batch_sweep)."""
    if "batch_tokens" not in curves.columns:
        raise InputError(f"study {BATCH_PRESET!r}: curves have no 'batch_tokens' column")
    per_run = curves.groupby("run").agg(N=("N", "first"), B=("batch_tokens", "first"))
    groups = per_run.groupby("N")["B"].nunique()
    if groups.max() < MIN_BATCHES:
        raise InputError(
            f"study {BATCH_PRESET!r}: {groups.max()} batch size(s) have curves, need >= {MIN_BATCHES} "
            f"(run `lmscale sweep run {BATCH_PRESET}`)"
        )
    runs = per_run.index[per_run["N"] == groups.idxmax()]
    return curves[curves["run"].isin(runs)].copy()


def choose_targets(cur: pd.DataFrame) -> tuple[np.ndarray, str]:
    """N_TARGETS losses every run crosses (log-spaced, ends excluded), and how the range was chosen.

    The lower end is the best loss that MIN_REACH runs reach (runs that do not reach a target within
    their tokens are left out at that target: censored, not used). The upper end is the highest loss every run still shows
    once its LR has reached its peak, so the targets sit past the warmup (which costs every run the
    same 2% of its tokens); if no such range exists, the first evaluation's loss, as
    bcrit_from_batch_sweep's default does.
    """
    minima = np.sort(cur.groupby("run")["loss"].min().to_numpy(float))
    lo = float(minima[min(MIN_REACH, len(minima)) - 1])
    warm = exclude_warmup(cur, min_fraction=0.0, use_lr=True).kept
    hi = float(warm.groupby("run")["loss"].first().min())
    how = (
        f"between the best loss {min(MIN_REACH, len(minima))} runs reach and the lowest first post-warmup "
        "loss of any run (a run that does not reach a target is left out there)"
    )
    if not lo < hi:
        hi = float(cur.sort_values("step").groupby("run")["loss"].first().min())
        how = "between the best loss reached by enough runs and the first evaluation (no post-warmup range)"
    if not lo < hi:
        raise InputError(f"study {BATCH_PRESET!r}: no loss range is crossed by every run")
    return log_grid(lo, hi, N_TARGETS + 2)[1:-1][::-1], how


def ci(values: np.ndarray) -> tuple[float, float]:
    """The percentile interval of the finite draws (NaN marks a failed resample)."""
    return percentile_interval(np.asarray(values, float))


def noise_at_targets(cur: pd.DataFrame, targets: np.ndarray) -> pd.DataFrame:
    """B_simple (tokens) of each run where its running-best loss first reaches each target."""
    rows = []
    for run, g in cur.groupby("run"):
        g = g.sort_values("step")
        loss, noise = g["loss"].to_numpy(float), g["noise_scale"].to_numpy(float)
        for t in targets:
            value = at_first_reach(noise, loss, float(t))
            if not math.isnan(value):
                rows.append({"loss": t, "run": run, "B": float(g["batch_tokens"].iloc[0]), "B_simple": value})
    return pd.DataFrame(rows, columns=["loss", "run", "B", "B_simple"])


# ---------------------------------------------------------------------------------------------------
# L(N, S_min)
# ---------------------------------------------------------------------------------------------------


def ns_table(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per curve point after the LR warmup: N, S (steps), B (tokens), loss.

    Only the LR-warmup rule of exclude_warmup applies (min_fraction=0): evaluations are log-spaced, so the
    default 10%-of-training rule would drop two thirds of each curve and leave ~1 decade of S, while
    Kaplan fits the curves from the end of warmup on.
    """
    kept = exclude_warmup(curves, min_fraction=0.0, use_lr=True).kept
    if "step" not in kept.columns or "batch_tokens" not in kept.columns:
        raise InputError(f"study {CURVES_PRESET!r}: curves need 'step' and 'batch_tokens' for L(N, S_min)")
    table = kept[["run", "N", "step", "batch_tokens", "loss"]].rename(
        columns={"step": "S", "batch_tokens": "B"}
    )
    if table["N"].nunique() < 3:
        raise InputError(f"study {CURVES_PRESET!r}: L(N, S_min) needs curves of >= 3 sizes")
    return table.reset_index(drop=True)


def fit_ns(table: pd.DataFrame, bcrit: tuple[float, float], ctx: Context) -> FitResult:
    return fit(
        table[["N", "S", "B", "loss"]], "kaplan-ns", bcrit=bcrit, bootstrap=ctx.bootstrap, seed=ctx.seed
    )


# ---------------------------------------------------------------------------------------------------
# Findings
# ---------------------------------------------------------------------------------------------------


def finding_tradeoff(sweep: BatchSweepResult) -> tuple[Finding, dict]:
    t = sweep.table
    tested = t[t["n_batch"] >= MIN_BATCHES]
    good = tested[
        np.isfinite(tested["B_crit"]) & (tested["B_crit"] > 0) & (tested["rms_rel"] <= TRADEOFF_RMS_MAX)
    ]
    share = len(good) / len(tested) if len(tested) else 0.0
    per = "; ".join(
        f"L={r.loss:.3g}: S_min {r.S_min:.3g}, E_min {r.E_min:.3g}, rms {pct(r.rms_rel)}"
        for r in tested.itertuples()
    )
    f = judged(
        "batch",
        "S-E trade-off",
        share if len(tested) else float("nan"),
        paper=(
            "§5.1 / eq. 5.1: steps and examples to reach a loss trade off as (S/S_min − 1)(E/E_min − 1) = 1 "
            "(McCandlish et al. 2018), Figure 11"
        ),
        ours=f"{len(tested)} targets with ≥ {MIN_BATCHES} batch sizes: {per}; eq. 5.1 fits within "
        f"{pct(TRADEOFF_RMS_MAX, 0)} at {len(good)} of them",
        why="one constant LR for all batch sizes (no per-batch tuning as in McCandlish et al.) makes the "
        "large-batch runs take more steps than the hyperbola allows; evaluation points are log-spaced (24), "
        "so crossing steps are interpolated.",
        figure="batch_tradeoff",
    )
    return f, {"share_ok": share, "n_tested": len(tested)}


def finding_bcrit(
    sweep: BatchSweepResult, law: BcritFit, pair_ci: dict, boot: np.ndarray, targets: np.ndarray
) -> tuple[Finding, dict]:
    a_ci, b_ci = law.ci["alpha_B"], law.ci["B_star"]
    grows = bool(np.isfinite(law.alpha_B) and law.alpha_B > 0)
    t = sweep.table.set_index("loss")
    per = []
    for j, loss in enumerate(targets):
        lo, hi = ci(boot[:, j])
        per.append(f"L={loss:.3g}: {ci_text(float(t.loc[loss, 'B_crit']), lo, hi)}")
    mid = float(np.median(targets))
    kap_mid = float(kaplan_bcrit_bytes(mid))
    ours = (
        f"α_B = {ci_text(law.alpha_B, *a_ci)}, B* = {ci_text(law.B_star, *b_ci)} bytes "
        f"(R²(log) {law.r2_log:.3f}, {law.n_points} targets; CIs resample batch sizes). B_crit (bytes): "
        + "; ".join(per)
        + f". Kaplan's law at L={mid:.3g} nats/byte (4.2 bytes/token) gives {kap_mid:.3g} bytes, "
        f"ours {float(law.predict(mid)):.3g}"
    )
    why = (
        f"α_B differs from {K_ALPHA_B:g} by {pct(law.alpha_B / K_ALPHA_B - 1) if grows else 'sign'}"
        + (f"; its 95% CI spans a factor {a_ci[1] / a_ci[0]:.3g}" if a_ci[0] > 0 else "")
        + f" and log B_crit vs log L has R² {law.r2_log:.2f}. One model size, "
        "a narrow loss range and one constant LR for every batch size: without per-batch LR tuning the "
        "large batches cannot take the larger steps they allow, so S_min is overestimated and B_crit "
        "biased low, more so at low loss where B_crit is large; losses are per byte, batches in bytes."
    )
    f = judged(
        "batch",
        "B_crit(L)",
        law.alpha_B,
        *a_ci,
        paper=f"§5.1 / eq. 5.3: B_crit(L) = B*/L^(1/α_B), B* ≈ {sci(K_B_STAR)} tokens, α_B ≈ {K_ALPHA_B:g} "
        "(Figure 10), independent of N",
        ours=ours,
        why=why,
        figure="batch_bcrit",
    )
    nums = {
        "alpha_B": (law.alpha_B, *a_ci),
        "B_star_bytes": (law.B_star, *b_ci),
        "pair_bootstrap_ci": pair_ci,
        "r2_log": law.r2_log,
        "per_target": {
            f"{loss:.6g}": (float(t.loc[loss, "B_crit"]), *ci(boot[:, j])) for j, loss in enumerate(targets)
        },
        "kaplan_bytes_at_median_target": kap_mid,
    }
    return f, nums


def finding_noise(noise: pd.DataFrame, sweep: BatchSweepResult) -> tuple[Finding, dict]:
    med = noise.groupby("loss")["B_simple"].median()
    bc = sweep.table.set_index("loss")["B_crit"]
    both = pd.DataFrame({"B_simple": med, "B_crit": bc}).dropna()
    both = both[(both["B_crit"] > 0) & np.isfinite(both["B_crit"])]
    if both.empty:
        raise InputError("no target has both a noise-scale estimate and a finite B_crit")
    ratio = float(np.median(both["B_simple"] / both["B_crit"]))
    rho = float(stats.spearmanr(med.index, med.to_numpy()).statistic) if len(med) > 2 else float("nan")
    per = "; ".join(f"L={loss:.3g}: {r.B_simple:.3g} vs {r.B_crit:.3g}" for loss, r in both.iterrows())
    f = judged(
        "batch",
        "noise scale",
        ratio,
        paper=(
            "§5.1 (McCandlish et al. 2018): the gradient noise scale B_simple = tr(Σ)/|G|² tracks B_crit "
            "and grows as the loss falls"
        ),
        ours=f"median over runs of B_simple where each run crosses the target vs B_crit (bytes): {per}; "
        f"median ratio {ratio:.3g}; Spearman ρ(loss, B_simple) = {rho:.2f}",
        why=f"median B_simple/B_crit = {ratio:.3g}. B_simple assumes a well-conditioned Hessian (McCandlish "
        "et al. 2018 §2.2) and is an EMA of two-batch estimates; our B_crit is biased low by the untuned "
        "constant LR.",
        figure="batch_bcrit",
    )
    return f, {
        "median_ratio": ratio,
        "spearman": rho,
        "per_target": both.reset_index().to_dict(orient="list"),
    }


def finding_ns(res: FitResult, source: str) -> tuple[Finding, dict]:
    a_s, a_n = param_ci(res, "alpha_S"), param_ci(res, "alpha_N")
    s_c, n_c = param_ci(res, "S_c"), param_ci(res, "N_c")
    f = judged(
        "batch",
        "L(N,S_min)",
        *a_s,
        paper=(
            "§5.2 / eq. 1.6: L(N, S_min) = (N_c/N)^α_N + (S_c/S_min)^α_S fits learning curves after warmup; "
            f"Table 3: α_N = {K_ALPHA_N_NS:g}, α_S = {K_ALPHA_S:g}, N_c = {sci(K_N_C_NS)}, S_c = {sci(K_S_C)}"
        ),
        ours=(
            f"α_S = {ci_text(*a_s)}, α_N = {ci_text(*a_n)}, S_c = {ci_text(*s_c)}, N_c = {ci_text(*n_c)}; "
            f"R²(log) = {res.r2_log:.3f} over {res.n_points} curve points (S_min via {source}; CIs resample "
            "curve points, so they ignore within-curve correlation)"
        ),
        why=(
            f"α_S differs from {K_ALPHA_S:g} by {pct(a_s[0] / K_ALPHA_S - 1)}, α_N from {K_ALPHA_N_NS:g} by "
            f"{pct(a_n[0] / K_ALPHA_N_NS - 1)}. Our curves follow a cosine schedule over only 2.4k steps "
            "(Kaplan: 2.5e5), so late points mix LR decay with progress; S_min uses a B_crit law measured "
            "at one size and extrapolated to other losses; sizes 3e2-1e6, byte tokens."
        ),
        figure="batch_lns",
    )
    estimates = {"alpha_S": a_s, "alpha_N": a_n, "S_c": s_c, "N_c": n_c}  # (estimate, low, high) each
    return f, {**estimates, "r2_log": res.r2_log, "bcrit_source": source}


# ---------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------


def analyse_batch(ctx: Context) -> StudyResult:
    cur = sweep_curves(ctx.curves(BATCH_PRESET))
    targets, how = choose_targets(cur)
    sweep = bcrit_from_batch_sweep(cur, targets=targets)
    ok = sweep.table[np.isfinite(sweep.table["B_crit"]) & (sweep.table["B_crit"] > 0)]
    if len(ok) < 2:
        raise InputError(f"study {BATCH_PRESET!r}: B_crit is defined at {len(ok)} target loss(es), need >= 2")
    law = sweep.fit_bcrit(bootstrap=ctx.bootstrap, seed=ctx.seed)
    pair_ci = fit_bcrit(ok, bootstrap=ctx.bootstrap, seed=ctx.seed).ci  # what resampling pairs would say
    boot = sweep.bcrit_draws(ctx.bootstrap, ctx.seed)
    skipped: dict[str, str] = {}
    result = StudyResult(
        study="batch", title="5. Critical batch size, S_min, E_min and L(N, S_min) (Kaplan §5)"
    )
    numbers: dict = {"targets": targets.tolist(), "sweep_warnings": list(sweep.warnings)}

    for make in (lambda: finding_tradeoff(sweep), lambda: finding_bcrit(sweep, law, pair_ci, boot, targets)):
        f, nums = make()
        result.findings.append(f)
        numbers[f.key] = nums

    noise = None
    if "noise_scale" in cur.columns and np.isfinite(cur["noise_scale"]).any():
        noise = noise_at_targets(cur, targets)
        made = attempt(skipped, "noise scale", lambda: finding_noise(noise, sweep))
        if made is not None:
            result.findings.append(made[0])
            numbers[made[0].key] = made[1]
    else:
        skipped["noise scale"] = "the batch-size curves have no noise_scale values"

    # L(N, S_min) on kaplan-cpu: S → S_min through our own B_crit law only where its B_crit(L) finding is
    # reproduced; otherwise its 1/α_B, extrapolated from the sweep's loss range to the curves' (1.6-5.5),
    # would dominate S_min, so Kaplan's law (converted to bytes) is used instead.
    bcrit = (law.B_star, law.alpha_B)
    source = f"our B_crit = {law.B_star:.3g}/L^(1/{law.alpha_B:.3g})"
    if next(f for f in result.findings if f.key == "B_crit(L)").verdict != "reproduced":
        bcrit = KAPLAN_BCRIT_BYTES
        source = "Kaplan's B_crit law converted to bytes, since our B_crit(L) is not reproduced"
    ns = attempt(skipped, "L(N, S_min)", lambda: ns_table(ctx.curves(CURVES_PRESET)))
    ns_fit = attempt(skipped, "L(N, S_min) fit", lambda: fit_ns(ns, bcrit, ctx)) if ns is not None else None
    if ns_fit is not None:
        f, numbers["L(N,S_min)"] = finding_ns(ns_fit, source)
        result.findings.append(f)
        result.figures["batch_lns"] = batch_figures.ns(ns, ns_fit, bcrit)

    result.numbers = numbers
    result.tables["batch_targets"] = sweep.table
    result.tables["batch_points"] = sweep.points
    if noise is not None:
        result.tables["batch_noise"] = noise
    result.figures["batch_tradeoff"] = batch_figures.tradeoff(sweep)
    result.figures["batch_bcrit"] = batch_figures.bcrit(sweep, law, boot, targets, cur, noise, kaplan_bcrit_bytes)
    result.notes += [f"{k} skipped: {v}" for k, v in skipped.items()]
    result.notes += [
        "Every batch size used the same constant LR (0.06·N^-0.25 after a 2% warmup), not an LR tuned per "
        "batch size: large batches cannot use the larger steps they would allow, so they need more steps "
        "than a tuned run; S_min is overestimated and B_crit = E_min/S_min biased low (a lower bound).",
        "Units: B in bytes (our tokens), loss in nats/byte. Kaplan's B* = 2e8 BPE tokens at per-token "
        "losses; his law in our units (4.2 bytes/BPE token) is 4.2·B*/(4.2·L)^(1/α_B), a crude mapping "
        "since the corpora's entropies differ — compare exponents, not scales.",
        f"Targets: {len(targets)} losses log-spaced {how}.",
    ]
    return result
