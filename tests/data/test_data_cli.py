"""`lmscale data list` / `lmscale data prepare`: output, JSON, exit code 2 with one line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmscale.cli.main import main
from lmscale.data import load_token_store


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_data_list(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["data", "list", "--json"], capsys)
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == {"english", "french", "python-code", "tiny"}
    assert rows["tiny"]["installed"] and not rows["tiny"]["prepared"] and rows["tiny"]["bytes"] is None
    _run(["data", "prepare", "tiny", "--tokenizer", "byte", "--json"], capsys)
    code, out, _ = _run(["data", "list", "--json"], capsys)
    tiny = {r["name"]: r for r in json.loads(out)}["tiny"]
    assert tiny["prepared"] and tiny["bytes"] > 400_000 and tiny["documents"] > 50
    code, out, _ = _run(["data", "list"], capsys)
    assert code == 0 and "tiny" in out and "english" in out and "installed" in out


def test_data_prepare_tiny_byte(fresh_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["data", "prepare", "tiny", "--tokenizer", "byte", "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    store = load_token_store("tiny", "byte")
    assert summary["id"] == store.id
    assert summary["train_tokens"] == len(store.train) and summary["heldout_tokens"] == len(store.heldout)
    assert summary["bytes_per_token"] == 1.0 and summary["vocab_size"] == 256
    code, out, _ = _run(["data", "prepare", "tiny", "--tokenizer", "byte"], capsys)
    assert code == 0 and "heldout" in out and f"{len(store.train):,}" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["data", "prepare", "tiny", "--tokenizer", "wordpiece"], "unknown tokenizer 'wordpiece'"),
        (["data", "prepare", "/no/such/corpus"], "unknown corpus '/no/such/corpus'"),
    ],
)
def test_bad_input_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert err.startswith("lmscale: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bin_out_of_vocab_via_subprocess(tmp_path: Path) -> None:
    ids = np.full(100, 5, dtype=np.uint16)
    ids[42] = 9999
    path = tmp_path / "ids.bin"
    ids.tofile(path)
    proc = subprocess.run(
        [sys.executable, "-m", "lmscale", "data", "prepare", str(path), "--tokenizer", "bpe-4096"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"lmscale: error: {path}: token id 9999 at position 42 is >= vocab size 4096\n"
