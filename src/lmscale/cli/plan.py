"""`lmscale plan …`: from a law and a budget to N, D, tokens per parameter, loss, time and money.

One sub-command per question:

    optimal    the compute-optimal model for a budget (FLOPs, or accelerators × hours); with
               --unique-tokens, when unique data is limited (repeats, Muennighoff et al. 2023)
    target     the compute (and time, money) to reach a loss
    inference  the cheapest model over training + serving for a loss (Sardana et al. 2024)
    compare    the published laws side by side
    gpus       the accelerator catalogue
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, exactly_one
from lmscale.errors import InputError
from lmscale.fit import law_names, loss_law
from lmscale.fit.law import Law
from lmscale.plan import (
    ACCELERATORS,
    DEFAULT_GRID_KG_PER_KWH,
    DEFAULT_MFU,
    DEFAULT_PUE,
    Budget,
    compare_laws,
    compute_for_loss,
    data_limited,
    hardware,
    inference_aware,
    make_budget,
    optimal,
    what_if,
)
from lmscale.plan.budget import Hardware
from lmscale.plan.compare import DEFAULT_BUDGETS
from lmscale.reference import load_allocation_rules

plan_app = typer.Typer(help="Plan a training run from a scaling law.", no_args_is_help=True)
app.add_typer(plan_app, name="plan")

KAPLAN_RULE = load_allocation_rules()["kaplan2020-efficient"]
DEFAULT_LAW = "epoch2024"  # Hoffmann's rounded approach-3 values disagree with their own data
LawOpt = Annotated[
    str, typer.Option("--law", help=f"Published law ({', '.join(law_names(True))}) or a saved fit JSON.")
]
FlopsOpt = Annotated[float | None, typer.Option("--flops", help="Compute budget in FLOPs (C = 6ND).")]
GpuOpt = Annotated[
    str | None, typer.Option("--gpu", help="Accelerator (lmscale plan gpus); with --count, --hours: the budget.")
]
CountOpt = Annotated[int, typer.Option("--count", min=1, help="Number of accelerators.")]
HoursOpt = Annotated[float | None, typer.Option("--hours", min=0.0, help="Wall-clock hours of training.")]
MfuOpt = Annotated[float, typer.Option("--mfu", min=0.0, max=1.0, help="Model FLOPs utilisation in (0, 1].")]
PriceOpt = Annotated[float | None, typer.Option("--price", min=0.0, help="Price per accelerator-hour.")]
PueOpt = Annotated[float, typer.Option("--pue", min=1.0, help="Data-centre PUE for energy.")]
GridOpt = Annotated[float, typer.Option("--grid", min=0.0, help="Grid carbon intensity, kg CO2e/kWh.")]
PowerOpt = Annotated[
    float | None, typer.Option("--power-w", min=0.0, help="Power per accelerator (W), overrides the data sheet.")
]


# ------------------------------------------------------------------------------------------ output


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else "-"
    return f"{value:.4g}"


def _print_result(title: str, result: dict[str, Any], keys: list[str]) -> None:
    ci = result.get("ci", {})
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column(f"{int(100 * (result.get('ci_level') or 0.95))}% interval", justify="right")
    for key in keys:
        if key in result:
            interval = ci.get(key)
            shown = "-" if not interval else f"{_fmt(interval[0])} – {_fmt(interval[1])}"
            table.add_row(key, _fmt(result[key]), shown)
    _console().print(table)


def _print_frame(title: str, df: pd.DataFrame) -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="left" if df[col].dtype == object else "right")
    for row in df.itertuples(index=False):
        table.add_row(*[_fmt(v) for v in row])
    _console().print(table)


def _print_assumptions(assumptions: dict[str, Any], prefix: str = "") -> None:
    console = _console()
    if not prefix:
        console.print("[bold]assumptions[/bold]")
    for key, value in assumptions.items():
        if isinstance(value, dict):
            console.print(f"  {prefix}{key}:")
            _print_assumptions(value, prefix + "  ")
        else:
            console.print(f"  {prefix}{key}: {_fmt(value)}")


def _emit(out: dict[str, Any], title: str, keys: list[str], json_out: bool) -> None:
    """The plan as one JSON document, or as tables: result, budget, hardware, what-if, shape, assumptions."""
    if json_out:
        print_json(out)
        return
    _print_result(title, out, keys)
    if "budget" in out:
        b = {k: v for k, v in out["budget"].items() if not isinstance(v, dict)}
        _print_result("budget", {**b, "ci": {}}, list(b))
    if isinstance(out.get("hardware"), dict):
        h = {k: v for k, v in out["hardware"].items() if not isinstance(v, (dict, list))}
        _print_result("time and money at the target", {**h, "ci": {}}, list(h))
    for name, rows in out.get("what_if", {}).items():
        _print_frame(f"what if: {name}", pd.DataFrame(rows))
    if "shape" in out:
        _print_result("model shape for N_opt", {**out["shape"], "ci": {}}, list(out["shape"]))
    for warning in out.get("warnings", []):
        _console().print(f"[yellow]warning:[/yellow] {warning}")
    _print_assumptions(out.get("assumptions", {}))
    caveat = out.get("assumptions", {}).get("law", {}).get("caveat")
    if caveat:
        _console().print(f"[yellow]about this law:[/yellow] {caveat}")


# ------------------------------------------------------------------------------------------ inputs


def _hardware(gpu: str | None, count: int, mfu: float, price: float | None, pue: float, grid: float,
              power_w: float | None) -> Hardware | None:
    if gpu is None:
        if price is not None or power_w is not None:
            raise InputError("--price and --power-w are per accelerator: give --gpu (and --count) too")
        return None
    return hardware(gpu, count, mfu=mfu, price=price, pue=pue, grid=grid, power_w=power_w)


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)


# The accelerator options, in _hardware's order; commands taking `hw` get them via with_hardware.
HARDWARE_OPTIONS = [
    _option("gpu", GpuOpt, None),
    _option("count", CountOpt, 1),
    _option("mfu", MfuOpt, DEFAULT_MFU),
    _option("price", PriceOpt, None),
    _option("pue", PueOpt, DEFAULT_PUE),
    _option("grid", GridOpt, DEFAULT_GRID_KG_PER_KWH),
    _option("power_w", PowerOpt, None),
]


def with_hardware(command: Callable[..., None]) -> Callable[..., None]:
    """Declare the accelerator options once: typer sees them on the wrapper (after the law and the
    budget), and the command receives `hw`, the Hardware they describe (None without --gpu)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "hw"]
    at = 1 + max(i for i, p in enumerate(own) if p.name in ("law", "flops", "hours"))
    params = [*own[:at], *HARDWARE_OPTIONS, *own[at:]]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        hw = _hardware(*(kwargs.pop(p.name) for p in HARDWARE_OPTIONS))
        command(hw=hw, **kwargs)

    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    return wrapper


def _budget(flops: float | None, hw: Hardware | None, hours: float | None) -> Budget:
    """The budget as FLOPs or as accelerators × hours: exactly one of the two."""
    if flops is not None and (hw is not None or hours is not None):
        raise InputError("--flops and --gpu/--hours are two ways to give the budget: use one")
    if flops is None and hw is None:
        raise InputError("no budget: give --flops, or --gpu with --count and --hours")
    if hw is not None and hours is None:
        raise InputError("--gpu needs --hours to make a budget")
    return make_budget(flops, hw, hours)


def _budget_block(budget: Budget) -> dict[str, Any]:
    out: dict[str, Any] = {"flops": budget.flops}
    costs = budget.costs()
    if costs is not None:
        out.update(costs.to_dict())
    if budget.hardware is not None:
        out["hardware"] = budget.hardware.assumptions()
    return out


def _law(name: str) -> Law:
    law = loss_law(name)
    if law.form.variables[:2] != ("N", "D"):
        raise InputError(f"law {name!r} is an L({law.x}) law; planning needs a two-variable L(N, D) law")
    return law


KEYS = ["N_opt", "D_opt", "tokens_per_param", "loss"]


# ------------------------------------------------------------------------------------------ commands


@plan_app.command("optimal")
@with_hardware
def plan_optimal(
    hw: Hardware | None,
    law: LawOpt = DEFAULT_LAW,
    flops: FlopsOpt = None,
    hours: HoursOpt = None,
    unique_tokens: Annotated[
        float | None, typer.Option("--unique-tokens", help="Unique tokens available: plan with repeats.")
    ] = None,
    r_d_star: Annotated[float | None, typer.Option("--r-d-star", help="With --unique-tokens: override R_D*.")] = None,
    r_n_star: Annotated[float | None, typer.Option("--r-n-star", help="With --unique-tokens: override R_N*.")] = None,
    whatif: Annotated[bool, typer.Option("--what-if", help="Add the what-if tables.")] = False,
    shape: Annotated[bool, typer.Option("--shape", help="Add a concrete model shape for N_opt.")] = False,
    aspect_ratio: Annotated[float, typer.Option("--aspect-ratio", min=1.0, help="d_model / n_layer.")] = 64.0,
    json_out: JsonOpt = False,
) -> None:
    """The compute-optimal N, D, tokens per parameter and loss for a budget.

    With --unique-tokens, the best N and epochs when unique data is limited (Muennighoff et al.
    2023): a plain Chinchilla law takes their published R_D*, R_N*, a fitted data-constrained law
    its own.
    """
    the_law = _law(law)
    budget = _budget(flops, hw, hours)
    if unique_tokens is None:
        res = optimal(the_law, budget)
        out = {"mode": "compute-optimal", **res.to_dict()}
        title, keys = f"compute-optimal plan for {res.flops:.3g} FLOPs ({the_law.label})", KEYS
    else:
        res = data_limited(the_law, budget.flops, unique_tokens, r_d_star=r_d_star, r_n_star=r_n_star)
        out = {"mode": "data-limited", **res.to_dict()}
        title = f"data-limited plan, {unique_tokens:.3g} unique tokens ({res.law})"
        keys = [*KEYS, "epochs", "unconstrained_loss", "loss_given_up", "unconstrained_N_opt", "unconstrained_D_opt"]
    out["budget"] = _budget_block(budget)
    if whatif:
        out["what_if"] = what_if(the_law, budget.flops, hardware=hw).to_dict()
    if shape:
        out["shape"] = _shape(the_law, out["N_opt"], aspect_ratio)
    _emit(out, title, keys, json_out)


def _shape(law: Law, n: float, aspect_ratio: float) -> dict[str, Any]:
    from lmscale.model.sizing import model_shape

    if law.conventions.n == "unknown":
        raise InputError(
            f"law {law.label} does not say whether N counts embeddings; refit with --n total|non-embedding"
        )
    return model_shape(n, aspect_ratio=aspect_ratio, n_is_total=law.conventions.n == "total").to_dict()


@plan_app.command("target")
@with_hardware
def plan_target(
    hw: Hardware | None,
    target_loss: Annotated[float, typer.Argument(help="The loss (nats/token) to reach.")],
    law: LawOpt = DEFAULT_LAW,
    json_out: JsonOpt = False,
) -> None:
    """The compute (and, with --gpu, time and money) at which the compute-optimal loss reaches a target."""
    the_law = _law(law)
    res = compute_for_loss(the_law, target_loss, hardware=hw)
    out = {"mode": "target-loss", **res.to_dict()}
    _emit(out, f"compute to reach loss {target_loss:g} ({the_law.label})", ["flops", *KEYS], json_out)


@plan_app.command("inference")
def plan_inference(
    inference_tokens: Annotated[
        float, typer.Option("--inference-tokens", help="Tokens served over the model's life.")
    ],
    law: LawOpt = DEFAULT_LAW,
    target_loss: Annotated[float | None, typer.Option("--target-loss", help="The loss to reach.")] = None,
    flops: Annotated[
        float | None, typer.Option("--flops", help="Or: the loss of the compute-optimal model at this budget.")
    ] = None,
    cost_ratio: Annotated[
        float, typer.Option("--inference-cost-ratio", help="Cost of an inference FLOP / a training FLOP.")
    ] = 1.0,
    json_out: JsonOpt = False,
) -> None:
    """The (N, D) reaching a loss at the least training + inference cost (Sardana et al. 2024)."""
    exactly_one({"--target-loss": target_loss, "--flops": flops})
    the_law = _law(law)
    res = inference_aware(
        the_law, inference_tokens, target_loss=target_loss, flops=flops, inference_cost_per_flop=cost_ratio
    )
    out = {"mode": "inference-aware", **res.to_dict()}
    keys = [*KEYS, "training_flops", "inference_flops", "N_shift", "D_shift", "saving"]
    _emit(out, f"inference-aware plan, {inference_tokens:.3g} inference tokens ({the_law.label})", keys, json_out)


@plan_app.command("compare")
def plan_compare(flops: FlopsOpt = None, json_out: JsonOpt = False) -> None:
    """The published laws' compute-optimal allocations side by side (1e21, 1e23, 1e25 FLOPs or --flops)."""
    budgets = (make_budget(flops).flops,) if flops is not None else DEFAULT_BUDGETS
    df = compare_laws(budgets=budgets)
    if json_out:
        print_json({"mode": "compare", "rows": df.to_dict(orient="records")})
        return
    _print_frame("published laws: compute-optimal allocations", df)
    _console().print(
        "kaplan2020's rows are the optimum of his early-stopped L(N, D) under C = 6ND (N ∝ C^0.575). "
        f"kaplan2020-efficient is his own compute-efficient rule (N ∝ C_min^0.73): {KAPLAN_RULE['caveat']} "
        "Losses are in each law's own data and units."
    )


@plan_app.command("gpus")
def plan_gpus(json_out: JsonOpt = False) -> None:
    """The accelerator catalogue (dense bf16/fp16 peak, board power, sources)."""
    rows = [
        {"key": a.key, "name": a.name, "peak_flops_per_s": a.peak_flops, "board_power_w": a.board_power_w,
         "source": a.source}
        for a in ACCELERATORS.values()
    ]
    if json_out:
        print_json(
            {"accelerators": rows, "default_mfu": DEFAULT_MFU, "default_pue": DEFAULT_PUE,
             "default_grid_kg_co2e_per_kwh": DEFAULT_GRID_KG_PER_KWH}
        )
    else:
        _print_frame("accelerators (dense bf16/fp16 peak)", pd.DataFrame(rows))
