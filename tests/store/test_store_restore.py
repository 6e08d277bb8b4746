"""`lmscale runs restore`: an export read back into a store gives the same rows, ids and studies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from test_store_db import make_record

from lmscale.errors import InputError
from lmscale.report.data import load_study
from lmscale.store import Store
from lmscale.store.io import export
from lmscale.store.restore import restore


def _two_studies(db: Path) -> None:
    with Store(db) as st:
        st.record_run("s", make_record("r1", 1e4, 2e5, 3.0))
        st.record_run("s", make_record("r2", 1e5, 2e6, 2.5))
        st.link("t", ["r2"])
        st.record_run("t", make_record("r3", 3e5, 6e6, 2.2))
        st.mark(["r3"], "diverged", "loss exploded")


def _tables(db: Path) -> dict[str, pd.DataFrame]:
    with Store(db, readonly=True) as st:
        ids = sorted(st.statuses())
        runs = st.runs().drop(columns=["host"])  # the host is kept; compared below for r1 only
        return {
            "runs": runs.sort_values("id", ignore_index=True),
            "curves": st.curves(ids).sort_index(axis=1),
            "evals": st.evals(ids),
            "position_loss": st.position_loss(ids),
        }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_restore_gives_back_every_row(tmp_path: Path, fmt: str) -> None:
    pytest.importorskip("pyarrow") if fmt == "parquet" else None
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    _two_studies(src)
    with Store(src, readonly=True) as st:
        export(st, tmp_path / "ex", fmt)
    with Store(dst) as st:
        out = restore(st, tmp_path / "ex")
    assert out == {"restored": 3, "already_held": 0, "studies": ["s", "t"], "conflicts": []}
    before, after = _tables(src), _tables(dst)
    for name in before:
        assert_frame_equal(after[name], before[name], check_dtype=False, obj=name)
    with Store(dst, readonly=True) as st:
        assert st.run("r3")["error"] == "loss exploded" and st.run("r1")["curve_points"] == 4
    assert len(load_study("s", dst).runs) == 2 and load_study("s", dst).position_loss is not None


def test_restore_a_folder_of_study_exports_keeps_what_the_store_holds(tmp_path: Path) -> None:
    """store-export/<study>/ folders, as the replication writes them; a finished run is never replaced."""
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    _two_studies(src)
    with Store(src, readonly=True) as st:
        for study in ("s", "t"):
            export(st, tmp_path / "store-export" / study, study=study)
    with Store(dst) as st:
        st.record_run("mine", make_record("r2", 1e5, 2e6, 9.9))  # trained here: must survive
        out = restore(st, tmp_path / "store-export")
        again = restore(st, tmp_path / "store-export")
        assert {k: out[k] for k in ("restored", "already_held", "studies")} == {
            "restored": 2,
            "already_held": 1,
            "studies": ["s", "t"],
        }
        # r2 is in both exports (same loss: no conflict) and in the store with another loss: one conflict
        assert out["conflicts"] == [{"run": "r2", "kept": ["store", 10.025], "other": ["s", 2.625]}]
        assert again["restored"] == 0 and again["already_held"] == 3
        assert st.run("r2")["loss"] == pytest.approx(9.9 + 0.5 / 4)
        assert sorted(st.runs(study="t")["id"]) == ["r2", "r3"]
        assert sorted(st.runs(study="mine")["id"]) == ["r2"]


def test_restore_names_a_run_two_exports_disagree_on(tmp_path: Path) -> None:
    """The same run id trained twice (two machines) with two results: the first export's is kept."""
    for name, loss in (("a", 3.0), ("b", 3.5)):
        with Store(tmp_path / f"{name}.db") as st:
            st.record_run(name, make_record("r1", 1e4, 2e5, loss))
            export(st, tmp_path / "exports" / name, study=name)
    with Store(tmp_path / "dst.db") as st:
        out = restore(st, tmp_path / "exports")
        assert out["conflicts"] == [{"run": "r1", "kept": ["a", 3.125], "other": ["b", 3.625]}]
        assert st.run("r1")["loss"] == 3.125 and out["studies"] == ["a", "b"]


def test_restore_into_a_named_study(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    _two_studies(src)
    with Store(src, readonly=True) as st:
        export(st, tmp_path / "ex", study="s")
    with Store(tmp_path / "dst.db") as st:
        assert restore(st, tmp_path / "ex", study="copy")["studies"] == ["copy"]
        assert sorted(st.runs(study="copy")["id"]) == ["r1", "r2"]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "not an lmscale export (no runs.csv"),
        ({"runs.csv": "N,D,loss\n1,2,3\n"}, "runs.csv: missing column 'id'"),
        ({"runs.csv": "id,status,spec\na,weird,{}\n"}, "runs.csv line 2 (run a): unknown status 'weird'"),
        ({"runs.csv": "id,status,spec\na,completed,{oops\n"}, "runs.csv line 2 (run a): spec is not JSON"),
        (
            {"runs.csv": "id,status,spec\na,completed,{}\n", "evals.csv": "run_id,eval_set,loss\nb,x,1\n"},
            "evals.csv: rows of run b, which runs.csv does not list",
        ),
    ],
)
def test_restore_refuses_a_bad_export_and_writes_nothing(tmp_path: Path, files: dict, message: str) -> None:
    folder = tmp_path / "ex"
    folder.mkdir()
    for name, text in files.items():
        _write(folder / name, text)
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_run("s", make_record("r1", 1e4, 2e5, 3.0))
        with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            restore(st, folder)
        assert list(st.statuses()) == ["r1"]


@pytest.mark.slow
def test_runs_restore_cli(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    _two_studies(src)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "lmscale", "runs", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    assert cli("--store", str(src), "export", "-o", str(tmp_path / "ex")).returncode == 0
    assert (tmp_path / "ex" / "position_loss.csv").is_file()
    ok = cli("--store", str(dst), "restore", str(tmp_path / "ex"))
    assert ok.returncode == 0 and "restored 3 run(s), kept 0 already in the store, into s, t" in ok.stdout
    assert ok.stderr == ""
    with Store(dst) as st:
        st.record_run("s", make_record("r1", 1e4, 2e5, 3.3))  # trained again here, another result
    again = cli("--store", str(dst), "restore", str(tmp_path / "ex"))
    assert again.returncode == 0 and "warning: run r1 was trained twice with different results" in again.stderr
    bad = cli("--store", str(dst), "restore", str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nowhere: no such folder" in bad.stderr


def test_exports_nested_deeper_are_found(tmp_path: Path) -> None:
    """A folder that holds a folder of study exports (docs/replication/study8-retrained/ holds
    store-export/lstm-vs-transformer/) restores as the inner folder does."""
    src = tmp_path / "src.db"
    _two_studies(src)
    with Store(src, readonly=True) as st:
        export(st, tmp_path / "top" / "store-export" / "s", "csv", study="s")
        export(st, tmp_path / "top" / "store-export" / "t", "csv", study="t")
    (tmp_path / "top" / "README.md").write_text("not an export")
    with Store(tmp_path / "dst.db") as st:
        out = restore(st, tmp_path / "top")
    assert out["restored"] == 3 and out["studies"] == ["s", "t"]
