"""Studies 1 and 6 on the kaplan-cpu runs: L(N), why N excludes embeddings, and sample efficiency.

Kaplan et al. 2020: §3.1 eq. 1.1 L(N) = (N_c/N)^α_N with α_N ≈ 0.076 (N_c ≈ 8.8e13 non-embedding
parameters) over six orders of magnitude; Figure 6: counted with embedding parameters the trend
depends on depth, without them it collapses onto one line; §6 / Figure 2: larger models reach a
given loss with fewer tokens (they are more sample-efficient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import backtest, get_law
from lmscale.fit.curves import at_first_reach
from lmscale.fit.loglog import fit_loglog
from lmscale.replicate.common import ci_text, fit_power, param_ci, pct
from lmscale.replicate.context import Context
from lmscale.replicate.result import StudyResult
from lmscale.report.replication import scaling as scaling_figures

PRESET = "kaplan-cpu"
PAPER_ALPHA_N = get_law("kaplan2020-n").params["alpha_N"]  # Kaplan et al. 2020 eq. 1.1 / Table 5: 0.076


def _rms_log_residual(x: np.ndarray, loss: np.ndarray) -> tuple[float, float]:
    """Least-squares line in (log x, log L): RMS and max |log residual|."""
    slope, intercept, _ = fit_loglog(x, loss)
    res = np.log(loss) - (slope * np.log(x) + intercept)
    return float(np.sqrt(np.mean(res**2))), float(np.max(np.abs(res)))


def _tokens_to_reach(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per run: the tokens at which the held-out loss first reaches `target` (fit.curves.at_first_reach)."""
    rows = []
    for run, g in curves.sort_values("tokens").groupby("run"):
        tokens = at_first_reach(g["tokens"].to_numpy(float), g["loss"].to_numpy(float), target)
        if not np.isnan(tokens):
            rows.append({"run": run, "N": float(g["N"].iloc[0]), "target": target, "tokens": tokens})
    return pd.DataFrame(rows, columns=["run", "N", "target", "tokens"])


def _sample_efficiency(curves: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, list[float]]:
    """Tokens to reach loss targets that at least three sizes reach."""
    finals = runs.sort_values("N")["loss"].to_numpy(float)
    # targets between the 3rd-best and the worst-but-one final loss: reached by >= 3 sizes
    lo, hi = float(np.sort(finals)[min(2, len(finals) - 1)]), float(np.sort(finals)[-2])
    targets = [float(t) for t in np.round(np.linspace(lo + 0.01, hi, 4), 3)]
    table = pd.concat([_tokens_to_reach(curves, t) for t in targets], ignore_index=True)
    return table, targets


def analyse_scaling(ctx: Context) -> StudyResult:
    runs = ctx.runs(PRESET, min_runs=4)
    curves = ctx.curves(PRESET)
    res = StudyResult("scaling", "1 & 6. L(N), embedding parameters and sample efficiency (Kaplan §3, §6)")
    n_lo, n_hi = float(runs["N"].min()), float(runs["N"].max())
    decades = np.log10(n_hi / n_lo)
    if decades < 2:
        raise InputError(f"study {PRESET!r}: sizes span {decades:.1f} decades; L(N) needs at least 2")

    # -- L(N) ---------------------------------------------------------------------------------------
    law = fit_power(runs, "N", ctx.bootstrap, ctx.seed)
    alpha, a_lo, a_hi = param_ci(law, "alpha_N")
    n_c = param_ci(law, "N_c")
    rms, worst = _rms_log_residual(runs["N"].to_numpy(float), runs["loss"].to_numpy(float))
    law_e = fit_power(runs, "N", ctx.bootstrap, ctx.seed, with_e=True)
    # Backtest: fit the sizes up to a decade below the largest, predict the rest.
    cut = float(np.sort(runs["N"].to_numpy(float))[-3])
    bt = backtest(
        runs[["N", "loss"]], "power", x="N", cutoff=cut, by="N", bootstrap=ctx.bootstrap, seed=ctx.seed
    )
    bt_err = float(bt.table["abs_rel_error"].max())
    res.numbers["L_N"] = {
        "alpha_N": [alpha, a_lo, a_hi],
        "N_c": list(n_c),
        "r2_log": law.r2_log,
        "rms_log_residual": rms,
        "max_log_residual": worst,
        "decades": decades,
        "power_e": {k: float(v) for k, v in law_e.params.items()},
        "power_e_ci": {k: list(v) for k, v in law_e.ci.items()},
        "backtest": {**bt.summary(), "table": bt.table},
    }
    res.judge(
        "L(N) is a power law",
        bt_err,
        paper=f"L(N) = (N_c/N)^α_N with α_N ≈ {PAPER_ALPHA_N} over 6 decades of non-embedding N (§3.1, eq. 1.1)",
        ours=f"α_N = {ci_text(alpha, a_lo, a_hi)} over {decades:.1f} decades ({n_lo:.3g}–{n_hi:.3g}); worst "
        f"residual {pct(worst)}; backtest (fit N ≤ {cut:.3g}, predict larger) max error {pct(bt_err)}; "
        f"with an irreducible term E = {law_e.params['E']:.3g}, α = {law_e.params['alpha']:.3g}",
        why="the curve bends: the largest models saw only 10-35 tokens per parameter (1e7 tokens) and are "
        "data-limited, and the smallest are near the unigram floor",
        figure="l_of_n",
    )
    res.judge(
        "α_N value",
        alpha,
        a_lo,
        a_hi,
        paper=f"α_N = {PAPER_ALPHA_N} (WebText2, BPE, 1e3-1e9 parameters)",
        ours=f"α_N = {ci_text(alpha, a_lo, a_hi)}, {alpha / PAPER_ALPHA_N:.2f}x the paper's",
        why="exponents depend on data, tokenizer and scale: ours are per-byte losses of 3e2-1e6 "
        "parameter models on 13.5M bytes of English, with an untuned LR rule",
        figure="l_of_n",
    )

    # -- embedding parameters -----------------------------------------------------------------------
    loss = runs["loss"].to_numpy(float)
    rms_n, _ = _rms_log_residual(runs["N"].to_numpy(float), loss)
    rms_total, _ = _rms_log_residual(runs["N_total"].to_numpy(float), loss)
    emb_share = 1 - runs["N"] / runs["N_total"]
    res.numbers["embedding"] = {
        "rms_log_residual_N": rms_n,
        "rms_log_residual_N_total": rms_total,
        "ratio": rms_total / rms_n,
        "embedding_share": dict(zip(runs["run"], emb_share.round(4), strict=True)),
    }
    res.judge(
        "Embedding parameters",
        rms_total / rms_n,
        paper="counting embedding parameters makes the trend depend on depth; non-embedding N gives one "
        "clean power law (§3.1, Figure 6)",
        ours=f"power-law scatter (RMS log residual) {pct(rms_n, 2)} in non-embedding N vs {pct(rms_total, 2)} "
        f"in total N ({rms_total / rms_n:.1f}x); embeddings are {pct(emb_share.max(), 0)} of the smallest "
        f"model and {pct(emb_share.min(), 0)} of the largest",
        why="with a 256-symbol vocabulary the embeddings are small beside most of our models",
        figure="embedding",
    )

    # -- sample efficiency --------------------------------------------------------------------------
    reach, targets = _sample_efficiency(curves, runs)
    slopes: list[dict[str, Any]] = []
    monotone = True
    for t in targets:
        g = reach[reach["target"] == t].sort_values("N")
        if len(g) < 3:
            continue
        tok = g["tokens"].to_numpy(float)
        monotone &= bool(np.all(np.diff(tok) < 0))
        slope = fit_loglog(g["N"].to_numpy(float), tok)[0]
        slopes.append(
            {"target": t, "sizes": len(g), "slope": slope, "decreasing": bool(np.all(np.diff(tok) < 0))}
        )
    if not slopes:
        raise InputError(f"study {PRESET!r}: no loss target is reached by three sizes")
    res.numbers["sample_efficiency"] = {"slopes": slopes, "table": reach}
    res.tables["tokens_to_reach"] = reach
    mean_slope = float(np.mean([s["slope"] for s in slopes]))
    res.judge(
        "Sample efficiency",
        max(s["slope"] for s in slopes),
        paper="larger models reach the same loss with fewer tokens (§6, Figure 2; Figure 4's L(N, S))",
        ours=f"for {len(slopes)} loss targets ({', '.join(f'{t:.3g}' for t in targets)} nats), tokens to reach "
        f"the target fall with N as N^{mean_slope:.2f} on average (steepest to shallowest: "
        f"{min(s['slope'] for s in slopes):.2f} to {max(s['slope'] for s in slopes):.2f})"
        + ("" if monotone else "; not strictly monotone for every target"),
        why="adjacent sizes cross within evaluation noise",
        figure="sample_efficiency",
    )
    res.tables["runs"] = runs[["run", "N", "N_total", "D", "C", "C_exact", "loss", "n_layer", "d_model"]]
    res.figures["l_of_n"] = scaling_figures.l_of_n(runs, law, law_e, bt)
    res.figures["embedding"] = scaling_figures.embedding(runs)
    res.figures["sample_efficiency"] = scaling_figures.samples(curves, reach, targets)
    return res


