"""Study 10: the learning-rate rule (self-checks of the method, not findings of a paper).

Every other study trains with lr = 0.06·N^-0.25 (the demo's rule). Study 8 found the transformers
at 0.12 better than at 0.06 at every size it tried, so the `lr-sweep` preset trains the kaplan-cpu
transformers at six sizes (N 1e3–3e5) with the rule's factor at 0.06, 0.12, 0.24 and 0.48. Four
pre-registered checks ask whether the sweep brackets each size's optimum, how much the shared rule
costs, whether tuning the rate per size moves α_N, and whether the best factor depends on N (it
should not, if the rule's N^-0.25 is right).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import FitResult
from lmscale.fit.bootstrap import resample_counts
from lmscale.fit.curves import parabola_vertex
from lmscale.fit.loglog import LogLogLine, fit_line
from lmscale.replicate.common import (
    ci_text,
    fit_power,
    paired_interval,
    param_ci,
    pct,
    short_n,
)
from lmscale.replicate.context import Context
from lmscale.replicate.result import Finding, StudyResult, judged
from lmscale.report.replication import learning_rate as learning_rate_figures

STUDY = "lr-sweep"
NAME = "learning-rate"
SWEEP = (0.06, 0.12, 0.24, 0.48)  # lr_scale values of the preset
RULE = 0.06  # the factor every other study trains with
MIN_SIZES = 3  # a power law in N (2 parameters) tested on at least one more point
WHY = (
    "one seed per run (run-to-run noise 0.1–0.6%, study 9); byte-level English, context 128, 1e7 "
    "tokens per run, cosine schedule with 5% warmup, AdamW: the best factor belongs to this recipe"
)


def sweep_table(ctx: Context) -> pd.DataFrame:
    """One row per run of the preset: N, lr_scale, final held-out loss, status. A diverged run's
    loss is +inf, worse than every finished run (the criteria say so)."""
    done = ctx.runs(STUDY, min_runs=MIN_SIZES)[["run", "N", "lr_scale", "loss"]].assign(status="completed")
    div = ctx.diverged(STUDY)
    diverged = div.reindex(columns=["run", "N", "lr_scale"]).assign(loss=np.inf, status="diverged")
    table = pd.concat([done, diverged], ignore_index=True)
    table["lr_scale"] = pd.to_numeric(table["lr_scale"], errors="coerce")
    table = table[table["lr_scale"].isin(SWEEP)].sort_values(["N", "lr_scale"]).reset_index(drop=True)
    check_design(table)
    return table


def check_design(table: pd.DataFrame) -> None:
    """Every size has a finished run (completed or diverged) at every factor of the sweep."""
    missing = [
        f"N≈{short_n(n)} lr_scale {lr:g}"
        for n, g in table.groupby("N")
        for lr in SWEEP
        if not np.isclose(g["lr_scale"], lr).any()
    ]
    if missing:
        raise InputError(
            f"study {STUDY!r}: no finished run at {', '.join(missing[:4])}"
            + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            + f": run `lmscale sweep run {STUDY}` first"
        )
    if table["N"].nunique() < MIN_SIZES:
        raise InputError(f"study {STUDY!r}: {table['N'].nunique()} size(s), needs {MIN_SIZES}")


def vertex(lr: np.ndarray, loss: np.ndarray) -> float:
    """lr_scale* of one size: the vertex of the parabola in log lr through the best run and its two
    neighbours, or the end of the sweep when the best run is there."""
    i = int(np.argmin(loss))
    if i == 0 or i == len(lr) - 1 or not np.isfinite(loss[i - 1 : i + 2]).all():
        return float(lr[i])
    return float(np.exp(parabola_vertex(np.log(lr[i - 1 : i + 2]), loss[i - 1 : i + 2])))


def optimum_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per size: the best run, its factor, lr_scale*, and the excess loss of the shared rule."""
    rows = []
    for n, g in table.groupby("N"):
        b = g.loc[g["loss"].idxmin()]
        rule = float(g.loc[np.isclose(g["lr_scale"], RULE), "loss"].iloc[0])
        rows.append(
            {
                "N": n,
                "best_lr_scale": b["lr_scale"],
                "lr_scale_star": vertex(g["lr_scale"].to_numpy(float), g["loss"].to_numpy(float)),
                "best_loss": b["loss"],
                "rule_loss": rule,
                "rule_excess": rule / b["loss"] - 1.0,
                "run_best": b["run"],
            }
        )
    return pd.DataFrame(rows)


def size_slope(opt: pd.DataFrame, ctx: Context) -> LogLogLine:
    """lr_scale* ∝ N^slope, bootstrapped over sizes."""
    n, lr = opt["N"].to_numpy(float), opt["lr_scale_star"].to_numpy(float)
    counts = resample_counts(len(n), ctx.bootstrap, ctx.seed).astype(int)
    resamples = [(np.repeat(n, c), np.repeat(lr, c)) for c in counts]
    return fit_line(n, lr, resamples, min_points=2)


def _edge_finding(opt: pd.DataFrame) -> Finding:
    edge = opt[opt["best_lr_scale"].isin([SWEEP[0], SWEEP[-1]])]
    listing = "; ".join(f"N≈{short_n(r.N)}: {r.best_lr_scale:g}" for r in opt.itertuples())
    return judged(
        NAME,
        "Learning-rate optimum inside the extended sweep",
        float(len(edge)),
        paper="(method) a rate called best must be bracketed by worse ones on both sides",
        ours=f"best lr_scale per size: {listing}; {len(edge)} of {len(opt)} at an end of "
        f"{', '.join(f'{x:g}' for x in SWEEP)}",
        why=WHY,
        figure="lr_sweep",
    )


def _cost_finding(opt: pd.DataFrame) -> Finding:
    worst = opt.loc[opt["rule_excess"].idxmax()]
    listing = "; ".join(f"N≈{short_n(r.N)}: {pct(r.rule_excess)}" for r in opt.itertuples())
    return judged(
        NAME,
        "Cost of the shared learning-rate rule",
        float(worst["rule_excess"]),
        paper="(method) the studies' one rule, lr = 0.06·N^-0.25, should be near each size's optimum",
        ours=f"final loss at 0.06 above the size's best: {listing}; largest {pct(worst['rule_excess'])} "
        f"at N≈{short_n(worst['N'])}",
        why="the rule's factor 0.06 came from the demo, not from a sweep on this recipe; " + WHY,
        figure="lr_sweep",
    )


def _alpha_finding(fits: dict[str, FitResult], numbers: dict) -> Finding:
    est = {k: param_ci(f, "alpha_N") for k, f in fits.items()}
    # Both fits resample the same sizes (same seed, same row order), so their draws pair row by row.
    lo = hi = np.nan
    if fits["tuned"].draws is not None and fits["rule"].draws is not None:
        tuned, rule = (fits[k].draws[:, fits[k].form.index("alpha_N")] for k in ("tuned", "rule"))
        lo, hi = paired_interval(tuned, rule)
    value = est["tuned"][0] - est["rule"][0]
    numbers["alpha_N"] = {k: {"value": e[0], "ci": [e[1], e[2]]} for k, e in est.items()}
    numbers["alpha_N"]["difference"] = [value, float(lo), float(hi)]
    return judged(
        NAME,
        "α_N under the tuned learning rate",
        value,
        float(lo),
        float(hi),
        paper="(method) the exponents of studies 1, 4 and 6 were measured at lr_scale 0.06; they stand if "
        "tuning the rate per size leaves α_N where it was",
        ours=f"α_N at each size's best rate {ci_text(*est['tuned'])}, at 0.06 {ci_text(*est['rule'])}; "
        f"difference {ci_text(value, lo, hi)} (paired bootstrap over the {fits['rule'].n_points} sizes)",
        why=WHY,
        figure="lr_loss_vs_n",
    )


def _slope_finding(opt: pd.DataFrame, line: LogLogLine, numbers: dict) -> Finding:
    lo, hi = line.ci["exponent"]
    numbers["lr_star_slope"] = [line.exponent, float(lo), float(hi)]
    listing = "; ".join(f"N≈{short_n(r.N)}: {r.lr_scale_star:.3g}" for r in opt.itertuples())
    return judged(
        NAME,
        "Best learning rate independent of N under the rule",
        line.exponent,
        float(lo),
        float(hi),
        paper="(method) lr = f·N^-0.25 with one f for every size assumes the best f does not change with N",
        ours=f"lr_scale* (parabola vertex in log lr) per size: {listing}; lr_scale* ∝ "
        f"N^{ci_text(line.exponent, lo, hi)}, so the best rate goes as N^{line.exponent - 0.25:.2f}",
        why=WHY,
        figure="lr_sweep",
    )


def analyse_learning_rate(ctx: Context) -> StudyResult:
    table = sweep_table(ctx)
    opt = optimum_table(table)
    best = table[table["run"].isin(opt["run_best"])]
    rule = table[np.isclose(table["lr_scale"], RULE)]
    fits = {
        name: fit_power(df.sort_values("N"), "N", bootstrap=ctx.bootstrap, seed=ctx.seed, n_jobs=1)
        for name, df in (("tuned", best), ("rule", rule))
    }
    res = StudyResult(study=NAME, title="10. The learning-rate rule (self-checks)")
    numbers: dict = {"sizes": len(opt), "diverged": int((table["status"] == "diverged").sum())}
    res.findings += [_edge_finding(opt), _cost_finding(opt), _alpha_finding(fits, numbers)]
    res.findings.append(_slope_finding(opt, size_slope(opt, ctx), numbers))
    numbers["optima"] = opt.drop(columns="run_best").to_dict(orient="records")
    res.numbers = numbers
    res.notes.append(
        "A diverged run counts as worse than every finished one. lr_scale* interpolates between the sweep's "
        "factor-2 steps; at an end of the sweep it is that end, so the slope is then a bound."
    )
    res.tables["lr_sweep"] = table
    res.tables["lr_optima"] = opt
    res.figures["lr_sweep"] = learning_rate_figures.sweep(table, opt, SWEEP)
    res.figures["lr_loss_vs_n"] = learning_rate_figures.loss(best, rule, fits, RULE)
    return res


