"""Small helpers every study uses: number formatting with intervals, power-law fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit import FitResult, fit
from lmscale.fit.intervals import percentile_interval
from lmscale.report.wording import param_ci, short_n

__all__ = [
    "BYTES_PER_BPE",
    "best_rows",
    "ci_text",
    "fit_power",
    "paired_interval",
    "param_ci",
    "pct",
    "rel_diff",
    "sci",
    "short_n",
]

#: WebText2: 96 GB of text in 2.29e10 BPE tokens (Kaplan et al. 2020 §2.3): our tokens are bytes.
BYTES_PER_BPE = 4.2


def ci_text(value: float, low: float = np.nan, high: float = np.nan, digits: int = 3) -> str:
    """'0.085 (0.065–0.107)': a value with its 95% interval, significant digits."""
    v = f"{value:.{digits}g}"
    if np.isfinite(low) and np.isfinite(high):
        return f"{v} ({low:.{digits}g}–{high:.{digits}g})"
    return v


def sci(x: float, digits: int = 2) -> str:
    """A published constant as papers print it: 2e8, 6.5e13, 0.21."""
    text = f"{x:.{digits}g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def paired_interval(draws_new: np.ndarray, draws_old: np.ndarray) -> tuple[float, float]:
    """95% interval of a shift from two fits' draws on the same resamples (row i with row i);
    a failed resample on either side (NaN) drops out, and fewer than 2 usable rows give NaN."""
    diff = np.asarray(draws_new, float) - np.asarray(draws_old, float)
    diff = diff[np.isfinite(diff)]
    if diff.size < 2:
        return float("nan"), float("nan")
    lo, hi = percentile_interval(diff)
    return float(lo), float(hi)


def best_rows(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Each group's row with the lowest `loss` (a sweep's best run per size), in group order."""
    return df.loc[df.groupby(by)["loss"].idxmin()].reset_index(drop=True)


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def rel_diff(ours: float, paper: float) -> float:
    """ours / paper − 1."""
    return ours / paper - 1.0


def fit_power(
    df: pd.DataFrame, x: str, bootstrap: int, seed: int = 0, with_e: bool = False, **kw: Any
) -> FitResult:
    """L = (X_c/X)^alpha_X (Kaplan's pure power law) or E + A/X^alpha, bootstrapped over rows."""
    table = df[[x, "loss"]].rename(columns={x: x}).copy()
    return fit(table, "power-e" if with_e else "power", x=x, bootstrap=bootstrap, seed=seed, **kw)
