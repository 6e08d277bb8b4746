"""Sweep specs: validation messages, expansion of each design, presets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lmscale.errors import InputError
from lmscale.model.accounting import account
from lmscale.sweep.expand import expand
from lmscale.sweep.presets import load_preset, preset_names, resolve
from lmscale.sweep.spec import load_spec, parse_spec
from lmscale.sweep.throughput import assumed, sweep_seconds

BASE = {"train": {"corpus": "tiny", "tokenizer": "byte", "batch_size": 4}, "model": {"n_ctx": 16}}


def spec(**kw: object) -> dict:
    return {**BASE, **kw}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            spec(sizes=[1e3, 2e3, {"n_layer": 0, "d_model": 8}], axes={"tokens": [1e4]}),
            "t.toml: sizes[2].n_layer: must be ≥ 1",
        ),
        (
            spec(sizes=[{"n_layer": 2}], axes={"tokens": [1e4]}),
            "t.toml: sizes[0]: an explicit shape needs both n_layer and d_model",
        ),
        (
            spec(sizes=["big"], axes={"tokens": [1e4]}),
            "t.toml: sizes[0]: must be a number (target N) or a table (explicit shape)",
        ),
        (
            spec(sizes=[1e3], axes={"tokens": [1e4], "tokens_per_param": [20]}),
            "t.toml: axes: give tokens or tokens_per_param, not both",
        ),
        (spec(sizes=[1e3]), "t.toml: design 'grid' needs axes.tokens or axes.tokens_per_param"),
        (spec(sizes=[1e3], axes={"tokens": [-5]}), "t.toml: axes.tokens[0]: must be > 0"),
        (spec(sizes=[1e3], axes={"tokens": [1e4]}, colour="red"), "t.toml: colour: unknown key"),
        (
            spec(sizes=[1e3], axes={"tokens": [1e4]}, design="spiral"),
            "t.toml: design: Input should be 'grid', 'isoflop', 'curves' or 'batch-size'",
        ),
        (
            {
                **BASE,
                "train": {"corpus": "tiny", "learning_rate": 1},
                "sizes": [1e3],
                "axes": {"tokens": [1e4]},
            },
            "t.toml: train: unknown run setting 'learning_rate'",
        ),
        (spec(design="isoflop", sizes=[1e3]), "t.toml: design 'isoflop' needs an [isoflop] section"),
        (
            spec(design="isoflop", isoflop={"budgets": []}),
            "t.toml: isoflop.budgets: needs at least 1 item(s)",
        ),
        (
            spec(design="isoflop", isoflop={"budgets": [1e9], "tokens_per_param_range": [50, 5]}),
            "t.toml: isoflop.tokens_per_param_range: must be [low, high] with low < high",
        ),
        (
            spec(design="batch-size", sizes=[1e3], axes={"tokens": [1e4], "batch_size": [8]}),
            "t.toml: design 'batch-size' needs at least two axes.batch_size values",
        ),
        (
            spec(design="curves", sizes=[1e3], axes={"tokens": [1e4, 1e5]}),
            "t.toml: design 'curves' trains one long run per size",
        ),
    ],
)
def test_validation_messages(data: dict, message: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_spec(data, "t.toml")
    assert str(exc.value).startswith(message), str(exc.value)
    assert "\n" not in str(exc.value)


def test_files_toml_yaml_and_bad_syntax(tmp_path: Path) -> None:
    good = tmp_path / "g.yaml"
    good.write_text(
        "sizes: [1000]\naxes: {tokens: [10000]}\ntrain: {corpus: tiny, tokenizer: byte, batch_size: 4}\nmodel: {n_ctx: 16}\n"
    )
    assert len(expand(load_spec(good))) == 1
    bad = tmp_path / "b.toml"
    bad.write_text("sizes = [1e3\n")
    with pytest.raises(InputError, match=r"^b.toml: not valid TOML"):
        load_spec(bad)
    with pytest.raises(InputError, match="no such sweep spec file"):
        load_spec(tmp_path / "none.toml")
    with pytest.raises(
        InputError, match="neither a sweep spec file nor a preset .presets: batch-size, data-early-stop, data-limited, data-seeds, demo"
    ):
        resolve("no-such-preset")


def test_run_spec_errors_name_the_size(tmp_path: Path) -> None:
    data = spec(sizes=[1e3, {"n_layer": 1, "d_model": 12, "n_head": 5}], axes={"tokens": [1e4]})
    with pytest.raises(
        InputError, match=r"^t.toml: sizes\[1\]: model shape: d_model=12 is not divisible by n_head=5"
    ):
        expand(parse_spec(data, "t.toml"), "t.toml")
    tiny_budget = spec(sizes=[1e3], axes={"tokens": [10]})
    # budgets are rounded to whole steps (at least one): 10 tokens -> one step of 4 x 16
    assert expand(parse_spec(tiny_budget))[0].D == 64


def test_grid_expansion_counts_and_budgets() -> None:
    data = spec(
        sizes=[1e3, 1e4, {"n_layer": 2, "d_model": 32}],
        axes={"tokens_per_param": [5, 20], "seed": [0, 1], "lr": [1e-3, 3e-3]},
    )
    runs = expand(parse_spec(data))
    assert len(runs) == 3 * 2 * 2 * 2 == len({r.id for r in runs})
    for r in runs:
        assert r.D % 64 == 0  # whole steps of batch 4 x context 16
        assert abs(r.D - r.coords["tokens_per_param"] * r.N) <= 32
        acc = account(r.spec.shape)
        assert acc.params_non_embedding == r.N and r.flops_6n == 6 * r.N * r.D
    assert {r.spec.shape.n_layer for r in runs if r.N > 2e4} == {2}
    # expansion is deterministic: same ids every time
    assert [r.id for r in runs] == [r.id for r in expand(parse_spec(data))]


def test_data_seed_axis_varies_only_the_data_order() -> None:
    runs = expand(parse_spec(spec(sizes=[1e3], axes={"tokens": [1e5], "data_seed": [0, 1]})))
    runs = sorted(runs, key=lambda r: r.spec.data_seed)
    assert [(r.spec.seed, r.spec.data_seed) for r in runs] == [(0, 0), (0, 1)]
    assert len({r.id for r in runs}) == 2
    # data_seed 0 is the default: the same run as a spec without the axis
    (plain,) = expand(parse_spec(spec(sizes=[1e3], axes={"tokens": [1e5]})))
    assert plain.id == runs[0].id


def test_isoflop_expansion() -> None:
    data = spec(
        design="isoflop",
        sizes=[1e3, 3e3, 1e4, 3e4, 1e5, 3e5],
        isoflop={"budgets": [1e10, 1e11], "tokens_per_param_range": [1, 1000]},
    )
    runs = expand(parse_spec(data))
    for r in runs:
        budget = r.coords["budget"]
        assert abs(r.flops_6n - budget) <= 6 * r.N * 32  # within half a step of the budget
        assert r.D / r.N * (1 + 64 / r.D) >= 1 and r.D / r.N <= 1000 * 1.01
        assert dict(r.spec.tags)["budget"] == f"{budget:.4g}"
    per_budget = {b: sorted(r.N for r in runs if r.coords["budget"] == b) for b in (1e10, 1e11)}
    assert len(per_budget[1e10]) >= 3 and len(per_budget[1e11]) >= 3
    exact = expand(parse_spec({**data, "isoflop": {"budgets": [1e10], "flops": "exact"}}))
    assert all(abs(r.flops_exact - 1e10) / 1e10 < 0.05 for r in exact)
    with pytest.raises(InputError, match=r"isoflop.budgets\[0\]: no size gives tokens per parameter"):
        expand(parse_spec(spec(design="isoflop", sizes=[1e3], isoflop={"budgets": [1e15]})))
    generated = expand(
        parse_spec(spec(design="isoflop", isoflop={"budgets": [1e11], "points": 5, "spread": 4}))
    )
    n_opt = math.sqrt(1e11 / 120)
    assert min(r.N for r in generated) < n_opt < max(r.N for r in generated)


def test_curves_and_batch_size_designs() -> None:
    curves = expand(
        parse_spec(
            spec(design="curves", sizes=[1e3, 1e4], axes={"tokens": [1e5]}, curves={"eval_points": 25})
        )
    )
    assert [r.spec.eval_points for r in curves] == [25, 25] and len({r.D for r in curves}) == 1
    batch = expand(
        parse_spec(spec(design="batch-size", sizes=[1e4], axes={"tokens": [65536], "batch_size": [4, 8, 16]}))
    )
    assert sorted(r.spec.batch_size for r in batch) == [4, 8, 16] and all(r.spec.noise_scale for r in batch)
    assert {r.D for r in batch} == {65536}


@pytest.mark.parametrize("name", preset_names())
def test_presets_parse_and_expand(name: str) -> None:
    runs = expand(load_preset(name), name)
    assert runs and len({r.id for r in runs}) == len(runs)


def test_preset_list_and_demo_size() -> None:
    assert preset_names() == [
        "batch-size",
        "data-early-stop",
        "data-limited",
        "data-seeds",
        "demo",
        "demo-branched",
        "demo-gpu",
        "demo-quick",
        "isoflop-cpu",
        "isoflop-cpu-branched",
        "kaplan-cpu",
        "lr-sweep",
        "lstm-vs-transformer",
        "seeds",
        "shape",
        "transfer-code-english",
        "transfer-english-code",
        "transfer-english-code-es",
    ]
    demo = expand(load_preset("demo"))
    ns = [r.N for r in demo]
    assert min(ns) <= 1e3 and max(ns) >= 1e5 and max(ns) / min(ns) >= 100  # ≥ 2 orders of magnitude
    budgets = {r.coords["budget"] for r in demo}
    assert len(budgets) >= 4 and all(sum(r.coords["budget"] == b for r in demo) >= 3 for b in budgets)
    assert all(r.spec.eval_points >= 8 for r in demo)  # each run a log-spaced curve
    # CPU demo: minutes on 2 cores by the throughput model
    seconds = sweep_seconds([assumed().seconds(r) for r in demo], 2)
    assert seconds < 600
    # the branched variant: the same sizes at three times the budgets, for under half the FLOPs of
    # the same grid trained without branches
    branched = expand(load_preset("demo-branched"))
    assert {r.N for r in branched} == set(ns) and len({r.coords["budget"] for r in branched}) == 21
    assert sum(r.spent_6n for r in branched) < 0.5 * sum(r.flops_6n for r in branched)
    # a run whose decay would start inside its trunk's warmup trains alone instead
    alone = [r for r in branched if r.spec.trunk_tokens is None]
    assert 0 < len(alone) < 20 and all(r.own_steps == r.steps for r in alone)
    assert all(r.spec.branch_step >= r.spec.warmup_steps for r in branched if r.spec.trunk_tokens)
    # the IsoFLOP study branched: one trunk per size, every budget of that size a branch of it,
    # nine budgets for under 60% of the FLOPs of the same grid without branches
    iso = expand(load_preset("isoflop-cpu-branched"))
    branches = [r for r in iso if r.spec.trunk_tokens is not None]
    trunks = {r.spec.trunk_id for r in branches}
    assert len(trunks) == len({r.N for r in branches}) and len(branches) > 3 * len(trunks)
    assert len({r.coords["budget"] for r in iso}) == 9
    assert sum(r.spent_6n for r in iso) < 0.6 * sum(r.flops_6n for r in iso)
    kaplan = expand(load_preset("kaplan-cpu"))
    assert max(r.N for r in kaplan) / min(r.N for r in kaplan) >= 1e3


def test_sweep_seconds_list_scheduling() -> None:
    assert sweep_seconds([10, 10, 10, 10], 2) == 20
    assert sweep_seconds([30, 10, 10, 10], 2) == 30
    assert sweep_seconds([5], 4) == 5


def test_finished_runs_join_a_new_study(tmp_path) -> None:
    """Runs another study already trained are shared, not retrained, and belong to the new study."""
    from lmscale.store import Store
    from lmscale.store.db import RunRecord
    from lmscale.sweep.driver import run_sweep

    spec = load_preset("demo-quick")
    planned = expand(spec)
    with Store(tmp_path / "s.db") as store:
        store.record_runs(
            "a",
            [
                RunRecord(id=r.id, spec=r.spec.to_dict(), status="completed", N=r.N, D=r.D, loss=3.0)
                for r in planned
            ],
        )
        summary = run_sweep(spec, store, study="b", live=False)
        assert summary.skipped == summary.total == len(planned) and summary.completed == 0
        assert set(store.runs(study="b")["id"]) == {r.id for r in planned}
        assert len(store.runs()) == len(planned)  # shared, not copied


def test_transfer_preset_plans_each_pretraining_run_once_and_first() -> None:
    runs = expand(load_preset("transfer-english-code"))
    pre = [r for r in runs if r.coords.get("pretrain")]
    tuned = [r for r in runs if r.spec.pretrain_corpus is not None]
    scratch = [r for r in runs if not r.coords.get("pretrain") and r.spec.pretrain_corpus is None]
    assert (len(pre), len(tuned), len(scratch)) == (3, 12, 12)
    assert runs[: len(pre)] == pre  # queued first: the fine-tuning runs find them finished
    assert {r.spec.pretrain_id for r in tuned} == {r.id for r in pre}
    assert {(r.spec.corpus, r.D) for r in pre} == {("english", 732 * 4096)}  # whole steps of 32 x 128
    assert all(r.spec.corpus == "python-code" and r.spec.unique_tokens for r in tuned + scratch)
    assert all(r.coords["pretrain_tokens"] == 0 for r in scratch)
    bpe = load_preset("transfer-english-code").model_copy(deep=True)
    bpe.train["tokenizer"] = "bpe-512"
    bpe.model.vocab_size = 512
    corpora = {r.spec.resolved_tokenizer_corpora for r in expand(bpe)}
    assert corpora == {("english", "python-code")}  # from scratch, pretrained and fine-tuned: one tokenizer
    with pytest.raises(InputError, match="axes.pretrain_tokens needs train.pretrain_corpus"):
        parse_spec(spec(sizes=[1e4], axes={"tokens": [65536], "pretrain_tokens": [0, 1e5]}))


def test_lr_scale_axis_sweeps_the_rule_per_size() -> None:
    runs = expand(parse_spec(spec(sizes=[1e3, 1e4], axes={"tokens": [1e5], "lr_scale": [0.03, 0.12]})))
    assert len(runs) == 4
    for n in (1e3, 1e4):
        lrs = sorted(r.spec.peak_lr(r.N) for r in runs if abs(r.N / n - 1) < 0.2)
        assert lrs[1] == pytest.approx(4 * lrs[0])  # the same rule, four times the factor
