"""Reliability under faults and hostile input (issue 20): memory guards, failed runs, damaged,
read-only and full stores, orphans after kill -9, the driver claim, deleting runs, spec key paths.

Each test drives the command line as a user would (subprocess) where the behaviour is the exit code
and the one line on stderr, and stays in-process where a fault must be injected (a full disk).
Read-only cases need permission checks: as root they run without CAP_DAC_OVERRIDE (setpriv).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.store import RunRecord, Store
from lmscale.store.db import DRIVER_KEY, StoreWriteError

TINY = """
name = "tiny3"
sizes = [{{n_layer = 1, d_model = 8}}, {{n_layer = 1, d_model = 16}}, {{n_layer = 2, d_model = 16}}]
[model]
n_ctx = 16
[train]
corpus = "tiny"
tokenizer = "byte"
batch_size = 4
eval_points = 3
eval_tokens = 512
checkpoint_every = 20
noise_scale = false
{extra}
[axes]
tokens = [{tokens}]
"""

# As root, drop the capabilities that bypass file permissions, so chmod means what it says.
PLAIN_USER: list[str] = []
if os.geteuid() == 0:
    PLAIN_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    PLAIN_USER += ["--inh-caps=-dac_override,-dac_read_search"]
needs_permissions = pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv: chmod is moot"
)


def lmscale(*args: str, prefix: list[str] | None = None, timeout: float = 120, **kw: Any) -> Any:
    cmd = [*(prefix or []), sys.executable, "-m", "lmscale", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def one_line_error(out: Any, *words: str, code: int = 2) -> str:
    """The command failed with `code` and exactly one stderr line containing every word."""
    assert out.returncode == code, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: "), out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def spec_file(tmp_path: Path, extra: str = "", tokens: int = 2048, name: str = "tiny3.toml") -> Path:
    path = tmp_path / name
    path.write_text(TINY.format(extra=extra, tokens=tokens))
    return path


def record(run_id: str, n: float, d: float, loss: float, status: str = "completed") -> RunRecord:
    curve = pd.DataFrame({"step": [1, 2], "tokens": [d / 2, d], "train_loss": [loss + 1, loss]})
    return RunRecord(
        id=run_id,
        spec={"run": run_id},
        status=status,
        N=n,
        D=d,
        C_6ND=6 * n * d,
        loss=loss,
        final={"primary_eval": "tiny"},
        curve=curve,
        curve_evals=pd.DataFrame({"step": [1, 2], "eval_set": "tiny", "loss": [loss + 1, loss]}),
        evals=pd.DataFrame({"eval_set": ["tiny"], "loss": [loss]}),
    )


def small_store(path: Path, runs: int = 40, study: str = "s") -> Path:
    """A store of many pages (curves of 100 points), so one page can be damaged on its own."""
    with Store(path) as st:
        for i in range(runs):
            rec = record(f"r{i:03d}", 1e4 * (i + 1), 2e5 * (1 + i % 3), 3.0 - 0.01 * i)
            steps = np.arange(1, 101)
            rec.curve = pd.DataFrame({"step": steps, "tokens": steps * 1e3, "train_loss": 4.0 - steps / 100})
            st.record_run(study, rec)
    return path


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def wait_for(predicate: Any, timeout: float = 120.0) -> None:
    """Poll `predicate`; a store the driver has created but not yet given its tables reads as
    "no lmscale store there", which only means "not yet"."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return
        except InputError:
            pass
        time.sleep(0.05)
    raise AssertionError("timed out")


# -- #2 memory guards --------------------------------------------------------------------------------


def test_train_refuses_a_model_that_cannot_fit_before_allocating(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    out = lmscale("train", "--n-layer", "48", "--d-model", "2048", "--tokens", "1e6", "--max-memory", "16GB")
    seconds = time.perf_counter() - t0
    one_line_error(out, "2.42e+09 parameters", "16 GB is the --max-memory limit", "--max-memory to override")
    assert seconds < 5  # about 0.4 s on the 2-core CI machine; the budget leaves room for a loaded one
    out = lmscale("train", "--n-layer", "2", "--d-model", "1000000000", "--tokens", "1e6")
    one_line_error(out, "needs about", "is available")
    out = lmscale("train", "--n-layer", "10000", "--d-model", "16", "--tokens", "1e6", "--max-memory", "8GB")
    one_line_error(out, "activations", "8 GB is the --max-memory limit")
    one_line_error(
        lmscale("train", "--n-layer", "1", "--d-model", "8", "--tokens", "1e4", "--max-memory", "8XB")
    )


def test_a_refusal_loads_only_its_own_command() -> None:
    """Start-up was 1.5 s because every command module (pandas, scipy, the fitters) was imported
    before any command ran; now `train` loads its own module and refuses without those libraries."""
    code = (
        "import sys; from lmscale.cli.main import run; "
        "code = run(['train', '--n-layer', '32', '--d-model', '2560', '--tokens', '1e6', '--max-memory', '8GB']); "
        "print(code, sorted(m for m in ('torch', 'pandas', 'scipy', 'lmscale.fit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "[]"], out.stdout + out.stderr


def test_sweep_plan_and_run_refuse_runs_that_cannot_fit(tmp_path: Path) -> None:
    spec = spec_file(tmp_path)
    db = tmp_path / "s.db"
    for cmd in ("plan", "run"):
        out = lmscale("sweep", cmd, str(spec), "--store", str(db), "--max-memory", "100MB")
        one_line_error(out, "needs about", "100 MB is the --max-memory limit")
    assert not db.exists()
    plan = lmscale("sweep", "plan", str(spec), "--json", "--store", str(db))
    assert plan.returncode == 0, plan.stderr
    assert all(r["est_memory_bytes"] > 4e8 for r in json.loads(plan.stdout)["runs"])  # + the process


def test_side_by_side_runs_must_fit_together() -> None:
    from lmscale.sweep.driver import check_memory
    from lmscale.sweep.expand import expand
    from lmscale.sweep.spec import parse_spec
    from lmscale.train.memory import estimate

    sweep = parse_spec(
        {"sizes": [{"n_layer": 2, "d_model": 64}] * 1, "train": {"corpus": "tiny", "tokenizer": "byte"},
         "axes": {"tokens": [1e5], "seed": [0, 1, 2]}}
    )  # fmt: skip
    runs = expand(sweep)
    one = estimate(runs[0].spec).total
    check_memory(runs, 1, int(one * 1.1))
    with pytest.raises(InputError, match="use --workers 2"):
        check_memory(runs, 3, int(one * 2.5))


# -- #3 failed runs leave the sweep unfinished --------------------------------------------------------


def test_a_sweep_with_failed_runs_says_so_and_exits_1(tmp_path: Path) -> None:
    """The store holds two finished runs and one a killed worker failed: the rerun has nothing to
    do, and still names the failed run, says how to retry and exits 1."""
    from lmscale.sweep.expand import expand
    from lmscale.sweep.spec import load_spec

    spec = spec_file(tmp_path)
    runs = expand(load_spec(spec))
    db = tmp_path / "s.db"
    with Store(db) as st:
        for r in runs[:2]:
            st.record_run("tiny3", record(r.id, r.N, r.D, 3.0))
        st.mark_running("tiny3", runs[2].id, runs[2].spec.to_dict())
        st.mark([runs[2].id], "failed", "worker process died (exit code -9)")
    out = lmscale("sweep", "run", str(spec), "--store", str(db))
    assert out.returncode == 1, out.stderr
    assert "2 already done" in out.stdout and "1 failed (1 earlier, not retried)" in out.stdout
    assert f"failed {runs[2].id}: worker process died (exit code -9)" in out.stderr
    assert "--retry-failed" in out.stderr.splitlines()[-1]
    summary = json.loads(lmscale("sweep", "run", str(spec), "--store", str(db), "--json").stdout)
    assert summary["failed_earlier"] == {runs[2].id: "worker process died (exit code -9)"}


@pytest.mark.slow
def test_a_killed_worker_fails_its_run_and_the_sweep(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, tokens=64 * 300)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "lmscale", "sweep", "run", str(spec), "--store", str(db), "--workers", "1"]
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:

        def worker() -> list[int]:
            return [
                p for p in children(driver.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
            ]

        wait_for(lambda: db.exists() and "running" in Store(db, readonly=True).statuses().values())
        os.kill(worker()[0], signal.SIGKILL)
        _, err = driver.communicate(timeout=300)
    finally:
        driver.kill()
    assert driver.returncode == 1, err
    assert "worker process died (exit code -9)" in err and "--retry-failed" in err
    again = lmscale("sweep", "run", str(spec), "--store", str(db))
    assert again.returncode == 1 and "1 failed (1 earlier, not retried)" in again.stdout


# -- #4 damaged store -------------------------------------------------------------------------------


def damage(path: Path) -> None:
    conn = sqlite3.connect(path)
    pages, size = (conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_count", "page_size"))
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek(size * (pages // 2))
        fh.write(b"\xa5" * size)


def test_a_damaged_store_gets_one_line_and_is_never_written(tmp_path: Path) -> None:
    db = small_store(tmp_path / "s.db")
    damage(db)
    before = db.read_bytes()
    csv = tmp_path / "i.csv"
    csv.write_text("N,D,loss\n1e6,2e7,3.1\n")
    spec = spec_file(tmp_path)
    for args in (
        ["runs"],
        ["runs", "show", "r001"],
        ["runs", "import", str(csv), "--study", "x"],
        ["runs", "delete", "r001", "--yes"],
        ["sweep", "run", str(spec)],
        ["fit", "--study", "s"],
        ["report", "--study", "s", "-o", str(tmp_path / "r.html")],
    ):
        one_line_error(lmscale(*args, "--store", str(db)), "the store is damaged", "nothing was written")
    assert db.read_bytes() == before


# -- #5, #7 read-only stores and folders, full disks, impossible paths -------------------------------


@needs_permissions
def test_a_read_only_store_is_readable_and_refuses_writes(tmp_path: Path) -> None:
    db = small_store(tmp_path / "s.db")
    csv = tmp_path / "i.csv"
    csv.write_text("N,D,loss\n1e6,2e7,3.1\n")
    spec = spec_file(tmp_path)
    db.chmod(0o444)
    try:
        before = db.read_bytes()
        listed = lmscale("runs", "--store", str(db), "--json", prefix=PLAIN_USER)
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 40, listed.stderr
        for args in (["runs", "import", str(csv), "--study", "x"], ["sweep", "run", str(spec)]):
            out = lmscale(*args, "--store", str(db), prefix=PLAIN_USER)
            one_line_error(out, "the store is read-only", "nothing was written")
        assert db.read_bytes() == before
    finally:
        db.chmod(0o644)


@needs_permissions
def test_a_store_in_a_read_only_folder_stays_readable(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = small_store(folder / "s.db")
    out_dir = tmp_path / "ro-out"
    out_dir.mkdir()
    folder.chmod(0o555)
    out_dir.chmod(0o555)
    try:  # no -wal/-shm beside it and none can be made: read immutable
        listed = lmscale("runs", "--store", str(db), "--json", prefix=PLAIN_USER)
        assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 40, listed.stderr
        shown = lmscale("runs", "show", "r003", "--store", str(db), prefix=PLAIN_USER)
        assert shown.returncode == 0 and "curve points 100" in shown.stdout, shown.stderr
        out = lmscale("runs", "delete", "r003", "--yes", "--store", str(db), prefix=PLAIN_USER)
        one_line_error(out, "read-only", "nothing was written")
        out = lmscale("runs", "export", "-o", str(out_dir), "--store", str(db), prefix=PLAIN_USER)
        one_line_error(out, f"-o {out_dir}: cannot write", "Permission denied")
    finally:
        folder.chmod(0o755)
        out_dir.chmod(0o755)


def test_impossible_store_locations_are_one_line(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    env = {**os.environ, "LMSCALE_HOME": str(afile)}
    env.pop("LMSCALE_STORE", None)
    one_line_error(lmscale("runs", env=env), "LMSCALE_HOME=", "is a file, not a folder")
    csv = tmp_path / "i.csv"
    csv.write_text("N,D,loss\n1e6,2e7,3.1\n")
    out = lmscale("runs", "import", str(csv), "--study", "x", "--store", str(afile / "sub" / "s.db"))
    one_line_error(out, "cannot create the store's folder", f"{afile} is a file, not a folder")
    one_line_error(lmscale("runs", "--store", str(tmp_path / "missing.db")), "no such store file")
    assert afile.read_text() == "not a folder"


class _Failing:
    """An executor whose every run fails with a long error: each failure record takes pages."""

    devices: list[str] = []

    def run(self, runs: list[Any], hooks: Any) -> None:
        for run in runs:
            hooks.on_start(run)
            hooks.on_finish(run, "error", "x" * 200_000, time.time())


def test_a_full_disk_stops_the_sweep_with_one_line_and_a_consistent_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmscale.sweep import driver
    from lmscale.sweep.spec import load_spec

    monkeypatch.setattr(driver, "make_executor", lambda *a, **k: _Failing())
    db = tmp_path / "s.db"
    with Store(db) as st:
        pages = st._conn.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own "database or disk is full" (SQLITE_FULL), a few runs in
        st._conn.execute(f"PRAGMA max_page_count = {pages + 130}")
        with pytest.raises(
            StoreWriteError, match=r"the disk is full .*; the sweep stopped: 2 run\(s\) recorded"
        ):
            driver.run_sweep(load_spec(spec_file(tmp_path)), st, live=False)
        statuses = st.statuses()
    *recorded, stopped = sorted(statuses.values())
    assert recorded == ["failed", "failed"] and stopped in ("interrupted", "running")  # a rerun resumes it
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM meta WHERE key=?", (DRIVER_KEY,)).fetchone()[0] == 0


# -- #6 no orphans --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sweep_workers_die_with_a_killed_driver(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, tokens=64 * 2000)
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "lmscale", "sweep", "run", str(spec), "--store", str(db), "--workers", "2"]
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: db.exists() and "running" in Store(db, readonly=True).statuses().values())
        kids = children(driver.pid)
        assert kids
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    t0 = time.time()
    wait_for(lambda: not any(alive(p) for p in kids), timeout=10)
    assert time.time() - t0 < 3  # the kernel's parent-death signal, not a polling loop


@pytest.mark.slow
def test_bootstrap_workers_die_with_a_killed_fit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = np.repeat([1e5, 3e5, 1e6, 3e6, 1e7], 6)
    d = np.tile([1e7, 3e7, 1e8, 3e8, 1e9, 3e9], 5)
    loss = 1.7 + 400 / n**0.34 + 410 / d**0.28 + rng.normal(0, 0.01, n.size)
    csv = tmp_path / "runs.csv"
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(csv, index=False)
    cmd = [sys.executable, "-m", "lmscale", "fit", str(csv), "--bootstrap", "20000", "--jobs", "2"]
    fit = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(children(fit.pid)) >= 2, timeout=180)  # slow to start on a loaded machine
        time.sleep(0.5)
        kids = children(fit.pid)
    finally:
        fit.send_signal(signal.SIGKILL)
        fit.wait()
    wait_for(lambda: not any(alive(p) for p in kids), timeout=15)


def test_die_with_parent_in_a_child() -> None:
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'from lmscale.processes import die_with_parent; import time; die_with_parent(); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        time.sleep(1.0)  # the child has imported and asked for the signal
        assert alive(child)
    finally:
        parent.kill()
        parent.wait()
    wait_for(lambda: not alive(child), timeout=5)


# -- #9 the driver claim follows the file, not its spelling --------------------------------------------


def test_one_driver_per_store_whatever_path_names_it(tmp_path: Path) -> None:
    from lmscale.sweep.driver import driver_lock

    db = tmp_path / "s.db"
    spec = spec_file(tmp_path)
    (tmp_path / "link.db").symlink_to(db)
    (tmp_path / "sub").mkdir()
    with Store(db) as st, driver_lock(st):
        # (not a hard link: SQLite keeps a WAL per name, so two names of one file corrupt it)
        for name in ("link.db", "sub/../s.db"):
            out = lmscale("sweep", "run", str(spec), "--store", str(tmp_path / name))
            one_line_error(out, f"another sweep driver (pid {os.getpid()}) is running on this store")
        assert not list(tmp_path.glob("*.lock"))  # no lock file to delete
        assert st.runs().empty
    with Store(tmp_path / "link.db") as st:
        assert st.driver() is None  # released on the way out


def test_a_dead_drivers_claim_is_taken_over(tmp_path: Path) -> None:
    from lmscale import processes

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with Store(tmp_path / "s.db") as st:
        try:
            me = processes.identity(sleeper.pid)
            with st._tx() as conn:
                conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (DRIVER_KEY, json.dumps(me)))
            assert st.driver()["pid"] == sleeper.pid  # type: ignore[index]
            with pytest.raises(InputError, match=f"another sweep driver \\(pid {sleeper.pid}\\)"):
                st.claim_driver()
        finally:
            sleeper.kill()
            sleeper.wait()
        assert st.driver() is None  # killed: its claim no longer counts
        mine = st.claim_driver()
        assert mine["pid"] == os.getpid()
        st.release_driver(mine)


# -- #10 deleting runs, imports validated like fit ------------------------------------------------------


def test_runs_delete_ids_and_studies(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_run("a", record("run-one", 1e4, 1e6, 3.0))
        st.record_run("a", record("run-two", 2e4, 1e6, 2.9))
        st.record_run("b", record("run-shared", 3e4, 1e6, 2.8))
        st.link("a", ["run-shared"])
        st.save_fit("a", "chinchilla", {"x": 1})
        folder = st.run_dir("run-one")
    folder.mkdir(parents=True)
    (folder / "spec.json").write_text(json.dumps({"id": "run-one"}))
    asked = lmscale("runs", "delete", "run-one", "--store", str(db), stdin=subprocess.DEVNULL)
    one_line_error(asked, "would delete 1 run(s) (run-one)", "--yes")
    one_line_error(lmscale("runs", "delete", "nope", "--yes", "--store", str(db)), "run 'nope' not found")
    one_line_error(lmscale("runs", "delete", "--study", "", "--yes", "--store", str(db)), "--study")
    one_line_error(lmscale("runs", "delete", "--yes", "--store", str(db)), "give exactly one of")
    out = lmscale("runs", "delete", "run-o", "--yes", "--store", str(db))
    assert out.returncode == 0 and "deleted 1 run(s)" in out.stdout, out.stderr
    assert not folder.exists()  # a rerun trains it again
    out = lmscale("runs", "delete", "--study", "a", "--yes", "--store", str(db))
    assert out.returncode == 0 and "deleted 1 run(s), study a and 1 fit(s)" in out.stdout, out.stderr
    with Store(db, readonly=True) as st:
        assert list(st.runs()["id"]) == ["run-shared"]  # still in study b
        assert list(st.studies()["name"]) == ["b"] and st.fits().empty
    with sqlite3.connect(db) as conn:
        for table in ("curves", "curve_evals", "evals", "study_runs"):
            ids = {r[0] for r in conn.execute(f"SELECT run_id FROM {table}")}
            assert ids == {"run-shared"}, table


def test_runs_import_refuses_duplicates_and_bad_values(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    good = tmp_path / "good.csv"
    good.write_text("run,N,D,loss\na,1e6,2e7,3.1\nb,2e6,2e7,3.0\n")
    assert lmscale("runs", "import", str(good), "--study", "x", "--store", str(db)).returncode == 0
    again = lmscale("runs", "import", str(good), "--study", "x", "--store", str(db))  # same ids: replaced
    assert again.returncode == 0, again.stderr
    before = db.read_bytes()
    for text, words in (
        (
            "run,N,D,loss\nc,1e6,2e7,3.1\n",
            ["run 'c' repeats run imp-", "of study 'x'", "nothing was imported"],
        ),
        ("N,D,loss\n1e7,2e7,3\n1e7,2e7,3\n", ["data row 2 duplicates data row 1"]),
        ("N,D,loss\n1e7,2e7,nan\n", ["column 'loss' data row 1: missing or NaN"]),
        ("N,D,loss\n1e7,-2e7,3\n", ["column 'D' data row 1: -2e+07 must be positive"]),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        one_line_error(lmscale("runs", "import", str(bad), "--study", "x", "--store", str(db)), *words)
    one_line_error(lmscale("runs", "import", str(good), "--study", "", "--store", str(db)), "--study")
    assert db.read_bytes() == before
    with Store(db, readonly=True) as st:
        assert len(st.runs()) == 2


def test_report_refuses_what_fit_refuses(tmp_path: Path) -> None:
    """`report --runs` silently dropped a NaN loss that `fit` refuses; both now give the same line.
    A run whose status says it failed is still left out, with the reason in the report."""
    table = tmp_path / "runs.csv"
    table.write_text("N,D,loss\n1e6,1e8,3.1\n2e6,1e8,nan\n4e6,2e8,2.9\n")
    words = "column 'loss' data row 2: missing or NaN"
    one_line_error(lmscale("fit", str(table), "--form", "power", "--x", "N"), words)
    one_line_error(lmscale("report", "--runs", str(table), "-o", str(tmp_path / "r.html")), words)
    assert not (tmp_path / "r.html").exists()
    table.write_text("N,D,loss,status\n1e6,1e8,3.1,completed\n2e6,1e8,,failed\n4e6,2e8,2.9,completed\n")
    out = lmscale("report", "--runs", str(table), "-o", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    assert "1 run was left out: 1 with status failed" in (tmp_path / "r.html").read_text()


# -- #11, #14, #16 specs: key paths, and nothing created before they are checked ---------------------


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ('eval_sets = "tiny"', [], "train.eval_sets: must be a list, not the string 'tiny'"),
        ("lr = -1.0", [], "tiny3.toml: train.lr: must be a positive number, got -1.0"),
        ('lr = "abc"', [], "train.lr: must be a number, got 'abc'"),
        ("n_ctx = 32", [], "train.n_ctx: 32 is longer than the model's context"),
        ("", ["--executor", "slurm"], "'slurm' is not one of"),
        ("", ["--study", " "], "--study: a study needs a name"),
        ('eval_sets = ["no-such-corpus"]', [], "unknown corpus 'no-such-corpus'"),
    ],
)
def test_bad_sweep_input_names_the_key_and_creates_nothing(
    tmp_path: Path, extra: str, args: list[str], message: str
) -> None:
    db = tmp_path / "s.db"
    out = lmscale("sweep", "run", str(spec_file(tmp_path, extra)), "--store", str(db), *args)
    one_line_error(out, message)
    assert not db.exists()


def test_bad_sweep_input_writes_nothing_to_an_existing_store(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_run("old", record("r1", 1e4, 1e6, 3.0))
    out = lmscale("sweep", "run", str(spec_file(tmp_path, "lr = -1.0")), "--store", str(db))
    one_line_error(out, "train.lr")
    with Store(db, readonly=True) as st:
        assert list(st.studies()["name"]) == ["old"] and st.driver() is None


# -- #15 messages that name the real problem ---------------------------------------------------------


def test_data_prepare_messages(tmp_path: Path) -> None:
    one_line_error(lmscale("data", "prepare", "/dev/zero", "--tokenizer", "byte"), "a character device")
    two = tmp_path / "two.jsonl"
    two.write_text(json.dumps({"text": "x" * 3_000_000}) + "\n" + json.dumps({"text": "c"}) + "\n")
    out = lmscale("data", "prepare", str(two), "--tokenizer", "byte")
    one_line_error(out, "one document holds 100.0% of the text", "split it into smaller documents")


# -- #18 no warnings from draws whose E underflowed ----------------------------------------------


def test_a_draw_with_zero_E_predicts_without_warnings() -> None:
    """Every demo printed `RuntimeWarning: divide by zero` from fit/law.py: a bootstrap draw whose E
    underflowed to 0 was logged. Its E term is now read as zero, silently and correctly."""
    import warnings

    from lmscale.fit import Law

    point = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    draws = np.array([list(point.values()), [0.0, *list(point.values())[1:]]])
    law = Law("chinchilla", point, draws=draws)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        both = law.predict_draws(N=1e8, D=2e9)
        lo, hi = law.interval(N=1e8, D=2e9)
    zero_e = float(law.predict(N=1e8, D=2e9)) - point["E"]
    assert both[1] == pytest.approx(zero_e, rel=1e-12) and both[0] == pytest.approx(zero_e + point["E"])
    assert lo < hi


# -- also noticed ---------------------------------------------------------------------------------------


def test_one_thread_per_run_unless_asked() -> None:
    """A lone run (the last one of a resumed sweep) keeps the one thread its sweep gave it."""
    from lmscale.sweep.local import plan_resources

    assert plan_resources(1, None, 0, cores=2) == (1, 1)
    assert plan_resources(6, None, 0, cores=2) == (2, 1)
    assert plan_resources(1, None, 0, cores=2, threads=2) == (1, 2)
