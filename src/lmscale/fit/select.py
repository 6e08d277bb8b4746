"""Choose the fitting method by backtest: hold out the largest compute budget(s), fit every applicable
method on the smaller runs, and score what each predicts at the held-out budgets.

Targets at a held-out budget C (each method predicts what it can):
- ``N_opt``: the compute-optimal model size. The truth is the budget's own IsoFLOP minimum (a parabola
  in ln N through its runs near the lowest loss, as approach 2 finds it). Approaches 1, 2 and 3.
- ``loss_opt``: the lowest loss reachable at C, against that parabola's minimum. Approach 3 (its loss
  at its optimum) and the L(C) frontier.
- held-out runs: each run's loss, with the prediction interval's coverage. Loss laws over N and D
  (approach 3; the data-constrained form where the runs have unique tokens U).

Training data are the runs with less compute than every held-out run, so no method sees the future.
The method that predicts N_opt best (smallest mean |log10 error|) is chosen: the allocation is the
decision a compute plan makes. Orchestration (fitting each method) sits in :func:`compare_methods`;
scoring is plain arithmetic on its predictions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.intervals import percentile_interval

#: Methods in the order the table lists them.
METHODS = ("approach1", "approach2", "approach3", "frontier", "data-constrained")
#: Resamples per method inside the backtest: enough for a 95% interval, cheap enough to run five.
SELECT_BOOTSTRAP = 200
NAN2 = (math.nan, math.nan)


@dataclass(frozen=True)
class Prediction:
    """What one method predicts at the held-out budgets (arrays over budgets, NaN where it cannot)."""

    n_opt: np.ndarray
    n_opt_ci: tuple[np.ndarray, np.ndarray]
    loss_opt: np.ndarray
    loss_opt_ci: tuple[np.ndarray, np.ndarray]
    runs_error: float = math.nan  # mean |L̂/L − 1| over the held-out runs
    runs_coverage: float = math.nan  # share of held-out runs inside the prediction interval
    backtest: Any = None  # the run-level Backtest behind runs_error, for loss-law methods


@dataclass
class MethodSelection:
    """The backtest of every method: ``table`` (a row per method), the held-out ``truth`` and ``best``."""

    table: pd.DataFrame
    truth: pd.DataFrame  # held-out budgets: C, N_opt, loss_opt (their own IsoFLOP minima), n_runs
    best: str | None
    n_train: int
    train_max_C: float
    warnings: list[str] = field(default_factory=list)
    #: method → its run-level Backtest on the same split (approach 3, data-constrained), so a caller
    #: showing a loss backtest reuses this one instead of fitting on another split
    backtests: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "n_train": self.n_train,
            "train_max_C": self.train_max_C,
            "held_out": self.truth.to_dict(orient="records"),
            "methods": self.table.to_dict(orient="records"),
            "warnings": list(self.warnings),
        }


def _with_d(runs: pd.DataFrame) -> pd.DataFrame:
    """C and D both present (C = 6ND fills whichever is missing), so every method reads the same runs."""
    df = runs.copy()
    if "C" not in df and {"N", "D"} <= set(df):
        df["C"] = 6.0 * df["N"].astype(float) * df["D"].astype(float)
    if "D" not in df and {"N", "C"} <= set(df):
        df["D"] = df["C"].astype(float) / (6.0 * df["N"].astype(float))
    if not {"N", "C", "loss"} <= set(df):
        raise InputError("--form auto: the runs need columns N, loss and C (or D)")
    return df


def held_out_budgets(
    runs: pd.DataFrame, holdout: int, bootstrap: int = SELECT_BOOTSTRAP, seed: int = 0, level: float = 0.95
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """(training runs, held-out runs, held-out budgets' own minima with their bootstrap intervals,
    warnings).

    The held-out budgets are the ``holdout`` largest whose IsoFLOP minimum is usable (a larger budget
    whose minimum is not is skipped, with a warning, and is in neither set).
    """
    from lmscale.fit.budgets import assign_budgets
    from lmscale.fit.compute_optimal import budget_minima

    if holdout < 1:
        raise InputError(f"--holdout must be at least 1, got {holdout}")
    budget, _ = assign_budgets(runs)  # its warnings speak of approach 2 leaving runs out; here they train
    runs = runs.assign(_budget=budget.to_numpy())
    warnings = []
    if budget.isna().any():
        warnings.append(
            f"{int(budget.isna().sum())} runs belong to no IsoFLOP budget: never held out, and fitted "
            "where their compute is below the held-out budget's"
        )
    piled = runs[runs["_budget"].notna()].drop(columns="budget", errors="ignore")
    minima = budget_minima(  # the piles' own runs: given budgets would gather runs within 0.3 decades
        piled.rename(columns={"_budget": "budget"}),
        bootstrap=bootstrap,
        seed=seed,
        level=level,
    )
    usable = minima[minima["used"]].sort_values("C")
    if len(usable) < holdout + 2:
        raise InputError(
            f"--form auto: {len(usable)} budget(s) with a usable IsoFLOP minimum; holding out {holdout} "
            f"needs at least {holdout + 2} (the rest to fit on)"
        )
    truth = usable.tail(holdout)
    skipped = minima[(minima["C"] > truth["C"].min()) & ~minima["used"]]
    for c in skipped["C"]:
        warnings.append(f"budget {c:.3g} FLOPs has no usable IsoFLOP minimum: not held out, not fitted")
    test = runs[np.isin(runs["_budget"], truth["C"])]
    train = runs[runs["C"] < test["C"].min()]
    out = truth[["C", "N_opt", "N_opt_low", "N_opt_high", "loss_opt", "n_runs"]].reset_index(drop=True)
    return train.drop(columns="_budget"), test.drop(columns="_budget"), out, warnings


def _interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-budget percentile intervals of draws (S, budgets)."""
    pairs = [percentile_interval(draws[:, j], level) for j in range(draws.shape[1])]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _none(k: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    return np.full(k, math.nan), (np.full(k, math.nan), np.full(k, math.nan))


def _allocation_prediction(result: Any, C: np.ndarray, level: float) -> Prediction:
    """Approach 1 or 2: N_opt(C) from the fitted line, no loss."""
    n_draws, _ = result.optimal_draws(C)
    loss, loss_ci = _none(len(C))
    ci = _interval(n_draws, level) if len(n_draws) else _none(len(C))[1]
    return Prediction(np.asarray(result.optimal(C)[0], float), ci, loss, loss_ci)


def _approach3(train: pd.DataFrame, test: pd.DataFrame, C: np.ndarray, opts: dict[str, Any]) -> Prediction:
    from lmscale.fit.backtest import backtest

    bt = backtest(pd.concat([train, test]), "chinchilla", cutoff=float(train["C"].max()), by="C", **opts)
    law, level = bt.fit, bt.fit.level
    theta = law.theta_draws() if law.has_draws else None
    n_opt = np.asarray(law.optimal(C)[0], float)
    loss_opt = law.optimal_loss_of(law.theta(), C[None, :])[0]
    n_ci = _interval(law.optimal_of(theta, C[None, :])[0], level) if theta is not None else _none(len(C))[1]
    l_ci = _interval(law.optimal_loss_of(theta, C[None, :]), level) if theta is not None else _none(len(C))[1]
    s = bt.summary()
    return Prediction(n_opt, n_ci, loss_opt, l_ci, s["mean_abs_rel_error"], s["pi_coverage"], bt)


def _data_constrained(
    train: pd.DataFrame, test: pd.DataFrame, C: np.ndarray, opts: dict[str, Any]
) -> Prediction:
    from lmscale.fit.backtest import backtest

    if "U" not in train.columns:
        raise InputError("needs a column U (unique tokens)")
    bt = backtest(
        pd.concat([train, test]), "data-constrained", cutoff=float(train["C"].max()), by="C", **opts
    )
    s = bt.summary()
    n_opt, n_ci = _none(len(C))
    return Prediction(n_opt, n_ci, *_none(len(C)), s["mean_abs_rel_error"], s["pi_coverage"], bt)


def _train_curves(curves: pd.DataFrame | None, train: pd.DataFrame) -> pd.DataFrame:
    if curves is None or curves.empty:
        raise InputError("needs learning curves (--curves or a stored study)")
    if "run" not in train.columns:
        raise InputError("needs a 'run' column in the runs to match the learning curves")
    return curves[curves["run"].isin(set(train["run"]))]


def _predict(method: str, data: dict[str, Any], C: np.ndarray, opts: dict[str, Any]) -> Prediction:
    """One method fitted on the training side, predicting at the held-out budgets C."""
    from lmscale.fit.compute_optimal import approach1, approach2
    from lmscale.fit.frontier import fit_frontier

    train, test, level = data["train"], data["test"], opts.get("level", 0.95)
    common = {k: opts[k] for k in ("bootstrap", "seed") if k in opts}
    if method == "approach1":
        result = approach1(_train_curves(data["curves"], train), refine="parabola", **common)
        return _allocation_prediction(result, C, level)
    if method == "approach2":
        return _allocation_prediction(
            approach2(train.drop(columns="budget", errors="ignore"), **common), C, level
        )
    if method == "frontier":
        law = fit_frontier(_train_curves(data["curves"], train), **common)
        ci = law.interval("confidence", C=C) if law.has_draws else _none(len(C))[1]
        return Prediction(*_none(len(C)), np.asarray(law.predict(C=C), float), ci)
    if method == "approach3":
        return _approach3(train, test, C, opts)
    return _data_constrained(train, test, C, opts)


def _score(method: str, p: Prediction | None, truth: pd.DataFrame, note: str) -> dict[str, Any]:
    n_true, l_true = truth["N_opt"].to_numpy(float), truth["loss_opt"].to_numpy(float)
    row: dict[str, Any] = {"method": method}
    if p is None:
        keys = (
            "N_opt_error_dex",
            "N_opt_inside",
            "loss_opt_error",
            "loss_opt_inside",
            "runs_error",
            "runs_coverage",
        )
        return {**row, **dict.fromkeys(keys, math.nan), "note": note}
    with np.errstate(invalid="ignore", divide="ignore"):
        n_err = np.log10(p.n_opt / n_true)
        l_err = p.loss_opt / l_true - 1.0
    row["N_opt_error_dex"] = float(np.mean(np.abs(n_err))) if np.isfinite(n_err).all() else math.nan
    row["N_opt_inside"] = _coverage(n_true, p.n_opt_ci)
    row["loss_opt_error"] = float(np.mean(np.abs(l_err))) if np.isfinite(l_err).all() else math.nan
    row["loss_opt_inside"] = _coverage(l_true, p.loss_opt_ci)
    row["runs_error"], row["runs_coverage"] = p.runs_error, p.runs_coverage
    return {**row, "note": note}


def _coverage(truth: np.ndarray, ci: tuple[np.ndarray, np.ndarray]) -> float:
    """Share of held-out truths inside their intervals; NaN where the method gave no interval."""
    lo, hi = np.asarray(ci[0], float), np.asarray(ci[1], float)
    if np.isnan(lo).any() or np.isnan(hi).any():
        return math.nan
    return float(np.mean((lo <= truth) & (truth <= hi)))


def compare_methods(
    runs: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    holdout: int = 1,
    bootstrap: int = SELECT_BOOTSTRAP,
    seed: int = 0,
    level: float = 0.95,
    methods: tuple[str, ...] = METHODS,
    progress: Callable[[str], None] | None = None,
    **fit_kwargs: Any,
) -> MethodSelection:
    """Backtest every method on the ``holdout`` largest budgets; ``best`` predicts N_opt best.

    ``fit_kwargs`` go to approach 3's and the data-constrained form's fits (e.g. ``n_jobs``).
    A method that does not apply (no curves, no U column) or fails gets a row saying why.
    """
    df = _with_d(runs)
    train, test, truth, warnings = held_out_budgets(df, holdout, bootstrap, seed, level)
    C = truth["C"].to_numpy(float)
    data = {"train": train, "test": test, "curves": curves}
    opts = {"bootstrap": bootstrap, "seed": seed, "level": level, **fit_kwargs}
    rows, backtests = [], {}
    for method in methods:
        if progress is not None:
            progress(method)
        try:
            prediction = _predict(method, data, C, opts)
            rows.append(_score(method, prediction, truth, ""))
            if prediction.backtest is not None:
                backtests[method] = prediction.backtest
        except InputError as e:
            rows.append(_score(method, None, truth, f"not applicable: {e}"))
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as e:  # a fit that breaks on this split
            rows.append(_score(method, None, truth, f"failed: {e}"))
    table = pd.DataFrame(rows)
    best = _best(table)
    tie = _indistinguishable(table, truth, best)
    if tie:
        warnings.append(tie)
    return MethodSelection(table, truth, best, len(train), float(train["C"].max()), warnings, backtests)


def _best(table: pd.DataFrame) -> str | None:
    """Smallest N_opt error; without any N_opt prediction, smallest loss_opt error."""
    for column in ("N_opt_error_dex", "loss_opt_error"):
        scored = table[np.isfinite(table[column].astype(float))]
        if len(scored):
            return str(scored.loc[scored[column].astype(float).idxmin(), "method"])
    return None


def truth_uncertainty_dex(truth: pd.DataFrame) -> float:
    """Half-width in log10 of the held-out minima's own bootstrap intervals (mean over budgets)."""
    lo, hi = truth["N_opt_low"].to_numpy(float), truth["N_opt_high"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.log10(hi / lo) / 2
    return float(np.mean(half)) if np.isfinite(half).all() else math.nan


def ranks_above(sel: MethodSelection, method: str, other: str) -> bool:
    """Whether ``method`` predicted N_opt better than ``other`` by more than the held-out minimum's own
    uncertainty (an ``other`` without an N_opt prediction is outranked by any that has one)."""
    err = sel.table.set_index("method")["N_opt_error_dex"].astype(float)
    mine, theirs = err.get(method, math.nan), err.get(other, math.nan)
    if not np.isfinite(mine):
        return False
    if not np.isfinite(theirs):
        return True
    half = truth_uncertainty_dex(sel.truth)
    return bool(theirs - mine >= (half if np.isfinite(half) else 0.0))


def _tied(table: pd.DataFrame, truth: pd.DataFrame, best: str | None) -> list[str]:
    err = table.set_index("method")["N_opt_error_dex"].astype(float)
    if best is None or not np.isfinite(err.get(best, math.nan)):
        return []
    half = truth_uncertainty_dex(truth)
    margin = half if np.isfinite(half) else 0.0
    close = err[np.isfinite(err) & (err - err[best] < margin)].sort_values(kind="stable")
    return [best, *(m for m in close.index if m != best)]


def tied_with_best(sel: MethodSelection) -> list[str]:
    """The methods whose N_opt error is within the held-out minimum's own uncertainty of the best one's,
    the best first, then by error: the backtest cannot rank these against each other."""
    return _tied(sel.table, sel.truth, sel.best)


def _indistinguishable(table: pd.DataFrame, truth: pd.DataFrame, best: str | None) -> str:
    """A warning naming the methods whose N_opt error is within the held-out minimum's own
    uncertainty of the best one: the backtest cannot rank those."""
    close = _tied(table, truth, best)[1:]
    if not close:
        return ""
    return (
        f"the held-out IsoFLOP minimum is itself uncertain by ±{truth_uncertainty_dex(truth):.2f} decades; "
        f"{', '.join(close)} predicted N_opt within that of {best}, so this backtest does not rank them"
    )


__all__ = [
    "METHODS",
    "MethodSelection",
    "compare_methods",
    "held_out_budgets",
    "ranks_above",
    "tied_with_best",
    "truth_uncertainty_dex",
]
