"""`lmscale report`: figures and a plain-language summary as one self-contained HTML file (or PNGs)."""

from __future__ import annotations

from pathlib import Path

import typer

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, LossUnit, StoreOpt, choice, exactly_one, output_option
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
    compare_with: str | None = typer.Option(
        None,
        "--compare",
        metavar="STUDY",
        help="Another study (or saved L(C) fit) to set against --study: adds the section of "
        "`lmscale compare STUDY_A STUDY_B`, its compute multiplier k and both frontiers.",
    ),
    compare_unit: LossUnit = typer.Option(
        "loss", "--compare-unit", help="Unit of that comparison: loss, or bpb across tokenizers."
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
    if compare_with is not None and study is None:
        raise InputError("--compare goes with --study (the report's study is A, the other B)")
    if study is not None:
        from lmscale.demo import with_schedules

        data = with_schedules(load_study(study, store), study, store)
    elif runs is not None:
        data = load_runs_csv(runs, curves)
    else:
        data = load_reference(str(reference))
    extra = ()
    if compare_with is not None:
        extra = (_comparison_section(study, compare_with, store, LossUnit(compare_unit).value, bootstrap, seed),)
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
        extra_figures=extra,
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


def _comparison_section(a: str, b: str, store: Path | None, unit: str, bootstrap: int, seed: int):
    """The figure of `lmscale compare a b` (both frontiers and k over compute) as a report section."""
    from lmscale.cli.compare import compare
    from lmscale.report.comparison import comparison_figure

    comparison, envelopes = compare(a, b, store, "power", bootstrap, seed, None, None, unit)
    return comparison_figure(comparison, envelopes, unit)
