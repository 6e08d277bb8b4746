"""Entry point: `lmscale ...`, and the one place that turns failures into exit codes.

- bad input (an `InputError`, or a flag typer rejects: a type, a range, a choice, an unknown
  option): one line `lmscale: error: ...` on stderr, exit code 2;
- Ctrl-C or SIGTERM: one line on stderr, exit code 130. Commands hold no try/except for it: the
  sweep driver marks its runs interrupted on the way out, a training run resumes from its last
  checkpoint, so rerunning the same command picks up where it stopped.
"""

from __future__ import annotations

import importlib
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from lmscale.cli.app import app
from lmscale.errors import InputError

try:  # older typer runs on click; newer releases vendor click, and its errors are TyperExceptions
    from click.exceptions import ClickException as _ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    _ClickException = typer.TyperException
_USAGE_ERRORS = (getattr(typer, "TyperException", _ClickException), _ClickException)

INTERRUPTED = "interrupted; run the same command again to resume"

# Each module registers its commands on `app` when imported.
_COMMAND_MODULES = (
    "count",
    "data",
    "train",
    "sweep",
    "runs",
    "fit",
    "fit_schedule",
    "fit_transfer",
    "compare",
    "predict",
    "plan",
    "report",
    "demo",
    "replicate",
)


def _register_commands(argv: Sequence[str] = ()) -> None:
    """Import the command's own module when the command line names one, else every module (for the
    overview help and typer's message on an unknown command). Importing all of them costs over a
    second of start-up (pandas, scipy), which a refusal or a usage error should not wait for."""
    named = next((a.replace("-", "_") for a in argv if not a.startswith("-")), None)
    for name in (named,) if named in _COMMAND_MODULES else _COMMAND_MODULES:
        try:
            importlib.import_module(f"lmscale.cli.{name}")
        except ModuleNotFoundError as exc:  # command module not written yet
            if exc.name != f"lmscale.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> None:
    code = run(argv)
    if code:
        sys.exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run one command line and return its exit code (messages already printed)."""
    with _sigterm_as_ctrl_c():
        try:
            _register_commands(sys.argv[1:] if argv is None else argv)
            # standalone_mode=False: typer raises usage errors to us instead of drawing a box
            result = app(args=argv, prog_name="lmscale", standalone_mode=False)
        except KeyboardInterrupt:  # outside a command (typer converts those to exit code 130)
            return _fail(INTERRUPTED, 130)
        except InputError as exc:
            return _fail(f"error: {exc}", 2)
        except _USAGE_ERRORS as exc:
            return _usage_error(exc)
        except typer.Abort as exc:  # older typer's answer to Ctrl-C; end of input at a prompt
            if isinstance(exc.__context__, KeyboardInterrupt):
                return _fail(INTERRUPTED, 130)
            return _fail("aborted", 1)
        except Exception as exc:
            if _is_sweep_interrupt(exc):  # its message counts the runs finished and stopped
                return _fail(str(exc), 130)
            raise
    if result == 130:  # typer's answer to a KeyboardInterrupt inside a command
        return _fail(INTERRUPTED, 130)
    # without standalone mode typer returns the code of a typer.Exit, else the command's result
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def _fail(message: str, code: int) -> int:
    print(f"lmscale: {message}", file=sys.stderr)
    return code


def _usage_error(exc: Any) -> int:
    message = exc.format_message()
    code = getattr(exc, "exit_code", 2)
    if type(exc).__name__ == "NoArgsIsHelpError":  # `lmscale` or `lmscale sweep` alone: the help
        if message:  # older typer hands the help text over; newer ones have printed it already
            print(message)
        return code
    # typer words a rejected value as "Invalid value for '--x': Value error, ...": drop the noise
    message = " ".join(message.replace(": Value error, ", ": ").split())
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and code == 2:
        message = f"{message.rstrip('.')} (see {ctx.command_path} --help)"
    return _fail(f"error: {message}", code)


def _is_sweep_interrupt(exc: Exception) -> bool:
    from lmscale.sweep.driver import SweepInterrupted  # loads the store: only on this path

    return isinstance(exc, SweepInterrupted)


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (kill, timeout, a batch scheduler) stops a command the way Ctrl-C does, so the sweep
    driver marks its runs interrupted instead of dying with them recorded as running. A second
    SIGTERM during that clean-up kills at once: the store stays consistent either way."""

    def handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (main() called from a thread): leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
