"""The annealing law (Tissue et al. 2024): areas as defined, parameters recovered from synthetic
curves with known truth, and a cosine run's final loss predicted from WSD runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.annealing import AnnealingFit, areas_at, fit_annealing, lr_areas, warmup_end
from lmscale.model import ModelShape
from lmscale.train.schedule import lr_trace
from lmscale.train.spec import RunSpec

TRUTH = AnnealingFit(L0=2.0, A=1.5, alpha=0.45, C=0.35)
SHAPE = ModelShape(n_layer=1, d_model=16, n_head=2, n_ctx=32, vocab_size=32)


def spec(schedule: str, tokens: int, **kw) -> RunSpec:
    return RunSpec(shape=SHAPE, tokens=tokens, batch_size=16, schedule=schedule, warmup=0.02, **kw)


def test_areas_match_the_double_sum_definition() -> None:
    lr = np.array([1.0, 1.0, 0.8, 0.5, 0.5, 0.2])
    s1, s2 = lr_areas(lr, decay=0.9)
    assert np.allclose(s1, np.cumsum(lr))
    eta = np.concatenate([[lr[0]], lr])  # η_0 = the peak
    want = [sum(sum((eta[k - 1] - eta[k]) * 0.9 ** (i - k) for k in range(1, i + 1)) for i in range(1, j + 1)) for j in range(1, 7)]
    assert np.allclose(s2, want)
    warm = np.array([0.25, 0.5, 1.0, 1.0, 0.5])
    assert warmup_end(warm) == 3
    assert lr_areas(warm)[0][0] == 1.0  # warmup counted at the peak


def synthetic_curve(run: RunSpec, noise: float, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    trace = lr_trace(run, 1e-3)
    s1, s2 = lr_areas(trace)
    steps = np.unique(np.geomspace(1, run.steps, 30).astype(int))
    loss = TRUTH.predict(s1[steps - 1], s2[steps - 1]) * (1 + noise * rng.standard_normal(len(steps)))
    return pd.DataFrame({"run_id": run.id, "step": steps, "loss": loss}), trace


def wsd_fit(noise: float) -> AnnealingFit:
    rng = np.random.default_rng(0)
    wsd = [spec("wsd", t, trunk_tokens=2_000_000) for t in (500_000, 1_000_000, 2_000_000)]
    curves, traces = [], {}
    for run in wsd:
        df, traces[run.id] = synthetic_curve(run, noise, rng)
        curves.append(df)
    return fit_annealing(areas_at(pd.concat(curves), traces))


def test_exact_curves_give_the_truth() -> None:
    fitted = wsd_fit(0.0)
    for name in ("L0", "A", "alpha", "C"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUTH, name), rel=1e-6)
    assert fitted.n_rows == 38 and len(fitted.runs) == 3


def test_fit_recovers_truth_and_predicts_cosine_from_wsd() -> None:
    fitted = wsd_fit(0.002)  # 0.2% noise per row
    assert fitted.alpha == pytest.approx(TRUTH.alpha, rel=0.1)
    assert pytest.approx(TRUTH.C, rel=0.1) == fitted.C
    assert pytest.approx(TRUTH.L0, rel=0.05) == fitted.L0
    cosine = spec("cosine", 2_000_000)
    trace = lr_trace(cosine, 1e-3)
    want = TRUTH.predict_final(trace)
    assert fitted.predict_final(trace) == pytest.approx(want, rel=0.01)


def test_bad_input_is_named() -> None:
    with pytest.raises(InputError, match="no learning-rate trace for run x"):
        areas_at(pd.DataFrame({"run_id": ["x"], "step": [1], "loss": [3.0]}), {})
    with pytest.raises(InputError, match="beyond its 2 steps"):
        areas_at(pd.DataFrame({"run_id": ["x"], "step": [5], "loss": [3.0]}), {"x": np.ones(2)})
    with pytest.raises(InputError, match="at least 4"):
        fit_annealing(pd.DataFrame({"S1": [1.0, 2.0], "S2": [0.0, 0.0], "loss": [3.0, 2.9]}))
    with pytest.raises(InputError, match="finite rates"):
        lr_areas(np.array([1.0, np.nan]))


def test_backtests_predict_cosine_runs_only_when_both_kinds_are_there() -> None:
    from lmscale.fit.schedule_backtest import schedule_backtests

    rng = np.random.default_rng(1)
    runs = [spec("wsd", t, trunk_tokens=2_000_000) for t in (500_000, 1_000_000, 2_000_000)] + [spec("cosine", 1_500_000)]
    curves, traces = [], {}
    for run in runs:
        df, traces[run.id] = synthetic_curve(run, 0.0, rng)
        curves.append(df.assign(N=1e4))
    schedules = {r.id: r.schedule for r in runs}
    out = schedule_backtests(pd.concat(curves), traces, schedules)
    assert list(out["cross"]["run_id"]) == [runs[-1].id]
    assert abs(out["cross"]["rel_error"].iloc[0]) < 1e-6  # exact curves: the law predicts exactly
    assert len(out["early"]) == 1 and len(out["fits"]) == 1
    wsd_only = {k: v for k, v in traces.items() if k != runs[-1].id}
    assert "cross" not in schedule_backtests(pd.concat(curves), wsd_only, schedules)
