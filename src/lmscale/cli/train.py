"""`lmscale train`: one training run from flags, with a progress bar on stderr."""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import typer

from lmscale.cli.app import app, print_json
from lmscale.cli.options import FamilyChoice, JsonOpt, choice
from lmscale.errors import InputError
from lmscale.train.spec import Dtype, Schedule


def parse_count(text: str, flag: str) -> int:
    """An integer written plainly or in float notation ("2e6", "1_000_000", "2.5e5")."""
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        raise InputError(f"{flag}: expected a number like 2e6, got {text!r}") from None
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise InputError(f"{flag}: expected a positive whole number, got {text!r}")
    return int(value)


def parse_float(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{flag}: expected a number like 3e-3, got {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{flag}: expected a finite number, got {text!r}")
    return value


ScheduleChoice = choice("ScheduleChoice", Schedule)
DtypeChoice = choice("DtypeChoice", Dtype)
MAX_MEMORY_HELP = (
    "Memory the run may use, e.g. 8GB or 512MiB (default: what is available now); a run estimated "
    "above it is refused before anything is allocated."
)


def use_max_memory(text: str | None) -> int | None:
    """Parse --max-memory and hand it to the training processes this command starts (spawned
    sweep workers inherit the environment): every run checks itself against it."""
    import os

    from lmscale.train.memory import MAX_MEMORY_ENV, parse_bytes

    if text is None:
        return None
    value = parse_bytes(text)
    os.environ[MAX_MEMORY_ENV] = str(value)
    return value


@app.command("train")
def train_command(
    n_layer: int = typer.Option(..., "--n-layer", min=1, help="Transformer blocks (or LSTM layers)."),
    d_model: int = typer.Option(..., "--d-model", min=1, help="Residual width."),
    n_head: int = typer.Option(
        0,
        "--n-head",
        min=0,
        help="Attention heads (0 = d_model // 16 when d_model is a multiple of 16, else 1).",
    ),
    n_ctx: int = typer.Option(128, "--n-ctx", min=1, help="The model's context length."),
    train_ctx: int | None = typer.Option(
        None, "--train-ctx", min=1, help="Training context (default --n-ctx; <= --n-ctx)."
    ),
    d_ff: int = typer.Option(0, "--d-ff", min=0, help="MLP width (0 = 4 * d_model)."),
    family: FamilyChoice = typer.Option("gpt", "--family", help="Model family."),
    untied: bool = typer.Option(
        False, "--untied", help="Separate logits matrix (default: tied to the embedding)."
    ),
    tokens: str = typer.Option(..., "--tokens", help="Training-token budget D, e.g. 2e6."),
    corpus: str = typer.Option("english", "--corpus", help="Built-in corpus name or a path."),
    tokenizer: str = typer.Option("bpe-4096", "--tokenizer", help="byte, bpe-<V> or gpt2."),
    eval_set: list[str] = typer.Option([], "--eval-set", help="Extra corpus to evaluate on (repeatable)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Sequences per optimizer step."),
    lr: str | None = typer.Option(
        None, "--lr", help="Peak learning rate (default: 0.1 * N^-0.25, N non-embedding)."
    ),
    schedule: ScheduleChoice = typer.Option("cosine", "--schedule", help="Learning-rate schedule."),
    warmup: float = typer.Option(
        0.05, "--warmup", min=0.0, max=1.0, help="Warmup as a fraction of the steps."
    ),
    weight_decay: float = typer.Option(0.1, "--weight-decay", min=0.0),
    grad_clip: float = typer.Option(1.0, "--grad-clip", min=0.0, help="Gradient-norm clip (0 = off)."),
    seed: int = typer.Option(0, "--seed"),
    eval_points: int = typer.Option(
        12, "--eval-points", min=1, help="Log-spaced evaluations (plus the final one)."
    ),
    eval_tokens: str = typer.Option("65536", "--eval-tokens", help="Held-out tokens per evaluation."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or mps."),
    dtype: DtypeChoice = typer.Option("float32", "--dtype", help="Compute dtype (bfloat16: autocast)."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the model."),
    threads: int | None = typer.Option(None, "--threads", min=1, help="CPU threads for this run."),
    micro_batch_size: int | None = typer.Option(
        None, "--micro-batch-size", min=1, help="Gradient accumulation."
    ),
    checkpoint_every: int = typer.Option(
        200, "--checkpoint-every", min=0, help="Steps between checkpoints (0 = only at the end)."
    ),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Default: $LMSCALE_HOME/runs/<run id>."),
    restart: bool = typer.Option(False, "--restart", help="Discard an earlier run of the same spec."),
    max_memory: str | None = typer.Option(None, "--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP),
    as_json: JsonOpt = False,
) -> None:
    """Train one model on one token budget; print its final metrics. Exit code 1 if it diverged.

    Re-running the same command resumes an interrupted run from its last checkpoint, or prints the
    stored result of a finished one (use --restart to train it again).
    """
    from lmscale.model.shape import ModelShape
    from lmscale.train.memory import check_fits
    from lmscale.train.spec import RunSpec

    limit = use_max_memory(max_memory)
    budget = parse_count(tokens, "--tokens")
    if n_head == 0:
        n_head = max(1, d_model // 16) if d_model % 16 == 0 else 1
    spec_args: dict[str, Any] = dict(
        tokens=budget,
        corpus=corpus,
        tokenizer=tokenizer,
        eval_sets=tuple(eval_set),
        batch_size=batch_size,
        n_ctx=train_ctx,
        lr=parse_float(lr, "--lr") if lr is not None else None,
        schedule=ScheduleChoice(schedule).value,
        warmup=warmup,
        weight_decay=weight_decay,
        grad_clip=grad_clip,
        seed=seed,
        eval_points=eval_points,
        eval_tokens=parse_count(eval_tokens, "--eval-tokens"),
        device=device,
        dtype=DtypeChoice(dtype).value,
        compile=compile_,
        threads=threads,
        micro_batch_size=micro_batch_size,
        checkpoint_every=checkpoint_every,
    )
    # Check the spec on a provisional vocabulary first so a bad flag costs no corpus preparation.
    family_name = FamilyChoice(family).value
    provisional = ModelShape(n_layer, d_model, n_head, n_ctx, 256, d_ff, not untied, family_name)  # type: ignore[arg-type]
    corpora = RunSpec(shape=provisional, **spec_args).resolved_tokenizer_corpora
    if not device.startswith(("cuda", "mps")):
        # Every tokenizer has at least 256 ids: a model too big at that vocabulary is refused here,
        # in well under a second, before torch is even imported.
        check_fits(RunSpec(shape=provisional, **spec_args), limit)
    from lmscale.data import load_token_store
    from lmscale.paths import home
    from lmscale.train.device import resolve_device
    from lmscale.train.loop import TrainData

    resolve_device(device)  # fail fast, before any corpus work
    train_store = load_token_store(corpus, tokenizer, tokenizer_corpora=corpora)
    evals = {name: load_token_store(name, tokenizer, tokenizer_corpora=corpora) for name in eval_set}
    vocab = max([train_store.vocab_size, *(s.vocab_size for s in evals.values())])
    spec = RunSpec(shape=provisional.with_(vocab_size=vocab), **spec_args)
    folder = run_dir if run_dir is not None else home() / "runs" / spec.id
    if restart and folder.exists():
        # only ever delete this run's own folder: --run-dir may point anywhere
        from lmscale.train.loop import _owner

        if _owner(folder, spec) is None and any(folder.iterdir()):
            raise InputError(f"--restart: {folder} is not an lmscale run folder; refusing to delete it")
        shutil.rmtree(folder)
    # Under torchrun every process runs this command; the first one reports for all of them.
    main_process = os.environ.get("RANK", "0") == "0"
    result = _run_with_progress(spec, folder, TrainData(train_store, evals), quiet=not main_process)
    final = {"run_id": spec.id, "run_dir": str(folder), **result.final, "reason": result.reason}
    if main_process and as_json:
        print_json(final)
    elif main_process:
        _print_summary(final)
    if result.status != "completed":
        print(f"lmscale: run {spec.id} diverged: {result.reason}", file=sys.stderr)
        raise typer.Exit(1)


def _run_with_progress(spec: Any, folder: Path, data: Any, quiet: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from lmscale.train.loop import run

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False, disable=quiet) as progress:
        task = progress.add_task(f"train {spec.id}", total=spec.steps, status="")
        state = {"eval": math.nan, "tps": math.nan}

        def on_event(event: dict[str, Any]) -> None:
            kind = event["type"]
            if kind == "start":
                progress.update(task, completed=event["start_step"])
            elif kind == "progress":
                state["tps"] = event["tokens_per_s"]
                status = (
                    f"loss {event['train_loss']:.3f}  eval {state['eval']:.3f}  {state['tps']:,.0f} tok/s"
                )
                progress.update(task, completed=event["step"], status=status)
            elif kind == "eval":
                state["eval"] = event["eval_loss"]

        return run(spec, folder, on_event=on_event, data=data)


def _print_summary(final: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {final['run_id']} ({final['status']})", show_header=False)
    for key in sorted(final):
        value = final[key]
        if isinstance(value, float):
            value = f"{value:.6g}"
        table.add_row(key, str(value))
    Console().print(table)
