"""``lmscale fit --form auto``: backtest every method on the largest budget(s), then fit the one
that predicted the held-out IsoFLOP minimum best on all the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import print_json
from lmscale.errors import InputError
from lmscale.fit.select import MethodSelection, compare_methods, truth_uncertainty_dex
from lmscale.jsonsafe import plain

#: The method the selection names → the --form that fits it on all the data.
FORM_OF = {"approach1": "approach1", "approach2": "approach2", "approach3": "chinchilla", "frontier": "frontier"}
COLUMNS = {
    "method": "method",
    "N_opt_error_dex": "N_opt err (dex)",
    "N_opt_inside": "in CI",
    "loss_opt_error": "loss_opt err",
    "loss_opt_inside": "in CI",
    "runs_error": "run err",
    "runs_coverage": "PI cover",
}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if v != v else f"{v:.3g}"
    return str(v)


def print_selection(sel: MethodSelection, source: str) -> None:
    console = Console()
    held = ", ".join(f"{c:.3g}" for c in sel.truth["C"])
    table = Table(title=f"method backtest on {source}: fit on {sel.n_train} runs (C ≤ {sel.train_max_C:.3g}), "
                  f"held out budget(s) {held} FLOPs")
    for label in COLUMNS.values():
        table.add_column(label, justify="right", no_wrap=label == "method")
    for _, row in sel.table.iterrows():
        table.add_row(*[_fmt(row[k]) for k in COLUMNS])
    console.print(table)
    for _, row in sel.table[sel.table["note"] != ""].iterrows():
        console.print(f"{row['method']}: {row['note']}")
    for _, t in sel.truth.iterrows():
        console.print(
            f"held-out minimum at C = {t['C']:.3g}: N_opt = {t['N_opt']:.3g} "
            f"[{t['N_opt_low']:.3g}, {t['N_opt_high']:.3g}], loss = {t['loss_opt']:.4g} ({int(t['n_runs'])} runs)"
        )
    for w in sel.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    if sel.best is None:
        return
    row = sel.table.set_index("method").loc[sel.best]
    err = row["N_opt_error_dex"]
    why = (
        f"its N_opt was {err:.3f} decades from the held-out minimum (that minimum's own uncertainty: "
        f"±{truth_uncertainty_dex(sel.truth):.3f})"
        if err == err
        else f"no method predicted N_opt; its loss at the optimum was {row['loss_opt_error']:.2%} off"
    )
    console.print(f"chosen: [bold]{sel.best}[/bold]: {why}. Fitting it on all {source} data:")


def select_and_fit(
    df: pd.DataFrame,
    curves: pd.DataFrame | None,
    source: str,
    holdout: int,
    fit_best: Any,
    as_json: bool,
    output: Path | None,
    **select_options: Any,
) -> None:
    """Print (or write) the method backtest, then ``fit_best(form)`` the chosen method on all data.

    ``fit_best`` returns the chosen fit as a dict and prints it unless ``as_json``.
    """
    quiet = Console(stderr=True)
    sel = compare_methods(
        df, curves, holdout=holdout, progress=lambda m: quiet.print(f"backtesting {m} ..."), **select_options
    )
    if sel.best is None or sel.best not in FORM_OF:
        raise InputError(f"--form auto: no method predicted the held-out budget ({'; '.join(sel.table['note'])})")
    if not as_json:
        print_selection(sel, source)
    fitted = fit_best(FORM_OF[sel.best])
    payload = {"selection": sel.to_dict(), "form": FORM_OF[sel.best], "fit": fitted}
    if as_json:
        print_json(payload)
    if output is not None:
        output.write_text(json.dumps(plain(payload), indent=2) + "\n")
