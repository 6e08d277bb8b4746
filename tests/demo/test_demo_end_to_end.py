"""The main job end to end: `lmscale demo --quick` on real English text, then a rerun that only re-renders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _lmscale(*args: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lmscale", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.imgs += 1
        for name, value in attrs:
            if name in ("src", "href") and value and value.startswith(("http://", "https://", "//")):
                self.external.append(value)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "LMSCALE_HOME": str(work / "home"), "OMP_NUM_THREADS": "1"}
    store = work / "store.db"
    first = _lmscale("demo", "--quick", "--store", str(store), "-o", str(work / "out"), cwd=work, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    second = _lmscale("demo", "--quick", "--store", str(store), "-o", str(work / "out"), cwd=work, env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"work": work, "env": env, "store": store, "first": first, "second": second}


def test_store_holds_every_run_once(demo: dict) -> None:
    from lmscale.store import Store
    from lmscale.sweep.expand import expand
    from lmscale.sweep.presets import load_preset

    planned = {r.id for r in expand(load_preset("demo-quick"))}
    with Store(demo["store"], readonly=True) as st:
        runs = st.runs(study="demo-quick")
        curves = st.curves(study="demo-quick")
        fits = st.fits("demo-quick", "chinchilla")
    assert set(runs["id"]) == planned and len(runs) == len(planned)
    assert (runs["status"] == "completed").all()
    # every run has a learning curve with several log-spaced evaluations
    assert curves.groupby("run_id")["step"].nunique().min() >= 3
    assert len(fits) == 1  # the rerun re-rendered without storing a second fit


def test_fit_json_has_intervals(demo: dict) -> None:
    fit = json.loads((demo["work"] / "out" / "fit.json").read_text())
    for name in ("E", "A", "B", "alpha", "beta"):
        assert name in fit["params"]
        lo, hi = fit["ci"][name]
        assert lo <= hi
    assert fit["conventions"]["n"] == "non-embedding" and fit["conventions"]["c"] == "6ND"
    summary = json.loads((demo["work"] / "out" / "summary.json").read_text())
    bt = summary["backtest"]
    assert bt["budget"] == 6e10 and bt["actual"] > 0
    for law in ("frontier", "approach3"):
        pred = bt[law]
        assert pred["pi_low"] <= pred["predicted"] <= pred["pi_high"]
        assert pred["rel_error"] == abs(pred["predicted"] / bt["actual"] - 1)
    # summary.json is from the rerun, which found every run in the store
    assert summary["sweep"]["skipped"] == summary["sweep"]["total"] == 22


def test_report_renders_self_contained(demo: dict) -> None:
    html = (demo["work"] / "out" / "report.html").read_text(encoding="utf-8")
    tags = _Tags()
    tags.feed(html)
    assert tags.imgs >= 3
    assert tags.external == []
    assert "demo-quick" in html


def test_rerun_only_rerenders(demo: dict) -> None:
    out = demo["second"].stdout
    assert "0 completed, 22 already in the store" in out
    assert "Report:" in out
    rows = re.findall(r"^  approach (\d): (?:backtest \d\.\d{3} decades|no backtest); a = ", out, re.M)
    assert "The three approaches at" in out and rows == ["1", "2", "3"]
    assert re.search(r"at 6\.0\de11 FLOPs", out)  # the demo plans for 10x its largest run (about 6e10 FLOPs)


def test_fit_cli_reads_the_study(demo: dict) -> None:
    res = _lmscale(
        "fit",
        "--study",
        "demo-quick",
        "--store",
        str(demo["store"]),
        "--bootstrap",
        "20",
        "--json",
        cwd=demo["work"],
        env=demo["env"],
    )
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["n_points"] == 22 and set(payload["ci"]) >= {"E", "A", "B", "alpha", "beta"}
    assert payload["conventions"]["n"] == "non-embedding" and payload["conventions"]["data"] == "study demo-quick"
    bad = _lmscale("fit", "--study", "nope", "--store", str(demo["store"]), cwd=demo["work"], env=demo["env"])
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nope" in bad.stderr


def test_branched_is_the_cpu_demo_only(tmp_path: Path) -> None:
    env = {**os.environ, "LMSCALE_HOME": str(tmp_path)}
    bad = _lmscale("demo", "--branched", "--quick", "--store", str(tmp_path / "s.db"), cwd=tmp_path, env=env)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--branched" in bad.stderr
    assert not (tmp_path / "s.db").exists()  # refused before anything is stored
