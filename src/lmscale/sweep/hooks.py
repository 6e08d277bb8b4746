"""What an executor (local processes or Ray) calls as a sweep's runs go; the driver's hooks record
each run in the store and draw the progress display."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmscale.sweep.expand import PlannedRun


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class RunHooks:
    """run_dir(run id) → the run's folder; on_start(run) as a run is handed out; on_event(run id,
    event) for each event a run reports; on_finish(run, kind, payload, started) with kind "done"
    (payload a RunResult) or "error" (payload the reason); tick() between polls."""

    run_dir: Callable[[str], Path]
    on_start: Callable[[PlannedRun], None]
    on_event: Callable[[str, dict[str, Any]], None]
    on_finish: Callable[[PlannedRun, str, Any, float], None]
    tick: Callable[[], None] = _nothing
