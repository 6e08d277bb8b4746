"""`lmscale predict`: what a run of a given size and data would reach under a law, with its interval."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
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
    n: Annotated[
        float | None, typer.Option("--n", help="Parameters, in the law's N convention.", **Positive)
    ] = None,
    d: Annotated[
        float | None, typer.Option("--d", help="Training tokens (repeats included).", **Positive)
    ] = None,
    u: Annotated[
        float | None, typer.Option("--u", help="Unique tokens available (data-constrained laws).", **Positive)
    ] = None,
    c: Annotated[float | None, typer.Option("--c", help="Training FLOPs (L(C) laws).", **Positive)] = None,
    s: Annotated[
        float | None, typer.Option("--s", help="Optimizer steps (L(N, S) laws).", **Positive)
    ] = None,
    penalty: Annotated[
        float | None,
        typer.Option(
            "--penalty",
            min=1e-6,
            help="Instead of a loss: the tokens at which size --n comes within this fraction (0.02 = 2%) of "
            "the loss it reaches on unlimited data (L(N, D) laws; Kaplan et al.'s eq. 4.4 at 0.02).",
        ),
    ] = None,
    level: Annotated[float, typer.Option("--level", min=0.5, max=0.999, help="Interval level.")] = 0.95,
    json_out: JsonOpt = False,
) -> None:
    """The loss a run would reach under a law; with the law's bootstrap draws, its interval too. With
    --penalty and --n: the data that size needs to come within that fraction of its unlimited-data loss."""
    the_law = loss_law(law)
    if penalty is not None:
        if n is None or any(v is not None for v in (d, u, c, s)):
            raise InputError(
                "--penalty takes --n alone: it gives the tokens D, so --d, --u, --c and --s do not apply"
            )
        out = _data_for_penalty(the_law, n, penalty, level)
        print_json(out) if json_out else _print_penalty(out)
        return
    given = {"N": n, "D": d, "U": u, "C": c, "S": s}
    columns = {k: v for k, v in given.items() if v is not None}
    wanted = [v for v in the_law.form.variables if v != "U_N"]
    extra = [k for k in columns if k not in wanted]
    if extra:
        flags = ", ".join(f"--{k.lower()}" for k in extra)
        raise InputError(
            f"law {the_law.label} takes {', '.join(f'--{v.lower()}' for v in wanted)}, not {flags}"
        )
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


def _data_for_penalty(law: Any, n: float, penalty: float, level: float) -> dict[str, Any]:
    """Tokens for size n to come within `penalty` of L(n, ∞), with the interval over the law's draws."""
    from lmscale.fit.intervals import percentile_interval

    out: dict[str, Any] = {
        "law": law.label,
        "form": law.form_name,
        "N": n,
        "N_is": law.conventions.n,
        "penalty": penalty,
        "unlimited_data_loss": float(law.unlimited_data_loss_of(law.theta(), n)[0, 0]),
        "tokens": float(law.data_for_penalty_of(law.theta(), n, penalty)[0, 0]),
    }
    out["tokens_per_param"] = out["tokens"] / n
    if law.has_draws:
        draws = law.data_for_penalty_of(law.theta_draws(), n, penalty)[:, 0]
        lo, hi = percentile_interval(draws[np.isfinite(draws)], level)
        out["tokens_interval"] = [float(lo), float(hi)]
        out["level"] = level
    return out


def _print_penalty(out: dict[str, Any]) -> None:
    console = Console()
    console.print(f"{out['law']} ({out['form']}, N counts {out['N_is']} parameters) at N = {out['N']:.4g}:")
    console.print(f"  loss on unlimited data {out['unlimited_data_loss']:.5f} nats/token")
    console.print(
        f"  within {100 * out['penalty']:.3g}% of it from D = {out['tokens']:.4g} tokens "
        f"({out['tokens_per_param']:.3g} tokens per parameter)"
    )
    if "tokens_interval" in out:
        lo, hi = out["tokens_interval"]
        console.print(
            f"  {round(100 * out['level'])}% confidence interval (the law): {lo:.4g} – {hi:.4g} tokens"
        )


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
