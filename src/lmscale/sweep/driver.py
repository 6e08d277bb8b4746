"""The sweep driver: expand, skip what the store already has, run the rest, commit each result.

The driver is the only writer of the store. Each finished run is one transaction, committed the
moment its result arrives, so killing the driver at any point loses at most the runs in flight —
and those resume from their checkpoints (a stable run_dir per run id) on the next invocation.
Every input (specs, memory, corpora, the executor) is checked before the first write, so a sweep
refused for bad input leaves the store as it was (and a new store uncreated).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmscale.errors import InputError
from lmscale.store import Store, default_store_path
from lmscale.store.db import StoreWriteError
from lmscale.sweep.expand import PlannedRun, branch_rank, expand
from lmscale.sweep.hooks import RunHooks
from lmscale.sweep.progress import Progress
from lmscale.sweep.record import failure_record, result_record
from lmscale.sweep.spec import SweepSpec
from lmscale.sweep.throughput import assumed, fitted
from lmscale.sweep.worker import DEFAULT_RUNNER
from lmscale.train import memory

FINISHED = ("completed", "diverged")


@dataclass
class SweepSummary:
    """What a sweep did. `skipped`: runs not run this time (finished earlier, or failed earlier and
    not retried: those are also in `failed_earlier`, id -> error). `failures`: runs that failed now."""

    study: str
    total: int
    skipped: int = 0
    completed: int = 0
    diverged: int = 0
    failed: int = 0
    interrupted: int = 0
    wall_time: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    failed_earlier: dict[str, str] = field(default_factory=dict)

    @property
    def unfinished(self) -> dict[str, str]:
        """Every run of the sweep that has no result: failed now or earlier (id -> error)."""
        return {**self.failed_earlier, **self.failures}

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

    The claim is a row inside the store (Store.claim_driver), taken in an SQLite write transaction:
    it follows the file whatever path names it (symlinks, relative spellings), cannot be lost by
    deleting a lock file, and a driver killed with -9 stops counting once its process is gone."""
    me = store.claim_driver()
    try:
        yield
    finally:
        store.release_driver(me)


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


def check_memory(runs: list[PlannedRun], slots: int, max_memory: int | None = None) -> None:
    """Refuse, in one line, a sweep whose CPU runs cannot fit in memory: the largest run alone, and
    the `slots` largest side by side (the driver starts runs small first, so the largest ones
    end up running together). GPU runs are checked by each worker against its own device."""
    sized = sorted(
        # GPU runs are checked by their worker; a command's model is its own, unknown to lmscale
        (
            (memory.estimate(r.spec), r)
            for r in runs
            if not r.spec.device.startswith("cuda") and r.spec.command is None
        ),
        key=lambda pair: -pair[0].total,
    )
    room, source = memory.budget(max_memory)
    if not sized or room <= 0:
        return
    est, run = sized[0]
    shape = run.spec.shape
    if est.total > room:
        what = f"run {run.id} ({shape.n_layer}×{shape.d_model}, batch {run.spec.batch_size})"
        raise InputError(memory.refusal(est, room, source, what))
    side_by_side = [e.total for e, _ in sized[:slots]]
    if sum(side_by_side) > room:
        fit = max(k for k in range(1, slots + 1) if sum(side_by_side[:k]) <= room)
        raise InputError(
            f"the {slots} largest runs side by side need about {memory.format_bytes(sum(side_by_side))}, "
            f"but {memory.format_bytes(room)} is {source}; use --workers {fit}, or --max-memory to override"
        )


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
    store: Store | str | os.PathLike[str] | None,
    study: str | None = None,
    source: str = "spec",
    **options: Any,
) -> SweepSummary:
    """Run every run of `spec` not yet in `store` (study defaults to the spec's name); `options` are
    those of `run_sweeps`: executor, workers, threads, retry_failed, address, max_retries, runner,
    live, max_memory."""
    if study is not None and not study.strip():
        raise InputError("--study: a study needs a name (got an empty one)")
    return run_sweeps([(spec, study or spec.name, source)], store, **options)


@dataclass
class _Plan:
    """Every run of the sweeps (by id) and the studies each belongs to (first: where it is recorded)."""

    planned: dict[str, PlannedRun]
    studies_of: dict[str, list[str]]
    sweeps: list[tuple[SweepSpec, str, str]]

    @property
    def names(self) -> str:
        return ", ".join(dict.fromkeys(study for _, study, _ in self.sweeps))


def _expand_all(sweeps: list[tuple[SweepSpec, str, str]]) -> _Plan:
    """Expand and validate every sweep; touches no store."""
    plan = _Plan({}, {}, sweeps)
    for spec, study, source in sweeps:
        if not study.strip():
            raise InputError(f"{source}: a study needs a name (got an empty one)")
        for r in expand(spec, source):
            plan.planned.setdefault(r.id, r)
            plan.studies_of.setdefault(r.id, []).append(study)
    return plan


def run_sweeps(
    sweeps: list[tuple[SweepSpec, str, str]],
    store: Store | str | os.PathLike[str] | None,
    executor: str = "local",
    workers: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    address: str | None = None,
    max_retries: int = 2,
    runner: str = DEFAULT_RUNNER,
    live: bool | None = None,
    max_memory: int | None = None,
) -> SweepSummary:
    """Several sweeps (spec, study, source) in one driver: their runs share one pool of workers
    (one driver per store), a run two studies both need is trained once and linked to both.

    `store`: an open Store, or a path (None: the default store) that is opened, and created if
    needed, only once every input has been checked: specs, memory, corpora and the executor. In
    both cases nothing is written to the store before that.

    workers: concurrent runs (default one per core, or per GPU); threads: CPU threads per run
    (default 1). Threads change float summation order, so a run resumed with other threads
    matches an uninterrupted one to ~1e-6, not to the bit."""
    plan = _expand_all(sweeps)
    options = dict(
        executor=executor, workers=workers, threads=threads, retry_failed=retry_failed, address=address,
        max_retries=max_retries, runner=runner, live=live, max_memory=max_memory,
    )  # fmt: skip
    if isinstance(store, Store):
        return _drive(plan, store, **options)  # type: ignore[arg-type]
    path = Path(store).expanduser() if store is not None else default_store_path()
    exe = None
    if not path.exists():  # a new store would hold nothing yet: check everything before creating it
        todo = list(plan.planned.values())
        exe = _checked_executor(todo, **options)  # type: ignore[arg-type]
    with Store(path) as st:
        return _drive(plan, st, exe=exe, **options)  # type: ignore[arg-type]


def _checked_executor(
    todo: list[PlannedRun],
    executor: str,
    workers: int | None,
    threads: int | None,
    address: str | None,
    max_retries: int,
    runner: str,
    max_memory: int | None,
    **_: Any,
) -> Any:
    """Check that the runs to do fit in memory and have their data, then make the executor. Runs of
    an external command bring their own model and data: lmscale can check neither."""
    builtin = [r for r in todo if r.spec.command is None]
    if executor == "local":
        from lmscale.sweep.local import plan_resources

        most = max((r.spec.gpu_count for r in todo), default=0)
        if most > 1:  # local workers hold one device each; Ray hands out several (CUDA_VISIBLE_DEVICES)
            raise InputError(
                f"runs that use {most} GPUs each need --executor ray (one machine: `ray start --head`, "
                "then --address 127.0.0.1:6379); the local executor gives each run one GPU"
            )

        check_memory(todo, plan_resources(len(todo), workers, 0, threads=threads)[0], max_memory)
    if max_memory is not None:  # each worker checks its own run against it too
        os.environ[memory.MAX_MEMORY_ENV] = str(max_memory)
    prepare_data(builtin)
    # GPU runs need the spec to ask for cuda; CPU sweeps never hand out GPUs.
    wants_gpu = any(r.spec.device.startswith("cuda") for r in todo)
    return make_executor(executor, workers, runner, address, max_retries, threads, gpu=wants_gpu)


def _drive(plan: _Plan, store: Store, exe: Any = None, **options: Any) -> SweepSummary:
    """Under the store's driver claim: skip what is done, check and start the rest, record all."""
    with driver_lock(store):
        statuses = store.statuses(list(plan.planned))
        todo = select(list(plan.planned.values()), statuses, options["retry_failed"])
        if todo and exe is None:
            exe = _checked_executor(todo, **options)
        # the first writes: every input has been checked by now
        for spec, study, _ in plan.sweeps:
            store.ensure_study(study, spec.model_dump(mode="json"))
        for _, study, _ in plan.sweeps:  # runs another study trained
            store.link(study, [i for i, s in plan.studies_of.items() if study in s and i in statuses])
        summary = SweepSummary(plan.names, len(plan.planned), skipped=len(plan.planned) - len(todo))
        summary.failed_earlier = _earlier_failures(store, plan, todo, statuses)
        if not todo:
            return summary
        if len(plan.sweeps) > 1:  # several sweeps: longest runs first, none left running alone at the end
            rank = branch_rank(todo)  # but a trunk's branches shortest first, so each reuses the last,
            todo.sort(key=lambda r: (not r.pretraining, rank[r.id], -r.flops_exact))  # pretraining first
        return _execute(plan, store, exe, todo, summary, options)


def _earlier_failures(
    store: Store, plan: _Plan, todo: list[PlannedRun], statuses: dict[str, str]
) -> dict[str, str]:
    """Runs recorded as failed and not retried this time (id -> their error)."""
    queued = {r.id for r in todo}
    ids = [i for i in plan.planned if statuses.get(i) == "failed" and i not in queued]
    if not ids:
        return {}
    runs = store.runs(status="failed")
    errors = dict(zip(runs["id"], runs["error"], strict=True))
    return {i: str(errors.get(i) or "failed") for i in ids}


def _execute(
    plan: _Plan, store: Store, exe: Any, todo: list[PlannedRun], summary: SweepSummary, options: Any
) -> SweepSummary:
    """Hand the runs to the executor and commit each result the moment it arrives."""
    throughput = fitted(store.runs()) or assumed()
    estimates = {r.id: throughput.seconds(r) for r in todo}
    in_flight: dict[str, float] = {}
    t0 = time.time()
    slots = options["workers"] or 1
    if options["executor"] == "local":
        from lmscale.sweep.local import plan_resources

        slots = plan_resources(len(todo), options["workers"], len(exe.devices))[0]
    progress = Progress(len(plan.planned), summary.skipped, estimates, slots, live=options["live"])

    def on_start(run: PlannedRun) -> None:
        in_flight[run.id] = time.time()
        store.mark_running(plan.studies_of[run.id][0], run.id, run.spec.to_dict())
        progress.start(run)

    def on_finish(run: PlannedRun, kind: str, payload: Any, started: float) -> None:
        if kind == "done":
            rec = result_record(payload, started, time.time())
        else:
            rec = failure_record(run, str(payload), started)
            summary.failures[run.id] = str(payload)
        first, *others = plan.studies_of[run.id]
        store.record_run(first, rec)  # committed now: a crash after this line loses nothing
        in_flight.pop(run.id, None)
        for other in others:
            store.link(other, [run.id])
        setattr(summary, rec.status, getattr(summary, rec.status) + 1)
        progress.finish(run, rec.status, rec.loss, rec.error if rec.status == "failed" else None)

    try:
        with progress:
            exe.run(todo, RunHooks(store.run_dir, on_start, progress.event, on_finish, progress.refresh))
    except KeyboardInterrupt:
        store.mark(list(in_flight), "interrupted", "stopped by Ctrl-C; a rerun resumes from the checkpoint")
        summary.interrupted = len(in_flight)
        summary.wall_time = time.time() - t0
        raise SweepInterrupted(summary) from None
    except StoreWriteError as exc:  # full disk, or the file turned read-only: stop, keep what is saved
        with suppress(StoreWriteError):
            store.mark(list(in_flight), "interrupted", f"the sweep stopped: {exc}")
        saved = summary.completed + summary.diverged + summary.failed
        raise StoreWriteError(
            f"{str(exc).removesuffix('; nothing was written')}; the sweep stopped: {saved} run(s) recorded, "
            f"{len(in_flight)} left to resume (fix that and rerun the same command)"
        ) from None
    summary.wall_time = time.time() - t0
    return summary
