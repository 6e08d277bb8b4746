"""Input checks for a table of runs: one clear line naming the column and row, never a nonsense fit.

Conventions: ``N`` non-embedding parameters, ``D`` training tokens, ``C`` training FLOPs, ``loss`` in
nats, ``S`` optimizer steps (kaplan-ns), ``U`` unique tokens or ``epochs`` (data-constrained). Rows are
reported 1-based as "data row k" (line k+1 of a CSV with a header).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.forms import Form
from lmscale.store.tables import numeric_column

FLOPS_PER_PARAM_TOKEN = 6.0  # C ≈ 6ND (Kaplan et al. 2020, Table 1)


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def _numeric(df: pd.DataFrame, col: str, source: str | None) -> np.ndarray:
    return numeric_column(df, col, source or "", positive=True)


def required_columns(form: Form) -> tuple[str, ...]:
    """Columns the user must provide (derivable ones such as U_N and C are not listed)."""
    if form.name == "data-constrained":
        return ("N", "D", "loss")
    return (*form.variables, "loss")


def prepare_columns(
    df: pd.DataFrame, form: Form, source: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Fill derivable columns (D from C and N, C from N and D, U from epochs); return notes on what was done."""
    notes: list[str] = []
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    if "loss" not in df.columns:
        for alt in ("L", "Loss", "eval_loss", "val_loss"):
            if alt in df.columns:
                df = df.rename(columns={alt: "loss"})
                notes.append(f"used column {alt!r} as loss")
                break
    needs = set(form.variables)
    if "D" in needs and "D" not in df.columns and {"C", "N"} <= set(df.columns):
        df["D"] = _numeric(df, "C", source) / (FLOPS_PER_PARAM_TOKEN * _numeric(df, "N", source))
        notes.append("D computed as C/(6N)")
    if "C" in needs and "C" not in df.columns and {"N", "D"} <= set(df.columns):
        df["C"] = FLOPS_PER_PARAM_TOKEN * _numeric(df, "N", source) * _numeric(df, "D", source)
        notes.append("C computed as 6ND")
    if form.name == "data-constrained" and "U" not in df.columns and {"epochs", "D"} <= set(df.columns):
        df["U"] = _numeric(df, "D", source) / _numeric(df, "epochs", source)
        notes.append("U computed as D/epochs")
    return df, notes


def validate_runs(
    df: pd.DataFrame, form: Form, *, n_free: int | None = None, source: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Check ``df`` for ``form``; return the cleaned table (numeric columns) and notes.

    Raises InputError for: missing columns, non-numeric/NaN/inf or non-positive values, duplicate
    rows, fewer points than free parameters + 1, a single value of a variable in a two-variable form.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError("runs must be a pandas DataFrame")
    if len(df) == 0:
        raise InputError(f"{_where(source)}no runs in the table")
    df, notes = prepare_columns(df, form, source)
    needed = required_columns(form)
    if form.name == "data-constrained" and "U" not in df.columns:
        raise InputError(
            f"{_where(source)}form data-constrained needs column 'U' (unique tokens) or 'epochs'"
        )
    missing = [c for c in needed if c not in df.columns]
    if missing:
        hint = " (a CSV needs N = non-embedding parameters, D = tokens, loss = nats; C optional)"
        raise InputError(
            f"{_where(source)}missing column(s) {', '.join(repr(c) for c in missing)} for form "
            f"{form.name}; found {', '.join(map(repr, df.columns))}{hint}"
        )
    cols = list(dict.fromkeys([*needed, *(c for c in ("U", "U_N", "C") if c in df.columns)]))
    clean = pd.DataFrame({c: _numeric(df, c, source) for c in cols})
    for extra in ("run", "study"):
        if extra in df.columns:
            clean[extra] = df[extra].to_numpy()
    dup = clean[cols].duplicated(keep="first").to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((clean[cols] == clean[cols].iloc[k]).all(axis=1))[0])
        raise InputError(
            f"{_where(source)}data row {k + 1} duplicates data row {first + 1} "
            f"({int(dup.sum())} duplicate rows); remove repeated runs"
        )
    inputs = [v for v in form.variables if v not in ("U", "U_N")]
    if len(inputs) >= 2:
        for v in inputs:
            if clean[v].nunique() < 2:
                what = "model size" if v == "N" else "value"
                raise InputError(
                    f"{_where(source)}column {v!r} has a single {what} ({clean[v].iloc[0]:g}); form "
                    f"{form.name} needs several to separate the effects of {' and '.join(inputs)}"
                )
    p = len(form.params) if n_free is None else n_free
    if len(clean) < p + 1:
        raise InputError(
            f"{_where(source)}form {form.name} has {p} free parameters but the table has only "
            f"{len(clean)} runs; need at least {p + 1}"
        )
    return clean.reset_index(drop=True), notes
