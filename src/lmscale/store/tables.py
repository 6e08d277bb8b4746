"""Tables in, DataFrames out: the one reader of run tables, the one loader of a stored study, and the
one check that a column holds numbers.

Every entry point (``lmscale fit``, ``lmscale report``, the demo, ``lmscale replicate``) reads its
inputs here, so a bad file or column gets the same one-line error everywhere: the file (or column
and 1-based data row, line k+1 of a CSV) and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.store.db import Store, default_store_path

#: The N and C conventions a stored study can be read in (the store keeps both counts).
N_COUNTS = ("non-embedding", "total")
C_COUNTS = ("6ND", "exact")
# A text table has no NUL byte in its first block; Parquet, SQLite, images and archives do.
SNIFF_BYTES = 8192


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def read_table(path: str | Path, what: str = "") -> pd.DataFrame:
    """A CSV, TSV (by suffix) or Parquet file as a DataFrame; ``what`` names the option it came from.

    Errors are one line naming the file: missing, a folder, a binary file, or unparsable text.
    """
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise InputError(f"{label}: is a folder, not a table file (give a CSV, TSV or Parquet file)")
    if not path.exists():
        raise InputError(f"{label}: no such file")
    if not path.is_file():
        raise InputError(f"{label}: not a regular file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        with open(path, "rb") as fh:
            if b"\0" in fh.read(SNIFF_BYTES):
                raise InputError(
                    f"{label}: a binary file, not a text table (give a CSV, TSV or Parquet file)"
                )
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except ImportError:
        raise InputError(f"{label}: reading Parquet needs pyarrow (pip install lmscale[parquet])") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputError(f"{label}: cannot read as a table ({_first_line(exc)})") from None


def _row_problem(raw: object) -> str:
    """Why a value that did not convert to a finite number is wrong, for the message."""
    if isinstance(raw, (int, float, np.number)) or raw is None:
        return "missing or NaN" if raw is None or np.isnan(raw) else f"{float(raw)} (not finite)"
    return f"{str(raw)!r} is not a finite number"


def numeric_column(df: pd.DataFrame, col: str, where: str = "", *, positive: bool = False) -> np.ndarray:
    """Column ``col`` as floats, or an InputError "where: column 'X' data row K: why" (K 1-based).

    Text that is not a number is always an error; missing values pass unless ``positive``, which
    also rejects infinite, zero and negative values (as a fit's N, D, C and loss must be).
    """
    prefix = f"{where}: " if where else ""
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)

    def fail(rows: np.ndarray, why: str) -> InputError:
        more = f" ({rows.size} such rows)" if rows.size > 1 else ""
        return InputError(f"{prefix}column {col!r} data row {int(rows[0]) + 1}: {why}{more}")

    if not positive:
        text = np.flatnonzero(raw.notna().to_numpy() & np.isnan(values))
        if text.size:
            raise fail(text, f"{raw.iloc[text[0]]!r} is not a number")
        return values
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise fail(bad, _row_problem(raw.iloc[bad[0]]))
    nonpos = np.flatnonzero(values <= 0)
    if nonpos.size:
        raise fail(nonpos, f"{values[nonpos[0]]:g} must be positive")
    return values


@dataclass(frozen=True)
class StudyTables:
    """A stored study: its runs, final points and long-format learning curves in one pair of conventions.

    ``finals`` (one row per completed run, Store.fit_table) and ``curves`` (run, step, N, tokens, C,
    loss and every logged column, all runs of the study) have N counted as ``n`` ("non-embedding"
    or "total") and C as ``c`` ("6ND" or "exact"); both counts stay in their own columns
    (N_total, C_6ND, C_exact; flops_6n, flops_exact).
    """

    study: str
    path: Path
    runs: pd.DataFrame  # every run of the study: id, status, error, ...
    finals: pd.DataFrame
    curves: pd.DataFrame
    evals: pd.DataFrame  # run, eval_set, loss
    position_loss: pd.DataFrame  # run, eval_set, position, loss
    n: str = "non-embedding"
    c: str = "6ND"


def _require(table: pd.DataFrame, col: str, run_col: str, flag: str) -> pd.Series:
    values = (
        pd.to_numeric(table[col], errors="coerce") if col in table.columns else pd.Series(np.nan, table.index)
    )
    if values.isna().any():
        run = table[run_col].iloc[int(np.flatnonzero(values.isna().to_numpy())[0])]
        raise InputError(f"{flag}: run {run!r} has no {col} in the store")
    return values.astype(float)


def _in_conventions(
    finals: pd.DataFrame, curves: pd.DataFrame, runs: pd.DataFrame, n: str, c: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Final points and curves whose N and C columns count as the conventions say.

    The store logs C = 6·N·tokens with non-embedding N (flops_6n, C_6ND) and the exact count; C = 6ND
    with total N is 6·N_total·tokens.
    """
    finals, curves = finals.copy(), curves.rename(columns={"run_id": "run"})
    if n == "total":
        finals["N"] = _require(finals, "N_total", "run", "--n total") if len(finals) else finals["N"]
        if len(curves):
            curves["N"] = curves["run"].map(runs.set_index("id")["N_total"]).astype(float)
    if c == "exact":
        finals["C"] = _require(finals, "C_exact", "run", "--c exact") if len(finals) else finals["C"]
        if len(curves):
            curves["C"] = _require(curves, "flops_exact", "run", "--c exact")
    elif n == "total":
        finals["C"] = 6.0 * finals["N"].astype(float) * finals["D"].astype(float)
        if len(curves):
            curves["C"] = 6.0 * curves["N"].astype(float) * curves["tokens"].astype(float)
    elif len(curves):  # flops_6n is 6·N·tokens as logged; a point logged without it gets the same count
        logged = curves["flops_6n"] if "flops_6n" in curves.columns else pd.Series(np.nan, index=curves.index)
        curves["C"] = logged.fillna(6.0 * curves["N"].astype(float) * curves["tokens"].astype(float))
    return finals, curves


def load_study(
    study: str, store: str | Path | None = None, n: str = "non-embedding", c: str = "6ND"
) -> StudyTables:
    """A study from the run store (``store`` or the default): every run, the final points and curves."""
    if n not in N_COUNTS or c not in C_COUNTS:
        raise InputError(
            f"a stored study counts N as {' or '.join(N_COUNTS)} and C as {' or '.join(C_COUNTS)}"
        )
    path = Path(store) if store is not None else default_store_path()
    if not path.is_file():
        raise InputError(f"--store {path}: no such store file")
    with Store(path, readonly=True) as st:
        runs = st.runs(study=study)
        if runs.empty:
            names = ", ".join(st.studies()["name"].astype(str)) or "none"
            raise InputError(f"--study {study!r}: no such study (or no runs) in {path}; studies: {names}")
        finals, curves = _in_conventions(st.fit_table(study=study), st.curves(study=study), runs, n, c)
        evals = st.evals(study=study).rename(columns={"run_id": "run"})
        position_loss = st.position_loss(study=study).rename(columns={"run_id": "run"})
    return StudyTables(study, path, runs, finals, curves, evals, position_loss, n, c)
