"""Compute-efficient frontier L(C_min) and critical batch size: known-truth recovery and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit import Law, get_law
from lmscale.fit.batch import bcrit_from_batch_sweep, critical_batch, examples_min, fit_bcrit, steps_min
from lmscale.fit.curves import PF_DAY, interp_loglog, resample_curves
from lmscale.fit.envelope import envelope_on_grid
from lmscale.fit.frontier import _offset_refit, _offset_theta, fit_frontier
from lmscale.fit.intervals import percentile_interval

# Kaplan et al. 2020 L(N, D) (DESIGN.md): its envelope over N at C = 6ND is an exact power law with
# alpha_C = aN*aD/(aN+aD) and N_opt ∝ C^(aD/(aN+aD)) (minimise (Nc/N)^(aN/aD) + 6*Dc*N/C over N).
AN, AD, NC, DC = 0.076, 0.103, 6.4e13, 1.8e13
ALPHA_C = AN * AD / (AN + AD)
A_ALLOC = AD / (AN + AD)


def kaplan_curves(n_sizes: int = 25, n_points: int = 60) -> pd.DataFrame:
    rows = []
    for i, n in enumerate(np.geomspace(1e5, 1e9, n_sizes)):
        d = np.geomspace(1e7, 1e12, n_points)
        loss = ((NC / n) ** (AN / AD) + DC / d) ** AD
        rows += [{"run": f"r{i}", "N": n, "tokens": t, "loss": v} for t, v in zip(d, loss, strict=True)]
    return pd.DataFrame(rows)


def test_envelope_recovers_kaplan_alpha_c_and_allocation() -> None:
    res = fit_frontier(kaplan_curves(), bootstrap=100, seed=1)
    # Closed form, p = aN/aD: min_N of a*N^-p + b*N (a = Nc^p, b = 6*Dc/C) is (1+p)/p * (p*a)^(1/(1+p)) *
    # b^(p/(1+p)), so L_env = (K * C^(-p/(1+p)))^aD = (C_c/C)^alpha_C with C_c = K^((1+p)/p) = 3.44e28 FLOPs
    # (4.0e8 PF-days; Kaplan's fitted 3.1e8 PF-days is of the same order).
    p = AN / AD
    k = (1 + p) / p * (p * NC**p) ** (1 / (1 + p)) * (6 * DC) ** (p / (1 + p))
    c_c = k ** ((1 + p) / p)
    assert res.params["alpha_C"] == pytest.approx(ALPHA_C, rel=2e-3)
    assert res.params["C_c"] == pytest.approx(c_c, rel=0.03)  # discrete N: the envelope sits slightly high
    assert res.derived["C_c_pfdays"] == pytest.approx(res.params["C_c"] / 8.64e19)
    lo, hi = res.ci["alpha_C"]
    assert lo <= ALPHA_C <= hi
    # The L(C) fit is a Law: predictions, draws and intervals like any fitted law.
    assert isinstance(res, Law) and res.form_name == "power" and res.x == "C"
    assert res.predict(C=1e20) == pytest.approx((res.params["C_c"] / 1e20) ** res.params["alpha_C"])
    assert res.draws.shape == (100, 2)
    assert res.ci["alpha_C"] == percentile_interval(res.draws[:, 1])
    low, high = res.interval("confidence", C=[1e18, 1e20])
    assert np.all(np.isfinite(low)) and np.all(low < high)
    assert res.allocation.exponent == pytest.approx(A_ALLOC, abs=0.01)
    assert res.r2_log > 0.9999
    assert res.conventions.c == "6ND" and res.warmup.C_convention == "6*N*tokens"
    # Points whose attaining run is the smallest or largest covering run are excluded by default.
    env = res.envelope
    assert not env.loc[env["used"], "run"].isin(["r0", "r24"]).any()
    assert any("excluded" in w for w in res.warnings)
    json.dumps(res.to_dict(), allow_nan=False)


def test_parabola_refinement_makes_allocation_exact() -> None:
    res = fit_frontier(kaplan_curves(), bootstrap=20, refine="parabola")
    assert res.allocation.exponent == pytest.approx(A_ALLOC, abs=1e-3)


def test_envelope_matches_brute_force_minimum() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        n = 10 ** rng.uniform(5, 8)
        t = np.sort(10 ** rng.uniform(6, 10, size=15))
        loss = 2 + 50 * n**-0.3 + 400 * t**-0.3 + rng.normal(0, 0.01, 15)
        rows += [{"run": i, "N": n, "tokens": a, "loss": b} for a, b in zip(t, loss, strict=True)]
    df = pd.DataFrame(rows)
    grid = resample_curves(df, n_grid=40)
    env = envelope_on_grid(grid)
    c = 6 * df["N"] * df["tokens"]
    for j, cg in enumerate(grid.C):
        vals = {r: interp_loglog(c[g.index], g["loss"], [cg])[0] for r, g in df.groupby("run")}
        vals = {r: v for r, v in vals.items() if np.isfinite(v)}
        best = min(vals, key=vals.get)
        assert env.loss[j] == pytest.approx(vals[best], rel=1e-12)
        assert grid.runs[env.run_index[j]] == best


def test_offset_form_on_chinchilla_envelope() -> None:
    # Chinchilla's L = E + A/N^a + B/D^b has the envelope E + K*C^(-ab/(a+b)) exactly.
    e, a, b, al, be = 1.69, 406.4, 410.7, 0.34, 0.28
    rows = []
    for i, n in enumerate(np.geomspace(1e6, 1e10, 30)):
        d = np.geomspace(2e7, 2e12, 60)
        rows += [{"run": i, "N": n, "tokens": t, "loss": e + a / n**al + b / t**be} for t in d]
    res = fit_frontier(pd.DataFrame(rows), form="offset", bootstrap=0, refine="parabola")
    assert res.form_name == "power-e"
    assert res.params["E"] == pytest.approx(e, abs=0.02)
    assert res.params["alpha"] == res.alpha_C == pytest.approx(al * be / (al + be), rel=0.03)
    assert res.draws is None and res.ci == {}  # bootstrap=0: no interval, no crash
    np.testing.assert_allclose(
        res.predict(C=res.envelope["C"][res.envelope["used"]]),
        res.envelope["loss"][res.envelope["used"]],
        rtol=2e-3,
    )


def test_fit_offset_exact_recovery() -> None:
    """The offset form's estimators: lmscale.fit.fit on the full envelope, a warm-started refit per resample."""
    c = np.geomspace(1e15, 1e22, 30)
    loss = 1.5 + 3e3 * c**-0.2
    theta, _ = _offset_theta(c, loss, 1e-3, seed=0)
    e, a, alpha = np.exp(theta[0]), np.exp(theta[1]), theta[2]
    assert (e, a, alpha) == pytest.approx((1.5, 3e3, 0.2), rel=1e-4)
    start = theta + np.array([0.05, 0.5, 0.02])  # a resample's optimum lies near the full-data one
    refit = _offset_refit(c, loss, 1e-3, start)
    assert (np.exp(refit[0]), np.exp(refit[1]), refit[2]) == pytest.approx((1.5, 3e3, 0.2), rel=1e-4)


def test_dominated_envelope_points_are_left_out() -> None:
    """Fixed-token runs: after a small run ends, a larger run's early (higher) loss is not efficient."""
    rows = []
    for i, n in enumerate((1e3, 1e4, 1e5)):
        tokens = np.geomspace(1e5, 1e7, 25)
        # each run ends well annealed; its early points sit far above the smaller run's end
        loss = 2.0 * (1e3 / n) ** 0.05 + 2.0 * (tokens / 1e7) ** -0.4 - 1.0
        rows.append(
            pd.DataFrame({"run": f"r{i}", "N": n, "tokens": tokens, "C": 6 * n * tokens, "loss": loss})
        )
    curves = pd.concat(rows, ignore_index=True)
    kept = fit_frontier(curves, bootstrap=0, exclude_edges=False)
    loose = fit_frontier(curves, bootstrap=0, exclude_edges=False, exclude_dominated=False)
    env = kept.envelope
    used = env[env["used"]].sort_values("C")
    assert (np.diff(used["loss"].to_numpy()) <= 1e-12).all()  # the kept frontier never rises
    assert int(loose.envelope["used"].sum()) > int(env["used"].sum())
    assert any("lower loss with less compute" in w for w in kept.warnings)


def test_frontier_bootstrap_is_seeded() -> None:
    df = kaplan_curves(12, 30)
    r1 = fit_frontier(df, bootstrap=30, seed=5)
    r2 = fit_frontier(df, bootstrap=30, seed=5)
    assert r1.ci == r2.ci


def test_frontier_bad_input() -> None:
    df = kaplan_curves(2, 10)
    with pytest.raises(InputError, match="interior run attains the minimum"):
        fit_frontier(df, bootstrap=0)
    with pytest.raises(InputError, match="at least 2 runs"):
        fit_frontier(df[df["run"] == "r0"], bootstrap=0)
    with pytest.raises(InputError, match="form must be"):
        fit_frontier(df, form="cubic")
    with pytest.raises(InputError, match="bootstrap must be an integer >= 0"):
        fit_frontier(df, bootstrap=-1)


# ---- critical batch size -----------------------------------------------------------------------

B_STAR, ALPHA_B = 2e8, 0.21  # Kaplan et al. 2020, eq. 5.3


def bcrit_kaplan(loss):
    return critical_batch(loss, B_STAR, ALPHA_B)


def batch_sweep(batches=(2**13, 2**15, 2**17, 2**19, 2**21)) -> pd.DataFrame:
    """Runs at several batch sizes generated from eq. 5.3/5.4: S(L, B) = S_min(L) (1 + B_crit(L)/B)."""
    losses = np.geomspace(6.0, 2.5, 400)
    s_min = 2e3 * (losses - 1.5) ** (-1 / 0.76)  # any decreasing S_min(L) works
    b_crit = bcrit_kaplan(losses)
    rows = []
    for b in batches:
        s = s_min * (1 + b_crit / b)
        rows += [
            {"run": f"B{b}", "batch_tokens": b, "step": st, "loss": lv}
            for st, lv in zip(s, losses, strict=True)
        ]
    return pd.DataFrame(rows)


def test_bcrit_from_batch_sweep_recovers_eq_5_4() -> None:
    res = bcrit_from_batch_sweep(batch_sweep(), targets=[5.0, 4.0, 3.3, 3.0, 2.7])
    t = res.table
    np.testing.assert_allclose(t["B_crit"], bcrit_kaplan(t["loss"]), rtol=0.01)
    np.testing.assert_allclose(t["S_min"], 2e3 * (t["loss"] - 1.5) ** (-1 / 0.76), rtol=0.01)
    assert (t["n_batch"] == 5).all() and (t["rms_rel"] < 0.01).all()
    law = res.fit_bcrit(bootstrap=50)
    assert law.B_star == pytest.approx(B_STAR, rel=0.03)
    assert law.alpha_B == pytest.approx(ALPHA_B, rel=0.01)
    json.dumps(res.to_dict(), allow_nan=False)
    json.dumps(law.to_dict(), allow_nan=False)


def test_bcrit_intervals_resample_runs_not_pairs() -> None:
    """Each run's steps carry its own noise (shared by all its targets), so the per-target B_crit are
    not independent: intervals over resampled (loss, B_crit) pairs miss the true α_B, intervals over
    resampled runs (BatchSweepResult.fit_bcrit) cover it. 4 noisy sweeps; measured 4/4 against 0/4."""
    covered = {"runs": 0, "pairs": 0}
    for seed in range(4):
        rng = np.random.default_rng(seed)
        df = batch_sweep()
        scale = {r: np.exp(rng.normal(0.0, 0.15)) for r in df["run"].unique()}
        df["step"] *= df["run"].map(scale)
        res = bcrit_from_batch_sweep(df, targets=[5.0, 4.0, 3.3, 3.0, 2.7])
        by_runs = res.fit_bcrit(bootstrap=200, seed=0)
        by_pairs = fit_bcrit(res.table, bootstrap=200, seed=0)
        assert by_runs.alpha_B == pytest.approx(by_pairs.alpha_B) and by_runs.draws.shape == (200, 2)
        for name, law in (("runs", by_runs), ("pairs", by_pairs)):
            lo, hi = law.ci["alpha_B"]
            covered[name] += lo <= ALPHA_B <= hi
    assert covered["runs"] >= 3 and covered["pairs"] <= 1, covered


def test_bcrit_default_targets_and_tokens_column() -> None:
    df = batch_sweep()
    df["tokens"] = df["step"] * df["batch_tokens"]
    res = bcrit_from_batch_sweep(df.drop(columns=["step"]), n_targets=5)
    assert len(res.table) == 5
    np.testing.assert_allclose(
        res.table["B_crit"], bcrit_kaplan(res.table["loss"]), rtol=0.01
    )


def test_fit_bcrit_exact_and_noisy() -> None:
    loss = np.geomspace(2.5, 5, 10)
    df = pd.DataFrame({"loss": loss, "B_crit": bcrit_kaplan(loss)})
    law = fit_bcrit(df, bootstrap=100)
    assert (law.B_star, law.alpha_B) == pytest.approx((2e8, 0.21), rel=1e-9)
    assert law.draws.shape == (100, 2)
    rng = np.random.default_rng(0)
    df["B_crit"] *= np.exp(rng.normal(0, 0.1, len(df)))
    law = fit_bcrit(df, bootstrap=500, seed=2)
    lo, hi = law.ci["alpha_B"]
    assert (lo, hi) == percentile_interval(law.draws[:, 1])
    assert lo <= 0.21 <= hi
    assert law.predict(3.0) == pytest.approx(law.B_star / 3.0 ** (1 / law.alpha_B))


def test_step_and_example_adjustments() -> None:
    s_min, e_min = 1e4, 3e9
    b_crit = e_min / s_min
    for b in (1e4, b_crit, 1e7):
        s, e = s_min * (1 + b_crit / b), e_min * (1 + b / b_crit)
        assert steps_min(s, b, b_crit) == pytest.approx(s_min)
        assert examples_min(e, b, b_crit) == pytest.approx(e_min)
        assert e == pytest.approx(b * s)  # eq. 5.4 is consistent with E = B*S
    assert math.isclose(float(bcrit_kaplan(1.0)), 2e8)
    published = get_law("kaplan2020-bcrit")
    assert (published.B_star, published.alpha_B) == (B_STAR, ALPHA_B)


def test_bcrit_bad_input() -> None:
    df = batch_sweep(batches=(2**15,))
    with pytest.raises(InputError, match="2 or more distinct values of 'batch_tokens'"):
        bcrit_from_batch_sweep(df)
    df = batch_sweep()
    df.loc[3, "batch_tokens"] = 7
    with pytest.raises(InputError, match="several batch sizes"):
        bcrit_from_batch_sweep(df)
    with pytest.raises(InputError, match="missing column"):
        bcrit_from_batch_sweep(batch_sweep().drop(columns=["batch_tokens"]))
    with pytest.raises(InputError, match="column 'B_crit' .* data row 2"):
        fit_bcrit(pd.DataFrame({"loss": [3.0, 2.0], "B_crit": [1e6, -1.0]}))
    with pytest.raises(InputError, match="2 or more distinct"):
        fit_bcrit(pd.DataFrame({"loss": [3.0, 3.0], "B_crit": [1e6, 2e6]}))
    assert PF_DAY == 8.64e19


def test_frontier_noisy_truth_inside_ci() -> None:
    # 1% per-run loss offsets plus 0.2% point noise; measured 19/20 (alpha_C) and 20/20 (allocation) seeds.
    hits = 0
    for seed in range(4):
        df = kaplan_curves(25, 40)
        rng = np.random.default_rng(seed)
        offset = dict(zip(df["run"].unique(), np.exp(rng.normal(0, 0.01, 25)), strict=True))
        df["loss"] = df["loss"] * df["run"].map(offset) * np.exp(rng.normal(0, 0.002, len(df)))
        res = fit_frontier(df, bootstrap=200, seed=seed)
        lo, hi = res.ci["alpha_C"]
        hits += lo <= ALPHA_C <= hi
        assert res.params["alpha_C"] == pytest.approx(ALPHA_C, rel=0.05)
        assert res.allocation.exponent == pytest.approx(A_ALLOC, abs=0.05)
    assert hits >= 3
