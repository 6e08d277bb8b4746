"""The shared Typer application and helpers every command module uses."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from lmscale.jsonsafe import plain

app = typer.Typer(
    name="lmscale",
    help="Scaling laws for neural language models: run the experiments, fit the laws, plan, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Scaling laws for neural language models: run the experiments, fit the laws, plan, report."""


def print_json(obj: Any) -> None:
    """Print one JSON document on stdout (numpy-aware, NaN becomes null)."""
    sys.stdout.write(json.dumps(plain(obj), indent=2) + "\n")


def write_json(obj: Any, path: Any) -> None:
    """Write one JSON document to `path` (-o/--output), as print_json prints it."""
    path.write_text(json.dumps(plain(obj), indent=2) + "\n")


def json_out(obj: Any, output: Any, as_json: bool) -> bool:
    """Write `obj` to `output` when given, and print it under --json; True when printed (the command
    then shows no text)."""
    if output is not None:
        write_json(obj, output)
    if as_json:
        print_json(obj)
    return as_json
