"""Read an `lmscale runs export` folder back into a store, run ids and all rows kept.

An export is the store's tables as files (runs, curves in wide form, evals, per-position losses), so a
published study, such as the replication's store-export/, can be re-analysed on another machine
without training it again. Runs the store already holds finished are left as they are (a run id is
a hash of its spec, so the same id is the same run); they are only linked to the export's studies.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from lmscale.errors import InputError
from lmscale.store.db import FINISHED, RUN_STATUSES, RunRecord, Store
from lmscale.store.tables import read_table

RUN_FIELDS = ("error", "host", "started", "finished", "wall_time", "N", "N_total", "D")
RUN_FIELDS += ("C_6ND", "C_exact", "C_kaplan", "loss")
#: Columns Store.curves derives on reading (not stored, so not restored).
DERIVED_CURVE_COLUMNS = ("run_id", "loss", "bpb", "N", "D")
EVAL_PREFIXES = ("eval_loss:", "bpb:")


def export_folders(folder: Path) -> list[Path]:
    """The export in `folder`, or the exports below it at any depth (one per study, as store-export/)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (give a folder written by `lmscale runs export`)")
    if _table_path(folder, "runs") is not None:
        return [folder]
    subs = sorted({p.parent for p in folder.rglob("runs.*") if p.is_file() and p.suffix in (".csv", ".parquet")})
    if not subs:
        raise InputError(
            f"{folder}: not an lmscale export (no runs.csv or runs.parquet in it or in its sub-folders)"
        )
    return subs


def _table_path(folder: Path, name: str) -> Path | None:
    for suffix in (".csv", ".parquet"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    return None


def _table(folder: Path, name: str) -> pd.DataFrame | None:
    path = _table_path(folder, name)
    return None if path is None else read_table(path)


def _json(text: Any, where: str, what: str) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{where}: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: {what} is not a JSON object")
    return value


def _value(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def read_runs(folder: Path) -> tuple[list[RunRecord], dict[str, list[str]]]:
    """The export's runs (without their rows yet) and each run's studies, checked."""
    runs = _table(folder, "runs")
    where = str(_table_path(folder, "runs"))
    missing = [c for c in ("id", "status", "spec") if runs is None or c not in runs.columns]
    if missing:
        raise InputError(f"{where}: missing column {missing[0]!r}: not a `lmscale runs export` table")
    records, studies = [], {}
    for i, row in enumerate(runs.to_dict("records"), start=2):  # line 1 is the header
        rid, at = str(row["id"]), f"{where} line {i}"
        if row["status"] not in RUN_STATUSES:
            raise InputError(f"{at} (run {rid}): unknown status {row['status']!r}")
        if rid in studies:
            raise InputError(f"{at}: run {rid} appears twice")
        fields = {k: _value(row.get(k)) for k in RUN_FIELDS}
        records.append(
            RunRecord(
                id=rid,
                spec=_json(row["spec"], f"{at} (run {rid})", "spec"),
                status=str(row["status"]),
                final=_json(row.get("final"), f"{at} (run {rid})", "final"),
                source=str(_value(row.get("source")) or "lmscale"),
                **fields,
            )
        )
        names = _value(row.get("study"))
        studies[rid] = [s for s in str(names).split(",") if s] if names else []
    return records, studies


def _by_run(df: pd.DataFrame | None, ids: set[str], where: str) -> dict[str, pd.DataFrame]:
    """A table's rows grouped by run_id; rows of a run the export does not list are refused."""
    if df is None or df.empty:
        return {}
    if "run_id" not in df.columns:
        raise InputError(f"{where}: missing column 'run_id'")
    df = df.assign(run_id=df["run_id"].astype(str))
    stray = sorted(set(df["run_id"]) - ids)
    if stray:
        raise InputError(f"{where}: rows of run {stray[0]}, which runs.csv does not list")
    return {rid: g.drop(columns="run_id").reset_index(drop=True) for rid, g in df.groupby("run_id")}


def _split_curve(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Store.curves' wide rows → the stored curve rows and the long (step, eval_set, loss, bpb) rows."""
    evals = [c for c in wide.columns if c.startswith(EVAL_PREFIXES)]
    kept = [c for c in wide.columns if c not in evals and c not in DERIVED_CURVE_COLUMNS]
    curve = wide[kept]
    # an outer merge with the evals can add steps that had no curve row: they are not curve rows
    values = [c for c in kept if c != "step"]
    curve = curve[curve[values].notna().any(axis=1)] if values else curve.iloc[:0]
    sets = sorted({c.split(":", 1)[1] for c in evals})
    long = []
    for name in sets:
        part = pd.DataFrame({"step": wide["step"], "eval_set": name})
        part["loss"] = wide.get(f"eval_loss:{name}", math.nan)
        part["bpb"] = wide.get(f"bpb:{name}", math.nan)
        long.append(part[part["loss"].notna()])
    curve_evals = pd.concat(long, ignore_index=True) if long else pd.DataFrame()
    return curve.reset_index(drop=True), curve_evals


def read_export(folder: Path) -> tuple[list[RunRecord], dict[str, list[str]]]:
    """Every run of one export folder with its curve, evals and per-position losses."""
    records, studies = read_runs(folder)
    ids = set(studies)
    tables = {name: _table(folder, name) for name in ("curves", "evals", "position_loss")}
    parts = {name: _by_run(df, ids, str(_table_path(folder, name))) for name, df in tables.items()}
    for rec in records:
        wide = parts["curves"].get(rec.id)
        if wide is not None:
            if "step" not in wide.columns:
                raise InputError(f"{_table_path(folder, 'curves')}: missing column 'step'")
            rec.curve, rec.curve_evals = _split_curve(wide)
        rec.evals = parts["evals"].get(rec.id)
        rec.position_loss = parts["position_loss"].get(rec.id)
    return records, studies


def _same_loss(a: float | None, b: float | None) -> bool:
    a, b = _value(a), _value(b)
    return a == b or (a is None and b is None)


def restore(store: Store, folder: str | Path, study: str | None = None) -> dict[str, Any]:
    """Write the runs of the export(s) in `folder` into `store` in one transaction.

    Each run joins the studies its export names (or `study`, when given). Returns how many runs were
    written, how many the store already held finished (kept, only linked), the studies, and the
    conflicts: a run id whose final loss differs between two exports, or between an export and the
    store (the same spec trained twice, e.g. on two machines); the first one met is kept.
    """
    records: dict[str, tuple[RunRecord, str]] = {}
    studies: dict[str, list[str]] = {}
    conflicts: list[dict[str, Any]] = []
    for sub in export_folders(Path(folder)):
        recs, links = read_export(sub)
        for rec in recs:
            names = [study] if study else links[rec.id]
            if rec.id not in records:
                records[rec.id] = (rec, sub.name)
            elif not _same_loss(records[rec.id][0].loss, rec.loss):
                kept, where = records[rec.id]
                conflicts.append({"run": rec.id, "kept": [where, kept.loss], "other": [sub.name, rec.loss]})
            studies[rec.id] = sorted(set(studies.get(rec.id, [])) | set(names))
    statuses = store.statuses(list(studies))
    held = {rid for rid, status in statuses.items() if status in FINISHED}
    if held:
        losses = store.runs().set_index("id")["loss"]
        for rid in sorted(held):
            rec, where = records[rid]
            if not _same_loss(float(losses[rid]), rec.loss):
                conflicts.append(
                    {"run": rid, "kept": ["store", float(losses[rid])], "other": [where, rec.loss]}
                )
    store.write_runs([rec for rid, (rec, _) in records.items() if rid not in held], studies)
    return {
        "restored": len(records) - len(held),
        "already_held": len(held),
        "studies": sorted({s for names in studies.values() for s in names}),
        "conflicts": conflicts,
    }
