"""Sweeps of an external training command (issue 17): the template, the metrics format, failures
with their reasons, kill -9 of the driver and of the command, and the example end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmscale import track
from lmscale.errors import InputError
from lmscale.metrics import MetricsError, read_metrics
from lmscale.model.shape import ModelShape
from lmscale.store import Store
from lmscale.sweep.driver import run_sweep
from lmscale.sweep.spec import load_spec
from lmscale.train.external import command_words
from lmscale.train.spec import RunSpec

REPO = Path(__file__).resolve().parents[2]
FAKE = Path(__file__).with_name("fake_trainer.py")
SPEC = """
name = "cmd"
sizes = [{{n_layer = 1, d_model = 16}}]
[model]
n_ctx = 16
[train]
tokenizer = "byte"
batch_size = 4
command = "{{python}} {fake} {{seed}} {{tokens}} {{run_dir}}"
{extra}
[axes]
tokens = [4096]
seed = {seeds}
"""


def spec_file(tmp_path: Path, seeds: str, extra: str = "") -> Path:
    path = tmp_path / "cmd.toml"
    path.write_text(SPEC.format(fake=FAKE, seeds=seeds, extra=extra))
    return path


def lmscale(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmscale", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}, **kw,
    )  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if sys.platform == "linux" else "R"
    return state != "Z"


def wait_for(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


# ---- the metrics format and the template ------------------------------------------------------


def test_track_writes_rows_read_metrics_checks_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.jsonl"
    monkeypatch.delenv("LMSCALE_METRICS", raising=False)
    assert track(step=1, tokens=64, eval_loss=3.0) is False  # outside lmscale: nothing, no error
    monkeypatch.setenv("LMSCALE_METRICS", str(path))
    assert track(step=1, tokens=64, eval_loss=3.0, **{"eval_loss:wiki": 3.5})
    assert track(step=2, tokens=128, train_loss=2.9)
    assert track(step=2, tokens=128, eval_loss=2.8)  # logged apart: the rows of a step merge
    assert track(step=2, tokens=128, eval_loss=2.7)  # a restarted command writes step 2 again
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[1] == {"step": 2, "tokens": 128, "train_loss": 2.9, "eval_loss": 2.7}
    assert rows[0]["eval_loss:wiki"] == 3.5
    with pytest.raises(MetricsError, match="unknown key 'loss'"):
        track(step=3, tokens=1, loss=2.0)
    for line, message in [
        ('{"step": 1, "tokens": 5, "eval_loss": NaN}', "line 1: eval_loss must be a finite number"),
        ('{"step": 1.5, "tokens": 5}', "line 1: step must be a whole number"),
        ('{"tokens": 5}', "line 1: missing 'step'"),
        ("[1, 2]", "line 1: a row must be a JSON object"),
        ('{"step": 1, "tokens": 5', "line 1: not JSON"),
        ('{"step": 1, "tokens": "5"}', "line 1: tokens must be a number"),
    ]:
        path.write_text(line + "\n")
        with pytest.raises(MetricsError, match=message):
            read_metrics(path)


def test_template_fills_words_and_names_bad_placeholders(tmp_path: Path) -> None:
    shape = ModelShape(n_layer=2, d_model=32, n_head=2, n_ctx=16, vocab_size=256)
    spec = RunSpec(shape=shape, tokens=4096, batch_size=4, command="train.py --dir {run_dir} --l {n_layer} --t {tokens}")
    words = command_words(spec, tmp_path / "a b")
    assert words == ["train.py", "--dir", str(tmp_path / "a b"), "--l", "2", "--t", "4096"]  # one word
    assert spec.id != spec.with_(command=None).id  # another trainer, another run
    assert spec.with_(command_timeout=5).id == spec.id  # a timeout changes no number
    with pytest.raises(InputError, match=r"command names \{n_layers\}, which lmscale does not fill"):
        spec.with_(command="train.py {n_layers}")
    with pytest.raises(InputError, match="command is not a valid command template"):
        spec.with_(command="train.py 'unclosed")
    torchrun = spec.with_(command="torchrun --nproc_per_node {gpus} t.py", gpus=4)
    assert command_words(torchrun, tmp_path)[2] == "4" and torchrun.id == spec.with_(command=torchrun.command).id
    assert command_words(spec.with_(command="t.py {gpus}", device="cuda"), tmp_path)[1] == "1"
    with pytest.raises(InputError, match="gpus applies to command runs only"):
        spec.with_(command=None, gpus=2)


def test_bad_template_in_a_sweep_is_one_line_naming_the_key(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "[0]")
    path.write_text(path.read_text().replace("{seed}", "{sed}"))
    out = lmscale("sweep", "run", str(path), "--store", str(tmp_path / "s.db"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "cmd.toml: train.command: names {sed}" in out.stderr and not (tmp_path / "s.db").exists()


# ---- runs, failures and their reasons -----------------------------------------------------------


def test_command_runs_are_recorded_and_failures_say_why(tmp_path: Path) -> None:
    spec = load_spec(spec_file(tmp_path, "[0, 1, 2, 3, 4]", extra="command_timeout = 3"))
    with Store(tmp_path / "s.db") as st:
        summary = run_sweep(spec, st, live=False, workers=2)
        assert (summary.completed, summary.failed) == (1, 4)
        runs = st.runs()
        by_seed = {json.loads(r.spec)["seed"]: r for r in runs.itertuples()}
        ok = by_seed[0]
        assert ok.status == "completed" and ok.D == 4096 and ok.loss == pytest.approx(2.0 + 50.0 / 4096**0.3)
        flops = ok.C_6ND
        assert ok.N == 3312 and flops == pytest.approx(6 * 3312 * 4096)  # lmscale's count of the shape
        curve = st.curves().query("run_id == @ok.id")
        assert list(curve["tokens"]) == [1024, 2048, 4096]
        errors = {seed: r.error for seed, r in by_seed.items() if seed}
        assert errors[1].startswith("CommandFailed: the command exited with status 3; last output:")
        assert "CUDA error: out of memory" in errors[1]
        assert "wrote no evaluation" in errors[2]
        assert "malformed metrics: metrics.jsonl line 2: unknown key 'los'" in errors[3]
        assert "ran past its timeout of 3 s" in errors[4]
        # a finished run is not run again; the failed ones are retried when asked
        assert run_sweep(spec, st, live=False).skipped == 5


def test_kill_9_of_the_driver_kills_the_command_and_a_rerun_finishes(tmp_path: Path) -> None:
    path, db = spec_file(tmp_path, "[0, 5]"), tmp_path / "s.db"
    driver = subprocess.Popen(
        [sys.executable, "-m", "lmscale", "sweep", "run", str(path), "--store", str(db), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: any(_is_hanging(p) for p in tmp_path.rglob("pid")))
        command = next(int(p.read_text()) for p in tmp_path.rglob("pid") if _is_hanging(p))
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        wait_for(lambda: not alive(command), timeout=15)  # no orphan left training for nobody
    finally:
        if driver.poll() is None:
            driver.kill()
    rerun = lmscale("sweep", "run", str(path), "--store", str(db), "--json", env={"FAKE_FAST": "1"})
    assert rerun.returncode == 0, rerun.stderr
    with Store(db, readonly=True) as st:
        runs = st.runs()
        assert len(runs) == 2 and set(runs["status"]) == {"completed"}
        assert st.curves().groupby("run_id").size().tolist() == [3, 3]  # no row twice


def test_kill_9_of_the_command_fails_the_run_and_a_retry_finishes(tmp_path: Path) -> None:
    path, db = spec_file(tmp_path, "[5]"), tmp_path / "s.db"
    driver = subprocess.Popen(
        [sys.executable, "-m", "lmscale", "sweep", "run", str(path), "--store", str(db), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_for(lambda: any(_is_hanging(p) for p in tmp_path.rglob("pid")))
    os.kill(next(int(p.read_text()) for p in tmp_path.rglob("pid")), signal.SIGKILL)
    out, _ = driver.communicate(timeout=60)
    assert driver.returncode == 1 and json.loads(out)["failed"] == 1
    with Store(db, readonly=True) as st:
        assert "exited with status -9" in st.runs()["error"].iloc[0]
    retry = lmscale("sweep", "run", str(path), "--store", str(db), "--retry-failed", env={"FAKE_FAST": "1"})
    assert retry.returncode == 0, retry.stderr
    with Store(db, readonly=True) as st:
        assert len(st.runs()) == 1 and st.runs()["status"].iloc[0] == "completed"


def _is_hanging(pid_file: Path) -> bool:
    """The pid file of a live command that hangs (seed 5)."""
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    return alive(pid) and json.loads((pid_file.parent / "spec.json").read_text())["seed"] == 5


# ---- the example: sweep → store → fit → report ----------------------------------------------------


@pytest.mark.slow
def test_example_trainer_end_to_end(tmp_path: Path) -> None:
    spec = (REPO / "examples" / "external_sweep.toml").read_text()
    spec = spec.replace("tokens = [20480, 61440]", "tokens = [10240, 20480]")
    path, db = tmp_path / "ex.toml", tmp_path / "s.db"
    path.write_text(spec)
    env = {"LMSCALE_HOME": str(tmp_path / "home")}
    out = lmscale("sweep", "run", str(path), "--store", str(db), "--workers", "2", "--json", cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["completed"] == 6
    with Store(db, readonly=True) as st:
        runs = st.runs()
        finals = [json.loads(f) for f in runs["final"]]
        # the example's model is the GPT lmscale counts: its own count agrees with lmscale's
        assert [f["trainer_params_non_embedding"] for f in finals] == list(runs["N"].astype(int))
    fit = lmscale("fit", "--study", "external-example", "--store", str(db), "--form", "power", "--json", env=env)
    assert fit.returncode == 0, fit.stderr
    html = tmp_path / "r.html"
    rep = lmscale("report", "--study", "external-example", "--store", str(db), "-o", str(html), "--bootstrap", "0", env=env)
    assert rep.returncode == 0, rep.stderr
    assert "external-example" in html.read_text()
