"""Backtests: fit on the smaller runs, predict the held-out larger ones, score the extrapolation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.forms import get_form
from lmscale.fit.result import FitResult
from lmscale.fit.validate import prepare_columns

# Bootstrap count used inside backtests unless given: enough for a 95% interval, cheap enough to roll.
BACKTEST_BOOTSTRAP = 200


@dataclass
class Backtest:
    """One cut-off: the fit on the training side and a row per held-out run."""

    cutoff: float
    by: str
    fit: FitResult
    table: pd.DataFrame  # held-out runs: inputs, loss, loss_pred, pi_low, pi_high, abs_rel_error, inside_pi

    def summary(self) -> dict[str, Any]:
        t = self.table
        return {
            "cutoff": self.cutoff,
            "by": self.by,
            "n_train": self.fit.n_points,
            "n_test": len(t),
            "mean_abs_rel_error": float(t["abs_rel_error"].mean()),
            "max_abs_rel_error": float(t["abs_rel_error"].max()),
            "pi_coverage": float(t["inside_pi"].mean()) if t["inside_pi"].notna().all() else float("nan"),
        }


def _split(df: pd.DataFrame, form: str, x: str, by: str, cutoff: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    prepared, _ = prepare_columns(df, get_form(form, x))
    if by == "C" and "C" not in prepared.columns:
        if {"N", "D"} <= set(prepared.columns):
            prepared["C"] = (
                6.0
                * pd.to_numeric(prepared["N"], errors="coerce")
                * pd.to_numeric(prepared["D"], errors="coerce")
            )
        else:
            raise InputError("backtest by C needs column 'C' (or N and D)")
    if by not in prepared.columns:
        raise InputError(f"backtest --by {by}: no column {by!r} in the runs")
    key = pd.to_numeric(prepared[by], errors="coerce")
    if key.isna().any():
        raise InputError(f"backtest --by {by}: column {by!r} has non-numeric values")
    train, test = prepared[key <= cutoff], prepared[key > cutoff]
    if test.empty:
        raise InputError(f"backtest cut-off {cutoff:g} on {by} leaves no held-out runs (max {key.max():g})")
    return train, test


def backtest(
    df: pd.DataFrame,
    form: str = "chinchilla",
    *,
    cutoff: float,
    by: str = "C",
    level: float = 0.95,
    **fit_kwargs: Any,
) -> Backtest:
    """Fit ``form`` on runs with ``by`` ≤ cutoff and predict the rest.

    The error is |L̂/L − 1| per held-out run; ``inside_pi`` says whether the actual loss falls in the
    fit's prediction interval (bootstrap + residual noise; NaN if bootstrap=0).
    """
    from lmscale.fit.api import _apply_bcrit, fit

    x = fit_kwargs.get("x", "N")
    train, test = _split(df, form, x, by, float(cutoff))
    fit_kwargs.setdefault("bootstrap", BACKTEST_BOOTSTRAP)
    fit_kwargs.setdefault("profiles", ())  # a backtest scores predictions; profiles cost seconds each
    result = fit(train, form, level=level, **fit_kwargs)
    if fit_kwargs.get("bcrit") is not None:  # the fit saw S_min: predict the held-out runs at S_min too
        test, _ = _apply_bcrit(prepare_columns(test, result.form)[0], fit_kwargs["bcrit"])
    f = result.form
    inputs = {v: pd.to_numeric(test[v], errors="coerce").to_numpy(float) for v in f.variables if v in test}
    pred = result.predict(**inputs)
    loss = pd.to_numeric(test["loss"], errors="coerce").to_numpy(float)
    table = pd.DataFrame({k: v for k, v in inputs.items()})
    if by not in table:
        table[by] = pd.to_numeric(test[by], errors="coerce").to_numpy(float)
    table["loss"] = loss
    table["loss_pred"] = pred
    table["abs_rel_error"] = np.abs(pred / loss - 1.0)
    if result.has_draws:
        lo, hi = result.interval("prediction", level=level, **inputs)
        table["pi_low"], table["pi_high"] = lo, hi
        table["inside_pi"] = (loss >= lo) & (loss <= hi)
    else:
        table["pi_low"] = table["pi_high"] = np.nan
        table["inside_pi"] = np.nan
    return Backtest(float(cutoff), by, result, table.reset_index(drop=True))


def rollout(
    df: pd.DataFrame,
    form: str = "chinchilla",
    *,
    cutoffs: Sequence[float] | None = None,
    by: str = "C",
    n_cutoffs: int = 4,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Backtests over successive cut-offs → one summary row per cut-off.

    Default cut-offs: the distinct values of ``by`` from the ``n_cutoffs``-th largest down, so the
    last fit holds out only the largest scale and the first several.
    """
    if cutoffs is None:
        prepared, _ = prepare_columns(df, get_form(form, fit_kwargs.get("x", "N")))
        if by == "C" and "C" not in prepared and {"N", "D"} <= set(prepared):
            prepared["C"] = 6.0 * prepared["N"].astype(float) * prepared["D"].astype(float)
        if by not in prepared:
            raise InputError(f"rollout --by {by}: no column {by!r} in the runs")
        levels = np.unique(pd.to_numeric(prepared[by], errors="coerce").dropna().to_numpy(float))
        if len(levels) < 3:
            raise InputError(f"rollout needs at least 3 distinct values of {by}, found {len(levels)}")
        cutoffs = levels[-(n_cutoffs + 1) : -1] if len(levels) > n_cutoffs else levels[1:-1]
    rows = []
    for c in cutoffs:
        rows.append(backtest(df, form, cutoff=float(c), by=by, **fit_kwargs).summary())
    return pd.DataFrame(rows)
