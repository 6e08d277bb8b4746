"""Entry point: `lmscale ...`. Bad input becomes one line on stderr and exit code 2."""

from __future__ import annotations

import importlib
import sys

from lmscale.cli.app import app
from lmscale.errors import InputError

# Each module registers its commands on `app` when imported.
_COMMAND_MODULES = ("count", "data", "train", "sweep", "runs", "fit", "plan", "report", "demo", "replicate")


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(f"lmscale.cli.{name}")
        except ModuleNotFoundError as exc:  # command module not written yet
            if exc.name != f"lmscale.cli.{name}":
                raise


def main(argv: list[str] | None = None) -> None:
    _register_commands()
    try:
        app(args=argv, prog_name="lmscale", standalone_mode=True)
    except InputError as exc:
        print(f"lmscale: error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
