"""What every command shares: one-line usage errors (exit 2), Ctrl-C and SIGTERM (exit 130), and
`--store`, `--json`, `-o/--output` declared once and spelled the same everywhere."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from lmscale.cli import count as count_cli
from lmscale.cli import options
from lmscale.cli.app import app
from lmscale.cli.main import INTERRUPTED, _register_commands, main
from lmscale.errors import InputError


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["count", "--d-model", "abc"], "Invalid value for '--d-model'"),
        (["count", "--d-model", "1e9"], "Invalid value for '--d-model'"),
        (["count", "--n-layer", "2", "--d-model", "32", "--family", "rnn"], "'rnn' is not one of"),
        (["count", "--bogus"], "No such option: --bogus"),
        (["sweep", "run", "demo", "--workers", "0"], "Invalid value for '--workers'"),
        (["sweep", "run", "demo", "--executor", "slurm"], "'slurm' is not one of 'local', 'ray'"),
        (["train", "--n-layer", "1", "--d-model", "16"], "Missing option '--tokens'"),
        (["train", "--n-layer", "1", "--d-model", "16", "--tokens", "1e4", "--dtype", "fp8"], "'fp8'"),
        (["runs", "--status", "weird"], "'weird' is not one of"),
        (["report", "-o", "r.html", "--runs", "r.csv", "--isoflop-budgets", "0"], "--isoflop-budgets"),
        (["demo", "--bootstrap", "-1"], "Invalid value for '--bootstrap'"),
        (["replicate", "-o", "a", "--out", "b", "--no-train"], "give -o/--output or --out, not both"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2, err
    assert err.startswith("lmscale: error: ") and err.count("\n") == 1, err
    assert fragment in err
    assert "Value error," not in err and "╭" not in err
    assert out == ""


def test_help_still_works(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["count", "--help"], capsys)
    assert code == 0 and "--n-layer" in out and err == ""
    code, out, err = run(["sweep"], capsys)  # no_args_is_help: the help, not an error line
    assert "run" in out and "error" not in err


@pytest.fixture
def interrupting_count(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """`lmscale count` whose work runs the callable put in the returned list."""
    action: list[Any] = []
    monkeypatch.setattr(count_cli, "account", lambda shape: action[0]())
    yield action


COUNT = ["count", "--n-layer", "2", "--d-model", "32"]


def test_ctrl_c_is_one_line_exit_130(interrupting_count: list[Any], capsys: pytest.CaptureFixture) -> None:
    def ctrl_c() -> None:
        raise KeyboardInterrupt

    interrupting_count.append(ctrl_c)
    code, _, err = run(COUNT, capsys)
    assert code == 130
    assert err == f"lmscale: {INTERRUPTED}\n"


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_sigterm_is_handled_like_ctrl_c(interrupting_count: list[Any], capsys: pytest.CaptureFixture) -> None:
    def sigterm() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # the handler interrupts this
        raise AssertionError("SIGTERM was not turned into an interrupt")

    before = signal.getsignal(signal.SIGTERM)
    interrupting_count.append(sigterm)
    code, _, err = run(COUNT, capsys)
    assert code == 130 and err == f"lmscale: {INTERRUPTED}\n"
    assert signal.getsignal(signal.SIGTERM) is before  # main() leaves the process as it found it


def test_interrupted_sweep_reports_its_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture
) -> None:
    from lmscale.sweep import driver

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise driver.SweepInterrupted(driver.SweepSummary("demo", 6, completed=2, interrupted=1))

    monkeypatch.setattr(driver, "run_sweep", interrupted)
    code, _, err = run(["sweep", "run", "demo", "--store", str(tmp_path / "s.db")], capsys)
    assert code == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: interrupted: 2 runs finished, 1 stopped")


def _commands() -> Iterator[tuple[str, Any]]:
    _register_commands()

    def walk(cmd: Any, path: str) -> Iterator[tuple[str, Any]]:
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, f"{path} {name}")

    yield from walk(typer.main.get_command(app), "lmscale")


def _help_of(alias: Any) -> str:
    return alias.__metadata__[0].help


def test_store_json_output_are_spelled_the_same_everywhere() -> None:
    """Every command spells these the same; the commands built on lmscale.cli.options also share
    the help text (fit and plan adopt the module separately)."""
    store_help, json_help = _help_of(options.StoreOpt), _help_of(options.JsonOpt)
    seen: dict[str, set[str]] = {"--store": set(), "--json": set(), "--output": set()}
    for path, cmd in _commands():
        module = getattr(cmd.callback, "__module__", "")
        shared_help = module not in ("lmscale.cli.fit", "lmscale.cli.plan", "lmscale.cli.predict")
        for param in cmd.params:
            names = set(param.opts) | set(param.secondary_opts)
            if names & {"--store"}:
                assert param.opts == ["--store"], path
                assert not shared_help or (param.help, param.metavar) == (store_help, "PATH"), path
                seen["--store"].add(path)
            if names & {"--json"}:
                assert param.opts == ["--json"] and param.is_flag, path
                assert not shared_help or param.help == json_help, path
                seen["--json"].add(path)
            if names & {"-o", "--output", "--out"}:
                if param.hidden:  # the old spelling, kept where published docs still use it
                    assert param.opts == ["--out"], path
                else:
                    assert param.opts == list(options.OUTPUT_FLAGS), path
                    seen["--output"].add(path)
    assert {"lmscale report", "lmscale demo", "lmscale replicate", "lmscale runs export"} <= seen["--output"]
    assert {
        "lmscale sweep plan",
        "lmscale sweep run",
        "lmscale runs",
        "lmscale runs show",
        "lmscale runs import",
        "lmscale report",
        "lmscale demo",
        "lmscale replicate",
    } <= seen["--store"]
    assert {"lmscale count", "lmscale train", "lmscale data list", "lmscale sweep presets"} <= seen["--json"]


def test_replicate_keeps_the_old_out_spelling(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """`lmscale replicate --out docs/replication` is what the Makefile and docs/replication.md run."""
    import lmscale.replicate.run as replicate_run

    got: list[Any] = []
    monkeypatch.setattr(replicate_run, "replicate", lambda names, store, out, **kw: got.append(out) or [])
    main(["replicate", "scaling", "--no-train", "--out", str(tmp_path / "a"), "--json"])
    main(["replicate", "scaling", "--no-train", "-o", str(tmp_path / "b"), "--json"])
    assert [p.name for p in got] == ["a", "b"]


def test_choices_match_the_values_the_code_accepts() -> None:
    from lmscale.cli.data import BinDtype
    from lmscale.cli.runs import RunStatus
    from lmscale.data.userfiles import BIN_DTYPES
    from lmscale.store.db import RUN_STATUSES

    assert tuple(s.value for s in RunStatus) == RUN_STATUSES
    assert tuple(d.value for d in BinDtype) == BIN_DTYPES


def test_exclusive_flag_helpers() -> None:
    options.at_most_one({"--a": None, "--b": 1})
    options.exactly_one({"--a": None, "--b": 0.0, "--c": False})  # 0.0 counts as given
    with pytest.raises(InputError, match="give --a or --b, not both"):
        options.at_most_one({"--a": 1, "--b": "x"})
    with pytest.raises(InputError, match=r"give at most one of --a, --b or --c \(got --a, --c\)"):
        options.at_most_one({"--a": 1, "--b": None, "--c": True})
    with pytest.raises(InputError, match="give exactly one of --a, --b or --c"):
        options.exactly_one({"--a": None, "--b": None, "--c": None})
