"""The multi-power law (Luo et al. 2025): decay terms as defined, parameters recovered from
synthetic curves with known truth, a cosine run predicted from WSD runs, and the backtests run
with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.multipower import MultiPowerFit, decay_terms, fit_multipower
from lmscale.fit.schedule_backtest import schedule_backtests, schedule_law
from lmscale.model import ModelShape
from lmscale.train.schedule import lr_trace
from lmscale.train.spec import RunSpec

TRUTH = MultiPowerFit(L0=2.0, A=1.5, alpha=0.45, B=200.0, C=2.0, beta=0.6, gamma=0.5)
SHAPE = ModelShape(n_layer=1, d_model=16, n_head=2, n_ctx=32, vocab_size=32)


def spec(schedule: str, tokens: int, **kw) -> RunSpec:
    return RunSpec(shape=SHAPE, tokens=tokens, batch_size=16, schedule=schedule, warmup=0.02, **kw)


def by_definition(lr: np.ndarray, t: int, fit: MultiPowerFit, warmup: int) -> float:
    """L(t) written as the paper's sums, one term at a time (η_0 = η_1 = the peak)."""
    post = lr[warmup:t]
    eta = np.concatenate([[post[0]], post])
    ld = 0.0
    for k in range(1, len(post) + 1):
        area = post[k - 1 :].sum()
        g = 1 - (fit.C * eta[k] ** (-fit.gamma) * area + 1) ** (-fit.beta)
        ld += (eta[k - 1] - eta[k]) * g
    return fit.L0 + fit.A * (post.sum() + lr[:warmup].sum()) ** (-fit.alpha) - fit.B * ld


def test_prediction_matches_the_double_sum_definition() -> None:
    lr = np.array([0.25, 0.5, 1.0, 1.0, 0.8, 0.5, 0.5, 0.2, 0.6])  # warmup, decays, and a rise
    fit = MultiPowerFit(L0=1.0, A=2.0, alpha=0.5, B=0.7, C=1.3, beta=0.8, gamma=0.4)
    rows = decay_terms(pd.DataFrame({"run_id": "x", "step": np.arange(3, 10)}), {"x": lr})
    want = [by_definition(lr, t, fit, warmup=2) for t in range(3, 10)]
    assert np.allclose(fit.predict_rows(rows), want, rtol=1e-12)
    assert list(rows["after_warmup"]) == [False, *[True] * 6]


def synthetic(runs: list[RunSpec], noise: float, seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    curves, traces = [], {}
    for run in runs:
        traces[run.id] = lr_trace(run, 1e-3)
        decay = np.linspace(run.branch_step or 1, run.steps, 5)
        steps = np.unique(np.concatenate([np.geomspace(1, run.steps, 30), decay]).astype(int))
        rows = decay_terms(pd.DataFrame({"run_id": run.id, "step": steps}), {run.id: traces[run.id]})
        loss = TRUTH.predict_rows(rows) * (1 + noise * rng.standard_normal(len(steps)))
        curves.append(pd.DataFrame({"run_id": run.id, "step": steps, "loss": loss, "N": 1e4}))
    return pd.concat(curves, ignore_index=True), traces


WSD = [spec("wsd", t, trunk_tokens=2_000_000) for t in (500_000, 1_000_000, 2_000_000)]


def test_exact_curves_give_the_truth() -> None:
    curves, traces = synthetic(WSD, 0.0)
    fitted = fit_multipower(decay_terms(curves, traces))
    for name in ("L0", "A", "alpha", "B", "C", "beta", "gamma"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUTH, name), rel=1e-5), name
    assert len(fitted.runs) == 3


def test_noisy_wsd_runs_predict_a_cosine_run() -> None:
    curves, traces = synthetic(WSD, 0.002)  # 0.2% noise per row
    fitted = fit_multipower(decay_terms(curves, traces))
    assert fitted.alpha == pytest.approx(TRUTH.alpha, rel=0.15)
    assert pytest.approx(TRUTH.L0, rel=0.05) == fitted.L0
    trace = lr_trace(spec("cosine", 2_000_000), 1e-3)
    assert fitted.predict_final(trace) == pytest.approx(TRUTH.predict_final(trace), rel=0.01)


def test_backtests_run_with_the_multi_power_law() -> None:
    cosine = spec("cosine", 1_500_000)
    curves, traces = synthetic([*WSD, cosine], 0.0, seed=1)
    schedules = {r.id: r.schedule for r in [*WSD, cosine]}
    out = schedule_backtests(curves, traces, schedules, law="multipower")
    assert list(out["cross"]["run_id"]) == [cosine.id]
    assert abs(out["cross"]["rel_error"].iloc[0]) < 1e-6  # exact curves: the law predicts exactly
    assert {"B", "beta", "gamma"} <= set(out["fits"].columns)


def test_bad_input_is_named() -> None:
    with pytest.raises(InputError, match="unknown schedule-aware law 'cosine'"):
        schedule_law("cosine")
    with pytest.raises(InputError, match="no learning-rate trace for run x"):
        decay_terms(pd.DataFrame({"run_id": ["x"], "step": [1], "loss": [3.0]}), {})
    with pytest.raises(InputError, match="outside 1..2"):
        decay_terms(pd.DataFrame({"run_id": ["x"], "step": [5], "loss": [3.0]}), {"x": np.ones(2)})
    rows = decay_terms(pd.DataFrame({"run_id": "x", "step": [1, 2], "loss": [3.0, 2.9]}), {"x": np.ones(2)})
    with pytest.raises(InputError, match="at least 4"):
        fit_multipower(rows)
