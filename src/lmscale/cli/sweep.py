"""`lmscale sweep presets | plan | run`: declare a study once, see its cost, run it, resume it."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, StoreOpt, ThreadsOpt, WorkersOpt, choice
from lmscale.cli.train import MAX_MEMORY_HELP, use_max_memory

sweep_app = typer.Typer(
    help="Sweeps: expand a spec or preset into runs, plan their cost, run them.", no_args_is_help=True
)
app.add_typer(sweep_app, name="sweep")

SpecArg = Annotated[
    str,
    typer.Argument(help="A sweep spec file (.toml/.yaml) or a preset name (see `lmscale sweep presets`)."),
]
Executor = choice("Executor", ("local", "ray"))
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option("--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP.replace("the run", "the runs")),
]


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=200)


def _human(x: float) -> str:
    return f"{x:.3g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@sweep_app.command("presets")
def presets(json_out: JsonOpt = False) -> None:
    """List the presets that ship with lmscale."""
    from lmscale.sweep.expand import expand
    from lmscale.sweep.presets import load_preset, preset_names

    rows = []
    for name in preset_names():
        spec = load_preset(name)
        runs = expand(spec, f"preset {name}")
        rows.append(
            {
                "name": name,
                "design": spec.design,
                "runs": len(runs),
                "N_min": min(r.N for r in runs),
                "N_max": max(r.N for r in runs),
                "description": spec.description,
            }
        )
    if json_out:
        print_json(rows)
        return
    table = Table(box=None, header_style="bold")
    for col in ("preset", "design", "runs", "N range", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"], r["design"], str(r["runs"]), f"{r['N_min']:.2g}–{r['N_max']:.2g}", r["description"]
        )
    _console().print(table)


@sweep_app.command("plan")
def plan(
    spec: SpecArg,
    workers: WorkersOpt = None,
    store: StoreOpt = None,
    max_memory: MaxMemoryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print the runs a spec expands to, their N, D, FLOPs, memory and estimated wall time; runs
    nothing. Refuses (exit 2), as `sweep run` would, a sweep whose runs cannot fit in memory."""
    from lmscale.store import Store, default_store_path
    from lmscale.sweep.driver import check_memory
    from lmscale.sweep.expand import expand
    from lmscale.sweep.local import plan_resources
    from lmscale.sweep.presets import resolve
    from lmscale.sweep.throughput import assumed, fitted, sweep_seconds
    from lmscale.train.memory import estimate, format_bytes

    limit = use_max_memory(max_memory)
    sweep = resolve(spec)
    runs = expand(sweep, spec)
    check_memory(runs, plan_resources(len(runs), workers, 0)[0], limit)
    mem = {r.id: estimate(r.spec).total for r in runs}
    path = store or default_store_path()
    throughput = None
    statuses: dict[str, str] = {}
    if Path(path).exists():
        with Store(path, readonly=True) as st:
            throughput = fitted(st.runs())
            statuses = st.statuses([r.id for r in runs])
    throughput = throughput or assumed()
    n_workers, threads = plan_resources(len(runs), workers, 0)
    seconds = [throughput.seconds(r) for r in runs]
    todo = [
        s for r, s in zip(runs, seconds, strict=True) if statuses.get(r.id) not in ("completed", "diverged")
    ]
    wall = sweep_seconds(todo, n_workers)
    rows = [
        {
            "id": r.id,
            "n_layer": r.spec.shape.n_layer,
            "d_model": r.spec.shape.d_model,
            "N": r.N,
            "N_total": r.N_total,
            "D": r.D,
            "tokens_per_param": r.D / r.N,
            "steps": r.steps,
            "C_6ND": r.flops_6n,
            "C_exact": r.flops_exact,
            "own_steps": r.steps if r.own_steps is None else r.own_steps,  # a branch: not its shared trunk
            "est_seconds": s,
            "est_memory_bytes": mem[r.id],
            "status": statuses.get(r.id, "new"),
            **{k: v for k, v in r.coords.items()},
        }
        for r, s in zip(runs, seconds, strict=True)
    ]
    summary = {
        "study": sweep.name,
        "design": sweep.design,
        "runs": len(runs),
        "runs_to_do": len(todo),
        "total_C_6ND": sum(r.spent_6n for r in runs),  # a shared trunk counted once
        "total_C_exact": sum(r.spent_exact for r in runs),
        "workers": n_workers,
        "threads_per_run": threads,
        "est_wall_seconds": wall,
        "throughput": {
            "flops_per_s": throughput.flops_per_s,
            "step_overhead_s": throughput.step_overhead_s,
            "source": throughput.source,
        },
    }
    if json_out:
        print_json({"summary": summary, "runs": rows})
        return
    console = _console()
    table = Table(box=None, header_style="bold")
    coord_keys = sorted({k for r in runs for k in r.coords})
    for col in (
        "id",
        "shape",
        "N",
        "D",
        "D/N",
        "steps",
        "C 6ND",
        "C exact",
        *coord_keys,
        "memory",
        "est.",
        "status",
    ):
        table.add_column(col, justify="left" if col in ("id", "shape", "status") else "right")
    for r, row in zip(runs, rows, strict=True):
        table.add_row(
            r.id,
            f"{r.spec.shape.n_layer}×{r.spec.shape.d_model}",
            _human(r.N),
            _human(r.D),
            f"{r.D / r.N:.1f}",
            str(r.steps),
            _human(r.flops_6n),
            _human(r.flops_exact),
            *[
                _human(r.coords[k]) if isinstance(r.coords.get(k), float) else str(r.coords.get(k, ""))
                for k in coord_keys
            ],
            format_bytes(mem[r.id]),
            _duration(row["est_seconds"]),
            row["status"],
        )
    console.print(table)
    console.print(
        f"{sweep.name} ({sweep.design}): {len(runs)} runs, {len(todo)} to do, C(6ND) = {summary['total_C_6ND']:.3g} FLOPs, "
        f"C(exact) = {summary['total_C_exact']:.3g} FLOPs; estimated wall time {_duration(wall)} on {n_workers} "
        f"worker(s) × {threads} thread(s) ({throughput.flops_per_s:.3g} FLOP/s per run + "
        f"{throughput.step_overhead_s * 1e3:.2g} ms/step, {throughput.source})",
        highlight=False,
    )


@sweep_app.command("run")
def run(
    spec: SpecArg,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: the spec's name).")
    ] = None,
    store: StoreOpt = None,
    executor: Annotated[
        Executor, typer.Option("--executor", help="local (a process pool) or ray (a cluster).")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (default $RAY_ADDRESS).")
    ] = None,
    workers: WorkersOpt = None,
    threads: ThreadsOpt = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also rerun runs recorded as failed.")
    ] = False,
    max_retries: Annotated[
        int, typer.Option("--max-retries", min=0, help="Ray: retries of a run whose node or worker dies.")
    ] = 2,
    max_memory: MaxMemoryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a sweep into the store. Rerun to resume: finished runs are skipped, interrupted ones resume.

    Ctrl-C (or SIGTERM) marks the runs in flight interrupted; `lmscale` exits with code 130. A sweep
    that ends with failed runs (now or earlier) names them and exits with code 1; rerun with
    --retry-failed to retry them. Nothing is written to the store before every input is checked."""
    from lmscale.errors import InputError
    from lmscale.store import default_store_path
    from lmscale.sweep import driver
    from lmscale.sweep.presets import resolve

    if study is not None and not study.strip():
        raise InputError("--study: a study needs a name (got an empty one)")
    executor_name = Executor(executor).value
    limit = use_max_memory(max_memory)
    sweep = resolve(spec)
    if executor_name == "ray":
        address = address or os.environ.get("RAY_ADDRESS")
    path = store or default_store_path()
    summary = driver.run_sweep(
        sweep,
        path,
        study=study,
        executor=executor_name,
        workers=workers,
        threads=threads,
        retry_failed=retry_failed,
        address=address,
        max_retries=max_retries,
        source=spec,
        max_memory=limit,
    )
    if json_out:
        print_json(summary.to_dict())
    else:
        done = summary.skipped - len(summary.failed_earlier)
        earlier = f" ({len(summary.failed_earlier)} earlier, not retried)" if summary.failed_earlier else ""
        Console(soft_wrap=True).print(
            f"study {summary.study}: {summary.total} runs — {done} already done, {summary.completed} completed, "
            f"{summary.diverged} diverged, {summary.failed + len(summary.failed_earlier)} failed{earlier} "
            f"in {summary.wall_time:.1f} s; store {path}",
            highlight=False,
        )
    _report_failures(summary)


def _report_failures(summary: Any) -> None:
    """A sweep with failed runs is not done: name them on stderr, say how to retry, exit 1."""
    unfinished = summary.unfinished
    if not unfinished:
        return
    for rid, why in unfinished.items():
        print(f"failed {rid}: {why}", file=sys.stderr)
    ids = ", ".join(list(unfinished)[:5]) + (", ..." if len(unfinished) > 5 else "")
    print(
        f"lmscale: {len(unfinished)} run(s) of study {summary.study} failed ({ids}); fix the cause and "
        "rerun the same command with --retry-failed to retry them",
        file=sys.stderr,
    )
    raise typer.Exit(1)
