"""Import runs from other trackers' exports, without their client libraries.

W&B: the files the W&B UI/API export —
  * a JSON file: one run or a list of runs, each {"name"|"id", "config": {...}, "history": [rows],
    "summary": {...}} (what `[{"name": r.name, "config": r.config, "history": r.history().to_dict("records")} ...]`
    gives through the public API);
  * a history CSV (rows with `_step` and metric columns, the UI's/`run.history()` export) with the
    config in a sibling `config.json` or `config.yaml`, or a folder of such per-run folders; a
    wandb run folder's `wandb-history.jsonl` + `config.yaml` ({key: {value: ...}}) works too.
MLflow: the file store (`mlruns/`): `<experiment>/<run>/metrics/<key>` (lines "timestamp value
step"; keys with '/' are nested folders), `params/<key>` (one value), `tags/mlflow.runName` and
`meta.yaml` (run_name, status). FILE may be mlruns/, one experiment folder, or one run folder.
Only FINISHED runs (status 3) are imported from MLflow, unless FILE is one run's folder.

Each run becomes one lmscale run whose curve is its history. The lmscale quantities are found by
name (first match), or set with a mapping `{"loss": "val/loss", "N": "n_params", "D": "tokens"}`:
loss from a metric; N from a metric or config/param; D from a metric, a config/param, or
_step × tokens-per-step (config `tokens_per_step`, or batch_size × block_size/seq_len/n_ctx).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from lmscale.errors import InputError
from lmscale.store.io import import_records, records_from_table

LOSS_KEYS = (
    "loss",
    "eval_loss",
    "val_loss",
    "eval/loss",
    "val/loss",
    "valid/loss",
    "validation/loss",
    "test/loss",
)
N_KEYS = (
    "N",
    "params_non_embedding",
    "non_embedding_params",
    "n_params",
    "num_params",
    "n_parameters",
    "params",
)
D_KEYS = ("D", "tokens", "tokens_seen", "train/tokens", "num_tokens")
C_KEYS = ("C", "flops", "train/flops")
CTX_KEYS = ("block_size", "seq_len", "n_ctx", "context_length", "max_seq_len")


def _scalar(value: Any) -> Any:
    """W&B config.yaml wraps values as {value: v, desc: ...}; strings of numbers become numbers."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str):
        try:
            return float(value) if any(ch in value for ch in ".eE") else int(value)
        except ValueError:
            return value
    return value


def _read_config(path: Path) -> dict[str, Any]:
    try:
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise InputError(f"{path.name}: reading YAML needs PyYAML (pip install pyyaml)") from None
            data = yaml.safe_load(path.read_text()) or {}
        else:
            data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read config ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: config must be a mapping")
    return {str(k): _scalar(v) for k, v in data.items() if not str(k).startswith("_wandb")}


def _pick(
    name: str, keys: tuple[str, ...], mapping: dict[str, str], columns: list[str], config: dict[str, Any]
) -> tuple[str, str] | None:
    """('history', column) or ('config', key) for an lmscale quantity, or None."""
    if name in mapping:
        key = mapping[name]
        key = (
            key.removeprefix("config:").removeprefix("config.")
            if key.startswith(("config:", "config."))
            else key
        )
        if key in columns and not mapping[name].startswith("config"):
            return ("history", key)
        if key in config:
            return ("config", key)
        return ("missing", mapping[name])
    for key in keys:
        if key in columns:
            return ("history", key)
    for key in keys:
        if key in config:
            return ("config", key)
    return None


def run_table(
    name: str, history: pd.DataFrame, config: dict[str, Any], mapping: dict[str, str], where: str
) -> pd.DataFrame:
    """One tracker run as rows (run, step, N, D, loss[, C]) plus config scalars."""
    cols = [str(c) for c in history.columns]
    step_col = "_step" if "_step" in cols else ("step" if "step" in cols else None)
    if step_col is None:
        raise InputError(f"{where}: run {name!r}: history has no _step column")
    out = pd.DataFrame({"step": pd.to_numeric(history[step_col], errors="coerce")})
    found: dict[str, tuple[str, str] | None] = {
        q: _pick(q, keys, mapping, cols, config)
        for q, keys in (("loss", LOSS_KEYS), ("N", N_KEYS), ("D", D_KEYS), ("C", C_KEYS))
    }
    for q, src in found.items():
        if src is not None and src[0] == "missing":
            raise InputError(f"{where}: run {name!r}: --map {q}={src[1]} names no metric or config key")
        if src is None:
            continue
        out[q] = pd.to_numeric(history[src[1]], errors="coerce") if src[0] == "history" else config[src[1]]
    if found["loss"] is None:
        raise InputError(
            f"{where}: run {name!r}: no loss metric (looked for {', '.join(LOSS_KEYS)}; pass --map loss=NAME)"
        )
    if found["N"] is None:
        raise InputError(
            f"{where}: run {name!r}: no parameter count N (looked for {', '.join(N_KEYS)}; pass --map N=NAME)"
        )
    if found["D"] is None:
        per_step = config.get("tokens_per_step")
        if per_step is None:
            batch = config.get("batch_size")
            ctx = next((config[k] for k in CTX_KEYS if k in config), None)
            per_step = (
                batch * ctx if isinstance(batch, (int, float)) and isinstance(ctx, (int, float)) else None
            )
        if per_step is None:
            raise InputError(
                f"{where}: run {name!r}: no token count D (looked for {', '.join(D_KEYS)}, or tokens_per_step / "
                "batch_size × block_size in the config; pass --map D=NAME)"
            )
        out["D"] = out["step"] * float(per_step)
    out = out[
        out["loss"].notna() & (out["step"] > 0) & (out["D"] > 0)
    ]  # W&B logs other metrics on other rows
    if out.empty:
        raise InputError(f"{where}: run {name!r}: no history rows with a loss at step > 0")
    out.insert(0, "run", name)
    for key, value in config.items():
        if (
            isinstance(value, (int, float, str, bool))
            and key not in out.columns
            and key not in ("run", "step")
        ):
            out[key] = value
    return out.drop_duplicates("step", keep="last")


def _history_file(folder: Path) -> Path | None:
    for name in ("history.csv", "history.jsonl", "wandb-history.jsonl", "history.json"):
        if (folder / name).exists():
            return folder / name
    return None


def _read_history(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        if path.suffix == ".jsonl":
            return pd.read_json(path, lines=True)
        return pd.DataFrame(json.loads(path.read_text()))
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read W&B history ({' '.join(str(exc).split())})") from None


def _config_beside(folder: Path) -> dict[str, Any]:
    for name in ("config.json", "config.yaml", "config.yml"):
        if (folder / name).exists():
            return _read_config(folder / name)
    return {}


def wandb_tables(path: str | Path, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """All runs of a W&B export as one (run, step, N, D, loss, ...) table."""
    path = Path(path)
    mapping = mapping or {}
    where = path.name
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    tables = []
    if path.is_dir():
        folders = (
            [path]
            if _history_file(path)
            else sorted(p for p in path.iterdir() if p.is_dir() and _history_file(p))
        )
        if not folders:
            raise InputError(
                f"{path}: no W&B history file (history.csv, history.jsonl or wandb-history.jsonl) there"
            )
        for folder in folders:
            hist = _history_file(folder)
            assert hist is not None
            tables.append(run_table(folder.name, _read_history(hist), _config_beside(folder), mapping, where))
    elif path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise InputError(f"{where}: not valid JSON ({exc})") from None
        runs = data if isinstance(data, list) else [data]
        for i, run in enumerate(runs):
            if not isinstance(run, dict) or "history" not in run:
                raise InputError(f"{where}: run [{i}] needs a 'history' list (and a 'config' mapping)")
            name = str(run.get("name") or run.get("id") or f"run{i}")
            config = {str(k): _scalar(v) for k, v in (run.get("config") or {}).items()}
            tables.append(run_table(name, pd.DataFrame(run["history"]), config, mapping, where))
    elif path.suffix == ".csv":
        hist = _read_history(path)
        config = _config_beside(path.parent) if path.name == "history.csv" else {}
        stem_cfg = path.with_name(path.stem + ".config.json")
        if stem_cfg.exists():
            config = _read_config(stem_cfg)
        if "run" in hist.columns or "name" in hist.columns:
            col = "run" if "run" in hist.columns else "name"
            for name, rows in hist.groupby(col, sort=False):
                tables.append(run_table(str(name), rows.drop(columns=col), config, mapping, where))
        else:
            tables.append(
                run_table(
                    path.parent.name if path.name == "history.csv" else path.stem,
                    hist,
                    config,
                    mapping,
                    where,
                )
            )
    else:
        raise InputError(f"{where}: a W&B export is a .json file, a history .csv, or a folder of them")
    return pd.concat(tables, ignore_index=True)


def _meta(run_dir: Path) -> dict[str, str]:
    """The flat `key: value` lines of MLflow's meta.yaml (no YAML library needed for these)."""
    out = {}
    path = run_dir / "meta.yaml"
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith(" "):
                out[key.strip()] = value.strip().strip("'\"")
    return out


def _mlflow_run(run_dir: Path, mapping: dict[str, str], where: str) -> pd.DataFrame:
    series: dict[str, dict[int, float]] = {}
    metrics = run_dir / "metrics"
    for f in sorted(p for p in metrics.rglob("*") if p.is_file()):
        key = f.relative_to(metrics).as_posix()
        for n, line in enumerate(f.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2:
                raise InputError(
                    f"{where}: {f.relative_to(run_dir.parent)} line {n}: expected 'timestamp value step'"
                )
            step = int(parts[2]) if len(parts) > 2 else 0
            series.setdefault(key, {})[step] = float(parts[1])
    params = {}
    if (run_dir / "params").exists():
        for f in sorted(p for p in (run_dir / "params").rglob("*") if p.is_file()):
            params[f.relative_to(run_dir / "params").as_posix()] = _scalar(f.read_text().strip())
    tag = run_dir / "tags" / "mlflow.runName"
    name = tag.read_text().strip() if tag.exists() else _meta(run_dir).get("run_name") or run_dir.name
    history = (
        pd.DataFrame(series).rename_axis("_step").reset_index() if series else pd.DataFrame({"_step": []})
    )
    return run_table(name, history, params, mapping, where)


def mlflow_tables(
    path: str | Path, mapping: dict[str, str] | None = None, all_runs: bool = False
) -> pd.DataFrame:
    """All (finished) runs of an MLflow file store as one (run, step, N, D, loss, ...) table."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: an MLflow file store is a folder (mlruns/)")
    where = path.name
    if (path / "metrics").is_dir():
        run_dirs = [path]
        all_runs = True  # a run folder named explicitly is imported whatever its status
    else:
        run_dirs = sorted(p.parent for p in path.glob("*/metrics") if p.is_dir())
        run_dirs += sorted(p.parent for p in path.glob("*/*/metrics") if p.is_dir())
    if not run_dirs:
        raise InputError(f"{path}: no MLflow runs (<experiment>/<run>/metrics/) there")
    tables = []
    for run_dir in run_dirs:
        status = _meta(run_dir).get("status")
        if not all_runs and status not in (None, "3", "FINISHED"):
            continue
        tables.append(_mlflow_run(run_dir, mapping or {}, where))
    if not tables:
        raise InputError(
            f"{path}: no FINISHED MLflow runs there (name a run folder to import an unfinished run)"
        )
    return pd.concat(tables, ignore_index=True)


def import_external(
    store: Any, path: str | Path, fmt: str, study: str, mapping: dict[str, str] | None = None
) -> int:
    """Import a W&B or MLflow export into `store` under `study`; returns the number of runs."""
    if fmt == "wandb":
        table = wandb_tables(path, mapping)
    elif fmt == "mlflow":
        table = mlflow_tables(path, mapping)
    else:
        raise InputError(f"--format: unknown import format {fmt!r} (use csv, wandb or mlflow)")
    records = records_from_table(table, study, Path(path).name, source="import")
    for rec in records:
        rec.spec["format"] = fmt
    return import_records(store, study, records)


def parse_mapping(items: list[str]) -> dict[str, str]:
    """['loss=val/loss', 'N=n_params'] -> dict; bad items are one-line errors."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in ("loss", "N", "D", "C") or not value:
            raise InputError(f"--map: {item!r} must be loss=NAME, N=NAME, D=NAME or C=NAME")
        out[key] = value
    return out
