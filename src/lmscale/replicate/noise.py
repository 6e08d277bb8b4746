"""Study 9: run-to-run noise, measured rather than assumed (self-checks of the method).

Design (preset ``seeds``): kaplan-cpu's runs at five sizes half a decade apart (1e3 … 1e5), each
trained with initialisation seeds 0, 1 and 2 on the same data order. Every other study trains one
seed per configuration, and its intervals come from a bootstrap over runs. The three checks ask
whether that is enough: is the seed-to-seed spread small, small beside the steps between sizes,
and covered by the interval one seed's runs give α_N?
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import FitResult
from lmscale.replicate.common import ci_text, fit_power, new_figure, param_ci, pct
from lmscale.replicate.context import Context
from lmscale.replicate.result import StudyResult
from lmscale.report.style import FIT_COLOR

PRESET = "seeds"
MIN_SEEDS = 3
MIN_SIZES = 3


def seed_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per size: the seeds' mean final loss, their standard deviation (ddof 1) and its share of the mean."""
    g = runs.groupby("N")["loss"]
    table = pd.DataFrame({"seeds": g.size(), "mean": g.mean(), "sd": g.std(ddof=1)}).reset_index()
    table["rel_sd"] = table["sd"] / table["mean"]
    table["drop_to_next"] = table["mean"] - table["mean"].shift(-1)
    return table


def check_design(runs: pd.DataFrame) -> None:
    sizes = runs.groupby("N")["seed"].nunique()
    full = sizes[sizes >= MIN_SEEDS]
    if len(full) < MIN_SIZES or len(full) < len(sizes):
        raise InputError(
            f"study {PRESET!r}: {len(full)} of {len(sizes)} size(s) have {MIN_SEEDS} seeds; need every size "
            f"with {MIN_SEEDS} seeds and >= {MIN_SIZES} sizes (run `lmscale sweep run {PRESET}`)"
        )


def fits_by_seed(runs: pd.DataFrame, ctx: Context) -> dict[int, FitResult]:
    """L(N) = (N_c/N)^α_N on each seed's runs, with the scaling study's bootstrap over runs."""
    return {
        int(seed): fit_power(g, "N", ctx.bootstrap, seed=ctx.seed) for seed, g in runs.groupby("seed")
    }


def analyse_noise(ctx: Context) -> StudyResult:
    runs = ctx.runs(PRESET, min_runs=MIN_SEEDS * MIN_SIZES)
    check_design(runs)
    table = seed_table(runs)
    fits = fits_by_seed(runs, ctx)
    res = StudyResult("noise", "9. Run-to-run noise: three seeds at five sizes (self-checks)")

    worst = table.loc[table["rel_sd"].idxmax()]
    res.judge(
        "Seed noise",
        float(worst["rel_sd"]),
        paper="Kaplan et al. train one model per configuration; run-to-run noise is not reported",
        ours="seed-to-seed standard deviation of the final loss, per size: "
        + ", ".join(f"{r.sd:.4f} ({pct(r.rel_sd, 2)}) at N={r.N:.3g}" for r in table.itertuples())
        + f"; largest {pct(worst['rel_sd'], 2)} at N={worst['N']:.3g}",
        why="the seed changes the initialisation only; the data order is the same in every run",
        figure="noise",
    )

    smallest_step = float(table["drop_to_next"].min())
    ratio = float(table["sd"].max() / smallest_step)
    res.judge(
        "Noise against size steps",
        ratio,
        paper="(method) one run per size resolves L(N) when noise is small beside the steps between sizes",
        ours=f"largest seed standard deviation {table['sd'].max():.4f} against the smallest drop in mean loss "
        f"between adjacent sizes, {smallest_step:.4f} nats: {ratio:.3f}",
        figure="noise",
    )

    a0, lo, hi = param_ci(fits[0], "alpha_N")
    others = {s: param_ci(f, "alpha_N")[0] for s, f in fits.items() if s != 0}
    outside = sum(not lo <= a <= hi for a in others.values())
    res.judge(
        "One-seed α_N interval covers the other seeds",
        float(outside),
        paper="(method) the intervals of the other studies come from one seed per configuration",
        ours=f"α_N of seed 0: {ci_text(a0, lo, hi)}; "
        + ", ".join(f"seed {s}: {a:.4f}" for s, a in sorted(others.items()))
        + f"; {outside} of {len(others)} outside seed 0's interval",
        figure="noise",
    )
    res.numbers = {
        "per_size": table.to_dict(orient="records"),
        "alpha_N": {str(s): list(param_ci(f, "alpha_N")) for s, f in fits.items()},
        "smallest_step": smallest_step,
    }
    res.notes.append(
        "The seed sets the initialisation; the order of training windows (data_seed 0) is shared, so data-order "
        "noise is not in these numbers. Seed 0's runs are the kaplan-cpu runs themselves."
    )
    res.tables["seed_runs"] = runs[["run", "N", "seed", "loss"]].sort_values(["N", "seed"])
    res.tables["seed_spread"] = table
    res.figures["noise"] = figure_noise(runs, fits)
    return res


def figure_noise(runs: pd.DataFrame, fits: dict[int, FitResult]) -> Any:
    fig, axes = new_figure(2)
    markers = ["o", "s", "^", "v", "D"]
    for i, (seed, g) in enumerate(runs.sort_values("N").groupby("seed")):
        axes[0].plot(g["N"], g["loss"], marker=markers[i % len(markers)], ls="-", lw=0.6, label=f"seed {seed}")
    axes[0].set_xscale("log")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("non-embedding parameters N")
    axes[0].set_ylabel("final held-out loss (nats/byte)")
    axes[0].set_title("final loss per seed")
    axes[0].legend(fontsize=8)
    seeds = sorted(fits)
    for x, seed in enumerate(seeds):
        a, lo, hi = param_ci(fits[seed], "alpha_N")
        err = [[a - lo], [hi - a]] if np.isfinite(lo) else None
        axes[1].errorbar([x], [a], yerr=err, fmt="o", color=FIT_COLOR if seed == 0 else "k", capsize=4)
    axes[1].set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds])
    axes[1].set_ylabel("α_N with its 95% bootstrap interval")
    axes[1].set_title("α_N of L(N) per seed")
    return fig
