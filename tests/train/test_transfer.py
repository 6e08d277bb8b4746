"""Fine-tuning runs (transfer): a run starts from its pretraining run's final weights, trains that run
itself when it is missing, resumes from its own checkpoint after a kill, records its lineage; the
pretraining spec drops the fine-tuning labels and shares the tokenizer; bad specs are refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.train import RunSpec, run
from lmscale.train import loop as train_loop
from lmscale.train.loop import WALL_COLUMNS
from lmscale.train.transfer import pretrain_dir

from .test_branch import _Killed, _stop_after_eval
from .test_loop import make
from .worker import synthetic_data


def tuned(**kw) -> RunSpec:
    base = dict(tokens=24_000, corpus="synthetic", pretrain_corpus="synthetic-b", pretrain_tokens=48_000, eval_points=4)
    return make(**{**base, **kw})


def test_pretrain_spec_drops_fine_tuning_settings_and_shares_the_tokenizer() -> None:
    a = tuned(unique_tokens=4_096, tags=[["D_F", "4096"]], eval_sets=["other"])
    b = tuned(unique_tokens=8_192, eval_sets=["other"])
    pre = a.pretrain()
    assert (pre.corpus, pre.tokens, pre.unique_tokens, pre.tags) == ("synthetic-b", 48_000, None, ())
    assert pre.pretrain_corpus is None and pre.pretrain_tokens is None
    assert pre.eval_sets == ("other", "synthetic")  # the fine-tuning corpus is scored during pretraining
    assert a.pretrain_id == b.pretrain_id == pre.id != a.id  # one pretraining run per model
    assert a.resolved_tokenizer_corpora == pre.resolved_tokenizer_corpora == ("other", "synthetic", "synthetic-b")
    assert "pretrain_corpus" not in make().identity()  # ids of existing runs do not change
    assert make().pretrain_id is None


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"pretrain_tokens": None}, "pretrain_tokens"),
        ({"pretrain_corpus": None}, "pretrain_corpus"),
        ({"pretrain_tokens": 100}, "pretrain_tokens"),
        ({"schedule": "wsd", "trunk_tokens": 48_000}, "trunk_tokens"),
        ({"command": "echo {run_dir}"}, "command"),
    ],
)
def test_bad_fine_tuning_specs_name_their_key(kw: dict, key: str) -> None:
    with pytest.raises(InputError, match=f"run spec: {key} "):
        tuned(**kw)


def test_fine_tuning_starts_from_the_pretrained_weights(tmp_path: Path) -> None:
    spec = tuned(warmup=0.5)  # the first evaluation comes after one warmup step, at a small fraction of the peak rate
    same = synthetic_data()  # pretraining and fine-tuning data identical: the losses must then meet
    pre = run(spec.pretrain(), pretrain_dir(tmp_path / spec.id, spec), data=same)
    scratch = run(spec.with_(pretrain_corpus=None, pretrain_tokens=None), tmp_path / "scratch", data=same)
    result = run(spec, tmp_path / spec.id, data=same)
    first = result.curve["eval_loss"].iloc[0]
    assert first == pytest.approx(pre.final["eval_loss"], abs=0.05)
    assert first < scratch.curve["eval_loss"].iloc[0] - 0.3  # not a fresh model
    assert result.final["pretrain_id"] == spec.pretrain_id
    assert (result.final["pretrain_corpus"], result.final["pretrain_tokens"]) == ("synthetic-b", 48_000)


def test_a_missing_pretraining_run_is_trained_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_loop, "open_data", lambda spec: synthetic_data(seed=1 if spec.corpus == "synthetic-b" else 0))
    spec = tuned()
    events: list[dict] = []
    run(spec, tmp_path / spec.id, on_event=events.append)
    starts = [e["run_id"] for e in events if e["type"] == "start"]
    assert starts == [spec.pretrain_id, spec.id]
    folder = pretrain_dir(tmp_path / spec.id, spec)
    assert (folder / "result.json").exists()
    again = run(spec.pretrain(), folder)  # a sweep that lists it finds it finished
    assert again.final["steps_done"] == spec.pretrain().steps


def test_fine_tuning_killed_then_resumed_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    spec = tuned(checkpoint_every=5)
    pretrain_data, data = synthetic_data(seed=1), synthetic_data()
    for study in ("alone", "study"):
        run(spec.pretrain(), pretrain_dir(tmp_path / study / spec.id, spec), data=pretrain_data)
    alone = run(spec, tmp_path / "alone" / spec.id, data=data)
    with pytest.raises(_Killed):
        run(spec, tmp_path / "study" / spec.id, on_event=_stop_after_eval(spec.steps // 2), data=data)
    events: list[dict] = []
    resumed = run(spec, tmp_path / "study" / spec.id, on_event=events.append, data=data)
    assert 0 < events[0]["start_step"] < spec.steps  # from its own checkpoint, not the pretrained weights
    cols = [c for c in alone.curve.columns if c not in WALL_COLUMNS]
    pd.testing.assert_frame_equal(resumed.curve[cols], alone.curve[cols], check_exact=True)


def test_a_diverged_pretraining_run_is_refused(tmp_path: Path) -> None:
    spec = tuned()
    pre = run(spec.pretrain(), pretrain_dir(tmp_path / spec.id, spec), data=synthetic_data(seed=1))
    folder = pretrain_dir(tmp_path / spec.id, spec)
    pre.status, pre.reason = "diverged", "loss 9.1 > 3 x lowest"
    pre.save(folder)
    with pytest.raises(InputError, match="pretraining run .* diverged"):
        run(spec, tmp_path / spec.id, data=synthetic_data())
