"""Export the store to CSV/Parquet, and import runs trained elsewhere from a CSV table.

CSV import format: one row per run (or, with `run` and `step` columns, one row per logged step of
each run: the row with the largest step gives the run's final values, every row becomes a curve
point). Required columns N (non-embedding parameters), D (training tokens), loss; optional
C (training FLOPs; default 6ND), C_exact, N_total, run (run name), step, and anything else (kept
in the run's spec, e.g. n_layer, d_model, lr, batch_size).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.store.db import RunRecord, Store
from lmscale.store.tables import numeric_column, read_table

#: An export's tables, each one file; `lmscale runs restore` reads them back (lmscale.store.restore).
EXPORT_TABLES = ("runs", "curves", "evals", "position_loss")


def export(store: Store, out_dir: str | Path, fmt: str = "csv", study: str | None = None) -> list[Path]:
    """Write runs, curves, evals and per-position losses as <out_dir>/<table>.<csv|parquet>; returns
    the paths. Nothing is lost: `lmscale runs restore` rebuilds the store's rows from these files."""
    if fmt not in ("csv", "parquet"):
        raise InputError(f"--format: unknown export format {fmt!r} (use csv or parquet)")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"-o: {out} exists and is not a folder")
    runs = store.runs(study=study)
    ids = list(runs["id"])
    tables = {
        "runs": runs,
        "curves": store.curves(ids),
        "evals": store.evals(ids),
        "position_loss": store.position_loss(ids),
    }
    paths = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, df in tables.items():
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                df.to_csv(path, index=False)
            else:
                df.to_parquet(path, index=False)
            paths.append(path)
    except ImportError:
        raise InputError("--format parquet needs pyarrow (pip install lmscale[parquet])") from None
    except OSError as exc:  # a read-only or full folder, a file where a folder should be
        where = exc.filename or out
        raise InputError(f"-o {out}: cannot write {where} ({exc.strerror or exc})") from None
    return paths


def _required(df: pd.DataFrame, col: str, where: str) -> pd.Series:
    """A column every row must fill with a positive finite number (N, D, loss)."""
    if col not in df.columns:
        raise InputError(f"{where}: missing column {col!r} (columns: {', '.join(map(str, df.columns))})")
    return pd.Series(numeric_column(df, col, where, positive=True), index=df.index)


def _optional(df: pd.DataFrame, col: str, where: str) -> pd.Series:
    """A column that may be absent or have gaps; the numbers it has must be positive and finite."""
    if col not in df.columns:
        return pd.Series(math.nan, index=df.index)
    values = numeric_column(df, col, where)  # text is refused
    gaps = np.isnan(values)
    if not gaps.all():  # check the numbers given, rows numbered as in the file
        numeric_column(
            df[[col]].mask(pd.DataFrame({col: gaps}, index=df.index), 1.0), col, where, positive=True
        )
    return pd.Series(values, index=df.index)


def _steps(df: pd.DataFrame, where: str) -> pd.Series:
    """The step column: whole numbers >= 0 in every row."""
    values = numeric_column(df, "step", where)
    bad = np.flatnonzero(np.isnan(values) | (values < 0) | (values != np.round(values)))
    if bad.size:
        raw = df["step"].iloc[bad[0]]
        raise InputError(
            f"{where}: column 'step' data row {bad[0] + 1}: must be a whole number >= 0, got {raw!r}"
        )
    return pd.Series(values, index=df.index)


def _import_id(study: str, name: str) -> str:
    return "imp-" + hashlib.sha256(f"{study}\0{name}".encode()).hexdigest()[:12]


def records_from_table(df: pd.DataFrame, study: str, where: str, source: str = "import") -> list[RunRecord]:
    """Validate an (N, D, loss, ...) table and turn it into RunRecords (one per run)."""
    if df.empty:
        raise InputError(f"{where}: no rows")
    df = df.reset_index(drop=True)
    n, d, loss = (_required(df, col, where) for col in ("N", "D", "loss"))
    c, c_exact, n_total = (_optional(df, col, where) for col in ("C", "C_exact", "N_total"))
    has_step = "step" in df.columns
    step = _steps(df, where) if has_step else None
    names = (
        df["run"].astype(str)
        if "run" in df.columns
        else pd.Series([f"row{i + 2}" for i in range(len(df))], index=df.index)
    )
    if not has_step and names.duplicated().any():
        dup = names[names.duplicated()].iloc[0]
        raise InputError(f"{where}: column run: {dup!r} appears twice; add a step column for curves")
    if not has_step:
        _refuse_duplicate_points(
            pd.DataFrame({"N": n, "D": d, "C": c.fillna(6.0 * n * d), "loss": loss}), where
        )
    known = {"N", "D", "loss", "C", "C_exact", "N_total", "run", "step"}
    extra_cols = [col for col in df.columns if col not in known]
    records = []
    for name, idx in names.groupby(names, sort=False).groups.items():
        rows = list(idx)
        if step is not None:
            rows.sort(key=lambda i: step[i])
            steps = [step[i] for i in rows]
            dup = next((a for a, b in zip(steps, steps[1:], strict=False) if a == b), None)
            if dup is not None:
                raise InputError(f"{where}: run {name!r} has step {dup:g} twice")
        last = rows[-1]
        spec: dict[str, Any] = {"run": str(name), "imported_from": where}
        for col in extra_cols:
            value = df.at[last, col]
            if not pd.isna(value):
                spec[col] = value.item() if hasattr(value, "item") else value
        c_last = c[last] if not pd.isna(c[last]) else 6.0 * n[last] * d[last]
        curve = None
        curve_evals = None
        if step is not None:
            curve = pd.DataFrame(
                {
                    "step": [int(step[i]) for i in rows],
                    "tokens": [d[i] for i in rows],
                    "flops_6n": [c[i] if not pd.isna(c[i]) else 6.0 * n[i] * d[i] for i in rows],
                    "flops_exact": [c_exact[i] for i in rows],
                }
            )
            curve_evals = pd.DataFrame(
                {
                    "step": [int(step[i]) for i in rows],
                    "eval_set": "imported",
                    "loss": [loss[i] for i in rows],
                }
            )
        records.append(
            RunRecord(
                id=_import_id(study, str(name)),
                spec=spec,
                status="completed",
                N=n[last],
                N_total=n_total[last],
                D=d[last],
                C_6ND=c_last,
                C_exact=c_exact[last],
                loss=loss[last],
                final={"primary_eval": "imported", "eval_loss": loss[last]},
                source=source,
                curve=curve,
                curve_evals=curve_evals,
                evals=pd.DataFrame({"eval_set": ["imported"], "loss": [loss[last]]}),
            )
        )
    return records


def _refuse_duplicate_points(points: pd.DataFrame, where: str) -> None:
    """Two runs at the same (N, D, C, loss) are one run recorded twice: `lmscale fit` refuses such
    a table, so an import must not create one."""
    dup = points.duplicated(keep="first").to_numpy()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((points == points.iloc[k]).all(axis=1).to_numpy())[0])
        raise InputError(
            f"{where}: data row {k + 1} duplicates data row {first + 1} (same N, D, C and loss; "
            f"{int(dup.sum())} duplicate row(s)); remove repeated runs"
        )


def read_csv(path: str | Path) -> pd.DataFrame:
    """A table of runs (CSV, TSV or Parquet by suffix), with the fit's one-line file errors."""
    return read_table(path)


def import_records(store: Store, study: str, records: list[RunRecord]) -> int:
    """Write the records into `study` in one transaction, after checking that none repeats a run
    the study already holds (same N, D, C and loss under another id)."""
    key = ("N", "D", "C_6ND", "loss")
    held = store.runs(study=study)
    ids = {r.id for r in records}
    known = {
        tuple(float(getattr(r, k)) for k in key): r.id
        for r in held.itertuples(index=False)
        if r.id not in ids and all(pd.notna(getattr(r, k)) for k in key)
    }
    for rec in records:
        other = known.get(tuple(float(getattr(rec, k) or math.nan) for k in key))
        if other is not None:
            raise InputError(
                f"run {rec.spec.get('run', rec.id)!r} repeats run {other} of study {study!r} (same N, D, C "
                "and loss); nothing was imported"
            )
    store.record_runs(study, records)
    return len(records)


def import_csv(store: Store, path: str | Path, study: str) -> int:
    """Import a CSV of runs trained elsewhere; returns how many runs were imported."""
    df = read_csv(path)
    return import_records(store, study, records_from_table(df, study, Path(path).name))


def dumps_config(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
