"""Ray executor (`pip install lmscale[ray]`): the same runs and results table as the local executor,
spread over a Ray cluster.

Each run is one Ray task reserving `threads` CPUs (and one GPU for cuda runs); `max_retries` reruns
a task whose worker or node dies, and the run resumes from its checkpoint (run dirs must be on a
file system every node sees, as `lmscale.paths.home()` is for a one-machine cluster). Ray queues a
request no node can satisfy forever, so the executor checks every node's resources first and fails
with one line instead. A run that raises is not retried: it is recorded as failed. Per-step
progress is not streamed from Ray tasks; the live view shows counts and ETA.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from typing import Any

from lmscale.errors import InputError
from lmscale.sweep.expand import PlannedRun
from lmscale.sweep.hooks import RunHooks
from lmscale.sweep.worker import DEFAULT_RUNNER, load_runner

_FORWARD_ENV = ("LMSCALE_HOME", "OMP_NUM_THREADS")


def _task(spec_dict: dict[str, Any], run_dir: str, runner: str, env: dict[str, str]) -> tuple[str, Any]:
    """Runs inside a Ray worker: ("done", RunResult) or ("error", "Type: message")."""
    os.environ.update(env)
    from lmscale.train.spec import RunSpec

    spec = RunSpec.from_dict(spec_dict)
    try:
        result = load_runner(runner)(spec, run_dir=run_dir, on_event=None)
        result.run_dir = None
        return ("done", result)
    except Exception as exc:  # noqa: BLE001 - the run failed, not the node: record it, don't retry
        return ("error", " ".join(f"{type(exc).__name__}: {exc}".split()))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'lmscale[ray]'") from None
    return ray


def check_resources(nodes: list[dict[str, Any]], cpus: float, gpus: float) -> None:
    """InputError unless some alive node has `cpus` CPUs and `gpus` GPUs (Ray would wait forever)."""
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", n.get("alive", True))]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in alive):
        return
    best = max(alive, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
    raise InputError(
        f"ray: no node can run a task needing {cpus:g} CPU(s) and {gpus:g} GPU(s) "
        f"(largest node: {best.get('CPU', 0):g} CPU(s), {best.get('GPU', 0):g} GPU(s); {len(alive)} node(s) alive)"
    )


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        runner: str = DEFAULT_RUNNER,
        max_retries: int = 2,
        threads: int = 1,
    ) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS")
        if not self.address:
            raise InputError(
                "--executor ray needs --address HOST:PORT (or $RAY_ADDRESS) of a running Ray cluster"
            )
        self.runner = runner
        self.max_retries = max_retries
        self.threads = threads
        self.devices: list[str] = []

    def connect(self) -> Any:
        host, _, port = str(self.address).removeprefix("ray://").rpartition(":")
        if host in ("127.0.0.1", "localhost", "::1"):
            # Otherwise Ray swaps loopback for this machine's outward IP, where a loopback-only
            # cluster does not listen, and the connection hangs.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        if host and port.isdigit():
            try:  # ray.init retries an unreachable address for minutes: fail fast instead
                socket.create_connection((host, int(port)), timeout=5).close()
            except OSError as exc:
                raise InputError(f"ray: cannot reach a Ray cluster at {self.address} ({exc})") from None
        ray = _import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, log_to_driver=False, logging_level="ERROR")
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(
                    f"ray: cannot connect to {self.address} ({' '.join(str(exc).split())[:200]})"
                ) from None
        return ray

    def run(self, runs: list[PlannedRun], hooks: RunHooks) -> None:
        ray = self.connect()
        # GPUs per run: one for a built-in run on cuda, the spec's `gpus` for a command (torchrun);
        # Ray gives the task that many and sets CUDA_VISIBLE_DEVICES to them.
        check_resources(ray.nodes(), self.threads, max((r.spec.gpu_count for r in runs), default=0))
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))
        remote = ray.remote(_task)
        env = {k: os.environ[k] for k in _FORWARD_ENV if k in os.environ}
        env["OMP_NUM_THREADS"] = str(self.threads)
        pending = deque(runs)
        in_flight: dict[Any, tuple[PlannedRun, float]] = {}
        try:
            while pending or in_flight:
                while pending and len(in_flight) < slots:
                    run = pending.popleft()
                    gpus = run.spec.gpu_count
                    spec = run.spec.with_(threads=self.threads, device="cuda" if gpus else run.spec.device)
                    hooks.on_start(run)
                    task = remote.options(num_cpus=self.threads, num_gpus=gpus, max_retries=self.max_retries)
                    ref = task.remote(spec.to_dict(), str(hooks.run_dir(run.id)), self.runner, env)
                    in_flight[ref] = (run, time.time())
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for ref in ready:
                    run, started = in_flight.pop(ref)
                    try:
                        kind, payload = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - worker/node died beyond max_retries
                        kind, payload = "error", " ".join(f"{type(exc).__name__}: {exc}".split())[:500]
                    hooks.on_finish(run, kind, payload, started)
                hooks.tick()
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)
