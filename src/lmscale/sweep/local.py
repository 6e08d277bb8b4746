"""Local executor: a pool of spawned worker processes, one run per process at a time.

The driver (this process) hands out runs, GPUs (one per worker) and CPU threads, receives
results over pipes and calls `hooks.on_finish` for each one at once (the caller commits it to the
store). Workers are long-lived so the torch import (seconds) is paid once per worker, not per
run. A worker that dies (OOM, kill -9) fails only its current run and is replaced.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from lmscale.sweep.expand import PlannedRun
from lmscale.sweep.hooks import RunHooks
from lmscale.sweep.worker import DEFAULT_RUNNER, worker_main


def cpu_cores() -> int:
    """Cores this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def plan_resources(
    n_runs: int, workers: int | None, gpus: int, cores: int | None = None, threads: int | None = None
) -> tuple[int, int]:
    """(workers, threads per run): one run per core (or GPU), one thread per run unless asked.

    DESIGN.md measurements: one thread per run and one run per core beats 2-thread runs for small
    models, and a 2-thread OpenMP run stalls 3-25x when another process loads a core (a lone run
    resumed with 2 threads took 10x longer than in its 2-worker sweep). One thread also keeps a
    resumed run's float summation order, so its numbers match an uninterrupted run's to the bit."""
    cores = cores or cpu_cores()
    if workers is None:
        workers = gpus if gpus > 0 else cores
    workers = max(1, min(workers, n_runs)) if n_runs else 1
    if gpus > 0:
        workers = min(workers, gpus)
    return workers, threads or 1


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    device: str | None
    run: PlannedRun | None = None
    started: float = 0.0


class LocalExecutor:
    """Run PlannedRuns on this machine. `devices`: one device string per worker (e.g. ["cuda:0",
    "cuda:1"]) or None for CPU workers."""

    name = "local"

    def __init__(
        self,
        workers: int | None = None,
        devices: list[str] | None = None,
        runner: str = DEFAULT_RUNNER,
        cores: int | None = None,
        threads: int | None = None,
    ) -> None:
        self.requested = workers
        self.devices = devices or []
        self.runner = runner
        self.cores = cores
        self.requested_threads = threads
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []

    def _spawn(self, device: str | None, threads: int) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        if device and device.startswith("cuda"):
            env["CUDA_MODULE_LOADING"] = "LAZY"
        proc = self._ctx.Process(target=worker_main, args=(child, os.getpid(), env), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc, parent, device)

    def run(self, runs: list[PlannedRun], hooks: RunHooks) -> None:
        """Train `runs` on the worker processes, calling `hooks` as they go."""
        workers, threads = plan_resources(
            len(runs), self.requested, len(self.devices), self.cores, self.requested_threads
        )
        self.threads = threads
        pending = deque(runs)
        devices = self.devices or [None] * workers
        self._workers = [self._spawn(devices[i], threads) for i in range(workers)]
        try:
            while pending or any(w.run is not None for w in self._workers):
                for w in self._workers:
                    if w.run is None and pending:
                        run = pending.popleft()
                        spec = run.spec.with_(threads=threads, device=w.device or run.spec.device)
                        hooks.on_start(run)
                        w.run, w.started = run, time.time()
                        w.conn.send(("run", spec.to_dict(), str(hooks.run_dir(run.id)), self.runner))
                busy = [w for w in self._workers if w.run is not None]
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.25)
                for w in busy:
                    if w.conn in ready or w.proc.sentinel in ready:
                        self._drain(w, hooks)
                hooks.tick()
        finally:
            self.shutdown()

    def _drain(self, w: _Worker, hooks: RunHooks) -> None:
        try:
            while w.run is not None and w.conn.poll():
                msg = w.conn.recv()
                if msg[0] == "event":
                    hooks.on_event(msg[1], msg[2])
                elif msg[0] in ("done", "error"):
                    run, w.run = w.run, None
                    hooks.on_finish(run, msg[0], msg[2], w.started)
        except (EOFError, OSError):
            pass
        if w.run is not None and not w.proc.is_alive():
            w.proc.join()
            run, w.run = w.run, None
            hooks.on_finish(run, "error", f"worker process died (exit code {w.proc.exitcode})", w.started)
            fresh = self._spawn(w.device, self.threads)
            w.proc, w.conn = fresh.proc, fresh.conn

    def shutdown(self) -> None:
        """Stop every worker: politely when idle, SIGTERM when busy (its checkpoint lets a rerun resume)."""
        for w in self._workers:
            if w.proc.is_alive():
                if w.run is None:
                    with contextlib.suppress(BrokenPipeError, OSError):
                        w.conn.send(None)
                else:
                    w.proc.terminate()
        deadline = time.time() + 10
        for w in self._workers:
            w.proc.join(max(0.1, deadline - time.time()))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self._workers = []

    def running(self) -> list[PlannedRun]:
        return [w.run for w in self._workers if w.run is not None]
