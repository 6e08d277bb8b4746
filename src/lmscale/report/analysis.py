"""Every fit a report shows, run once: each step either succeeds or is skipped with its reason.

A report must render for any study (one model size, failed runs, no curves), so each analysis is
attempted separately and an input the fitter rejects becomes a line in ``skipped``, never a crash.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import Backtest, FitResult, backtest, fit
from lmscale.fit.batch import BatchSweepResult, bcrit_from_batch_sweep
from lmscale.fit.compute_optimal import ComputeOptimal, approach1, approach2
from lmscale.fit.frontier import FrontierResult, fit_frontier
from lmscale.fit.select import SELECT_BOOTSTRAP, MethodSelection, compare_methods
from lmscale.report import headline
from lmscale.report.data import ReportInput

T = TypeVar("T")

#: Errors a fitter raises on data it cannot use; anything else is a bug and propagates.
SKIPPABLE = (InputError, ValueError, ArithmeticError, np.linalg.LinAlgError)
#: Share of the largest-compute runs held out by the backtest.
HOLDOUT_FRACTION = 0.2
#: Default target when none is given: this many times the largest run's compute.
DEFAULT_TARGET_FACTOR = 100.0


@dataclass
class Analysis:
    data: ReportInput
    target_flops: float
    target_is_default: bool
    bootstrap: int
    main: FitResult | None = None  # Chinchilla approach 3, L(N, D) = E + A/N^α + B/D^β
    single: dict[str, FitResult] = field(default_factory=dict)  # Kaplan power laws L(N), L(D), L(C)
    single_points: dict[str, pd.DataFrame] = field(default_factory=dict)  # the envelope each was fitted to
    backtest: Backtest | None = None
    frontier: FrontierResult | None = None
    approach1: ComputeOptimal | None = None
    approach2: ComputeOptimal | None = None
    allocation: Any = None  # lmscale.plan.Allocation at the target
    whatif: Any = None  # lmscale.plan.WhatIf at the target
    next_dollar: dict[str, float] | None = None
    batch: BatchSweepResult | None = None
    selection: MethodSelection | None = None  # every method backtested on the largest budget
    headline: ComputeOptimal | None = None  # approach 1 or 2 where that backtest ranks it above approach 3
    headline_name: str = "approach3"  # the method the headline quotes
    headline_note: str = ""  # why a method the backtest preferred is not quoted
    #: approaches 1 and 2 as the backtest fitted them, with their allocation at the target
    allocation_fits: dict[str, ComputeOptimal] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()  # of those, the ones the backtest cannot rank apart (best first)
    #: where horizon_name's allocation is still identified: the largest budget up to the target at which
    #: its N_opt interval spans at most MAX_HEADLINE_DECADES (C, N_opt, D_opt, N_low, N_high), or None
    horizon: dict[str, float] | None = None
    horizon_name: str = ""
    next_runs: Any = None  # lmscale.report.next_runs.NextRuns, when the summary proposed them
    skipped: dict[str, str] = field(default_factory=dict)
    schedule: dict[str, pd.DataFrame] | None = None  # lmscale.fit.schedule_backtest.schedule_backtests


def attempt(skipped: dict[str, str], name: str, fn: Callable[[], T]) -> T | None:
    """fn(), or None with the one-line reason recorded under ``name``."""
    try:
        return fn()
    except SKIPPABLE as exc:
        skipped[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return None


def envelope(runs: pd.DataFrame, x: str) -> pd.DataFrame:
    """Runs that reach a lower loss than every run with a smaller ``x`` (the best loss at or below x).

    For x = N this is Kaplan's 'best model of each size' when every size was trained long enough;
    for C it is the compute-efficient frontier of final points.
    """
    df = runs.sort_values([x, "loss"]).drop_duplicates(subset=[x], keep="first")
    best = df["loss"].cummin().shift(1, fill_value=np.inf)
    return df[df["loss"] < best].reset_index(drop=True)


def backtest_cutoff(runs: pd.DataFrame) -> float:
    """The C below which runs are fitted: the largest HOLDOUT_FRACTION of runs by C are held out."""
    c = np.sort(runs["C"].to_numpy(float))
    k = max(1, int(round(HOLDOUT_FRACTION * len(c))))
    cut = c[len(c) - k - 1]
    if not (c > cut).any():
        raise InputError("every run has the same compute: nothing larger to hold out")
    return float(cut)


def next_dollar(law: FitResult, runs: pd.DataFrame) -> dict[str, float]:
    """At the best largest-compute run: loss change from 1% more parameters vs 1% more tokens.

    Under C = 6ND both cost the same 1% of compute, so the larger drop is the better next dollar.
    """
    biggest = runs[runs["C"] == runs["C"].max()]
    top = biggest.loc[biggest["loss"].idxmin()]  # the best of the largest-compute runs
    n, d = float(top["N"]), float(top["D"])
    base = float(law.predict(N=n, D=d))
    d_n = base - float(law.predict(N=n * 1.01, D=d))
    d_d = base - float(law.predict(N=n, D=d * 1.01))
    n_opt, d_opt = law.optimal(float(top["C"]))
    return {
        "run": str(top["run"]),
        "N": n,
        "D": d,
        "C": float(top["C"]),
        "loss_pred": base,
        "drop_more_params": d_n,
        "drop_more_data": d_d,
        "tokens_per_param": d / n,
        "tokens_per_param_opt": float(d_opt) / float(n_opt),
    }


def batch_sweep(data: ReportInput) -> BatchSweepResult:
    """Critical batch size from runs of one model size that differ only in batch size (Kaplan §5.1)."""
    cur = data.curves
    if cur is None or "batch_tokens" not in cur.columns:
        raise InputError("no learning curves with a batch size (column 'batch_tokens')")
    per_run = cur.groupby("run").agg(N=("N", "first"), B=("batch_tokens", "first"))
    groups = per_run.groupby("N")["B"].nunique()
    if groups.max() < 3:
        raise InputError("no model size was trained at 3 or more batch sizes")
    n_star = groups.idxmax()
    runs = per_run.index[per_run["N"] == n_star]
    return bcrit_from_batch_sweep(cur[cur["run"].isin(runs)])


def analyse(
    data: ReportInput,
    *,
    target_flops: float | None = None,
    bootstrap: int = 200,
    seed: int = 0,
    isoflop_budgets: Any = None,
) -> Analysis:
    """Run every fit the data supports, recording why each missing one was skipped."""
    runs = data.runs
    if target_flops is not None and not (math.isfinite(target_flops) and target_flops > 0):
        raise InputError(f"--target-flops must be a positive number of FLOPs, got {target_flops}")
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    c_max = float(runs["C"].max()) if len(runs) else float("nan")
    target = float(target_flops) if target_flops is not None else DEFAULT_TARGET_FACTOR * c_max
    a = Analysis(data, target, target_flops is None, int(bootstrap))
    sk = a.skipped
    conv = data.conventions  # what N and C count, recorded on every fit
    if len(runs) == 0:
        sk["all fits"] = "no completed runs with a final loss"
        return a
    a.main = attempt(
        sk,
        "L(N, D) fit",
        lambda: fit(
            runs,
            "chinchilla",
            bootstrap=bootstrap,
            seed=seed,
            budgets=(target,),
            name="this study",
            conventions=conv,
        ),
    )
    for x in ("N", "D", "C"):
        pts = envelope(runs, x)
        a.single_points[x] = pts
        res = attempt(
            sk,
            f"L({x}) fit",
            lambda pts=pts, x=x: fit(pts, "power", x=x, bootstrap=bootstrap, seed=seed, conventions=conv),
        )
        if res is not None:
            a.single[x] = res
    a.approach2 = attempt(
        sk,
        "IsoFLOP profiles",
        lambda: approach2(
            runs,
            budgets=isoflop_budgets,
            bootstrap=bootstrap,
            seed=seed,
            target_compute=target,
            conventions=conv,
        ),
    )
    if data.curves is None:
        sk["learning curves"] = "the input has no learning curves (pass curves / --curves, or a store study)"
    else:
        a.frontier = attempt(
            sk,
            "compute-efficient frontier",
            lambda: fit_frontier(data.curves, bootstrap=bootstrap, seed=seed, conventions=conv),
        )
        a.approach1 = attempt(
            sk,
            "approach 1",
            lambda: approach1(
                data.curves, bootstrap=bootstrap, seed=seed, target_compute=target, conventions=conv
            ),
        )
    a.selection = attempt(
        sk,
        "method backtest",
        lambda: compare_methods(runs, data.curves, bootstrap=min(bootstrap, SELECT_BOOTSTRAP), seed=seed),
    )
    a.backtest = loss_backtest(a, runs, seed)
    a.allocation_fits = allocation_fits(a, seed)
    attempt(sk, "headline method", lambda: choose_headline(a))
    if a.main is not None:
        from lmscale.plan import optimal, what_if

        a.allocation = attempt(sk, "plan at target", lambda: optimal(a.main, target))
        a.whatif = attempt(sk, "what-if", lambda: what_if(a.main, target))
        a.next_dollar = attempt(sk, "next dollar", lambda: next_dollar(a.main, runs))
    a.batch = attempt(sk, "critical batch size", lambda: batch_sweep(data))
    a.schedule = attempt(sk, "schedule-aware law", lambda: schedule_law(data))
    return a


def schedule_law(data: ReportInput) -> dict[str, pd.DataFrame]:
    """The annealing law's backtests (lmscale.fit.annealing), when the input carries each run's rates."""
    from lmscale.fit.schedule_backtest import schedule_backtests

    if not data.lr_traces or data.curves is None:
        raise InputError(
            "the input carries no learning-rate schedules (a store study of lmscale's trainer does)"
        )
    curves = data.curves.rename(columns={"run": "run_id"})
    if "step" not in curves:
        raise InputError("the learning curves have no step column")
    return schedule_backtests(curves, data.lr_traces, data.schedules)


def loss_backtest(a: Analysis, runs: pd.DataFrame, seed: int) -> Backtest | None:
    """Approach 3's run-level backtest: the method backtest's own (largest IsoFLOP budget held out),
    so the report shows one split; without IsoFLOP budgets, the largest HOLDOUT_FRACTION of runs by C."""
    if a.selection is not None and "approach3" in a.selection.backtests:
        return a.selection.backtests["approach3"]
    return attempt(
        a.skipped,
        "backtest",
        lambda: backtest(
            runs, "chinchilla", cutoff=backtest_cutoff(runs), by="C", bootstrap=a.bootstrap, seed=seed
        ),
    )


def allocation_fits(a: Analysis, seed: int) -> dict[str, ComputeOptimal]:
    """Approaches 1 and 2 as the method backtest fitted them (approach 1 with the parabola refine),
    with their allocation at the target; a method that cannot be fitted is left out."""
    fits: dict[str, ComputeOptimal] = {}
    if a.approach2 is not None:
        fits["approach2"] = a.approach2
    if a.data.curves is not None:
        one = attempt(
            a.skipped,
            "approach 1 (parabola refine)",
            lambda: approach1(
                a.data.curves,
                refine="parabola",
                bootstrap=a.bootstrap,
                seed=seed,
                target_compute=a.target_flops,
                conventions=a.data.conventions,
            ),
        )
        if one is not None:
            fits["approach1"] = one
    return fits


def choose_headline(a: Analysis) -> None:
    """Set the allocation the headline quotes by lmscale.report.headline's rule, and where it is not
    identified, the range in which the best candidate's still is."""
    if a.selection is None:
        return
    choice = headline.choose_headline(a.selection, a.allocation_fits)
    a.headline_name, a.headline_note, a.candidates = choice.method, choice.note, choice.candidates
    if choice.method in a.allocation_fits:
        a.headline = a.allocation_fits[choice.method]
    if choice.horizon_method:
        a.horizon_name = choice.horizon_method
        a.horizon = headline.identified_horizon(
            a.allocation_fits[choice.horizon_method], float(a.data.runs["C"].max()), a.target_flops
        )


def method_table(a: Analysis) -> pd.DataFrame | None:
    """Approaches 1, 2 and 3 at the target, side by side (lmscale.report.headline.method_table); None
    when none of them gave an allocation."""
    if not a.allocation_fits and a.allocation is None:
        return None
    law_a = None
    if a.main is not None and "a" in a.main.derived:
        lo, hi = a.main.ci.get("a", (math.nan, math.nan))
        law_a = (float(a.main.derived["a"]), float(lo), float(hi))
    failed = a.main.n_bootstrap_failed / a.bootstrap if a.main is not None and a.bootstrap else math.nan
    return headline.method_table(a.selection, a.allocation_fits, a.allocation, law_a, failed)
