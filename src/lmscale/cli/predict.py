"""`lmscale predict`: what a run of a given size and data would reach under a law, with its interval."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt
from lmscale.errors import InputError
from lmscale.fit import law_names, loss_law

Positive = dict(min=0.0)


@app.command("predict")
def predict_command(
    law: Annotated[
        str, typer.Option("--law", help=f"Published law ({', '.join(law_names())}) or a saved fit JSON.")
    ],
    n: Annotated[float | None, typer.Option("--n", help="Parameters, in the law's N convention.", **Positive)] = None,
    d: Annotated[float | None, typer.Option("--d", help="Training tokens (repeats included).", **Positive)] = None,
    u: Annotated[float | None, typer.Option("--u", help="Unique tokens available (data-constrained laws).", **Positive)] = None,
    c: Annotated[float | None, typer.Option("--c", help="Training FLOPs (L(C) laws).", **Positive)] = None,
    s: Annotated[float | None, typer.Option("--s", help="Optimizer steps (L(N, S) laws).", **Positive)] = None,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Interval level.")] = 0.95,
    json_out: JsonOpt = False,
) -> None:
    """The loss a run would reach under a law; with the law's bootstrap draws, its interval too."""
    the_law = loss_law(law)
    given = {"N": n, "D": d, "U": u, "C": c, "S": s}
    columns = {k: v for k, v in given.items() if v is not None}
    wanted = [v for v in the_law.form.variables if v != "U_N"]
    extra = [k for k in columns if k not in wanted]
    if extra:
        flags = ", ".join(f"--{k.lower()}" for k in extra)
        raise InputError(f"law {the_law.label} takes {', '.join(f'--{v.lower()}' for v in wanted)}, not {flags}")
    out: dict[str, Any] = {
        "law": the_law.label,
        "form": the_law.form_name,
        "inputs": columns,
        "N_is": the_law.conventions.n,
        "loss": float(the_law.predict(**columns)),
    }
    if the_law.has_draws:
        lo, hi = the_law.interval("confidence", level=level, **columns)
        out["confidence_interval"] = [float(lo), float(hi)]
        if the_law.residual_log is not None:
            lo, hi = the_law.interval("prediction", level=level, **columns)
            out["prediction_interval"] = [float(lo), float(hi)]
        out["level"] = level
    if json_out:
        print_json(out)
        return
    _print(out)


def _print(out: dict[str, Any]) -> None:
    console = Console()
    inputs = ", ".join(f"{k} = {v:.4g}" for k, v in out["inputs"].items())
    console.print(f"{out['law']} ({out['form']}, N counts {out['N_is']} parameters) at {inputs}:")
    console.print(f"  loss {out['loss']:.5f} nats/token")
    pct = round(100 * out.get("level", 0.95))
    if "confidence_interval" in out:
        lo, hi = out["confidence_interval"]
        console.print(f"  {pct}% confidence interval (the law): {lo:.5f} – {hi:.5f}")
    if "prediction_interval" in out:
        lo, hi = out["prediction_interval"]
        console.print(f"  {pct}% prediction interval (a new run): {lo:.5f} – {hi:.5f}")
    if "confidence_interval" not in out:
        console.print("  no interval: this law carries no bootstrap draws")
