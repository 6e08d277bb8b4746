"""Sweeps with cooldown branches (`branches = true`): expansion into branches of one trunk per
size, the trunk's compute counted once, and an end-to-end run whose branches record their lineage
and end where the same branch trained alone ends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmscale.errors import InputError
from lmscale.store import Store
from lmscale.sweep.driver import run_sweep
from lmscale.sweep.expand import expand
from lmscale.sweep.spec import load_spec, parse_spec
from lmscale.train import run
from lmscale.train.spec import RunSpec

BRANCHED = """
name = "branched"
design = "grid"
branches = true
sizes = [{n_layer = 1, d_model = 8}, {n_layer = 1, d_model = 16}]
[model]
n_ctx = 16
[train]
schedule = "wsd"
corpus = "tiny"
tokenizer = "byte"
batch_size = 4
eval_points = 8
eval_tokens = 512
warmup = 0.05
checkpoint_every = 5
noise_scale = false
[axes]
tokens = [1024, 2048, 4096]
"""


def test_expansion_makes_one_trunk_per_size_and_counts_it_once(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(BRANCHED)
    runs = expand(load_spec(path))
    assert len(runs) == 6
    assert {r.spec.trunk_tokens for r in runs} == {4096}
    assert len({r.spec.trunk().id for r in runs}) == 2
    for trunk in {r.spec.trunk().id for r in runs}:
        mine = [r for r in runs if r.spec.trunk().id == trunk]
        longest = max(r.spec.branch_step for r in mine)
        assert sum(r.own_steps for r in mine) == longest + sum(r.steps - r.spec.branch_step for r in mine)
    assert sum(r.spent_6n for r in runs) < 0.75 * sum(r.flops_6n for r in runs)
    # the two trunks alternate at the head of the queue: two workers start different trunks
    assert runs[0].spec.trunk().id != runs[1].spec.trunk().id


@pytest.mark.parametrize(
    "change, message",
    [
        ('schedule = "wsd"', "branches = true needs train.schedule"),
    ],
)
def test_branches_need_wsd(tmp_path: Path, change: str, message: str) -> None:
    path = tmp_path / "b.toml"
    path.write_text(BRANCHED.replace(change, 'schedule = "cosine"'))
    with pytest.raises(InputError, match=message):
        load_spec(path)
    with pytest.raises(InputError, match=message):
        parse_spec({"sizes": [1e3], "branches": True, "axes": {"tokens": [1e4]}})


def test_branched_sweep_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(BRANCHED)
    with Store(tmp_path / "s.db") as st:
        summary = run_sweep(load_spec(path), st, live=False, workers=1)
        assert (summary.completed, summary.failed) == (6, 0)
        runs = st.runs(study="branched")
        finals = {r.id: json.loads(r.final) for r in runs.itertuples()}
        specs = {r.id: RunSpec.from_dict(json.loads(r.spec)) for r in runs.itertuples()}
        longest = max(specs.values(), key=lambda s: (s.shape.d_model, s.tokens))
        assert finals[longest.id]["trunk_state_step"] > 0  # it started from a shorter branch's state
        assert finals[longest.id]["trunk_id"] == longest.trunk().id
        assert (st.run_dir(longest.id).parent / longest.trunk().id / "spec.json").exists()
        alone = run(longest, tmp_path / "alone" / longest.id)
        assert alone.final["eval_loss"] == pytest.approx(finals[longest.id]["eval_loss"], rel=0, abs=0)
        cosine = tmp_path / "c.toml"  # the same sizes trained with cosine schedules, for the law to predict
        cosine.write_text(BRANCHED.replace("branches = true", "").replace('"wsd"', '"cosine"').replace('"branched"', '"cos"'))
        run_sweep(load_spec(cosine), st, live=False, workers=1)
    cli = [sys.executable, "-m", "lmscale", "fit-schedule", "--store", str(tmp_path / "s.db")]
    done = subprocess.run([*cli, "--study", "branched", "--study", "cos", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert len(out["fits"]) == 2 and len(out["early"]) == 2
    assert len(out["cross"]) == 6  # every cosine run predicted from the WSD branches of its size
    assert all(abs(r["rel_error"]) < 0.2 for r in out["cross"])
    done = subprocess.run([*cli, "--study", "branched", "--study", "cos", "--law", "multipower", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["law"] == "multipower" and len(out["cross"]) == 6 and {"B", "beta", "gamma"} <= set(out["fits"][0])
    report = [sys.executable, "-m", "lmscale", "report", "--study", "branched", "--store", str(tmp_path / "s.db")]
    done = subprocess.run([*report, "-o", str(tmp_path / "r.html"), "--bootstrap", "0", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "schedule" in json.loads(done.stdout)["figures"]  # the study's runs carry their schedules
    bad = subprocess.run([*cli, "--study", "nothing"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no completed runs" in bad.stderr
