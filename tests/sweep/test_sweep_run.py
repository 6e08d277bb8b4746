"""Running sweeps: end to end on CPU, failures, kill -9 and Ctrl-C of the driver, resume, CLI errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import six_spec

from lmscale.model.accounting import account
from lmscale.store import Store
from lmscale.sweep.driver import run_sweep
from lmscale.sweep.spec import load_spec
from lmscale.train.spec import RunSpec

# Columns that measure the machine, not the run: everything else must match to the bit.
TIMING = ["wall_time", "tokens_per_s"]
FAULTY = "sweep_faulty_runner:run"


def lmscale(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmscale", *args], capture_output=True, text=True, timeout=300, **kw
    )


def comparable_curves(store: Store) -> pd.DataFrame:
    cur = store.curves()
    return cur.drop(columns=[c for c in TIMING if c in cur]).sort_values(
        ["run_id", "step"], ignore_index=True
    )


@pytest.mark.slow
def test_six_run_sweep_end_to_end(tmp_path: Path, six: Path) -> None:
    with Store(tmp_path / "s.db") as st:
        summary = run_sweep(load_spec(six), st, live=False)
        assert (summary.completed, summary.failed, summary.skipped) == (6, 0, 0)
        runs = st.runs(study="six")
        assert len(runs) == 6 and set(runs["status"]) == {"completed"}
        for r in runs.itertuples():
            spec = RunSpec.from_dict(json.loads(r.spec))
            assert account(spec.shape).params_non_embedding == r.N
            assert r.D == 2048 and pytest.approx(6 * r.N * r.D) == r.C_6ND
            assert spec.threads is not None  # the executor chose the threads
        cur = st.curves(study="six")
        for rid, c in cur.groupby("run_id"):
            assert c["tokens"].is_monotonic_increasing and c["tokens"].iloc[-1] == 2048
            assert c["loss"].iloc[-1] == pytest.approx(runs.set_index("id").loc[rid, "loss"])
            assert c["loss"].iloc[-1] < c["loss"].iloc[0]  # it learned something
        assert len(st.fit_table("six")) == 6
        assert (st.run_dir(runs["id"][0]) / "result.json").exists()
        again = run_sweep(load_spec(six), st, live=False)
        assert (again.skipped, again.completed) == (6, 0)
        assert len(st.runs()) == 6


@pytest.mark.slow
def test_raising_and_dying_runs_are_recorded_and_others_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_spec(six_spec(tmp_path, seeds="[0, 1, 2]"))
    monkeypatch.setenv("LMSCALE_TEST_ALLOW_KILL", "1")
    with Store(tmp_path / "s.db") as st:
        summary = run_sweep(spec, st, runner=FAULTY, live=False, workers=2)
        assert (summary.completed, summary.failed) == (3, 6)
        runs = st.runs()
        seeds = {r.id: json.loads(r.spec)["seed"] for r in runs.itertuples()}
        for r in runs.itertuples():
            if seeds[r.id] == 0:
                assert r.status == "completed" and r.error is None
            elif seeds[r.id] == 1:
                assert r.status == "failed" and r.error == "RuntimeError: boom: seed 1 is cursed"
            else:
                assert r.status == "failed" and r.error.startswith("worker process died (exit code -9)")
        assert set(st.runs(status="failed")["id"]) == {i for i, s in seeds.items() if s}
        # failed runs are retried only when asked
        assert run_sweep(spec, st, runner=FAULTY, live=False).skipped == 9
        monkeypatch.delenv("LMSCALE_TEST_ALLOW_KILL")
        retried = run_sweep(spec, st, runner=FAULTY, live=False, retry_failed=True)
        assert (retried.skipped, retried.completed, retried.failed) == (3, 3, 3)
        assert len(st.runs()) == 9


def _wait_for(predicate, timeout: float = 180.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the sweep")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _mid_run(db: Path) -> bool:
    """At least one run committed and another one in flight with a checkpoint on disk."""
    if not db.exists():
        return False
    try:
        with Store(db, readonly=True) as st:
            statuses = st.statuses()
            running = [rid for rid, s in statuses.items() if s == "running"]
            done = sum(s == "completed" for s in statuses.values())
            return done >= 1 and any((st.run_dir(rid) / "checkpoint.pt").exists() for rid in running)
    except Exception:  # noqa: BLE001 - the store may be mid-creation
        return False


@pytest.mark.slow
def test_kill_9_driver_then_rerun_matches_uninterrupted(tmp_path: Path) -> None:
    spec_path = six_spec(tmp_path, tokens=64 * 300, checkpoint_every=20)
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    ref_dir.mkdir()
    killed_dir.mkdir()
    db = killed_dir / "s.db"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmscale",
            "sweep",
            "run",
            str(spec_path),
            "--store",
            str(db),
            "--workers",
            "1",
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _mid_run(db))
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    with Store(db, readonly=True) as st:
        interrupted = [rid for rid, s in st.statuses().items() if s == "running"]
    assert interrupted
    time.sleep(1.5)  # the orphaned worker notices its driver is gone and exits
    with Store(db) as st:  # same threads per run as the reference: results identical to the bit
        summary = run_sweep(load_spec(spec_path), st, live=False, threads=1)
        assert summary.skipped >= 1 and summary.completed + summary.skipped == 6
        killed_runs, killed_curves = st.runs(), comparable_curves(st)
    with Store(ref_dir / "s.db") as ref:
        run_sweep(load_spec(spec_path), ref, live=False, threads=1)
        ref_runs, ref_curves = ref.runs(), comparable_curves(ref)
    assert (
        len(killed_runs) == 6 and killed_runs["id"].is_unique and set(killed_runs["status"]) == {"completed"}
    )
    assert set(killed_runs["id"]) == set(ref_runs["id"])
    pd.testing.assert_frame_equal(killed_curves, ref_curves)
    cols = ["id", "N", "D", "C_6ND", "C_exact", "loss"]
    pd.testing.assert_frame_equal(
        killed_runs[cols].sort_values("id", ignore_index=True),
        ref_runs[cols].sort_values("id", ignore_index=True),
    )
    for rid in interrupted:  # the run killed mid-way resumed from its checkpoint
        assert killed_curves[killed_curves.run_id == rid]["step"].iloc[-1] == 300


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_cleanly_and_rerun_resumes(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C, or SIGTERM (kill, timeout, a scheduler), stops the driver the same way: exit 130,
    runs in flight marked interrupted (not left running), and a rerun resumes them."""
    spec_path = six_spec(tmp_path, tokens=64 * 300, checkpoint_every=20)
    db = tmp_path / "s.db"
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmscale",
            "sweep",
            "run",
            str(spec_path),
            "--store",
            str(db),
            "--workers",
            "1",
            "--threads",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A terminal's Ctrl-C: SIGINT at its default. A shell without job control starts background
        # jobs with SIGINT ignored, and a pytest started that way would pass the ignore on.
        preexec_fn=_default_sigint,
    )
    _wait_for(lambda: _mid_run(db))
    driver.send_signal(sig)
    out, err = driver.communicate(timeout=60)
    assert driver.returncode == 130, err
    assert "interrupted:" in err and "rerun the same command to resume" in err
    with Store(db, readonly=True) as st:
        statuses = st.statuses()
    assert "interrupted" in statuses.values() and "running" not in statuses.values()
    rerun = lmscale("sweep", "run", str(spec_path), "--store", str(db), "--json")
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped"] + summary["completed"] == 6 and summary["failed"] == 0


def test_sweep_plan_cli(tmp_path: Path, six: Path) -> None:
    out = lmscale("sweep", "plan", str(six), "--json", "--store", str(tmp_path / "none.db"))
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["summary"]["runs"] == 6 and len(plan["runs"]) == 6
    assert all(r["status"] == "new" and r["est_seconds"] > 0 for r in plan["runs"])
    assert plan["summary"]["total_C_6ND"] == pytest.approx(sum(6 * r["N"] * r["D"] for r in plan["runs"]))
    assert not (tmp_path / "none.db").exists()  # planning never creates a store
    human = lmscale("sweep", "plan", "demo")
    assert human.returncode == 0 and "estimated wall time" in human.stdout
    presets = lmscale("sweep", "presets", "--json")
    assert {p["name"] for p in json.loads(presets.stdout)} >= {
        "demo",
        "kaplan-cpu",
        "isoflop-cpu",
        "batch-size",
        "shape",
        "data-limited",
        "lstm-vs-transformer",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sweep", "plan", "no-such-preset"], "'no-such-preset' is neither a sweep spec file nor a preset"),
        (["sweep", "run", "BADSPEC"], "bad.toml: sizes[0].d_model: must be ≥ 1"),
        (["sweep", "run", "SIX", "--store", "FAKE"], "not an lmscale store"),
        (["sweep", "run", "SIX", "--store", "NEWER"], "is newer than this lmscale supports"),
        (["sweep", "run", "SIX", "--executor", "slurm"], "'slurm' is not one of 'local', 'ray'"),
        (["sweep", "run", "SIX", "--executor", "ray", "--store", "S"], "--executor ray needs"),
    ],
)
def test_sweep_cli_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("sizes = [{n_layer = 1, d_model = 0}]\n[axes]\ntokens = [1000]\n")
    fake = tmp_path / "fake.db"
    fake.write_text("precious notes")
    newer = tmp_path / "newer.db"
    with Store(newer) as st:
        st.ensure_study("x")
        st._conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
        st._conn.commit()
    before = {p: p.read_bytes() for p in (fake, newer)}
    repl = {
        "BADSPEC": str(bad),
        "SIX": str(six_spec(tmp_path)),
        "FAKE": str(fake),
        "NEWER": str(newer),
        "S": str(tmp_path / "s.db"),
    }
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = lmscale(*[repl.get(a, a) for a in args], env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: error: ") and message in lines[0], out.stderr
    assert {p: p.read_bytes() for p in (fake, newer)} == before  # nothing overwritten


def test_one_driver_per_store(tmp_path: Path, six: Path) -> None:
    from lmscale.sweep.driver import driver_lock

    with Store(tmp_path / "s.db") as st, driver_lock(st):
        out = lmscale("sweep", "run", str(six), "--store", str(tmp_path / "s.db"))
        assert out.returncode == 2
        assert f"another sweep driver (pid {os.getpid()}) is running on this store" in out.stderr
        assert st.runs().empty


def test_several_sweeps_share_one_driver_and_their_common_runs(tmp_path: Path) -> None:
    """Two studies with overlapping runs: each shared run trains once and belongs to both studies;
    the unique-token axis gives capped runs that record their epochs."""
    from lmscale.sweep.driver import run_sweeps

    a = load_spec(six_spec(tmp_path, seeds="[0]", name="a.toml"))
    b_path = six_spec(tmp_path, seeds="[0]", name="b.toml")
    b_path.write_text(b_path.read_text().replace("seed = [0]", "seed = [0]\nunique_tokens = [512]"))
    b = load_spec(b_path)
    with Store(tmp_path / "s.db") as st:
        summary = run_sweeps([(a, "a", "a.toml"), (a, "a2", "a.toml"), (b, "b", "b.toml")], st, live=False)
        assert summary.total == 6 and summary.completed == 6 and summary.failed == 0
        runs = st.runs()
        assert len(runs) == 6  # a and a2 share all three runs
        assert set(st.runs(study="a")["id"]) == set(st.runs(study="a2")["id"])
        capped = st.fit_table(study="b")
        assert (capped["unique_tokens"] == 512).all()
        # 2048 tokens over a 512-token cap of 16-token windows: 4 epochs, so U = D / 4
        assert capped["U"].to_numpy() == pytest.approx(capped["D"].to_numpy() / 4)
        again = run_sweeps([(a, "a", "a.toml"), (b, "b", "b.toml")], st, live=False)
        assert again.skipped == 6 and again.completed == 0


def test_unique_token_cap_beyond_the_corpus_fails_before_training(tmp_path: Path) -> None:
    path = six_spec(tmp_path, seeds="[0]")
    path.write_text(path.read_text().replace("seed = [0]", "seed = [0]\nunique_tokens = [1e9]"))
    out = lmscale("sweep", "run", str(path), "--store", str(tmp_path / "s.db"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "unique_tokens=1,000,000,000 is more than the training split holds" in out.stderr
    assert not (tmp_path / "s.db").exists()  # refused before the store was even created
