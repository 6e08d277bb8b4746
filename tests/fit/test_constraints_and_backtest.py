"""Pinning, tied exponents, bounds, priors; backtests and rollouts on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_runs import TRUTH, runs

from lmscale.errors import InputError
from lmscale.fit import backtest, fit, rollout


def test_pinned_parameter_is_held_and_the_rest_recovered():
    res = fit(runs("chinchilla", 0.0), "chinchilla", fixed={"E": 1.69}, bootstrap=0)
    assert res.params["E"] == 1.69
    for k in ("A", "B", "alpha", "beta"):
        assert res.params[k] == pytest.approx(TRUTH["chinchilla"][k], rel=1e-7)


def test_pinned_wrong_value_biases_the_others():
    res = fit(runs("chinchilla", 0.0), "chinchilla", fixed={"E": 1.5}, bootstrap=0)
    assert res.params["E"] == 1.5 and res.starts["best_objective"] > 1e-6


def test_tied_exponents_are_equal_and_fit_a_tied_truth():
    truth = {**TRUTH["chinchilla"], "beta": 0.34}
    df = runs("chinchilla", 0.0)
    from lmscale.fit import Law

    df["loss"] = Law("chinchilla", truth).predict(N=df["N"], D=df["D"])
    res = fit(df, "chinchilla", tie_exponents=True, bootstrap=10, seed=1, n_jobs=1)
    assert res.params["alpha"] == res.params["beta"] == pytest.approx(0.34, rel=1e-7)
    assert res.derived["a"] == pytest.approx(0.5)
    assert np.all(res.draws[:, 3] == res.draws[:, 4])


def test_fixed_exponents_for_comparison():
    res = fit(runs("chinchilla", 0.0), "chinchilla", fixed={"alpha": 0.34, "beta": 0.28}, bootstrap=0)
    assert res.params["A"] == pytest.approx(406.4, rel=1e-7)
    assert res.params["B"] == pytest.approx(410.7, rel=1e-7)


def test_bounds_bind_and_warn():
    res = fit(runs("chinchilla", 0.0), "chinchilla", bounds={"E": (1.75, 3.0)}, bootstrap=0)
    assert res.params["E"] == pytest.approx(1.75, rel=1e-9)
    assert any("E ended at its bound" in w for w in res.warnings)


def test_prior_pulls_towards_its_mean_by_its_width():
    df = runs("chinchilla", 0.01, seed=3)
    free = fit(df, "chinchilla", bootstrap=0).params["E"]
    tight = fit(df, "chinchilla", priors={"E": (2.2, 1e-4)}, bootstrap=0).params["E"]
    loose = fit(df, "chinchilla", priors={"E": (2.2, 100.0)}, bootstrap=0).params["E"]
    assert tight == pytest.approx(2.2, abs=1e-3)
    assert loose == pytest.approx(free, rel=1e-3)


def test_identification_warnings():
    df = runs("chinchilla", 0.0)
    narrow = df[df["N"] <= 2e8]  # three sizes over 1.2 decades
    res = fit(narrow, "chinchilla", bootstrap=0)
    assert any("N spans only 1.20 decades" in w for w in res.warnings)
    assert not any("D spans" in w for w in res.warnings)
    diag = df.copy()
    diag["D"] = 20 * diag["N"] * np.exp(np.random.default_rng(0).normal(0, 0.05, len(diag)))
    from lmscale.fit import Law

    diag["loss"] = Law("chinchilla", TRUTH["chinchilla"]).predict(N=diag["N"], D=diag["D"])
    res = fit(diag.drop_duplicates(subset=["N", "D"]), "chinchilla", bootstrap=0)
    assert any("nearly collinear" in w for w in res.warnings)


def test_backtest_without_noise_is_exact():
    df = runs("chinchilla", 0.0)
    df["C"] = 6 * df["N"] * df["D"]
    bt = backtest(df, "chinchilla", cutoff=1e19, by="C", bootstrap=0)
    held = df[df["C"] > 1e19]
    assert len(bt.table) == len(held) and bt.fit.n_points == len(df) - len(held)
    assert bt.table["abs_rel_error"].max() < 1e-8


def test_backtest_error_equals_independent_computation():
    df = runs("chinchilla", 0.01, seed=4)
    bt = backtest(df, "chinchilla", cutoff=1e9, by="N", bootstrap=40, seed=0, n_jobs=1)
    held = df[df["N"] > 1e9].reset_index(drop=True)
    pred = bt.fit.predict(N=held["N"], D=held["D"])
    np.testing.assert_allclose(bt.table["abs_rel_error"], np.abs(pred / held["loss"] - 1))
    s = bt.summary()
    assert s["n_test"] == len(held) == 12 and s["n_train"] == 24
    assert s["mean_abs_rel_error"] == pytest.approx(np.mean(np.abs(pred / held["loss"] - 1)))
    inside = (held["loss"] >= bt.table["pi_low"]) & (held["loss"] <= bt.table["pi_high"])
    assert s["pi_coverage"] == pytest.approx(inside.mean())
    assert s["mean_abs_rel_error"] < 0.03  # 1% noise, 1 decade of extrapolation in N


def test_rollout_one_row_per_cutoff_and_errors_shrink_with_more_data():
    df = runs("power", 0.005, seed=5)
    frame = rollout(df, "power", cutoffs=[1e7, 1e8, 1e9], by="N", bootstrap=0)
    assert list(frame["cutoff"]) == [1e7, 1e8, 1e9]
    assert list(frame["n_test"]) == [int((df["N"] > c).sum()) for c in (1e7, 1e8, 1e9)]
    assert frame["max_abs_rel_error"].iloc[-1] < 0.02


def test_backtest_bad_cutoff():
    with pytest.raises(InputError, match="leaves no held-out runs"):
        backtest(runs("power", 0.0), "power", cutoff=1e12, by="N", bootstrap=0)
    with pytest.raises(InputError, match="no column 'S'"):
        backtest(runs("power", 0.0), "power", cutoff=1e8, by="S", bootstrap=0)


def test_kaplan_ns_with_bcrit_uses_s_min():
    """Data made with S_min = S/(1 + B_crit(L)/B): the S_min fit recovers the truth, a plain S fit cannot."""
    from lmscale.fit import Law

    truth = TRUTH["kaplan-ns"]
    b_star, alpha_b = 2e8, 0.21
    rng = np.random.default_rng(0)
    n, s_min = np.meshgrid(np.logspace(6, 9, 6), np.logspace(3, 5, 6))
    loss = Law("kaplan-ns", truth).predict(N=n.ravel(), S=s_min.ravel())
    batch = rng.choice([1e5, 1e6, 4e6], size=loss.size)
    steps = s_min.ravel() * (1 + b_star / loss ** (1 / alpha_b) / batch)
    import pandas as pd

    df = pd.DataFrame({"N": n.ravel(), "S": steps, "B": batch, "loss": loss})
    res = fit(df, "kaplan-ns", bcrit=(b_star, alpha_b), bootstrap=0)
    for k, v in truth.items():
        assert res.params[k] == pytest.approx(v, rel=1e-6), k
    assert "S_min" in res.settings["notes"][0]
    plain = fit(df, "kaplan-ns", bootstrap=0)
    assert plain.starts["best_objective"] > 1e-6
    with pytest.raises(InputError, match="columns 'S'"):
        fit(df.drop(columns=["B"]), "kaplan-ns", bcrit=(b_star, alpha_b), bootstrap=0)


def test_data_constrained_with_given_base_and_epochs_column():
    from synthetic_runs import design

    from lmscale.fit import Law, get_law

    truth = TRUTH["data-constrained"]
    df = design("data-constrained")
    df["loss"] = Law("data-constrained", truth).predict(N=df["N"], D=df["D"], U=df["U"])
    df["epochs"] = df["D"] / df["U"]
    res = fit(df.drop(columns=["U"]), "data-constrained", base=get_law("hoffmann2022"), bootstrap=0)
    assert res.params["R_D_star"] == pytest.approx(15.4, rel=1e-6)
    assert res.params["R_N_star"] == pytest.approx(5.3, rel=1e-6)
    assert "U computed as D/epochs" in res.settings["notes"]
    with pytest.raises(InputError, match="needs column 'U'"):
        fit(df.drop(columns=["U", "epochs"]), "data-constrained", bootstrap=0)
    few = df[df["D"] > df["U"]]
    with pytest.raises(InputError, match="single-epoch runs"):
        fit(few, "data-constrained", bootstrap=0)


def test_prediction_interval_puts_runs_where_the_residuals_say() -> None:
    """residual_log is pred − obs: a law that over-predicts most runs must place new runs below it."""
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from lmscale.fit import fit

    n = np.logspace(6, 9, 12)
    d = np.tile([2e9, 2e10], 6)
    df = pd.DataFrame({"N": n, "D": d, "loss": 1.8 + 400 / n**0.34 + 2000 / d**0.37})
    res = fit(df, "chinchilla", bootstrap=0)
    point = np.array([res.params[p.name] for p in res.form.params])
    res = replace(res, draws=np.tile(point, (50, 1)), residual_log=np.array([0.05] * 18 + [-0.01] * 2))
    # runs land ~5% below the law
    pred = float(np.ravel(res.predict(N=np.array([1e8]), D=np.array([1e10])))[0])
    lo, hi = res.interval("prediction", N=np.array([1e8]), D=np.array([1e10]))
    assert float(hi[0]) == pytest.approx(pred * np.exp(0.01), rel=1e-9)
    assert float(lo[0]) == pytest.approx(pred * np.exp(-0.05), rel=1e-9)
