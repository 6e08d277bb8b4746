"""Cooldown branches: a branch started from its trunk's saved state ends to the bit where training
it alone ends; lineage is recorded; the study's compute counts the trunk once; bad specs refused."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.train import RunSpec, run
from lmscale.train.branch import own_steps, trunk_dir
from lmscale.train.loop import WALL_COLUMNS
from lmscale.train.schedule import lr_at

from .test_loop import make
from .worker import synthetic_data

TRUNK = 64_000  # 125 steps of 16 x 32 tokens


def branch(tokens: int, **kw) -> RunSpec:
    return make(tokens=tokens, schedule="wsd", trunk_tokens=TRUNK, warmup=0.1, eval_points=4, **kw)


def test_branch_from_trunk_state_equals_training_it_alone(tmp_path: Path) -> None:
    data = synthetic_data()
    short, long_ = branch(24_000), branch(48_000)
    alone = run(long_, tmp_path / "alone" / long_.id, data=data)
    assert [p.name for p in (tmp_path / "alone").glob("*/state-*.pt")] == [f"state-{long_.branch_step}.pt"]
    first = run(short, tmp_path / "study" / short.id, data=data)
    saved = sorted(p.name for p in trunk_dir(tmp_path / "study" / short.id, short).glob("state-*.pt"))
    assert saved == [f"state-{short.branch_step}.pt"]
    second = run(long_, tmp_path / "study" / long_.id, data=data)
    assert second.final["trunk_state_step"] == short.branch_step  # it did start from the shared state
    assert first.final["trunk_state_step"] == 0
    assert second.final["eval_loss"] == alone.final["eval_loss"]  # to the bit
    # the whole curve too, on the same evaluation grid (only the wall-clock columns differ)
    same = [c for c in alone.curve.columns if c not in WALL_COLUMNS]
    pd.testing.assert_frame_equal(second.curve[same], alone.curve[same], check_exact=True)
    assert second.final["trunk_id"] == first.final["trunk_id"] == short.trunk().id
    assert second.final["branch_tokens"] == long_.branch_step * long_.tokens_per_step


def test_branches_share_warmup_and_stable_rate_until_their_decay() -> None:
    short, long_ = branch(24_000), branch(48_000)
    assert short.warmup_steps == long_.warmup_steps == math.ceil(0.1 * 125)
    assert short.trunk().id == long_.trunk().id
    assert short.id != long_.id
    peak = 1e-2
    for step in range(short.branch_step):
        a = lr_at("wsd", step, short.steps, peak, short.warmup_steps, 0.1, short.decay_fraction)
        b = lr_at("wsd", step, long_.steps, peak, long_.warmup_steps, 0.1, long_.decay_fraction)
        c = lr_at("constant", step, TRUNK // 512, peak, short.warmup_steps, 0.1, 0.2)
        assert a == b == c
    decayed = lr_at("wsd", short.branch_step, short.steps, peak, short.warmup_steps, 0.1, short.decay_fraction)
    assert decayed < peak


def test_study_compute_counts_the_trunk_once() -> None:
    specs = [branch(t) for t in (16_000, 32_000, 64_000)]
    own = own_steps(specs)
    longest = max(s.branch_step for s in specs)
    decays = sum(s.steps - s.branch_step for s in specs)
    assert sum(own.values()) == longest + decays
    assert sum(own.values()) < sum(s.steps for s in specs)
    plain = make(tokens=16_000)
    assert own_steps([plain]) == {plain.id: plain.steps}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"schedule": "cosine"}, "needs schedule 'wsd'"),
        ({"trunk_tokens": 8_000}, "shorter than the branch"),
    ],
)
def test_bad_branch_specs_are_refused_in_one_line(change: dict, words: str) -> None:
    kw = dict(tokens=16_000, schedule="wsd", trunk_tokens=TRUNK, warmup=0.1)
    kw.update(change)
    with pytest.raises(InputError, match=words):
        make(**kw)


def test_plain_run_has_no_trunk() -> None:
    with pytest.raises(InputError, match="not a cooldown branch"):
        make().trunk()
    assert "trunk_tokens" not in make().identity()  # ids of existing runs do not change


class _Killed(Exception):
    """Stands in for a kill: raised from the event callback, it leaves the run folder as it is."""


def _stop_after_eval(step: int):
    def on_event(event: dict) -> None:
        if event["type"] == "eval" and event["step"] >= step:
            raise _Killed

    return on_event


@pytest.mark.parametrize("where", ["mid-decay", "before the branch point"])
def test_branch_killed_then_resumed_equals_training_it_alone(tmp_path: Path, where: str) -> None:
    data = synthetic_data()
    short, long_ = branch(24_000, checkpoint_every=5), branch(48_000, checkpoint_every=5)
    alone = run(long_, tmp_path / "alone" / long_.id, data=data)
    study = tmp_path / "study"
    if where == "mid-decay":
        run(short, study / short.id, data=data)  # the long branch starts from the short one's state
        stop = long_.branch_step + (long_.steps - long_.branch_step) // 2
    else:
        stop = short.branch_step // 2  # killed in its trunk part; a shorter branch saves a state later
    with pytest.raises(_Killed):
        run(long_, study / long_.id, on_event=_stop_after_eval(stop), data=data)
    assert not (study / long_.id / "result.json").exists()
    if where != "mid-decay":
        run(short, study / short.id, data=data)  # now a trunk state newer than the checkpoint exists
    events: list[dict] = []
    resumed = run(long_, study / long_.id, on_event=events.append, data=data)
    start = events[0]["start_step"]
    if where == "mid-decay":
        assert long_.branch_step < start < long_.steps  # from its own checkpoint inside its decay
    else:
        assert start == short.branch_step  # from the trunk state, the newer of the two
    assert resumed.final["trunk_state_step"] == short.branch_step
    same = [c for c in alone.curve.columns if c not in WALL_COLUMNS]
    pd.testing.assert_frame_equal(resumed.curve[same], alone.curve[same], check_exact=True)
    assert resumed.final["eval_loss"] == alone.final["eval_loss"]
