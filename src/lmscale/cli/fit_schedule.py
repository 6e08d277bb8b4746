"""`lmscale fit-schedule`: a loss-curve law under learning-rate schedules (the annealing law of
Tissue et al. 2024, or the multi-power law of Luo et al. 2025), fitted per model size to a study's curves and backtested two ways: a run's final loss from its
first part, and the final losses of one schedule (cosine) from runs of another (WSD, constant)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, json_out
from lmscale.cli.options import JsonOpt, StoreOpt, choice, output_option
from lmscale.errors import InputError

LawChoice = choice("LawChoice", ("annealing", "multipower"))


#: The fitted parameters each law's table shows.
PARAMETERS = {"annealing": ("L0", "A", "alpha", "C"), "multipower": ("L0", "A", "alpha", "B", "C", "beta", "gamma")}

ScheduleOutput = output_option("Write the fits and both backtests as JSON.")


def schedule_report(studies: list[str], store: Path | None, fraction: float, law: str = "annealing") -> dict[str, Any]:
    """Per-size fits, the early-prediction backtest and (with two kinds of schedule) the cross-schedule
    one, of the completed runs of the studies (lmscale.fit.schedule_backtest)."""
    from lmscale.fit.schedule_backtest import error_summary, schedule_backtests
    from lmscale.store import Store, default_store_path
    from lmscale.train.schedule import run_traces

    path = Path(store or default_store_path())
    if not path.exists():
        raise InputError(f"--store {path}: no such store file")
    with Store(path, readonly=True) as st:
        runs = pd.concat([st.runs(study=s) for s in studies]).drop_duplicates("id")
        curves = pd.concat([st.curves(study=s) for s in studies]).drop_duplicates(["run_id", "step"])
    runs = runs[runs["status"] == "completed"]
    if runs.empty:
        raise InputError(f"--study {', '.join(studies)}: no completed runs in {path}")
    traces, schedules, _ = run_traces(runs)
    if not traces:
        raise InputError(f"--study {', '.join(studies)}: no run of lmscale's trainer (its schedule is needed)")
    tables = schedule_backtests(curves, traces, schedules, fraction, law)
    out: dict[str, Any] = {"studies": studies, "law": law, **{k: t.to_dict(orient="records") for k, t in tables.items()}}
    out["summary"] = {k: error_summary(tables[k]) for k in ("early", "cross") if k in tables}
    return out


@app.command("fit-schedule")
def fit_schedule_command(
    study: Annotated[list[str], typer.Option("--study", help="Study in the run store (repeatable: studies are pooled).")],
    store: StoreOpt = None,
    fraction: Annotated[
        float, typer.Option("--early", min=0.01, max=0.99, help="Early prediction: the fraction of the steps seen.")
    ] = 0.3,
    law: Annotated[
        LawChoice, typer.Option("--law", help="annealing (Tissue et al. 2024) or multipower (Luo et al. 2025).")
    ] = LawChoice("annealing"),
    as_json: JsonOpt = False,
    output: ScheduleOutput = None,
) -> None:
    """Fit a loss-curve law per model size: L(s) = L0 + A·S1^-α − C·S2 (annealing, Tissue et al. 2024) or
    the multi-power law (Luo et al. 2025). Predict each size's longest run from its first steps and the runs
    no longer than that, and cosine runs from WSD or constant ones."""
    out = schedule_report(study, store, fraction, law.value)
    if json_out(out, output, as_json):
        return
    console = Console() if Console().is_terminal else Console(width=160)
    params = PARAMETERS[law.value]
    fits = Table("N", *params, "rms rel.", "rows", box=None, title=f"Fits per size ({law.value} law)")
    for f in out["fits"]:
        failed = isinstance(f.get("error"), str)
        cells = [f["error"], *[""] * len(params)] if failed else [f"{f[k]:.4g}" for k in (*params, "rms_rel")]
        fits.add_row(f"{f['N']:.3g}", *cells, "" if failed else str(f["n_rows"]))
    console.print(fits)
    for key, title in (("early", f"Final loss from the first {fraction:.0%} of the steps"), ("cross", "Cosine runs from WSD/constant runs")):
        if key in out:
            _print_backtest(console, out[key], title, out["summary"][key])


def _print_backtest(console: Console, records: list[dict[str, Any]], title: str, summary: dict[str, float]) -> None:
    table = Table("run", "N", "steps", "observed", "predicted", "error", "fitted on", box=None, title=title)
    for r in records:
        err = "" if not np.isfinite(r["rel_error"]) else f"{r['rel_error']:+.2%}"
        pred = "" if not np.isfinite(r["predicted"]) else f"{r['predicted']:.4f}"
        table.add_row(r["run_id"], f"{r['N']:.3g}", str(r["steps"]), f"{r['observed']:.4f}", pred, err, r["fitted_on"])
    console.print(table)
    console.print(
        f"{summary['predicted']} of {summary['runs']} predicted; mean |error| {summary['mean_abs_rel_error']:.2%}, "
        f"worst {summary['max_abs_rel_error']:.2%}\n"
    )
