"""`lmscale compare A B`: two studies (or two saved L(C) fits) as a compute multiplier, a loss gap
at matched compute and an exponent test (lmscale.plan.multiplier)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, json_out
from lmscale.cli.options import JsonOpt, LossUnit, StoreOpt, choice, output_option
from lmscale.errors import InputError

FrontierForm = choice("FrontierForm", ("power", "offset"))
CompareOutput = output_option("Write the comparison as JSON (with the table over compute).")
#: Points of the table over compute.
GRID_POINTS = 12


def _frontier(source: str, store: Path | None, form: str, bootstrap: int, seed: int, unit: str = "loss") -> tuple[Any, pd.DataFrame | None]:
    """A saved L(C) fit (a .json file from `lmscale fit --form frontier -o`), or the frontier fitted to
    a stored study's learning curves (in nats per token, or bits per byte when unit is "bpb"); with the
    envelope points it used, when known."""
    from lmscale.fit.frontier import fit_frontier
    from lmscale.fit.registry import load_law

    path = Path(source)
    if path.suffix == ".json":
        if unit != "loss":
            raise InputError(f"--unit {unit}: {source} is a saved fit, which keeps the unit it was fitted in")
        law = load_law(path)  # checks the file; names the law after it when the fit has no name
        envelope = json.loads(path.read_text()).get("envelope")  # a frontier fit saves the points it used
        return law, pd.DataFrame(envelope) if envelope else None
    from lmscale.cli.fit import load_study_tables

    _, curves, conventions = load_study_tables(source, store, None, None, unit=unit)
    fitted = fit_frontier(curves, form=form, bootstrap=bootstrap, seed=seed, conventions=conventions, name=source)
    return fitted, fitted.envelope


def _used(envelope: pd.DataFrame | None) -> pd.DataFrame | None:
    if envelope is None or not {"C", "loss"} <= set(envelope):
        return None
    return envelope[envelope["used"].astype(bool)] if "used" in envelope else envelope


def _defaults(env_a: pd.DataFrame | None, env_b: pd.DataFrame | None, loss: float | None, compute: float | None) -> tuple[float, float, np.ndarray]:
    """The target loss (default: the lowest loss both studies reached), the matched compute (default:
    the largest compute both reached) and the table's grid (the compute range both cover)."""
    a, b = _used(env_a), _used(env_b)
    if a is None or b is None or a.empty or b.empty:
        if loss is None or compute is None:
            raise InputError("compare: a saved fit without its envelope needs --target-loss and --compute")
        return loss, compute, np.array([compute])
    lo, hi = max(a["C"].min(), b["C"].min()), min(a["C"].max(), b["C"].max())
    if lo >= hi:  # no common range: span both
        lo, hi = min(a["C"].min(), b["C"].min()), max(a["C"].max(), b["C"].max())
    target = loss if loss is not None else float(max(a["loss"].min(), b["loss"].min()))
    return target, compute if compute is not None else float(hi), np.geomspace(lo, hi, GRID_POINTS)


def compare(a: str, b: str, store: Path | None, form: str, bootstrap: int, seed: int,
            target_loss: float | None, compute: float | None, unit: str = "loss") -> tuple[Any, tuple[pd.DataFrame | None, ...]]:
    """The comparison of B against A, and the envelope points each frontier was fitted to."""
    from lmscale.plan.multiplier import compare_frontiers

    law_a, env_a = _frontier(a, store, form, bootstrap, seed, unit)
    law_b, env_b = _frontier(b, store, form, bootstrap, seed + 1, unit)  # independent resamples
    target, at, grid = _defaults(env_a, env_b, target_loss, compute)
    return compare_frontiers(law_a, law_b, target, at, grid=grid), (env_a, env_b)


def _show(e: dict[str, Any], fmt: str) -> str:
    iv = e["interval"]
    return f"{e['value']:{fmt}}" + ("" if iv is None else f"  ({iv[0]:{fmt}} – {iv[1]:{fmt}})")


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="Study A (the reference): a study in the store, or a saved L(C) fit (.json).")],
    b: Annotated[str, typer.Argument(help="Study B, compared against A.")],
    store: StoreOpt = None,
    form: Annotated[FrontierForm, typer.Option("--form", help="L(C) form fitted to both: power (Kaplan's) or offset (E + A/C^α).")] = FrontierForm("power"),
    unit: Annotated[LossUnit, typer.Option("--unit", help="loss: the held-out loss (nats per token); bpb: bits per byte of held-out text, for studies with different tokenizers.")] = LossUnit("loss"),
    target_loss: Annotated[float | None, typer.Option("--target-loss", min=0.0, help="Loss at which to compare compute, in --unit (default: the lowest both reached).")] = None,
    compute: Annotated[float | None, typer.Option("--compute", min=0.0, help="FLOPs at which to compare losses (default: the most both used).")] = None,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples over runs, per study.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resamples.")] = 0,
    as_json: JsonOpt = False,
    output: CompareOutput = None,
    html: Annotated[Path | None, typer.Option("--html", metavar="PATH", help="Also write a self-contained HTML page with the figure.")] = None,
) -> None:
    """How much compute B needs to reach A's loss (k = C_B/C_A), B's loss gap at matched compute, and whether
    the two frontiers share their exponent; intervals from both studies' bootstraps."""
    from lmscale.report.comparison import comparison_html, spread_words

    comparison, envelopes = compare(a, b, store, form.value, bootstrap, seed, target_loss, compute, unit.value)
    out = {**comparison.to_dict(), "unit": "bits per byte" if unit.value == "bpb" else "loss (nats per token)"}
    if html is not None:
        html.write_text(comparison_html(comparison, envelopes, unit.value))
    if json_out(out, output, as_json):
        return
    console = Console() if Console().is_terminal else Console(width=140)
    shared = {True: "yes (interval holds 0)", False: "no: k changes with scale", None: "not tested (no draws)"}
    summary = Table(box=None, show_header=False, title=f"{b} against {a}, {out['unit']} ({out['draws']} paired draws)")
    summary.add_row(f"k = C_B/C_A at loss {out['target_loss']:.4g}", _show(out["multiplier"], ".3g"))
    summary.add_row("k pinned down?", spread_words(comparison.multiplier_decades))
    summary.add_row(f"loss gap L_B − L_A at {out['compute']:.3g} FLOPs", _show(out["loss_gap"], "+.4f"))
    summary.add_row("exponent of A / of B", f"{_show(out['exponent_a'], '.4f')} / {_show(out['exponent_b'], '.4f')}")
    summary.add_row("exponents shared?", shared[out["shared_exponent"]])
    console.print(summary)
    table = Table("C (FLOPs)", "loss A", "loss B", "k at loss A", "95% interval", box=None, title="Over compute")
    for r in out["table"]:
        iv = "" if r["k_low"] is None else f"{r['k_low']:.3g} – {r['k_high']:.3g}"
        table.add_row(f"{r['C']:.3g}", f"{r['loss_a']:.4f}", f"{r['loss_b']:.4f}", f"{r['k']:.3g}", iv)
    console.print(table)
