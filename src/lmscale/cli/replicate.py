"""`lmscale replicate`: the Kaplan et al. 2020 studies at laptop scale, trained, analysed, written."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lmscale.cli.app import app, print_json
from lmscale.cli.options import (
    JsonOpt,
    OldOutOpt,
    StoreOpt,
    ThreadsOpt,
    WorkersOpt,
    at_most_one,
    output_option,
)

if TYPE_CHECKING:  # the replication modules load pandas/matplotlib: only when the command runs
    from lmscale.replicate.run import StudyOutcome


def _echo_study(o: StudyOutcome) -> None:
    """Print a study's verdicts as soon as it is analysed (the whole replication takes minutes)."""
    typer.echo(f"{o.study}: {o.folder}/findings.md ({o.wall_seconds:.0f} s)")
    for key, verdict in o.verdicts.items():
        typer.echo(f"  {verdict:<15} {key}")


def _check(folder: Path, as_json: bool) -> None:
    from lmscale.errors import InputError
    from lmscale.replicate.criteria import stale_findings

    if not folder.is_dir():
        raise InputError(f"-o/--output {folder}: no such folder of replication results")
    stale = stale_findings(folder)
    if as_json:
        print_json({"folder": str(folder), "stale": stale})
    else:
        for line in stale:
            typer.echo(line)
        typer.echo(f"{len(stale)} finding(s) in {folder} not judged by today's criteria")
    raise typer.Exit(1 if stale else 0)


ReplicationOutput = output_option("Folder for results and figures (default: ./replication).")


@app.command("replicate")
def replicate_command(
    studies: list[str] = typer.Argument(
        None,
        help="Studies: scaling, shape, data, compute, batch, transfer, lstm, chinchilla, noise, learning-rate (default: all).",
    ),
    output: ReplicationOutput = None,
    out: OldOutOpt = None,
    store: StoreOpt = None,
    bootstrap: int = typer.Option(
        1000, "--bootstrap", min=0, help="Bootstrap resamples for every interval (0: none)."
    ),
    no_train: bool = typer.Option(False, "--no-train", help="Only analyse runs already in the store."),
    check: bool = typer.Option(
        False,
        "--check",
        help="Train and analyse nothing: list the findings in -o/--output whose criterion changed since "
        "they were judged (or that no pre-registered criterion judged); exit 1 if any.",
    ),
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replicate Kaplan et al. 2020 at laptop scale: train each study's presets (resumable), fit,
    compare with the paper, and write findings, figures and data to -o/--output."""
    from lmscale.replicate.run import replicate
    from lmscale.replicate.studies import study_names
    from lmscale.store import default_store_path

    at_most_one({"-o/--output": output, "--out": out})
    if check:
        _check(output or out or Path("replication"), as_json)
        return
    names = studies or study_names()
    store_path = store or default_store_path()
    command = "lmscale replicate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "lmscale replicate"
    outcomes = replicate(
        names,
        store_path,
        output or out or Path("replication"),
        bootstrap=bootstrap,
        do_train=not no_train,
        workers=workers,
        threads=threads,
        command=command,
        on_study=None if as_json else _echo_study,
    )
    if as_json:
        print_json([{"study": o.study, "folder": str(o.folder), "verdicts": o.verdicts} for o in outcomes])
