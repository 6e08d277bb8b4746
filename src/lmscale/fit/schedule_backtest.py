"""Backtests of the schedule-aware loss-curve laws on a study's own curves: each size's longest run
predicted from its first steps, and runs of one schedule predicted from runs of another.

A law here is a pair: a function that adds its features to curve rows from each run's per-step
rates (`areas_at` for the annealing law, `decay_terms` for the multi-power law), and a fitter whose
result predicts rows so prepared (`predict_rows`). Pure analysis: the caller passes the rates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.annealing import areas_at, fit_annealing
from lmscale.fit.multipower import decay_terms, fit_multipower


class ScheduleLaw(NamedTuple):
    title: str
    features: Callable[[pd.DataFrame, dict[str, np.ndarray]], pd.DataFrame]
    fit: Callable[[pd.DataFrame], Any]


#: The laws by name: Tissue et al. 2024 (arXiv 2408.11029) and Luo et al. 2025 (arXiv 2503.12811).
LAWS = {
    "annealing": ScheduleLaw("annealing law (Tissue et al. 2024)", areas_at, fit_annealing),
    "multipower": ScheduleLaw("multi-power law (Luo et al. 2025)", decay_terms, fit_multipower),
}
#: Early prediction: the share of the longest run's steps that is seen.
EARLY_FRACTION = 0.3
#: Schedules whose runs the cross-schedule backtest fits (the others are predicted).
SOURCE_SCHEDULES = ("wsd", "constant")


def schedule_law(name: str) -> ScheduleLaw:
    if name not in LAWS:
        raise InputError(f"unknown schedule-aware law {name!r} (choose {' or '.join(LAWS)})")
    return LAWS[name]


def _final(rows: pd.DataFrame) -> pd.Series:
    return rows.loc[rows["step"].idxmax()]


def _fit_or_reason(train: pd.DataFrame, law: ScheduleLaw) -> Any:
    """The fitted law, or why there is none (a string)."""
    try:
        return law.fit(train)
    except InputError as exc:
        return str(exc)


def _prediction(held: str, rows: pd.DataFrame, fitted: Any) -> dict[str, Any]:
    """One backtest row: the fitted law (or why there is none) predicts the final loss of run
    `held` at its last row (`rows` carry the law's features)."""
    last = _final(rows)
    observed = float(last["loss"])
    out: dict[str, Any] = {"run_id": held, "N": float(rows["N"].iloc[0]), "steps": int(last["step"]), "observed": observed}
    if isinstance(fitted, str):
        return {**out, "predicted": np.nan, "rel_error": np.nan, "fitted_on": fitted}
    predicted = float(fitted.predict_rows(rows.loc[[last.name]])[0])
    return {
        **out,
        "predicted": predicted,
        "rel_error": predicted / observed - 1.0,
        "fitted_on": f"{len(fitted.runs)} run(s), {fitted.n_rows} rows",
        "alpha": fitted.alpha,
    }


def early_prediction(
    rows: pd.DataFrame, law: ScheduleLaw, fraction: float = EARLY_FRACTION, siblings: bool = True
) -> pd.DataFrame:
    """For each model size (column N), its longest run's final loss predicted from the rows of its
    first `fraction` of steps, plus (siblings=True) the whole curves of the runs of that size no
    longer than that: what a study knows when its largest run is that far along (for branches of
    one trunk, exactly the branches that have finished by then). `rows` carry `law`'s features."""
    if not 0 < fraction < 1:
        raise InputError(f"early prediction: the fraction of steps must be in (0, 1), got {fraction}")
    out = []
    for _, size in rows.groupby("N"):
        steps = size.groupby("run_id")["step"].max()
        held = str(steps.idxmax())
        mine = size[size["run_id"] == held]
        early = mine[mine["step"] <= fraction * steps[held]]
        done = steps[(steps <= fraction * steps[held]) & (steps.index != held)].index if siblings else []
        others = size[size["run_id"].isin(done)]
        out.append(_prediction(held, mine, _fit_or_reason(pd.concat([early, others]), law)))
    return pd.DataFrame(out)


def cross_schedule(rows: pd.DataFrame, law: ScheduleLaw, sources: set[str]) -> pd.DataFrame:
    """The final loss of every run not in `sources` predicted by the law fitted on the `sources` runs
    of the same size (e.g. cosine runs from WSD branches). `rows` carry `law`'s features."""
    out = []
    for _, size in rows.groupby("N"):
        targets = size[~size["run_id"].isin(sources)]
        if targets.empty:
            continue
        fitted = _fit_or_reason(size[size["run_id"].isin(sources)], law)  # once per size
        for held, mine in targets.groupby("run_id"):
            out.append(_prediction(str(held), mine, fitted))
    return pd.DataFrame(out)


def schedule_backtests(
    curves: pd.DataFrame,
    traces: dict[str, np.ndarray],
    schedules: dict[str, str],
    fraction: float = EARLY_FRACTION,
    law: str = "annealing",
) -> dict[str, pd.DataFrame]:
    """Fits of `law` per size ("fits") and both backtests of the runs that have a trace: "early"
    always, "cross" when some runs are WSD or constant-rate and others are not. `curves`: run_id,
    step, loss, N."""
    chosen = schedule_law(law)
    curves = curves[curves["run_id"].isin(traces) & np.isfinite(curves["loss"])]
    if curves.empty:
        raise InputError(f"{chosen.title}: no learning curves of runs with a known schedule")
    rows = chosen.features(curves, traces)
    fits = []
    for n, size in rows.groupby("N"):
        fitted = _fit_or_reason(size, chosen)
        fits.append({"N": float(n), **({"error": fitted} if isinstance(fitted, str) else fitted.to_dict())})
    out = {"fits": pd.DataFrame(fits), "early": early_prediction(rows, chosen, fraction)}
    ran = set(rows["run_id"])
    sources = {r for r in ran if schedules.get(r) in SOURCE_SCHEDULES}
    if sources and sources != ran:
        out["cross"] = cross_schedule(rows, chosen, sources)
    return out


def error_summary(table: pd.DataFrame) -> dict[str, float]:
    """How many runs a backtest table holds and predicts, and the mean and worst |relative error|."""
    err = table["rel_error"].abs().to_numpy(dtype=float) if len(table) else np.array([])
    err = err[np.isfinite(err)]
    return {
        "runs": len(table),
        "predicted": len(err),
        "mean_abs_rel_error": float(err.mean()) if len(err) else np.nan,
        "max_abs_rel_error": float(err.max()) if len(err) else np.nan,
    }
