"""Bad input gives one line and exit code 2; the CLI's JSON keys; fit JSON round trip."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import runs

from lmscale.cli.main import main
from lmscale.errors import InputError
from lmscale.fit import FitResult, fit, get_law, load_law, validate_runs


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def good_csv(tmp_path):
    path = tmp_path / "runs.csv"
    runs("chinchilla", 0.005, seed=1).to_csv(path, index=False)
    return path


def write(tmp_path, df: pd.DataFrame, name: str = "bad.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def bad_tables() -> list[tuple[str, pd.DataFrame, str]]:
    base = runs("chinchilla", 0.0)
    nan = base.copy()
    nan.loc[3, "loss"] = np.nan
    neg = base.copy()
    neg.loc[5, "N"] = -1.0
    zero = base.copy()
    zero.loc[0, "D"] = 0.0
    dup = pd.concat([base, base.iloc[[7]]], ignore_index=True)
    text = base.astype({"loss": object})
    text.loc[2, "loss"] = "abc"
    return [
        ("nan", nan, "column 'loss' data row 4: missing or NaN"),
        ("negative", neg, "column 'N' data row 6: -1 must be positive"),
        ("zero", zero, "column 'D' data row 1: 0 must be positive"),
        ("duplicate", dup, "data row 37 duplicates data row 8"),
        ("text", text, "column 'loss' data row 3: 'abc' is not a finite number"),
        ("too few", base.iloc[[0, 7, 14, 21, 28]], "5 free parameters but the table has only 5 runs"),
        ("single size", base[base["N"] == base["N"].iloc[0]], "column 'N' has a single model size"),
        ("missing", base.drop(columns=["D"]), "missing column(s) 'D'"),
    ]


@pytest.mark.parametrize("case", bad_tables(), ids=lambda c: c[0])
def test_bad_tables_python_and_cli(case, tmp_path, capsys):
    _, df, message = case
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_runs(df, "chinchilla")
    code, out, err = run_cli(capsys, "fit", str(write(tmp_path, df)), "--bootstrap", "0")
    lines = err.strip().splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("lmscale: error: ") and message in lines[0], err
    assert "bad.csv" in lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--form", "nope"], "unknown form 'nope'"),
        (["--fix", "E"], "--fix 'E': expected NAME=VALUE"),
        (["--fix", "Q=1"], "has no parameter 'Q'"),
        (["--fix", "E=abc"], "is not a number"),
        (["--bound", "E=2,1"], "lower 2.0 must be below upper 1.0"),
        (["--prior", "E=1.7,0"], "standard deviation must be positive"),
        (["--starts", "sometimes"], "--starts must be varpro, grid or a number"),
        (["--huber-delta", "0"], "--huber-delta must be positive"),
        (["--bootstrap", "-1"], "--bootstrap must be >= 0"),
        (["--backtest"], "exactly one --cutoff"),
        (["--backtest", "--cutoff", "1e30"], "leaves no held-out runs"),
        (["--drop-outliers"], "--drop-outliers applies to --reference"),
        (["--isoflop-budgets", "1e18,abc"], "--isoflop-budgets: expected FLOP values separated by commas"),
        (["--isoflop-budgets", "1e18,-1"], "--isoflop-budgets: every budget must be a positive number"),
        (["--isoflop-budgets", "1e18", "--isoflop-groups", "3"], "not both"),
        (["--tie-exponents", "--form", "power"], "has no pair of exponents"),
    ],
)
def test_bad_flags(args, message, good_csv, capsys):
    code, _, err = run_cli(capsys, "fit", str(good_csv), "--bootstrap", "0", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_missing_file_and_no_source(tmp_path, capsys):
    code, _, err = run_cli(capsys, "fit", str(tmp_path / "none.csv"))
    assert code == 2 and "none.csv: no such file" in err
    code, _, err = run_cli(capsys, "fit")
    assert code == 2 and "exactly one of RUNS" in err
    garbage = tmp_path / "g.csv"
    garbage.write_bytes(b"\xff\xfe\x00bad")
    code, _, err = run_cli(capsys, "fit", str(garbage))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_json_keys_chinchilla(good_csv, capsys):
    code, out, _ = run_cli(capsys, "fit", str(good_csv), "--bootstrap", "30", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert set(d["ci"]) >= set(d["params"]) | {"a", "b"}
    assert all(len(v) == 2 and v[0] <= v[1] for v in d["ci"].values())
    # A CSV says nothing about what N and C count unless --n/--c do.
    assert d["conventions"]["n"] == "unknown" and d["conventions"]["c"] == "unknown"
    assert {"a", "b", "G"} <= set(d["derived"])
    assert d["n_points"] == 36
    assert d["starts"]["n_starts"] >= d["starts"]["n_reached_best"] >= 1
    assert isinstance(d["warnings"], list) and 0.9 < d["r2_log"] <= 1
    assert d["derived"]["a"] == pytest.approx(
        d["params"]["beta"] / (d["params"]["alpha"] + d["params"]["beta"])
    )


def test_json_keys_kaplan_nd_via_subprocess(tmp_path):
    path = write(tmp_path, runs("kaplan-nd", 0.005, seed=2), "k.csv")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lmscale",
            "fit",
            str(path),
            "--form",
            "kaplan-nd",
            "--bootstrap",
            "20",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    d = json.loads(proc.stdout)
    assert set(d["params"]) == {"N_c", "D_c", "alpha_N", "alpha_D"}
    assert set(d["ci"]) == set(d["params"]) | set(d["derived"])  # kaplan-nd derives an allocation too
    assert d["n_points"] == 36


def test_table_output_and_reference(capsys):
    code, out, _ = run_cli(capsys, "fit", "--reference", "epoch2024", "--drop-outliers", "--bootstrap", "0")
    assert code == 0 and "240 runs" in out and "alpha" in out and "8/8" in out


def test_muennighoff_reference_prints_the_r_d_profile(capsys):
    """Muennighoff et al.'s runs ship too; with their base law the fit prints R_D*'s profile and
    its basins (near 15.8, 50 and 95), because R_D* is not identified."""
    code, out, _ = run_cli(
        capsys, "fit", "--reference", "muennighoff2023", "--form", "data-constrained",
        "--base", "muennighoff2023", "--bootstrap", "0",
    )
    flat = " ".join(out.split())
    assert code == 0 and "182 runs" in flat and "profile of R_D_star" in flat
    assert "15.81 (basin)" in flat and "95.37 (basin)" in flat
    code, _, err = run_cli(capsys, "fit", "--reference", "muennighoff2023", "--drop-outliers")
    assert code == 2 and "applies to --reference epoch2024" in err


def test_fit_json_round_trip(good_csv, tmp_path, capsys):
    out_path = tmp_path / "fit.json"
    code, _, _ = run_cli(
        capsys, "fit", str(good_csv), "--bootstrap", "40", "--fix", "E=1.69", "-o", str(out_path)
    )
    assert code == 0
    loaded = FitResult.from_json(out_path)
    assert loaded.params["E"] == 1.69 and loaded.settings["fixed"] == {"E": 1.69}
    assert loaded.draws.shape == (40, 5)
    again = FitResult.from_json(loaded.to_json())
    assert again.params == loaded.params and again.ci == loaded.ci
    # A saved fit works as a law: same predictions, intervals from its draws.
    law = load_law(out_path)
    assert isinstance(law, FitResult)
    assert get_law(str(out_path)).predict(N=1e9, D=2e10) == pytest.approx(loaded.predict(N=1e9, D=2e10))
    lo, hi = law.interval("confidence", N=[1e9, 1e11], D=[2e10, 1e12])
    assert np.all(lo < law.predict(N=[1e9, 1e11], D=[2e10, 1e12])) and np.all(hi > lo)


def test_bad_fit_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(InputError, match="not a JSON document"):
        load_law(bad)
    with pytest.raises(InputError, match="no such"):
        FitResult.from_json(tmp_path / "none.json")


def test_interval_without_bootstrap_is_an_input_error():
    res = fit(runs("power", 0.0), "power", bootstrap=0)
    with pytest.raises(InputError, match="no bootstrap draws"):
        res.interval(N=1e9)


def test_cli_data_constrained_with_published_base(tmp_path, capsys):
    from synthetic_runs import TRUTH, design

    from lmscale.fit import Law

    df = design("data-constrained")
    df["loss"] = Law("data-constrained", TRUTH["data-constrained"]).predict(N=df["N"], D=df["D"], U=df["U"])
    path = write(tmp_path, df, "dc.csv")
    args = [
        "fit",
        str(path),
        "--form",
        "data-constrained",
        "--base",
        "hoffmann2022",
        "--bootstrap",
        "0",
        "--json",
    ]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    d = json.loads(out)
    assert d["params"]["R_D_star"] == pytest.approx(15.4, rel=1e-6)
    assert d["params"]["E"] == 1.69


def test_parallel_bootstrap_equals_serial():
    df = runs("power", 0.01, seed=9)
    serial = fit(df, "power", bootstrap=64, seed=3, n_jobs=1)
    parallel = fit(df, "power", bootstrap=64, seed=3, n_jobs=2)
    np.testing.assert_allclose(parallel.draws, serial.draws, rtol=1e-9)
    assert parallel.ci == serial.ci


def test_conventions_flags(good_csv, tmp_path, capsys):
    """--n/--c record what N and C count, in --json and in the -o file; a reference has its own."""
    out_path = tmp_path / "fit.json"
    code, out, err = run_cli(
        capsys, "fit", str(good_csv), "--bootstrap", "0", "--n", "total", "--c", "6nd", "--json", "-o", str(out_path)
    )
    assert code == 0, err
    assert json.loads(out)["conventions"]["n"] == "total"
    saved = FitResult.from_json(out_path)
    assert (saved.conventions.n, saved.conventions.c) == ("total", "6ND")
    code, out, _ = run_cli(capsys, "fit", "--reference", "epoch2024", "--bootstrap", "0", "--json")
    assert code == 0 and json.loads(out)["conventions"]["n"] == "total"
    code, _, err = run_cli(capsys, "fit", "--reference", "epoch2024", "--n", "non-embedding")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "counts total parameters" in err
    code, _, err = run_cli(capsys, "fit", str(good_csv), "--n", "some")
    assert code == 2


def _file(path, content: bytes):
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d, "is a folder, not a table file"),
        (lambda d: _file(d / "runs.csv", b"PAR1\x00\x15\x04binary"), "a binary file"),
        (lambda d: _file(d / "r.csv", b"\xff\xfe\x00bad"), "a binary file"),
        (lambda d: _file(d / "e.csv", b""), "cannot read as a table"),
        (lambda d: d / "none.csv", "none.csv: no such file"),
    ],
    ids=["folder", "parquet-named-csv", "binary", "empty", "missing"],
)
def test_table_loader_one_line_errors(make, message, tmp_path, capsys):
    from lmscale.store.tables import read_table

    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as exc:
        read_table(path, "--runs")
    assert "\n" not in str(exc.value) and str(exc.value).startswith(f"--runs {path}: ")
    code, out, err = run_cli(capsys, "fit", str(path), "--bootstrap", "0")
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1 and message in lines[0], err


def test_numeric_column_names_column_and_row():
    from lmscale.store.tables import numeric_column

    df = pd.DataFrame({"N": ["1e6", "abc", "2e6"], "D": [1.0, np.nan, -2.0]})
    with pytest.raises(InputError, match="^runs: column 'N' data row 2: 'abc' is not a number$"):
        numeric_column(df, "N", "runs")
    assert np.isnan(numeric_column(df, "D")[1])  # missing values pass unless positive
    with pytest.raises(InputError, match="^column 'D' data row 2: missing or NaN$"):
        numeric_column(df, "D", positive=True)
    with pytest.raises(InputError, match="^column 'D' data row 3: -2 must be positive$"):
        numeric_column(df.fillna({"D": 1.0}), "D", positive=True)


def test_curves_alone_with_a_form_that_needs_runs(tmp_path, capsys):
    curves = tmp_path / "curves.csv"
    curves.write_text("run,N,tokens,C,loss\nr1,1e6,1e6,6e12,3.0\n")
    code, _, err = run_cli(capsys, "fit", "--curves", str(curves), "--form", "chinchilla")
    assert code == 2 and err.strip() == (
        "lmscale: error: --form chinchilla fits final runs: give RUNS, --reference or --study "
        "(--curves alone serves approach1 and frontier)"
    )
    code, _, err = run_cli(capsys, "fit", "--curves", str(curves), "--form", "approach1", "--bootstrap", "0")
    assert code == 2 and "every point has the same compute C = 6e+12" in err and len(err.strip().splitlines()) == 1
