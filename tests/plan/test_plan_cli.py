"""`lmscale plan`: JSON keys, modes, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lmscale.cli.main import main
from lmscale.plan import optimal


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(["plan", *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_flops_budget_keys(capsys):
    d = run_json(capsys, "optimal", "--law", "hoffmann2022", "--flops", "5.76e23")
    for key in ("N_opt", "D_opt", "tokens_per_param", "loss", "ci", "assumptions", "budget"):
        assert key in d
    assert d["N_opt"] == pytest.approx(3.219e10, rel=1e-3)
    assert d["tokens_per_param"] == pytest.approx(d["D_opt"] / d["N_opt"])
    assert d["assumptions"]["law"]["citation"].startswith("Hoffmann")


def test_gpu_budget(capsys):
    d = run_json(
        capsys, "optimal", "--gpu", "h100", "--count", "1024", "--hours", "720", "--mfu", "0.4", "--price", "2.5"
    )
    assert d["flops"] == pytest.approx(989e12 * 0.4 * 1024 * 720 * 3600)
    assert d["budget"]["cost"] == pytest.approx(1_843_200.0)
    assert d["budget"]["hardware"]["mfu"] == 0.4
    assert d["budget"]["energy_kwh"] == pytest.approx(619_315.2)


def test_modes(capsys):
    t = run_json(capsys, "target", "2.0", "--gpu", "a100", "--count", "64", "--price", "1.5")
    assert t["mode"] == "target-loss" and t["loss"] == pytest.approx(2.0)
    assert t["hardware"]["hours"] == pytest.approx(t["flops"] / (312e12 * 0.4 * 64 * 3600))
    dl = run_json(capsys, "optimal", "--flops", "1e23", "--unique-tokens", "1e11")
    assert dl["mode"] == "data-limited" and dl["epochs"] > 1 and dl["loss_given_up"] > 0
    inf = run_json(capsys, "inference", "--flops", "1e23", "--inference-tokens", "1e13")
    assert inf["mode"] == "inference-aware" and inf["N_shift"] < 1 < inf["D_shift"]
    w = run_json(capsys, "optimal", "--flops", "1e22", "--what-if")
    assert set(w["what_if"]) == {"compute", "allocation", "marginal"}
    c = run_json(capsys, "compare")
    assert len(c["rows"]) == 12 and "kaplan2020-efficient" in {r["law"] for r in c["rows"]}
    g = run_json(capsys, "gpus")
    assert {"a100", "h100", "h200", "b200", "mi300x", "tpu-v5p"} <= {r["key"] for r in g["accelerators"]}
    k = run_json(capsys, "optimal", "--law", "kaplan2020", "--flops", "1e21")
    assert k["assumptions"]["N_is"] == "non-embedding"
    m = run_json(capsys, "optimal", "--law", "muennighoff2023", "--flops", "1e22", "--unique-tokens", "25e9")
    assert m["N_opt"] == pytest.approx(7.02e9, rel=2e-3) and m["D_opt"] == pytest.approx(2.37e11, rel=2e-3)


def _saved_fit(tmp_path, n: int = 100) -> tuple:
    """A FitResult JSON as `lmscale fit -o` writes it (kind "fit", draws in the form's order)."""
    from lmscale.fit import FitResult

    rng = np.random.default_rng(0)
    point = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
    draws = np.array([[v for v in point.values()]]) * np.exp(rng.normal(size=(n, 5)) * 0.02)
    res = FitResult(form_name="chinchilla", params=point, name="myfit", draws=draws)
    path = tmp_path / "fit.json"
    res.to_json(path)
    return path, res


def test_saved_fit_with_bootstrap(capsys, tmp_path):
    path, res = _saved_fit(tmp_path)
    d = run_json(capsys, "optimal", "--law", str(path), "--flops", "1e22")
    assert d["bootstrap_draws"] == 100
    assert d["assumptions"]["law"]["name"] == "myfit"
    lo, hi = d["ci"]["N_opt"]
    assert lo < d["N_opt"] < hi
    # the same numbers from the FitResult object itself
    direct = optimal(res, 1e22)
    assert direct.N_opt.value == pytest.approx(d["N_opt"])
    assert [direct.N_opt.low, direct.N_opt.high] == pytest.approx([lo, hi])


def test_rich_output(capsys):
    code, out, _ = run(capsys, "optimal", "--flops", "1e22", "--what-if")
    assert code == 0 and "N_opt" in out and "what if" in out and "assumptions" in out


@pytest.mark.parametrize(
    "args, match",
    [
        (["optimal", "--law", "nope2099", "--flops", "1e22"], "unknown law 'nope2099'"),
        (["optimal", "--gpu", "h900", "--hours", "10"], "unknown accelerator 'h900'"),
        (["optimal", "--flops", "-1e22"], "compute budget"),
        (["optimal", "--flops", "0"], "compute budget"),
        (["optimal", "--flops", "1e22", "--gpu", "h100", "--hours", "10"], "two ways"),
        (["optimal", "--flops", "1e22", "--gpu", "h100"], "two ways"),
        (["target", "1.5"], "irreducible"),
        (["optimal", "--gpu", "h100", "--hours", "10", "--mfu", "1.5"], "--mfu"),
        (["optimal", "--gpu", "h100", "--hours", "10", "--mfu", "0"], "MFU"),
        (["optimal", "--gpu", "h100"], "--hours"),
        (["optimal"], "no budget"),
        (["optimal", "--flops", "1e22", "--price", "2"], "--gpu"),
        (["inference", "--inference-tokens", "1e9", "--target-loss", "2", "--flops", "1e22"], "--target-loss"),
        (["compare", "--target-loss", "2", "--flops", "1e22"], "No such option: --target-loss"),  # issue 20 #13
        (["optimal", "--flops", "1e22", "--unique-tokens", "-5"], "unique tokens"),
        (["optimal", "--law", "/nonexistent/fit.json", "--flops", "1e22"], "no such"),
        (["optimal", "--flops", "abc"], "--flops"),
        (["optimal", "--law", "kaplan2020-bcrit", "--flops", "1e22"], "not a loss law"),
        (["optimal", "--law", "kaplan2020", "--flops", "1e22", "--unique-tokens", "1e9"], "Chinchilla-type"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, args, match):
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: error: "), err
    assert match in lines[0]


def test_unnamed_fit_is_named_after_its_file(tmp_path):
    from lmscale.fit import FitResult, loss_law

    path = tmp_path / "run42.json"
    FitResult(
        form_name="kaplan-nd", params={"N_c": 6e13, "D_c": 2e13, "alpha_N": 0.08, "alpha_D": 0.1}
    ).to_json(path)
    assert loss_law(str(path)).name == "run42"


def test_bad_law_file(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(capsys, "optimal", "--law", str(bad), "--flops", "1e22")
    assert code == 2 and "not a JSON document" in err and len(err.strip().splitlines()) == 1
    binary = tmp_path / "bin.json"
    binary.write_bytes(bytes(range(256)) * 4)
    code, _, err = run(capsys, "optimal", "--law", str(binary), "--flops", "1e22")
    assert code == 2 and "not a JSON document" in err and len(err.strip().splitlines()) == 1
    one_var = tmp_path / "one.json"
    one_var.write_text(json.dumps({"form": "power", "params": {"N_c": 1e13, "alpha_N": 0.07}}))
    code, _, err = run(capsys, "optimal", "--law", str(one_var), "--flops", "1e22")
    assert code == 2 and "two-variable" in err


def test_shape_for_n_opt(capsys):
    d = run_json(capsys, "optimal", "--flops", "1e17", "--shape")
    s = d["shape"]
    assert s["n_convention"] == "total parameters"  # Hoffmann's N counts embeddings
    assert abs(s["params_total"] / d["N_opt"] - 1) < 0.05
    assert s["d_model"] % s["n_head"] == 0 and s["d_model"] // s["n_head"] == 128
    assert s["flops_per_token_6n"] == 6 * s["params_non_embedding"]
