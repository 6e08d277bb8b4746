"""`lmscale report` from the command line: outputs, and one-line errors with exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from report_synth import demo_study, write_store

# Run `lmscale report` through the real entry point (lmscale.cli.main.main: InputError → one line, exit 2),
# registering only this command so the test does not depend on other commands' modules; torch is made
# unimportable so any import of it fails the run.
RUNNER = (
    "import sys; sys.modules['torch'] = None\n"
    "import lmscale.cli.main as m\n"
    "m._COMMAND_MODULES = ('report',)\n"
    "m.main(sys.argv[1:])\n"
)


def lmscale(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    d = demo_study()
    folder = tmp_path_factory.mktemp("csv")
    d["runs"].to_csv(folder / "runs.csv", index=False)
    d["curves"].to_csv(folder / "curves.csv", index=False)
    return folder


@pytest.mark.slow
def test_runs_and_curves_to_html(csvs, tmp_path):
    out = tmp_path / "r.html"
    p = lmscale(
        "report",
        "--runs",
        csvs / "runs.csv",
        "--curves",
        csvs / "curves.csv",
        "-o",
        out,
        "--bootstrap",
        "3",
        "--target-flops",
        "1e18",
        "--overlay",
        "hoffmann2022",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert out.is_file() and info["size_bytes"] == out.stat().st_size
    assert {"learning_curves", "isoflop", "single_laws"} <= set(info["figures"])
    assert "was trained at 3 or more aspect ratios" in info["skipped"]["Shape study"]
    assert "1.00e18 FLOPs" in out.read_text()


@pytest.mark.slow
def test_png_format(csvs, tmp_path):
    p = lmscale(
        "report", "--runs", csvs / "runs.csv", "-o", tmp_path / "figs", "--format", "png", "--bootstrap", "0"
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "figs" / "isoflop.png").is_file()
    assert "wrote" in p.stdout and "not shown: Learning curves" in p.stdout


@pytest.mark.slow
def test_study_from_store_with_failed_run(tmp_path):
    db = tmp_path / "s.db"
    write_store(db, failed=1)
    out = tmp_path / "s.html"
    p = lmscale("report", "--study", "demo", "--store", db, "-o", out, "--bootstrap", "0", "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert {"learning_curves", "transfer", "position_loss", "isoflop"} <= set(info["figures"])
    # One batch size only: the critical-batch figure says why it is missing.
    assert "3 or more batch sizes" in info["skipped"]["Critical batch size"]
    html = out.read_text()
    assert "crashed0" in html and "1 run was left out: 1 with status failed" in html


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --study, --runs or --reference"),
        (["--reference", "epoch2024", "--runs", "{runs}"], "give exactly one of"),
        (["--runs", "{dir}/missing.csv"], "--runs {dir}/missing.csv: no such file"),
        (["--runs", "{bad}"], "missing column(s) loss"),
        (["--runs", "{runs}", "--overlay", "gpt4"], "--overlay: unknown law 'gpt4'"),
        (["--runs", "{runs}", "--format", "pdf"], "'pdf' is not one of 'html', 'png'"),
        (["--runs", "{runs}", "--bootstrap", "-1"], "Invalid value for '--bootstrap'"),
        (["--runs", "{runs}", "--target-flops", "0"], "--target-flops must be a positive number"),
        (["--reference", "epoch2024", "--curves", "{runs}"], "--curves goes with --runs"),
        (["--reference", "chinchilla"], "--reference: unknown data set 'chinchilla'"),
        (["--study", "nope", "--store", "{dir}/none.db"], "no such store file"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, csvs, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("N,D\n1e6,1e8\n")
    fill = {"runs": csvs / "runs.csv", "dir": tmp_path, "bad": bad}
    argv = [a.format(**fill) for a in args]
    p = lmscale("report", *argv, "-o", tmp_path / "x.html")
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: error: ")
    assert message.format(**fill) in lines[0]
    assert not (tmp_path / "x.html").exists()


def test_output_is_a_folder(csvs, tmp_path):
    p = lmscale("report", "--runs", csvs / "runs.csv", "-o", tmp_path, "--bootstrap", "0")
    assert p.returncode == 2 and "is a folder" in p.stderr


def test_real_entry_point_registers_report(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "lmscale", "report", "--help"], capture_output=True, text=True, timeout=120
    )
    assert p.returncode == 0, p.stderr[-500:]
    assert "--target-flops" in p.stdout
