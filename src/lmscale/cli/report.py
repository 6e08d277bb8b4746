"""`lmscale report`: figures and a plain-language summary as one self-contained HTML file (or PNGs)."""

from __future__ import annotations

from pathlib import Path

import typer

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, StoreOpt, choice, exactly_one, output_option
from lmscale.errors import InputError

ReportFormat = choice("ReportFormat", ("html", "png"))
ReportOutput = output_option("HTML file to write (a folder with --format png).")


@app.command("report")
def report_command(
    output: ReportOutput,
    study: str | None = typer.Option(None, "--study", help="Study name in the run store."),
    store: StoreOpt = None,
    runs: Path | None = typer.Option(
        None, "--runs", help="Runs table (CSV/TSV/Parquet): N, D and/or C, loss."
    ),
    curves: Path | None = typer.Option(
        None, "--curves", help="Learning curves (long format: run, N, tokens, loss)."
    ),
    reference: str | None = typer.Option(None, "--reference", help="Shipped data set: epoch2024."),
    fmt: ReportFormat = typer.Option(
        "html", "--format", help="html (one file) or png (a folder of figures + CSVs)."
    ),
    target_flops: float | None = typer.Option(
        None, "--target-flops", help="Budget to predict at (default: 100x the largest run)."
    ),
    bootstrap: int = typer.Option(
        200, "--bootstrap", min=0, help="Bootstrap resamples for every interval (0: none)."
    ),
    overlay: list[str] = typer.Option(
        [], "--overlay", help="Published law to overlay: kaplan2020, hoffmann2022, epoch2024."
    ),
    isoflop_budgets: int | None = typer.Option(
        None,
        "--isoflop-budgets",
        min=1,
        help="Group runs into this many compute budgets (default: by gaps in C).",
    ),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: JsonOpt = False,
) -> None:
    """Write a scaling-law report from a store study, a runs CSV or a reference data set."""
    from lmscale.report import build_from_input, load_reference, load_runs_csv, load_study

    exactly_one({"--study": study, "--runs": runs, "--reference": reference})
    if curves is not None and runs is None:
        raise InputError("--curves goes with --runs (a study's curves come from the store)")
    if store is not None and study is None:
        raise InputError("--store goes with --study")
    if study is not None:
        from lmscale.demo import with_schedules

        data = with_schedules(load_study(study, store), study, store)
    elif runs is not None:
        data = load_runs_csv(runs, curves)
    else:
        data = load_reference(str(reference))
    result = build_from_input(
        data,
        output,
        title=title or f"Scaling-law report: {data.source}",
        target_flops=target_flops,
        overlays=tuple(overlay),
        bootstrap=bootstrap,
        seed=seed,
        fmt=ReportFormat(fmt).value,
        isoflop_budgets=isoflop_budgets,
    )
    info = {
        "output": str(result.html or output),
        "figures": {k: (str(v) if v else None) for k, v in result.figures.items()},
        "skipped": result.skipped,
        "size_bytes": result.size_bytes,
        "seconds": round(result.seconds, 2),
    }
    if as_json:
        print_json(info)
        return
    typer.echo(
        f"wrote {info['output']} ({result.size_bytes:,} bytes, {len(result.figures)} figures, "
        f"{result.seconds:.1f} s)"
    )
    for name, why in result.skipped.items():
        typer.echo(f"  not shown: {name}: {why}")
