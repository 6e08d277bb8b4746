"""`lmscale count`: parameters and FLOPs of a model shape, a shape picked for a target N, or a ladder."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.options import FamilyChoice, JsonOpt, at_most_one, exactly_one
from lmscale.errors import InputError
from lmscale.model.accounting import account, forward_flops_breakdown, run_flops
from lmscale.model.shape import ModelShape
from lmscale.model.sizing import parse_targets, shape_for_params


def _row(
    shape: ModelShape, tokens: float | None, tokens_per_param: float | None, breakdown: bool = False
) -> dict[str, Any]:
    out = account(shape).to_dict()
    if breakdown:
        out["forward_flops_per_token"] = forward_flops_breakdown(shape)
        out["forward_flops_per_token_causal"] = forward_flops_breakdown(shape, causal=True)
    if tokens_per_param is not None:
        tokens = tokens_per_param * out["params_non_embedding"]
    if tokens is not None:
        out.update(run_flops(shape, tokens))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def _console() -> Console:
    """A console that does not squeeze tables to 80 columns when stdout is a pipe or a file."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _print_one(row: dict[str, Any], title: str) -> None:
    table = Table(title=title, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key, value in row.items():
        table.add_row(key, _fmt(value))
    _console().print(table)


def _print_ladder(rows: list[dict[str, Any]]) -> None:
    has_run = "flops_6n" in rows[0]
    table = Table(title="model-size ladder (FLOPs per trained token; exact = Chinchilla App. F, causal)")
    columns = [
        "target N",
        "n_layer",
        "d_model",
        "n_head",
        "d_ff",
        "N non-emb",
        "N total",
        "6N/tok",
        "exact/tok",
    ]
    if has_run:
        columns += ["tokens D", "C 6ND", "C exact"]
    for name in columns:
        table.add_column(name, justify="right")
    for r in rows:
        cells = [
            f"{r['target_non_embedding']:.3g}",
            _fmt(r["n_layer"]),
            _fmt(r["d_model"]),
            _fmt(r["n_head"]),
            _fmt(r["d_ff"]),
            _fmt(r["params_non_embedding"]),
            _fmt(r["params_total"]),
            _fmt(r["flops_per_token_6n"]),
            _fmt(r["flops_per_token_exact_causal"]),
        ]
        if has_run:
            cells += [_fmt(r["tokens"]), _fmt(r["flops_6n"]), _fmt(r["flops_exact_causal"])]
        table.add_row(*cells)
    _console().print(table)


@app.command("count")
def count(
    n_layer: Annotated[int | None, typer.Option("--n-layer", min=1, help="Number of layers.")] = None,
    d_model: Annotated[int | None, typer.Option("--d-model", min=1, help="Residual width.")] = None,
    n_head: Annotated[
        int, typer.Option("--n-head", min=1, help="Attention heads (must divide d_model).")
    ] = 1,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=1, help="Context length.")] = 128,
    vocab: Annotated[int, typer.Option("--vocab", min=1, help="Vocabulary size.")] = 4096,
    d_ff: Annotated[int, typer.Option("--d-ff", min=0, help="MLP width (0: 4 x d_model).")] = 0,
    untied: Annotated[
        bool, typer.Option("--untied", help="Separate logits matrix (not tied to the embedding).")
    ] = False,
    family: Annotated[FamilyChoice, typer.Option("--family", help="Model family.")] = "gpt",
    tokens: Annotated[
        float | None, typer.Option("--tokens", help="Training tokens D: also print C for the run.")
    ] = None,
    tokens_per_param: Annotated[
        float | None,
        typer.Option("--tokens-per-param", help="D = this x non-embedding N (e.g. 20, Chinchilla)."),
    ] = None,
    target_n: Annotated[
        float | None,
        typer.Option("--target-n", help="Pick the shape whose non-embedding N is closest to this."),
    ] = None,
    ladder: Annotated[
        str | None, typer.Option("--ladder", help="Comma-separated targets, e.g. 1e3,1e4,1e5.")
    ] = None,
    aspect_ratio: Annotated[
        float, typer.Option("--aspect-ratio", help="d_model / n_layer for --target-n/--ladder.")
    ] = 32.0,
    d_head: Annotated[int, typer.Option("--d-head", min=1, help="Head width for --target-n/--ladder.")] = 16,
    breakdown: Annotated[
        bool,
        typer.Option("--breakdown", help="Also give the forward FLOPs per token term by term (JSON only)."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Count parameters and training FLOPs per token (Kaplan, 6N, and Chinchilla App. F exact)."""
    if breakdown and not as_json:
        raise InputError("count: --breakdown needs --json")
    at_most_one({"--tokens": tokens, "--tokens-per-param": tokens_per_param})
    if tokens_per_param is not None and not tokens_per_param > 0:
        raise InputError(f"count: --tokens-per-param must be positive, got {tokens_per_param}")
    explicit = n_layer is not None or d_model is not None
    exactly_one({"a shape (--n-layer, --d-model)": explicit, "--target-n": target_n, "--ladder": ladder})
    family = FamilyChoice(family).value
    picker = {
        "aspect_ratio": aspect_ratio,
        "d_head": d_head,
        "n_ctx": n_ctx,
        "vocab_size": vocab,
        "family": family,
        "tied_embeddings": not untied,
    }
    if ladder is not None:
        rows = []
        for target in parse_targets(ladder, "--ladder"):
            row = {"target_non_embedding": target}
            row.update(_row(shape_for_params(target, **picker), tokens, tokens_per_param, breakdown))
            rows.append(row)
        if as_json:
            print_json(rows)
        else:
            _print_ladder(rows)
        return
    if target_n is not None:
        row = {"target_non_embedding": target_n}
        row.update(_row(shape_for_params(target_n, **picker), tokens, tokens_per_param, breakdown))
        title = f"shape for non-embedding N ≈ {target_n:.3g}"
    else:
        if n_layer is None or d_model is None:
            raise InputError("count: --n-layer and --d-model are both required for an explicit shape")
        shape = ModelShape(
            n_layer=n_layer,
            d_model=d_model,
            n_head=n_head,
            n_ctx=n_ctx,
            vocab_size=vocab,
            d_ff=d_ff,
            tied_embeddings=not untied,
            family=family,  # type: ignore[arg-type]  # a FamilyChoice value
        )
        row = _row(shape, tokens, tokens_per_param, breakdown)
        title = "model accounting"
    if as_json:
        print_json(row)
    else:
        _print_one(row, title)
