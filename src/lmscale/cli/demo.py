"""`lmscale demo`: the whole pipeline on real text, resumable and idempotent."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, StoreOpt, WorkersOpt, output_option

DemoOutput = output_option("Folder for report.html, fit.json, summary.json.")


@app.command("demo")
def demo_command(
    quick: bool = typer.Option(False, "--quick", help="A reduced study (a few minutes; what CI runs)."),
    device: str = typer.Option("cpu", "--device", help="cpu, or cuda[:N] for the larger GPU preset."),
    branched: bool = typer.Option(
        False,
        "--branched",
        help="The CPU demo with WSD cooldown branches (preset demo-branched): one trunk per size, 21 budgets.",
    ),
    store: StoreOpt = None,
    output: DemoOutput = Path("lmscale-demo"),
    bootstrap: int | None = typer.Option(
        None, "--bootstrap", min=0, help="Bootstrap resamples (default 1000; 100 with --quick)."
    ),
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a real study on real text, fit and backtest the scaling law, write the HTML report.

    Run it again after Ctrl-C and it resumes; run it after it finished and it only re-renders.
    With --json, prints summary.json (progress goes to stderr).
    """
    from lmscale.demo import run_demo

    log = (lambda msg: print(msg, file=sys.stderr)) if as_json else print
    result = run_demo(
        quick=quick,
        device=device,
        branched=branched,
        store_path=store,
        out_dir=output,
        bootstrap=bootstrap,
        workers=workers,
        log=log,
    )
    if as_json:
        import json

        print_json(json.loads(result.summary_json.read_text()))
        return
    print()
    for line in json_lines(result.summary_json):
        print(line)
    print(f"\nReport: {result.report.resolve()}")
    print(f"Fit:    {result.fit_json.resolve()}   Store: {result.store} (study {result.study!r})")


def json_lines(path: Path) -> list[str]:
    import json

    return list(json.loads(path.read_text())["summary"])
