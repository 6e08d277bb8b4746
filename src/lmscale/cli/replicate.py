"""`lmscale replicate`: the Kaplan et al. 2020 studies at laptop scale, trained, analysed, written."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lmscale.cli.app import app, print_json

if TYPE_CHECKING:  # the replication modules load pandas/matplotlib: only when the command runs
    from lmscale.replicate.run import StudyOutcome


def _echo_study(o: StudyOutcome) -> None:
    """Print a study's verdicts as soon as it is analysed (the whole replication takes minutes)."""
    typer.echo(f"{o.study}: {o.folder}/findings.md ({o.wall_seconds:.0f} s)")
    for key, verdict in o.verdicts.items():
        typer.echo(f"  {verdict:<15} {key}")


@app.command("replicate")
def replicate_command(
    studies: list[str] = typer.Argument(
        None, help="Studies: scaling, shape, data, compute, batch, transfer, lstm, chinchilla (default: all)."
    ),
    out: Path = typer.Option(Path("replication"), "--out", "-o", help="Folder for results and figures."),
    store: Path | None = typer.Option(
        None, "--store", help="Run store (default $LMSCALE_STORE or <home>/lmscale.db)."
    ),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples for every interval."),
    no_train: bool = typer.Option(False, "--no-train", help="Only analyse runs already in the store."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Concurrent runs (default: one per core)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads per run."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdicts as JSON."),
) -> None:
    """Replicate Kaplan et al. 2020 at laptop scale: train each study's presets (resumable), fit, compare
    with the paper, and write findings, figures and data to --out."""
    from lmscale.replicate.run import replicate
    from lmscale.replicate.studies import study_names
    from lmscale.store import default_store_path

    names = studies or study_names()
    store_path = store or default_store_path()
    command = "lmscale replicate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "lmscale replicate"
    from lmscale.sweep.driver import SweepInterrupted

    try:
        outcomes = replicate(
            names,
            store_path,
            out,
            bootstrap=bootstrap,
            do_train=not no_train,
            workers=workers,
            threads=threads,
            command=command,
            on_study=None if as_json else _echo_study,
        )
    except SweepInterrupted as exc:  # Ctrl-C while training: finished runs are kept, a rerun resumes
        print(f"lmscale: {exc}", file=sys.stderr)
        raise typer.Exit(130) from None
    if as_json:
        print_json([{"study": o.study, "folder": str(o.folder), "verdicts": o.verdicts} for o in outcomes])
