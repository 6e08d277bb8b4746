"""One training run, done the way the scaling-laws literature does it: `run(spec) -> RunResult`.

Imports torch lazily through `run`; `RunSpec` and the schedules import without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmscale.train.spec import RunSpec

if TYPE_CHECKING:
    from lmscale.train.result import RunResult

__all__ = ["RunResult", "RunSpec", "run"]


def run(spec: RunSpec, run_dir: Any = None, on_event: Any = None, data: Any = None) -> RunResult:
    """See `lmscale.train.loop.run`; a spec with a `command` runs it (`lmscale.train.external.run`)."""
    if spec.command is not None:
        from lmscale.train.external import run as run_command

        return run_command(spec, run_dir=run_dir, on_event=on_event)
    from lmscale.train.loop import run as _run

    return _run(spec, run_dir=run_dir, on_event=on_event, data=data)


def __getattr__(name: str) -> Any:
    if name == "RunResult":
        from lmscale.train.result import RunResult

        return RunResult
    raise AttributeError(name)
