"""Export to CSV/Parquet; import from CSV, W&B exports and an MLflow file store; the runs CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_store_db import make_record

from lmscale.errors import InputError
from lmscale.store import Store
from lmscale.store.external import mlflow_tables, parse_mapping, wandb_tables
from lmscale.store.io import export, import_csv


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_round_trip(tmp_path: Path, fmt: str) -> None:
    with Store(tmp_path / "s.db") as st:
        st.record_run("s", make_record("r1", 1e4, 2e5, 3.0))
        st.record_run("s", make_record("r2", 1e5, 2e6, 2.5))
        paths = export(st, tmp_path / "out", fmt)
        read = pd.read_csv if fmt == "csv" else pd.read_parquet
        runs = read(paths[0])
        curves = read(paths[1])
        assert runs["id"].tolist() == ["r1", "r2"] and np.allclose(runs["N"], [1e4, 1e5])
        assert len(curves) == 8 and np.allclose(curves["tokens"].iloc[:4], [5e4, 1e5, 1.5e5, 2e5])
        assert set(read(paths[2])["eval_set"]) == {"tiny", "code"}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_import_csv_one_row_per_run(tmp_path: Path) -> None:
    csv = write(tmp_path / "runs.csv", "N,D,loss,lr,C\n1e6,2e7,3.1,0.001,\n1e7,2e8,2.7,0.0005,1.3e16\n")
    with Store(tmp_path / "s.db") as st:
        assert import_csv(st, csv, "elsewhere") == 2
        ft = st.fit_table("elsewhere")
        assert np.allclose(ft["N"], [1e6, 1e7]) and np.allclose(ft["loss"], [3.1, 2.7])
        assert ft["C"].tolist() == pytest.approx([6 * 1e6 * 2e7, 1.3e16])  # C defaults to 6ND
        assert ft["lr"].tolist() == [0.001, 0.0005]
        assert set(ft["source"]) == {"import"}
        # importing again replaces, it does not duplicate
        import_csv(st, csv, "elsewhere")
        assert len(st.runs(study="elsewhere")) == 2


def test_import_csv_curves_with_run_and_step(tmp_path: Path) -> None:
    csv = write(
        tmp_path / "c.csv",
        "run,step,N,D,loss\na,10,1e5,1e6,4.0\na,20,1e5,2e6,3.5\nb,10,1e6,1e6,3.9\na,30,1e5,3e6,3.2\n",
    )
    with Store(tmp_path / "s.db") as st:
        assert import_csv(st, csv, "x") == 2
        ft = st.fit_table("x").set_index("N")
        assert ft.loc[1e5, "D"] == 3e6 and ft.loc[1e5, "loss"] == 3.2  # the last step is the final value
        cur = st.curves(study="x")
        a = cur[cur["N"] == 1e5]
        assert a["step"].tolist() == [10, 20, 30] and a["loss"].tolist() == [4.0, 3.5, 3.2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("N,loss\n1,2\n", "c.csv: missing column 'D'"),
        # the same numeric validator and wording as `lmscale fit` (lmscale.store.tables)
        ("N,D,loss\n1e6,2e7,3.1\n1e6,abc,3\n", "c.csv: column 'D' data row 2: 'abc' is not a finite number"),
        ("N,D,loss\n1e6,2e7,-3.1\n", "c.csv: column 'loss' data row 1: -3.1 must be positive"),
        ("N,D,loss\n1e6,2e7,\n", "c.csv: column 'loss' data row 1: missing or NaN"),
        ("N,D,loss,C\n1e6,2e7,3,\n1e6,2e7,3.1,-5\n", "c.csv: column 'C' data row 2: -5 must be positive"),
        ("N,D,loss,C\n1e6,2e7,3,inf\n", "c.csv: column 'C' data row 1: inf (not finite)"),
        ("run,N,D,loss\na,1,2,3\na,1,2,3\n", "c.csv: column run: 'a' appears twice"),
        ("N,D,loss\n1,2,3\n4,5,6\n1,2,3\n", "c.csv: data row 3 duplicates data row 1"),
        ("run,step,N,D,loss\na,1,1,2,3\na,1,1,2,3\n", "c.csv: run 'a' has step 1 twice"),
        ("run,step,N,D,loss\na,-1,1,2,3\n", "c.csv: column 'step' data row 1: must be a whole number >= 0"),
        ("", "c.csv: cannot read as a table"),
    ],
)
def test_import_csv_errors_name_line_and_column(tmp_path: Path, text: str, message: str) -> None:
    csv = write(tmp_path / "c.csv", text)
    with Store(tmp_path / "s.db") as st:
        with pytest.raises(InputError) as exc:
            import_csv(st, csv, "x")
        assert message in str(exc.value) and "\n" not in str(exc.value)
        assert st.runs().empty  # nothing half-imported


def test_wandb_json_export(tmp_path: Path) -> None:
    runs = [
        {
            "name": "small",
            "config": {"n_params": 1e6, "batch_size": 8, "block_size": 128, "lr": 1e-3},
            "history": [
                {"_step": 0, "train/loss": 9.0},
                {"_step": 100, "val/loss": 4.0, "train/loss": 4.1},
                {"_step": 200, "train/loss": 3.7},
                {"_step": 300, "val/loss": 3.5},
            ],
        },
        {
            "name": "big",
            "config": {"n_params": {"value": 1e7, "desc": None}, "batch_size": 8, "block_size": 128},
            "history": [{"_step": 300, "val/loss": 3.0}],
        },
    ]
    path = write(tmp_path / "export.json", json.dumps(runs))
    table = wandb_tables(path, {"loss": "val/loss"})
    small = table[table.run == "small"]
    assert small["step"].tolist() == [100, 300]
    assert small["D"].tolist() == [100 * 8 * 128, 300 * 8 * 128]  # _step × batch_size × block_size
    assert small["loss"].tolist() == [4.0, 3.5]
    assert table[table.run == "big"]["N"].tolist() == [1e7]
    assert wandb_tables(path).equals(table)  # val/loss is among the default names
    only_train = write(
        tmp_path / "t.json",
        json.dumps({"name": "t", "config": {"N": 1, "D": 2}, "history": [{"_step": 1, "acc": 0.5}]}),
    )
    with pytest.raises(InputError, match="run 't': no loss metric"):
        wandb_tables(only_train)
    with pytest.raises(InputError, match="--map loss=nope names no metric"):
        wandb_tables(path, {"loss": "nope"})


def test_wandb_folder_of_runs(tmp_path: Path) -> None:
    for name, n in (("run-a", 1e5), ("run-b", 1e6)):
        folder = tmp_path / "wb" / name
        folder.mkdir(parents=True)
        pd.DataFrame({"_step": [1, 2], "loss": [4.0, 3.0], "tokens": [1e6, 2e6]}).to_csv(
            folder / "history.csv", index=False
        )
        (folder / "config.yaml").write_text(
            f"n_params:\n  desc: null\n  value: {n}\n_wandb:\n  value: {{}}\n"
        )
    with Store(tmp_path / "s.db") as st:
        from lmscale.store.external import import_external

        assert import_external(st, tmp_path / "wb", "wandb", "wb") == 2
        ft = st.fit_table("wb").sort_values("N")
        assert (
            ft["N"].tolist() == [1e5, 1e6]
            and ft["D"].tolist() == [2e6, 2e6]
            and ft["loss"].tolist() == [3.0, 3.0]
        )


def make_mlruns(root: Path) -> Path:
    """The MLflow file-store layout, written by hand (no mlflow package)."""
    for exp, run, n, status in (("1", "aaa", 1e5, 3), ("1", "bbb", 1e6, 3), ("1", "ccc", 1e7, 1)):
        d = root / "mlruns" / exp / run
        (d / "metrics" / "eval").mkdir(parents=True)
        (d / "params").mkdir()
        (d / "tags").mkdir()
        (d / "meta.yaml").write_text(f"run_id: {run}\nrun_name: r-{run}\nstatus: {status}\n")
        (d / "metrics" / "eval" / "loss").write_text("1700000000000 4.5 10\n1700000001000 3.25 20\n")
        (d / "metrics" / "tokens").write_text("1700000000000 10240 10\n1700000001000 20480 20\n")
        (d / "params" / "n_params").write_text(str(int(n)))
        (d / "params" / "optimizer").write_text("adamw")
        (d / "tags" / "mlflow.runName").write_text(f"name-{run}")
    (root / "mlruns" / "1" / "meta.yaml").write_text("name: exp\n")
    return root / "mlruns"


def test_mlflow_file_store(tmp_path: Path) -> None:
    table = mlflow_tables(make_mlruns(tmp_path), {"loss": "eval/loss"})
    assert sorted(set(table["run"])) == ["name-aaa", "name-bbb"]  # the unfinished run is skipped
    a = table[table.run == "name-aaa"]
    assert (
        a["step"].tolist() == [10, 20]
        and a["loss"].tolist() == [4.5, 3.25]
        and a["D"].tolist() == [10240, 20480]
    )
    assert a["N"].tolist() == [100000, 100000] and a["optimizer"].tolist() == ["adamw"] * 2
    assert sorted(
        mlflow_tables(tmp_path / "mlruns" / "1" / "ccc", {"loss": "eval/loss"})["run"].unique()
    ) == ["name-ccc"]
    with pytest.raises(InputError, match="no MLflow runs"):
        mlflow_tables(tmp_path)


def test_parse_mapping() -> None:
    assert parse_mapping(["loss=val/loss", "N=config:n"]) == {"loss": "val/loss", "N": "config:n"}
    with pytest.raises(InputError, match="--map: 'x=1' must be"):
        parse_mapping(["x=1"])


def cli(*args: str, env_store: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmscale", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_runs_cli(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_run("s", make_record("r1abc", 1e4, 2e5, 3.0))
        st.record_run("t", make_record("r2def", 1e5, 2e6, 2.5))
        st.mark_running("t", "r3", {"x": 1})
        st.mark(["r3"], "failed", "RuntimeError: boom")
    out = cli("runs", "--store", str(db), "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(r["id"] for r in json.loads(out.stdout)) == ["r1abc", "r2def", "r3"]
    failed = json.loads(cli("runs", "--store", str(db), "--status", "failed", "--json").stdout)
    assert [r["id"] for r in failed] == ["r3"] and failed[0]["error"] == "RuntimeError: boom"
    assert [
        r["id"] for r in json.loads(cli("runs", "--store", str(db), "--study", "s", "--json").stdout)
    ] == ["r1abc"]
    shown = cli("runs", "--store", str(db), "show", "r2", "--json")
    assert json.loads(shown.stdout)["N"] == 1e5
    human = cli("runs", "--store", str(db))
    assert "r1abc" in human.stdout and "completed" in human.stdout, human.stderr
    exported = cli("runs", "--store", str(db), "export", "-o", str(tmp_path / "ex"), "--format", "csv")
    assert exported.returncode == 0 and len(pd.read_csv(tmp_path / "ex" / "runs.csv")) == 3
    csv = write(tmp_path / "in.csv", "N,D,loss\n1e6,2e7,3.1\n")
    imported = cli("runs", "--store", str(db), "import", str(csv), "--study", "ext")
    assert imported.returncode == 0 and "imported 1 run" in imported.stdout
    ml = cli(
        "runs",
        "--store",
        str(db),
        "import",
        str(make_mlruns(tmp_path)),
        "--format",
        "mlflow",
        "--study",
        "ml",
        "--map",
        "loss=eval/loss",
    )
    assert ml.returncode == 0, ml.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "--status", "weird"], "'weird' is not one of 'running'"),
        (["runs", "show", "nope"], "run 'nope' not found"),
        (["runs", "export", "-o", "OUT", "--format", "xls"], "'xls' is not one of 'csv', 'parquet'"),
        (["runs", "import", "missing.csv", "--study", "x"], "missing.csv: no such file or folder"),
        (
            ["runs", "import", "BAD", "--study", "x"],
            "bad.csv: column 'N' data row 1: 'x' is not a finite number",
        ),
        (["runs", "import", "BAD", "--study", "x", "--format", "mlflow"], "an MLflow file store is a folder"),
    ],
)
def test_runs_cli_errors(tmp_path: Path, args: list[str], message: str) -> None:
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_run("s", make_record("r1", 1e4, 2e5, 3.0))
    bad = write(tmp_path / "bad.csv", "N,D,loss\nx,1,2\n")
    args = [str(bad) if a == "BAD" else str(tmp_path / "out") if a == "OUT" else a for a in args]
    args = [str(tmp_path / a) if a == "missing.csv" else a for a in args]
    out = cli(*args[:1], "--store", str(db), *args[1:])
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmscale: error: ") and message in lines[0], out.stderr


def test_cli_refuses_a_non_store_file(tmp_path: Path) -> None:
    fake = write(tmp_path / "fake.db", "just text")
    for args in (
        ["runs", "--store", str(fake)],
        [
            "runs",
            "--store",
            str(fake),
            "import",
            str(write(tmp_path / "i.csv", "N,D,loss\n1,2,3\n")),
            "--study",
            "x",
        ],
    ):
        out = cli(*args)
        assert out.returncode == 2 and "not an lmscale store" in out.stderr
    assert fake.read_text() == "just text"


def test_import_rejects_blank_or_fractional_steps(tmp_path) -> None:
    import pandas as pd
    import pytest

    from lmscale.errors import InputError
    from lmscale.store.io import records_from_table

    blank = pd.DataFrame(
        {"run": ["a", "a"], "step": [1, None], "N": [1e5, 1e5], "D": [1e6, 2e6], "loss": [3.0, 2.9]}
    )
    with pytest.raises(InputError, match="column 'step' data row 2"):
        records_from_table(blank, "s", "runs.csv")
    frac = blank.assign(step=[1, 1.5])
    with pytest.raises(InputError, match="whole number"):
        records_from_table(frac, "s", "runs.csv")
