"""The sweep driver: expand, skip what the store already has, run the rest, commit each result.

The driver is the only writer of the store. Each finished run is one transaction, committed the
moment its result arrives, so killing the driver at any point loses at most the runs in flight —
and those resume from their checkpoints (a stable run_dir per run id) on the next invocation.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lmscale.errors import InputError
from lmscale.store import Store
from lmscale.sweep.expand import PlannedRun, expand
from lmscale.sweep.progress import Progress
from lmscale.sweep.record import failure_record, result_record
from lmscale.sweep.spec import SweepSpec
from lmscale.sweep.throughput import assumed, fitted
from lmscale.sweep.worker import DEFAULT_RUNNER

FINISHED = ("completed", "diverged")


@dataclass
class SweepSummary:
    study: str
    total: int
    skipped: int = 0
    completed: int = 0
    diverged: int = 0
    failed: int = 0
    interrupted: int = 0
    wall_time: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SweepInterrupted(Exception):
    """Ctrl-C: the runs in flight were stopped and marked interrupted (a rerun resumes them)."""

    def __init__(self, summary: SweepSummary) -> None:
        super().__init__(
            f"interrupted: {summary.completed + summary.diverged} runs finished, {summary.interrupted} "
            "stopped (rerun the same command to resume them)"
        )
        self.summary = summary


@contextmanager
def driver_lock(store: Store) -> Iterator[None]:
    """One driver per store: a second one would train the same runs into the same run folders.
    An OS file lock, so a driver killed with -9 releases it."""
    path = store.path.with_name(store.path.name + ".lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            raise InputError(
                f"{store.path}: another sweep driver (pid {holder}) is running on this store"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def select(runs: list[PlannedRun], statuses: dict[str, str], retry_failed: bool) -> list[PlannedRun]:
    """Runs still to do: never started, running/interrupted (resume), failed only when asked."""
    todo = []
    for r in runs:
        status = statuses.get(r.id)
        if status in FINISHED or (status == "failed" and not retry_failed):
            continue
        todo.append(r)
    return todo


def prepare_data(runs: list[PlannedRun]) -> None:
    """Build every corpus/tokenizer/token store the runs need, once, in the driver: workers then
    only read them (no two workers tokenising the same corpus), and a bad corpus name fails the
    sweep before any training starts, as does a unique_tokens cap the training split cannot hold."""
    from lmscale.data import load_token_store

    stores: dict[tuple[Any, ...], Any] = {}
    for r in runs:
        s = r.spec
        corpora = s.resolved_tokenizer_corpora
        for name in (s.corpus, *s.eval_sets):
            key = (name, s.tokenizer, corpora)
            if key not in stores:
                stores[key] = load_token_store(name, s.tokenizer, tokenizer_corpora=corpora)
        # a unique-token cap larger than the training split fails here, before any training
        stores[(s.corpus, s.tokenizer, corpora)].unique_windows(s.context, s.unique_tokens)


def make_executor(
    executor: str,
    workers: int | None,
    runner: str,
    address: str | None,
    max_retries: int,
    threads: int | None = None,
    gpu: bool = False,
) -> Any:
    if executor == "local":
        from lmscale.sweep.local import LocalExecutor

        devices = _gpu_devices(workers) if gpu else []
        return LocalExecutor(workers=workers, devices=devices, runner=runner, threads=threads)
    if executor == "ray":
        from lmscale.sweep.ray_executor import RayExecutor

        return RayExecutor(address=address, runner=runner, max_retries=max_retries, threads=threads or 1)
    raise InputError(f"--executor: unknown executor {executor!r} (use local or ray)")


def _gpu_devices(workers: int | None) -> list[str]:
    """One CUDA device per worker when this machine has GPUs (the RunSpec must ask for cuda)."""
    try:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no usable torch/CUDA means CPU workers
        n = 0
    return [f"cuda:{i}" for i in range(n)][: workers or n]


def run_sweep(
    spec: SweepSpec,
    store: Store,
    study: str | None = None,
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    address: str | None = None,
    max_retries: int = 2,
    runner: str = DEFAULT_RUNNER,
    live: bool | None = None,
    source: str = "spec",
) -> SweepSummary:
    """Run every run of `spec` not yet in `store` (study defaults to the spec's name).

    workers: concurrent runs (default one per core, or per GPU); threads: CPU threads per run
    (default cores // workers). Threads change float summation order, so a run resumed with other
    threads matches an uninterrupted one to ~1e-6, not to the bit."""
    return run_sweeps(
        [(spec, study or spec.name, source)],
        store,
        executor=executor,
        workers=workers,
        threads=threads,
        retry_failed=retry_failed,
        address=address,
        max_retries=max_retries,
        runner=runner,
        live=live,
    )


def run_sweeps(
    sweeps: list[tuple[SweepSpec, str, str]],
    store: Store,
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    address: str | None = None,
    max_retries: int = 2,
    runner: str = DEFAULT_RUNNER,
    live: bool | None = None,
) -> SweepSummary:
    """Several sweeps (spec, study, source) in one driver: their runs share one pool of workers
    (one driver per store), a run two studies both need is trained once and linked to both."""
    with driver_lock(store):
        studies_of: dict[str, list[str]] = {}
        planned: dict[str, PlannedRun] = {}
        for spec, study, source in sweeps:
            runs = expand(spec, source)
            store.ensure_study(study, spec.model_dump(mode="json"))
            for r in runs:
                planned.setdefault(r.id, r)
                studies_of.setdefault(r.id, []).append(study)
        statuses = store.statuses(list(planned))
        todo = select(list(planned.values()), statuses, retry_failed)
        for _, study, _ in sweeps:  # runs another study trained
            store.link(study, [i for i, s in studies_of.items() if study in s and i in statuses])
        names = ", ".join(dict.fromkeys(study for _, study, _ in sweeps))
        summary = SweepSummary(names, len(planned), skipped=len(planned) - len(todo))
        if not todo:
            return summary
        if len(sweeps) > 1:  # several sweeps: longest runs first, so none is left running alone at the end
            todo.sort(key=lambda r: -r.flops_exact)
        # GPU runs need the spec to ask for cuda; CPU sweeps never hand out GPUs.
        wants_gpu = any(r.spec.device.startswith("cuda") for r in todo)
        prepare_data(todo)
        exe = make_executor(executor, workers, runner, address, max_retries, threads, gpu=wants_gpu)
        throughput = fitted(store.runs()) or assumed()
        estimates = {r.id: throughput.seconds(r) for r in todo}
        in_flight: dict[str, float] = {}
        t0 = time.time()
        slots = workers or 1
        if executor == "local":
            from lmscale.sweep.local import plan_resources

            slots = plan_resources(len(todo), workers, len(exe.devices))[0]
        progress = Progress(len(planned), summary.skipped, estimates, slots, live=live)

        def on_start(run: PlannedRun) -> None:
            in_flight[run.id] = time.time()
            store.mark_running(studies_of[run.id][0], run.id, run.spec.to_dict())
            progress.start(run)

        def on_finish(run: PlannedRun, kind: str, payload: Any, started: float) -> None:
            in_flight.pop(run.id, None)
            if kind == "done":
                rec = result_record(payload, started, time.time())
            else:
                rec = failure_record(run, str(payload), started)
                summary.failures[run.id] = str(payload)
            first, *others = studies_of[run.id]
            store.record_run(first, rec)  # committed now: a crash after this line loses nothing
            for other in others:
                store.link(other, [run.id])
            setattr(summary, rec.status, getattr(summary, rec.status) + 1)
            progress.finish(run, rec.status, rec.loss, rec.error if rec.status == "failed" else None)

        try:
            with progress:
                exe.run(todo, store.run_dir, on_start, progress.event, on_finish, progress.refresh)
        except KeyboardInterrupt:
            store.mark(
                list(in_flight), "interrupted", "stopped by Ctrl-C; a rerun resumes from the checkpoint"
            )
            summary.interrupted = len(in_flight)
            summary.wall_time = time.time() - t0
            raise SweepInterrupted(summary) from None
        summary.wall_time = time.time() - t0
        return summary
