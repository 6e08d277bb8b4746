"""Study 4 on the kaplan-cpu curves: the compute-efficient frontier L(C_min) and how N should grow with C.

Kaplan et al. 2020 §6.1, eq. 1.3: L(C_min) = (C_c/C_min)^α_C with α_C^min ≈ 0.050; §6.1 eq. 6.1 /
Figure 14: compute-efficient N ∝ C_min^0.73 (eq. 1.7 is its general form, N ∝ C_min^(α_C/α_N)). Hoffmann et al. 2022 find N_opt ∝ C^0.50. Porian et
al. 2024 ("Resolving Discrepancies in Compute-Optimal Scaling of Language Models") trace Kaplan's
0.73 to three choices: counting only non-embedding FLOPs (the last layer's logits are a large share
of small models' compute), a warmup too long for small models, and one optimiser setting for
every size. Our curves let us measure the first directly: the same runs under C = 6ND and under
the exact count (attention, embeddings and logits included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import Conventions, get_law
from lmscale.fit.frontier import FrontierResult, fit_frontier
from lmscale.reference import load_allocation_exponents, load_allocation_rules
from lmscale.replicate.common import ci_text, paired_interval, pct
from lmscale.replicate.context import Context
from lmscale.replicate.result import StudyResult
from lmscale.report.replication import compute as compute_figures

PRESET = "kaplan-cpu"
PAPER_ALPHA_C = get_law("kaplan2020-c").params["alpha_C"]  # Kaplan eq. 1.3, L(C_min): 0.050
PAPER_A_KAPLAN = load_allocation_rules()["kaplan2020-efficient"]["p_N"]  # Kaplan eq. 6.1 (§1.2), N ∝ C_min^0.73
PAPER_A_CHINCHILLA = load_allocation_exponents()["hoffmann2022"]["approach1"]["a"]  # Table 2: 0.50 (0.49, 0.46)


def _with_convention(curves: pd.DataFrame, convention: str, n_total: pd.Series | None = None) -> pd.DataFrame:
    """Curves whose C column is the chosen FLOP count ("6ND" or "exact"); with `n_total` (run ->
    total parameters) N counts the embedding / output layer too, as Porian et al. count it."""
    cur = curves.copy()
    if n_total is not None:
        cur["N"] = cur["run"].map(n_total).astype(float)
    column = {"6ND": "flops_6n", "exact": "flops_exact"}[convention]
    if column not in cur.columns or cur[column].isna().any():
        raise InputError(f"study {PRESET!r}: curves lack the {column} column needed for C = {convention}")
    cur["C"] = cur[column].astype(float)
    return cur[cur["C"] > 0]


def analyse_compute(ctx: Context) -> StudyResult:
    curves = ctx.curves(PRESET)
    if curves["run"].nunique() < 4:
        raise InputError(f"study {PRESET!r}: the frontier needs learning curves of at least 4 sizes")
    res = StudyResult("compute", "4. L(C_min) and the compute-efficient allocation (Kaplan §6)")
    runs = ctx.runs(PRESET)
    n_total = runs.set_index("run")["N_total"]
    fronts: dict[str, FrontierResult] = {}
    # Fixed-token runs: every small model ends early in C, so the edge rule would drop the whole top
    # of the envelope; dominated points (after a run ends) are dropped instead (fit_frontier default).
    for key, convention, total in (
        ("6ND", "6ND", None),
        ("exact", "exact", None),
        ("exact_total", "exact", n_total),
    ):
        fronts[key] = fit_frontier(
            _with_convention(curves, convention, total),
            bootstrap=ctx.bootstrap,
            seed=ctx.seed,
            exclude_edges=False,
            conventions=Conventions(n="non-embedding" if total is None else "total", c=convention, data=PRESET),
        )
    f6, fx, ft = fronts["6ND"], fronts["exact"], fronts["exact_total"]
    alpha = f6.params["alpha_C"]
    a_lo, a_hi = f6.ci["alpha_C"]
    res.numbers["frontier"] = {k: f.to_dict(include_draws=False) for k, f in fronts.items()}
    res.judge(
        "L(C_min) is a power law",
        f6.r2_log,
        paper=f"the envelope of learning curves follows L = (C_c/C_min)^α_C with α_C ≈ {PAPER_ALPHA_C} (§6.1, eq. 1.3)",
        ours=f"α_C = {ci_text(alpha, a_lo, a_hi)} (C = 6ND), {ci_text(fx.params['alpha_C'], *fx.ci['alpha_C'])} "
        f"(exact FLOPs); envelope R² (log) {f6.r2_log:.3f} over "
        f"{np.log10(f6.envelope['C'].max() / f6.envelope['C'].min()):.1f} decades of C",
        why="the envelope bends where one size's curve hands over to the next",
        figure="frontier",
    )
    res.judge(
        "α_C value",
        alpha,
        a_lo,
        a_hi,
        paper=f"α_C^min = {PAPER_ALPHA_C} (WebText2, BPE)",
        ours=f"α_C = {ci_text(alpha, a_lo, a_hi)}, {alpha / PAPER_ALPHA_C:.2f}x the paper's",
        why="different data (per-byte loss), tokenizer and scale (C up to ~1e14 FLOPs, not 1e21)",
        figure="frontier",
    )
    # Allocation: which N attains the frontier as C grows, under both FLOP conventions.
    a6, ax, at = f6.allocation, fx.allocation, ft.allocation
    res.numbers["allocation"] = {
        key: {
            "a": f.allocation.exponent,
            "ci": f.allocation.ci["exponent"],
            "r2_log": f.allocation.r2_log,
            "points": f.allocation.n_points,
        }
        for key, f in fronts.items()
    }
    lo6, hi6 = a6.ci["exponent"]
    # Where does ours sit: nearer Kaplan's 0.73 or Chinchilla's 0.50?
    nearer = (
        "Kaplan"
        if abs(a6.exponent - PAPER_A_KAPLAN) < abs(a6.exponent - PAPER_A_CHINCHILLA)
        else "Chinchilla"
    )
    res.judge(
        "Compute-efficient N ∝ C^a",
        a6.exponent,
        lo6,
        hi6,
        paper=f"N ∝ C_min^{PAPER_A_KAPLAN} (§6.1, eq. 6.1; Chinchilla: {PAPER_A_CHINCHILLA})",
        ours=f"a = {ci_text(a6.exponent, lo6, hi6)} with C = 6ND (non-embedding, Kaplan's convention); "
        f"a = {ci_text(ax.exponent, *ax.ci['exponent'])} with exact FLOPs (logits and attention counted); "
        f"a = {ci_text(at.exponent, *at.ci['exponent'])} when N also counts the embedding/output layer "
        f"(Porian et al.'s convention). Ours is nearer {nearer}'s value",
        why="Porian et al. 2024 show the exponent depends on the FLOP and parameter convention (here "
        f"{at.exponent - a6.exponent:+.2f} from Kaplan's to theirs), on warmup length (ours is 5% of each run, "
        "their fix) and on per-size tuning (our LR rule is fixed); the envelope of cosine runs also mixes "
        "partly-decayed points. At ~1e13 FLOPs our frontier spans few sizes, so the interval is wide",
        figure="frontier",
    )
    # The three frontiers resample the same runs in the same order (same seed, same run count), so
    # the bootstrap draws are paired and the shift has its own interval.
    shift = at.exponent - a6.exponent
    s_lo, s_hi = paired_interval(at.draws[:, 0], a6.draws[:, 0])
    res.numbers["allocation"]["shift_to_porian"] = {"shift": shift, "ci": [s_lo, s_hi]}
    res.judge(
        "Porian et al.: the convention explains part of 0.73 vs 0.5",
        shift,
        s_lo,
        s_hi,
        paper="counting the last layer's FLOPs (and parameters), a shorter warmup and per-size tuning move "
        "Kaplan's exponent to Chinchilla's ~0.5 (Porian et al. 2024)",
        ours=f"counting the output layer in C and N moves a from {a6.exponent:.2f} to {at.exponent:.2f} "
        f"(shift {ci_text(shift, s_lo, s_hi, 2)}, paired bootstrap); our warmup is already 5% of each run and "
        "the LR rule is not tuned per size, so the other two factors are not varied here",
        why="with a 256-symbol vocabulary the output layer is a large share of only our smallest models, so "
        "the convention moves few envelope points",
        figure="frontier",
    )
    res.tables["frontier_6nd"] = f6.envelope
    res.tables["frontier_exact"] = fx.envelope
    res.tables["frontier_exact_total"] = ft.envelope
    res.notes.append(
        "Porian et al. count the output layer in both C and N; with a 256-symbol vocabulary the output layer is "
        f"{pct(float((1 - runs['N'] / runs['N_total']).max()), 0)} of our smallest model's parameters"
    )
    res.figures["frontier"] = compute_figures.frontiers(curves, f6, fx)
    return res


