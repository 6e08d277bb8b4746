"""`lmscale runs [show | export | restore | import | delete]`: look into the run store, move runs in and out."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, StoreOpt, choice, exactly_one, output_option

runs_app = typer.Typer(
    help="The run store: list runs, show one, export to CSV/Parquet and restore an export, import runs "
    "trained elsewhere.",
    invoke_without_command=True,
)
app.add_typer(runs_app, name="runs")

# RunStatus: the statuses of lmscale.store.db.RUN_STATUSES (not imported: the store loads pandas)
RunStatus = choice("RunStatus", ("running", "completed", "diverged", "failed", "interrupted"))
ExportFormat = choice("ExportFormat", ("csv", "parquet"))
ImportFormat = choice("ImportFormat", ("csv", "wandb", "mlflow"))
ExportOutput = output_option("Folder for the runs, curves, evals and per-position loss files.")


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _reader(store: Path | None) -> Any:
    """The store opened read-only; None when the default store does not exist yet. A --store that
    names no file is an error: a typo must not read as an empty store."""
    from lmscale.errors import InputError
    from lmscale.store import Store, default_store_path

    path = store or default_store_path()
    if not Path(path).exists():
        if store is not None:
            raise InputError(f"--store {store}: no such store file")
        return None
    return Store(path, readonly=True)


def _study_name(study: str | None) -> str | None:
    from lmscale.errors import InputError

    if study is not None and not study.strip():
        raise InputError("--study: a study needs a name (got an empty one)")
    return study


def _g(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


@runs_app.callback()
def list_runs(
    ctx: typer.Context,
    study: Annotated[str | None, typer.Option("--study", help="Only runs of this study.")] = None,
    status: Annotated[RunStatus | None, typer.Option("--status", help="Only runs with this status.")] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List runs (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"store": store}
        return
    st = _reader(store)
    study = _study_name(study)
    wanted = RunStatus(status).value if status is not None else None
    df = st.runs(study=study, status=wanted) if st is not None else None
    rows = [] if df is None else df.drop(columns=["spec", "final"]).to_dict("records")
    if json_out:
        print_json(rows)
        return
    if not rows:
        Console(stderr=True).print("no runs" + (f" in study {study}" if study else ""), highlight=False)
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "study", "status", "N", "D", "C (6ND)", "loss", "wall s", "error"):
        table.add_column(col, justify="right" if col in ("N", "D", "C (6ND)", "loss", "wall s") else "left")
    for r in rows:
        table.add_row(
            r["id"],
            r["study"] or "",
            r["status"],
            _g(r["N"]),
            _g(r["D"]),
            _g(r["C_6ND"]),
            _g(r["loss"]),
            _g(r["wall_time"]),
            (r["error"] or "")[:80],
        )
    _console().print(table)


def _store_of(ctx: typer.Context, store: Path | None) -> Path | None:
    return store or (ctx.obj or {}).get("store")


@runs_app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show one run: spec, status, sizes, final metrics, evals."""
    from lmscale.errors import InputError

    st = _reader(_store_of(ctx, store))
    if st is None:
        raise InputError(f"run {run_id!r}: the store does not exist yet")
    run = st.run(run_id)
    if json_out:
        print_json(run)
        return
    console = _console()
    console.print(
        f"[bold]run {run['id']}[/bold]  study {run['study']}  status {run['status']}  source {run['source']}"
    )
    if run["error"]:
        console.print(f"error: {run['error']}", markup=False, highlight=False)
    console.print(
        f"N = {_g(run['N'])} (total {_g(run['N_total'])})  D = {_g(run['D'])}  C(6ND) = {_g(run['C_6ND'])}  "
        f"C(exact) = {_g(run['C_exact'])}  loss = {_g(run['loss'])}  wall = {_g(run['wall_time'])} s  "
        f"host {run['host']}  curve points {run['curve_points']}",
        highlight=False,
    )
    if run["evals"]:
        console.print("evals: " + ", ".join(f"{k} {_g(v)}" for k, v in run["evals"].items()), highlight=False)
    console.print("spec: " + json.dumps(run["spec"], sort_keys=True), markup=False, highlight=False)


@runs_app.command("export")
def export_cmd(
    ctx: typer.Context,
    output: ExportOutput,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = "csv",
    study: Annotated[str | None, typer.Option("--study", help="Only this study.")] = None,
    store: StoreOpt = None,
) -> None:
    """Export runs, curves, final evals and per-position losses as CSV or Parquet (`runs restore`
    reads them back)."""
    from lmscale.errors import InputError
    from lmscale.store.io import export

    st = _reader(_store_of(ctx, store))
    if st is None:
        raise InputError("runs export: the store does not exist yet")
    for path in export(st, output, ExportFormat(fmt).value, study):
        typer.echo(str(path))


@runs_app.command("restore")
def restore_cmd(
    ctx: typer.Context,
    folder: Annotated[
        Path,
        typer.Argument(
            help="A folder written by `lmscale runs export`, or a folder of them (one per study, as "
            "docs/replication/store-export)."
        ),
    ],
    study: Annotated[
        str | None, typer.Option("--study", help="Put every run in this study (default: the export's own).")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restore an export into the store with its run ids, curves, evals and per-position losses, so its
    studies can be fitted, reported or replicated (`--no-train`) without training them again. Runs the
    store already holds finished are kept as they are."""
    from lmscale.store import Store
    from lmscale.store.restore import restore

    with Store(_store_of(ctx, store)) as st:
        out = restore(st, folder, _study_name(study))
        if json_out:
            print_json({**out, "store": str(st.path)})
            return
        typer.echo(
            f"restored {out['restored']} run(s), kept {out['already_held']} already in the store, "
            f"into {', '.join(out['studies']) or 'no study'} ({st.path})"
        )
        for c in out["conflicts"][:5]:
            (where, loss), (other, other_loss) = c["kept"], c["other"]
            typer.echo(
                f"warning: run {c['run']} was trained twice with different results: loss {loss:.6g} in "
                f"{where} (kept), {other_loss:.6g} in {other}; restore one study's export into a store of "
                "its own to re-analyse that study exactly",
                err=True,
            )
        if len(out["conflicts"]) > 5:
            typer.echo(f"warning: {len(out['conflicts']) - 5} more such run(s) (--json lists them)", err=True)


@runs_app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV of runs, a W&B export (JSON/CSV/folder), or an mlruns folder.")
    ],
    study: Annotated[str, typer.Option("--study", help="Study to import the runs into.")],
    fmt: Annotated[ImportFormat, typer.Option("--format", help="What FILE is.")] = "csv",
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="W&B/MLflow: which metric or config key is loss, N, D or C (e.g. loss=val/loss)."
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Import runs trained elsewhere (columns N, D, loss; optional C, C_exact, N_total, run, step, ...)."""
    from lmscale.errors import InputError
    from lmscale.store import Store
    from lmscale.store.external import import_external, parse_mapping
    from lmscale.store.io import import_csv

    fmt = ImportFormat(fmt).value
    _study_name(study)
    if not file.exists():
        raise InputError(f"{file}: no such file or folder")
    with Store(_store_of(ctx, store)) as st:
        if fmt == "csv":
            if mapping:
                raise InputError(
                    "--map applies to --format wandb or mlflow; a CSV names its columns N, D, loss"
                )
            n = import_csv(st, file, study)
        else:
            n = import_external(st, file, fmt, study, parse_mapping(mapping or []))
        typer.echo(f"imported {n} run(s) into study {study} ({st.path})")


@runs_app.command("delete")
def delete_cmd(
    ctx: typer.Context,
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Run ids (a unique prefix is enough).", show_default=False)
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Delete this study: its runs (those no other study shares) and fits."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")] = False,
    store: StoreOpt = None,
) -> None:
    """Delete runs (with their curves and evals), or a whole study, from the store."""
    from lmscale.errors import InputError
    from lmscale.store import Store

    exactly_one({"RUN_IDS": run_ids or None, "--study": study})
    _study_name(study)
    path = _store_of(ctx, store)
    _reader(path)  # a missing --store is an error, not a new empty store
    with Store(path) as st:
        driver = st.driver()
        if driver is not None:
            raise InputError(
                f"{st.path}: a sweep driver (pid {driver.get('pid')}) is running; delete after it ends"
            )
        ids = st.resolve_ids(run_ids or [])
        if study is not None and study not in set(st.studies()["name"]):
            raise InputError(f"--study {study!r}: no such study in {st.path}")
        what = (
            f"study {study!r} and its runs"
            if study is not None
            else f"{len(ids)} run(s) ({', '.join(ids[:5])})"
        )
        if not yes:
            if not sys.stdin.isatty():
                raise InputError(f"runs delete: would delete {what}; add --yes to confirm without a terminal")
            typer.confirm(f"Delete {what} from {st.path}?", abort=True)
        counts = st.delete(ids, study)
        _remove_run_folders(st, counts["ids"])
    typer.echo(
        f"deleted {counts['runs']} run(s)"
        + (f", study {study} and {counts['fits']} fit(s)" if study is not None else "")
        + f" from {path or st.path}"
    )


def _remove_run_folders(st: Any, ids: list[str]) -> None:
    """A deleted run's checkpoint folder goes too: a rerun must train it again, not hand back the
    stored result. Only folders that name the run in their spec.json are removed."""
    import json
    import shutil

    for rid in ids:
        folder = st.run_dir(rid)
        try:
            owner = json.loads((folder / "spec.json").read_text()).get("id")
        except (OSError, ValueError, AttributeError):
            continue
        if owner == rid:
            shutil.rmtree(folder, ignore_errors=True)
