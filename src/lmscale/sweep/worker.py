"""The worker process of the local executor: runs one training run at a time, sent by the driver.

Protocol over a duplex Pipe. Driver -> worker: ("run", spec_dict, run_dir, runner) or None (stop).
Worker -> driver: ("event", run_id, dict), then ("done", run_id, RunResult) or
("error", run_id, "Type: message", traceback). Workers ignore Ctrl-C (the driver stops them) and
exit on their own when the driver dies (kill -9): nothing is left training for nobody.
"""

from __future__ import annotations

import importlib
import os
import signal
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

from lmscale.processes import die_with_parent

DEFAULT_RUNNER = "lmscale.train:run"


def load_runner(ref: str) -> Any:
    """'module:function' -> the function (tests inject faulty runners this way)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr or "run")


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def worker_main(conn: Connection, parent_pid: int, env: dict[str, str]) -> None:
    # The kernel stops this worker when the driver dies (Linux); the watcher thread is the
    # fallback elsewhere, and where a long native call keeps Python from running it.
    die_with_parent(parent=parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    from lmscale.train.spec import RunSpec

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        _, spec_dict, run_dir, runner = task
        spec = RunSpec.from_dict(spec_dict)
        run_id = spec.id

        def on_event(event: dict[str, Any], run_id: str = run_id) -> None:
            conn.send(("event", run_id, event))

        try:
            result = load_runner(runner)(spec, run_dir=run_dir, on_event=on_event)
            result.run_dir = None  # a Path is fine to pickle, but the driver knows it already
            conn.send(("done", run_id, result))
        except (BrokenPipeError, EOFError):
            return  # the driver is gone
        except BaseException as exc:  # a run that raises is recorded as failed; the worker lives on
            msg = " ".join(f"{type(exc).__name__}: {exc}".split())
            try:
                conn.send(("error", run_id, msg, traceback.format_exc()))
            except (BrokenPipeError, OSError):
                return
