"""`lmscale count`: JSON keys and values, tables, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from lmscale.cli.app import app
from lmscale.cli.main import main

GPT2 = ["--n-layer", "12", "--d-model", "768", "--n-head", "12", "--n-ctx", "1024", "--vocab", "50257"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    # Typer runs a lone command as the whole program; a no-op callback keeps `count` a subcommand
    # even when no other command module is importable yet (the real app gains them as they land).
    if app.registered_callback is None:
        app.callback()(lambda: None)
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_gpt2_small_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["count", *GPT2, "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["params_total"] == 124_439_808
    assert data["params_non_embedding"] == 124_439_808 - (50257 + 1024) * 768
    for key in (
        "flops_per_token_kaplan",
        "flops_per_token_6n",
        "flops_per_token_exact",
        "flops_per_token_exact_causal",
    ):
        assert data[key] > 0
    assert data["flops_per_token_6n"] == 6 * data["params_non_embedding"]
    assert data["flops_per_token_kaplan"] == 6 * data["params_non_embedding"] + 6 * 12 * 1024 * 768
    assert "flops_6n" not in data


def test_tokens_adds_run_flops(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["count", *GPT2, "--untied", "--tokens", "2e9", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["tied_embeddings"] is False
    assert data["params_total"] == 124_439_808 + 50257 * 768
    assert data["tokens"] == 2e9
    assert data["flops_6n"] == pytest.approx(2e9 * data["flops_per_token_6n"])
    assert data["flops_exact"] == pytest.approx(2e9 * data["flops_per_token_exact"])


def test_breakdown_sums_to_the_exact_count(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["count", *GPT2, "--json", "--breakdown"], capsys)
    data = json.loads(out)
    assert code == 0
    assert 3 * sum(data["forward_flops_per_token"].values()) == pytest.approx(data["flops_per_token_exact"])
    causal = data["forward_flops_per_token_causal"]
    assert 3 * sum(causal.values()) == pytest.approx(data["flops_per_token_exact_causal"])
    assert data["forward_flops_per_token"]["logits"] == 2 * 768 * 50257


def test_target_n_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["count", "--target-n", "1e5", "--aspect-ratio", "32", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["target_non_embedding"] == 1e5
    assert data["params_non_embedding"] == pytest.approx(1e5, rel=0.05)
    code, out, _ = _run(["count", "--target-n", "1e5"], capsys)
    assert code == 0 and "params_non_embedding" in out


def test_ladder_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        ["count", "--ladder", "1e3,1e4,1e5,1e6", "--tokens-per-param", "20", "--json"], capsys
    )
    rows = json.loads(out)
    assert code == 0 and [r["target_non_embedding"] for r in rows] == [1e3, 1e4, 1e5, 1e6]
    for r in rows:
        assert r["tokens"] == 20 * r["params_non_embedding"]
    code, out, _ = _run(["count", "--ladder", "1e3,1e4,1e5", "--family", "lstm"], capsys)
    assert code == 0 and "N non-emb" in out
    assert [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")] == [
        "1e+03",
        "1e+04",
        "1e+05",
    ]


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--n-layer", "2", "--d-model", "30", "--n-head", "4"], "d_model=30 is not divisible by n_head=4"),
        (["--n-layer", "0", "--d-model", "32"], "Invalid value for '--n-layer'"),
        (["--n-layer", "2", "--d-model", "32", "--d-ff", "-3"], "Invalid value for '--d-ff'"),
        (["--n-layer", "2", "--d-model", "32", "--family", "rnn"], "'rnn' is not one of 'gpt', 'lstm'"),
        (["--n-layer", "2"], "--d-model are both required"),
        ([], "give exactly one of a shape"),
        (["--target-n", "1e5", "--ladder", "1e3"], "give exactly one of a shape"),
        (["--target-n", "-1"], "target_non_embedding must be positive"),
        (["--ladder", "1e3,abc"], "'abc' is not a number"),
        (["--target-n", "1e5", "--tokens", "-1"], "tokens must be a positive finite number"),
        (["--target-n", "1e5", "--tokens", "1", "--tokens-per-param", "20"], "not both"),
        (["--target-n", "1e5", "--breakdown"], "--breakdown needs --json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["count", *argv], capsys)
    assert code == 2
    assert err.startswith("lmscale: error: ") and err.count("\n") == 1
    assert fragment in err
    assert out == ""
