"""Train with the user's own command: fill its template, run it, read the metrics it writes.

A spec with `command` set runs this instead of the built-in trainer (`lmscale.train.run`
dispatches here), so sweeps, the store, resume and failure handling are the same for both:

    command = "python train.py --n-layer {n_layer} --d-model {d_model} --tokens {tokens} --out {run_dir}"

The braces name RunSpec values (`COMMAND_PLACEHOLDERS`); the template is split into words like a
shell would (no shell runs it, so a value with spaces stays one word). The command runs in the
sweep's working folder with $LMSCALE_METRICS (the JSONL file of `lmscale.metrics`) and
$LMSCALE_RUN_DIR set; its output goes to <run_dir>/command.log. A command that exits non-zero,
runs past `command_timeout`, writes no evaluation, or writes a malformed row fails the run with
that reason. Resuming is the command's own business: a rerun starts the same command in the same
run_dir, where its checkpoints are.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lmscale.metrics import METRICS_ENV, MetricsError, read_metrics
from lmscale.model.accounting import account
from lmscale.paths import home
from lmscale.processes import die_with_parent
from lmscale.train.checkpoint import atomic_write_json
from lmscale.train.result import RunResult
from lmscale.train.spec import RunSpec

METRICS_FILE = "metrics.jsonl"
LOG_FILE = "command.log"
SPEC_FILE = "spec.json"
RUN_DIR_ENV = "LMSCALE_RUN_DIR"
_POLL_SECONDS = 0.5
_LOG_TAIL_LINES = 5


class CommandFailed(RuntimeError):
    """The external command did not produce a usable run; the message says why."""


def placeholders(spec: RunSpec, run_dir: Path) -> dict[str, Any]:
    shape = spec.train_shape
    n = account(shape).params_non_embedding
    return {
        "run_dir": str(run_dir), "metrics": str(run_dir / METRICS_FILE), "id": spec.id,
        "n_layer": shape.n_layer, "d_model": shape.d_model, "n_head": shape.n_head,
        "d_ff": shape.d_ff or 4 * shape.d_model, "n_ctx": spec.context, "vocab_size": shape.vocab_size,
        "N": n, "tokens": spec.tokens, "steps": spec.steps, "batch_size": spec.batch_size,
        "lr": spec.peak_lr(n), "seed": spec.seed, "data_seed": spec.data_seed, "corpus": spec.corpus,
        "tokenizer": spec.tokenizer, "schedule": spec.schedule, "warmup": spec.warmup,
        "device": spec.device, "threads": spec.threads or 1, "gpus": spec.gpu_count,
        "python": sys.executable,
    }  # fmt: skip


def command_words(spec: RunSpec, run_dir: Path) -> list[str]:
    """The command of `spec` for `run_dir`, as the argument list it runs with."""
    if spec.command is None:
        raise CommandFailed(f"run {spec.id} has no command")
    values = placeholders(spec, run_dir)
    return [word.format(**values) for word in shlex.split(spec.command)]


def run(
    spec: RunSpec, run_dir: Path | str | None = None, on_event: Callable[[dict], None] | None = None
) -> RunResult:
    """Run the spec's command to completion and return its curve; a finished run_dir is returned
    as it is."""
    run_dir = Path(run_dir) if run_dir is not None else home() / "runs" / spec.id
    finished = RunResult.load(run_dir)
    if finished is not None and finished.spec.id == spec.id:
        return finished
    words = command_words(spec, run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / SPEC_FILE, {"id": spec.id, **spec.to_dict()})
    emit = on_event or (lambda event: None)
    emit({"type": "start", "run_id": spec.id, "steps": spec.steps, "start_step": 0})
    wall = _execute(words, spec, run_dir, emit)
    result = result_from_metrics(spec, _metrics(run_dir), wall, run_dir)
    result.save(run_dir)
    emit({"type": "end", "run_id": spec.id, "status": result.status, "reason": None})
    return result


def _execute(words: list[str], spec: RunSpec, run_dir: Path, emit: Callable[[dict], None]) -> float:
    """Run the command to its end, passing its progress on; its wall time in seconds."""
    threads = str(spec.threads or 1)
    env = {**os.environ, METRICS_ENV: str(run_dir / METRICS_FILE), RUN_DIR_ENV: str(run_dir)}
    env.setdefault("OMP_NUM_THREADS", threads)
    t0 = time.perf_counter()
    with open(run_dir / LOG_FILE, "ab") as log:
        try:
            # The kernel kills the command when its worker dies (a killed driver): no orphans.
            proc = subprocess.Popen(
                words, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                preexec_fn=lambda: die_with_parent(signal.SIGKILL),
            )  # fmt: skip
        except OSError as exc:
            raise CommandFailed(f"cannot start {words[0]!r}: {exc.strerror or exc}") from None
        try:
            code = _wait(proc, spec, run_dir, emit, t0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0:
        raise CommandFailed(f"the command exited with status {code}{_log_tail(run_dir)}")
    return time.perf_counter() - t0


def _wait(
    proc: subprocess.Popen, spec: RunSpec, run_dir: Path, emit: Callable[[dict], None], t0: float
) -> int:
    seen = 0
    while True:
        try:
            return proc.wait(timeout=_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        if spec.command_timeout is not None and time.perf_counter() - t0 > spec.command_timeout:
            raise CommandFailed(
                f"the command ran past its timeout of {spec.command_timeout} s{_log_tail(run_dir)}"
            )
        seen = _progress(run_dir, spec, seen, emit)


def _progress(run_dir: Path, spec: RunSpec, seen: int, emit: Callable[[dict], None]) -> int:
    """Emit the newest metrics row as a progress event; how many rows have been seen."""
    try:
        rows = read_metrics(run_dir / METRICS_FILE)
    except MetricsError:
        return seen  # a row being written, or a bad one: reported when the command ends
    if len(rows) > seen:
        last = rows[-1]
        emit(
            {"type": "progress", "step": last["step"], "steps": spec.steps, "train_loss": last.get("train_loss"),
             "eval_loss": last.get("eval_loss")}
        )  # fmt: skip
    return len(rows)


def _log_tail(run_dir: Path) -> str:
    try:
        lines = (run_dir / LOG_FILE).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in lines[-_LOG_TAIL_LINES:] if line.strip())
    return f"; last output: {tail[-600:]}" if tail else f"; it printed nothing (see {run_dir / LOG_FILE})"


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    try:
        rows = read_metrics(run_dir / METRICS_FILE)
    except MetricsError as exc:
        raise CommandFailed(f"malformed metrics: {exc}") from None
    if not any("eval_loss" in r for r in rows):
        raise CommandFailed(
            f"the command exited 0 but wrote no evaluation (no row with eval_loss in {run_dir / METRICS_FILE}; "
            "see lmscale.metrics for the format)"
        )
    return rows


def result_from_metrics(spec: RunSpec, rows: list[dict[str, Any]], wall: float, run_dir: Path) -> RunResult:
    """A RunResult whose curve is the evaluated rows, with lmscale's exact FLOPs of the declared
    shape; the trainer's own counts, where it gave them, are kept beside lmscale's in `final`."""
    acc = account(spec.train_shape)
    curve = pd.DataFrame([r for r in rows if "eval_loss" in r]).reset_index(drop=True)
    tokens = curve["tokens"].astype(float)
    curve["flops_kaplan"] = tokens * acc.flops_per_token_kaplan
    curve["flops_6n"] = tokens * acc.flops_per_token_6n
    curve["flops_exact"] = tokens * acc.flops_per_token_exact
    last = curve.iloc[-1].to_dict()
    trainer = {k: last[k] for k in ("params_non_embedding", "params_total", "flops") if k in last}
    curve = curve.drop(columns=[k for k in ("params_non_embedding", "params_total", "flops") if k in curve])
    wall = float(last.get("wall_time", wall))
    final: dict[str, Any] = {
        "run_id": spec.id, "status": "completed", "steps": spec.steps, "steps_done": int(last["step"]),
        "peak_lr": spec.peak_lr(acc.params_non_embedding), "params_total": int(acc.params_total),
        "params_non_embedding": int(acc.params_non_embedding), "tokens_per_step": spec.tokens_per_step,
        "trainer": "command", **{f"trainer_{k}": v for k, v in trainer.items()},
        **{k: v for k, v in curve.iloc[-1].to_dict().items() if k != "step"}, "wall_time": wall,
    }  # fmt: skip
    position = pd.DataFrame({"position": pd.Series(dtype=int)})
    return RunResult(spec, "completed", None, curve, final, position, wall, run_dir)
