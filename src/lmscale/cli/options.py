"""Options and checks that several commands share, declared once so they read the same everywhere.

Use them as parameter annotations::

    from lmscale.cli.options import JsonOpt, StoreOpt, output_option

    ReportOutput = output_option("HTML file to write (a folder with --format png).")

    @app.command("report")
    def report(output: ReportOutput, store: StoreOpt = None, as_json: JsonOpt = False) -> None: ...

- `StoreOpt`   `--store PATH`: the run store (None: $LMSCALE_STORE or <home>/lmscale.db).
- `JsonOpt`    `--json`: print one JSON document on stdout instead of text.
- `OutputOpt`  `-o/--output PATH`: what the command writes; `output_option(help)` gives the same
               option with the command's own help (a file for one command, a folder for another).
- `OldOutOpt`  a hidden `--out PATH`, the old spelling kept where published docs still use it.
- `WorkersOpt`, `ThreadsOpt`: `--workers N` and `--threads N` of the commands that train.
- `choice(name, values)`: a str Enum; typer shows its values in --help and rejects the rest.
- `exactly_one({flag: value})`, `at_most_one({flag: value})`: mutually exclusive flags, which
  typer cannot declare; they raise `InputError` naming the flags.

Typer checks types, ranges (min=/max=) and choices itself; `lmscale.cli.main` prints what it
rejects as one line (`lmscale: error: ...`, exit code 2), like an `InputError`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from lmscale.errors import InputError
from lmscale.model.shape import Family

OUTPUT_FLAGS = ("-o", "--output")

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", metavar="PATH", help="Run store (default $LMSCALE_STORE or <home>/lmscale.db)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]


def output_option(help: str) -> Any:
    """`-o/--output PATH` with a command's own help text (what it writes there)."""
    return Annotated[Path, typer.Option(*OUTPUT_FLAGS, metavar="PATH", help=help)]


OutputOpt = output_option("File or folder to write.")
OldOutOpt = Annotated[
    Path | None, typer.Option("--out", metavar="PATH", hidden=True, help="Old spelling of -o/--output.")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", min=1, help="Concurrent runs (default: one per core, or per GPU)."),
]
ThreadsOpt = Annotated[
    int | None, typer.Option("--threads", min=1, help="CPU threads per run (default: cores / workers).")
]


def choice(name: str, values: Any) -> Any:
    """A str Enum of `values` (or of a Literal type's values): typer treats it as a choice.

    An Enum rather than a Literal because typer understands Literal only in recent releases.
    Commands read the chosen string as `.value`."""
    values = get_args(values) or tuple(values)
    return Enum(name, [(v, v) for v in values], type=str)


FamilyChoice = choice("FamilyChoice", Family)
LossUnit = choice("LossUnit", ("loss", "bpb"))  # a loss per token, or bits per byte of text


def _given(flags: dict[str, Any]) -> list[str]:
    return [flag for flag, value in flags.items() if value is not None and value is not False]


def _listing(flags: list[str]) -> str:
    return flags[0] if len(flags) == 1 else f"{', '.join(flags[:-1])} or {flags[-1]}"


def at_most_one(flags: dict[str, Any]) -> None:
    """Raise InputError when more than one of these flags was given (None and False: not given),
    e.g. `at_most_one({"--tokens": tokens, "--tokens-per-param": per_param})`."""
    given = _given(flags)
    if len(given) > 1:
        if len(flags) == 2:
            raise InputError(f"give {_listing(list(flags))}, not both")
        raise InputError(f"give at most one of {_listing(list(flags))} (got {', '.join(given)})")


def exactly_one(flags: dict[str, Any]) -> None:
    """Raise InputError unless exactly one of these flags was given (None and False: not given)."""
    if len(_given(flags)) != 1:
        raise InputError(f"give exactly one of {_listing(list(flags))}")
