"""Chinchilla approaches 1 and 2: known-truth recovery, Epoch's reference points, flags and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import lmscale
from lmscale.errors import InputError
from lmscale.fit.budgets import assign_budgets
from lmscale.fit.compute_optimal import approach1, approach2, fit_parabolas
from lmscale.fit.intervals import percentile_interval

# Hoffmann et al. 2022 fitted law; the compute-optimal frontier of L = E + A/N^al + B/D^be under C = 6ND is
# N_opt = G (C/6)^a, D_opt = G^-1 (C/6)^b with a = be/(al+be), b = al/(al+be), G = (al*A / (be*B))^(1/(al+be)).
E, A, B, AL, BE = 1.69, 406.4, 410.7, 0.34, 0.28
A_TRUE, B_TRUE = BE / (AL + BE), AL / (AL + BE)
G = (AL * A / (BE * B)) ** (1 / (AL + BE))
# Epoch AI's 245 points from Chinchilla's Figure 4, shipped as package data (see its README for the citation).
EPOCH = Path(lmscale.__file__).parent / "reference" / "data" / "epoch2024_chinchilla_svg_extracted.csv"
CHINCHILLA_BUDGETS = [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21]


def law(n, d):
    return E + A / np.asarray(n) ** AL + B / np.asarray(d) ** BE


def n_opt(c):
    return G * (np.asarray(c) / 6) ** A_TRUE


def curves(
    seed: int | None = None, n_sizes: int = 30, n_points: int = 60, run_sigma: float = 0.01
) -> pd.DataFrame:
    """Learning curves along D for log-spaced N; with a seed, a per-run loss offset and small point noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, n in enumerate(np.geomspace(1e6, 1e10, n_sizes)):
        d = np.geomspace(2e7, 2e12, n_points)
        loss = law(n, d)
        if seed is not None:
            loss = loss * np.exp(rng.normal(0, run_sigma) + rng.normal(0, 0.002, n_points))
        rows += [{"run": f"r{i}", "N": n, "tokens": t, "loss": v} for t, v in zip(d, loss, strict=True)]
    return pd.DataFrame(rows)


def isoflops(
    seed: int | None = None, sigma: float = 0.01, budgets=None, span=(0.15, 6.5), k: int = 11
) -> pd.DataFrame:
    """IsoFLOP final points: k sizes per budget around the true optimum, log-normal loss noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(1e18, 1e22, 9) if budgets is None else budgets:
        for n in n_opt(c) * np.geomspace(*span, k):
            loss = law(n, c / (6 * n)) * (np.exp(rng.normal(0, sigma)) if seed is not None else 1.0)
            rows.append({"N": n, "C": c, "loss": loss})
    return pd.DataFrame(rows)


# ---- approach 1 --------------------------------------------------------------------------------


def test_approach1_recovers_exponents_without_noise() -> None:
    res = approach1(curves(), bootstrap=100, target_compute=1e22)
    # Attaining N is one of 30 sampled sizes (Hoffmann's procedure): tight, not exact.
    assert res.a == pytest.approx(A_TRUE, abs=0.01)
    assert res.a + res.b == pytest.approx(1.0, abs=1e-9)  # D = C/(6N) at every point
    lo, hi = res.ci["a"]
    assert lo <= A_TRUE <= hi
    assert res.N_opt.ci["exponent"] == (lo, hi)
    assert res.conventions.c == "6ND" and res.warmup.C_convention == "6*N*tokens"
    t = res.target
    assert t["N_opt"] == pytest.approx(n_opt(1e22), rel=0.05)
    assert t["D_opt"] == pytest.approx(1e22 / (6 * t["N_opt"]), rel=1e-6)
    assert t["tokens_per_param"] == pytest.approx(t["D_opt"] / t["N_opt"])
    assert t["ci"]["N_opt"][0] <= t["N_opt"] <= t["ci"]["N_opt"][1]
    # optimal(C) as Law.optimal: (N_opt, D_opt); optimal_draws pairs N and D draw by draw.
    n, d = res.optimal(1e22)
    assert (float(n), float(d)) == pytest.approx((t["N_opt"], t["D_opt"]))
    n_draws, d_draws = res.optimal_draws(1e22)
    assert n_draws.shape == d_draws.shape == (100,)
    assert percentile_interval(d_draws / n_draws) == t["ci"]["tokens_per_param"]
    json.dumps(res.to_dict(), allow_nan=False)


def test_approach1_parabola_refinement_is_exact() -> None:
    res = approach1(curves(), bootstrap=30, refine="parabola", target_compute=1e21)
    assert res.a == pytest.approx(A_TRUE, abs=5e-4)
    assert res.b == pytest.approx(B_TRUE, abs=5e-4)
    assert res.target["N_opt"] == pytest.approx(n_opt(1e21), rel=0.01)


def test_approach1_noisy_truth_inside_ci() -> None:
    # 1% per-run loss offsets (seed-to-seed variation) plus 0.2% point noise; 20/20 seeds covered when run.
    covered = 0
    for seed in range(4):
        res = approach1(curves(seed, n_points=40), bootstrap=200, seed=seed)
        lo, hi = res.ci["a"]
        covered += lo <= A_TRUE <= hi
        assert abs(res.a - A_TRUE) < 0.06
    assert covered >= 3


def test_approach1_too_few_runs() -> None:
    df = curves(n_sizes=2)
    with pytest.raises(InputError, match="at least 3 runs"):
        approach1(df)
    with pytest.raises(InputError, match="need 3"):
        approach1(curves(n_sizes=3, n_points=5), n_grid=5)


# ---- approach 2 --------------------------------------------------------------------------------


def test_approach2_recovers_exponents_without_noise() -> None:
    res = approach2(isoflops(), bootstrap=50, target_compute=1e23)
    assert res.a == pytest.approx(A_TRUE, abs=1e-3)
    assert res.b == pytest.approx(B_TRUE, abs=1e-3)
    # Per-budget optimum: a parabola in ln N is only locally exact; within 3% of the true N_opt.
    np.testing.assert_allclose(res.table["N_opt"], n_opt(res.table["C"]), rtol=0.03)
    np.testing.assert_allclose(res.table["D_opt"], res.table["C"] / (6 * res.table["N_opt"]))
    assert (res.table["status"] == "ok").all() and not res.warnings
    assert res.target["N_opt"] == pytest.approx(n_opt(1e23), rel=0.04)
    assert res.target["tokens_per_param"] == pytest.approx(res.target["D_opt"] / res.target["N_opt"])
    assert res.points is not None and len(res.points) == 99
    json.dumps(res.to_dict(), allow_nan=False)


def test_parabolas_are_the_profiles_whose_minima_are_the_vertices() -> None:
    res = approach2(isoflops(), bootstrap=0)
    profiles = res.parabolas(points=2001)
    assert set(profiles["C"]) == set(res.table["C"]) and len(profiles) == 2001 * len(res.table)
    for row in res.table.itertuples(index=False):
        g = profiles[profiles["C"] == row.C]
        # Drawn over the window of runs it was fitted to, inside the budget's sizes.
        assert g["N"].min() == pytest.approx(row.N_fit_min) and g["N"].max() == pytest.approx(row.N_fit_max)
        assert row.N_min <= row.N_fit_min < row.N_opt < row.N_fit_max <= row.N_max
        best = g.loc[g["loss"].idxmin()]
        assert best["N"] == pytest.approx(row.N_opt, rel=0.005)
        assert best["loss"] == pytest.approx(row.loss_opt, rel=1e-6)
        # Over its window it follows the true profile within 1e-4 (over all the sizes it would be off 0.5%).
        np.testing.assert_allclose(g["loss"], law(g["N"], row.C / (6 * g["N"])), rtol=1e-4)
    assert approach1(curves(), bootstrap=0).parabolas().empty  # approach 1 has no profiles


@pytest.mark.parametrize("robust", ["huber", "ls"])
def test_approach2_noisy_coverage(robust: str) -> None:
    # 1% log-normal noise, 12 seeded trials; measured 39/40 (huber) and 38/40 (ls) over 40 trials.
    covered = sum(
        (lambda r: r.ci["a"][0] <= A_TRUE <= r.ci["a"][1])(
            approach2(isoflops(seed), bootstrap=200, seed=seed, robust=robust)
        )
        for seed in range(12)
    )
    assert covered >= 10


def test_huber_irls_matches_scipy_least_squares() -> None:
    rng = np.random.default_rng(0)
    x = np.linspace(-2, 2, 25)
    y = 3 + 0.1 * x + 0.2 * x**2 + rng.normal(0, 0.01, x.size)
    y[[3, 17]] += 0.5  # two gross outliers
    delta = 1e-3
    ours = fit_parabolas(x, y, np.ones((1, x.size)), "huber", delta)[0]
    scale = np.median(y)
    sol = optimize.least_squares(
        lambda p: (p[0] + p[1] * x + p[2] * x**2 - y) / scale,
        np.polyfit(x, y, 2)[::-1],
        loss="huber",
        f_scale=delta,
        xtol=1e-14,
        ftol=1e-14,
        gtol=1e-14,
    )
    np.testing.assert_allclose(ours, sol.x, rtol=1e-4, atol=1e-6)
    ls = fit_parabolas(x, y, np.ones((1, x.size)), "ls")[0]
    np.testing.assert_allclose(ls, np.polyfit(x, y, 2)[::-1], rtol=1e-8)
    # Huber shrugs off the outliers; least squares does not.
    assert abs(ours[0] - 3) < 0.01 < abs(ls[0] - 3)
    # Integer weights equal repeating rows (how the bootstrap is vectorised).
    w = rng.integers(0, 3, size=x.size).astype(float)
    rep = np.repeat(np.arange(x.size), w.astype(int))
    np.testing.assert_allclose(
        fit_parabolas(x, y, w[None], "ls")[0], np.polyfit(x[rep], y[rep], 2)[::-1], rtol=1e-8
    )


def test_budget_outside_sampled_range_is_flagged_and_excluded() -> None:
    df = isoflops()
    last = df["C"] == df["C"].max()
    df = df[~last | (df["N"] < 0.5 * n_opt(df["C"]))]  # largest budget sampled only left of its optimum
    res = approach2(df, bootstrap=20)  # its lowest run is its largest size: the minimum is not bracketed
    assert res.table["status"].tolist()[-1] == "edge" and not res.table["used"].iloc[-1]
    assert any("smallest or largest sampled size" in w and "excluded" in w for w in res.warnings)
    assert res.a == pytest.approx(A_TRUE, abs=1e-3)
    whole = approach2(df, bootstrap=20, window="all")  # Hoffmann's whole-profile parabola
    assert whole.table["status"].tolist()[-1] == "outside" and not whole.table["used"].iloc[-1]
    assert any("outside the sampled N range" in w and "excluded" in w for w in whole.warnings)
    kept = approach2(df, bootstrap=0, exclude_outside=False, window="all")
    assert kept.table["used"].iloc[-1] and kept.table["status"].iloc[-1] == "outside"


def test_downward_parabola_and_too_few_budgets() -> None:
    df = isoflops(budgets=[1e19, 1e20, 1e21])
    bad = df["C"] == 1e21
    df.loc[bad, "loss"] = 5 - 0.01 * (np.log(df.loc[bad, "N"]) - 20) ** 2  # a cap, not a valley
    res = approach2(df, bootstrap=0, window="all")
    assert res.table["status"].tolist() == ["ok", "ok", "downward"]
    assert any("opens downward" in w for w in res.warnings)
    assert approach2(df, bootstrap=0).table["status"].tolist() == ["ok", "ok", "edge"]  # a cap's lowest run is an end
    assert any("only 2 usable budgets" in w for w in res.warnings)
    with pytest.raises(InputError, match="only 1 budget"):
        approach2(df[df["C"] != 1e20], bootstrap=0, window="all")


def test_budget_assignment_modes() -> None:
    rng = np.random.default_rng(1)
    c = np.repeat([1e19, 1e20, 1e21], 5) * 10 ** rng.uniform(-0.01, 0.01, 15)  # extraction-like scatter
    df = pd.DataFrame({"C": np.append(c, 1e22)})
    found, warn = assign_budgets(df)  # three piles; the lone run is no budget
    assert found.iloc[:15].nunique() == 3 and np.isnan(found.iloc[-1]) and "1 runs belong to no" in warn[0]
    given, warn = assign_budgets(df, budgets=[1e19, 1e20, 1e21])
    assert np.isnan(given.iloc[-1]) and "1 runs lie more than 0.3 decades" in warn[0]
    assert list(given.iloc[:15].unique()) == [1e19, 1e20, 1e21]
    km, _ = assign_budgets(df.iloc[:15], budgets=3)
    assert km.nunique() == 3
    assert (np.abs(np.log10(km.to_numpy() / np.repeat([1e19, 1e20, 1e21], 5))) < 0.05).all()
    col, _ = assign_budgets(df.assign(budget=7.0))
    assert (col == 7.0).all()


def test_d_column_and_flops_convention() -> None:
    df = isoflops()
    df["D"] = df["C"] / (6 * df["N"])
    res = approach2(df.drop(columns=["C"]), bootstrap=0)
    assert res.a == pytest.approx(A_TRUE, abs=1e-3)
    assert res.conventions.c == "6ND"
    # An exact FLOP counter 5% above 6ND: D_opt uses the table's own FLOPs per parameter-token.
    df["C"] = df["C"] * 1.05
    res = approach2(df, budgets=[float(c) * 1.05 for c in np.geomspace(1e18, 1e22, 9)], bootstrap=0)
    np.testing.assert_allclose(res.table["D_opt"], res.table["C"] / (6.3 * res.table["N_opt"]), rtol=1e-9)
    np.testing.assert_allclose(res.table["flops_per_param_token"], 6.3)


@pytest.mark.skipif(not EPOCH.exists(), reason="reference data not present")
def test_epoch_reference_points() -> None:
    d = pd.read_csv(EPOCH)
    df = pd.DataFrame({"N": d["Model Size"], "C": d["Training FLOP"], "loss": d["loss"]})
    res = approach2(df, budgets=CHINCHILLA_BUDGETS, bootstrap=200, target_compute=5.76e23)
    # Measured: a = 0.459 (sizes equal to 1e-4 merged); Hoffmann report 0.49 for approach 2.
    assert 0.45 < res.a < 0.56
    lo, hi = res.ci["a"]
    assert lo < 0.50 < hi
    assert (res.table["status"] == "ok").all() and len(res.table) == 9
    assert any("6 runs lie more than 0.3 decades" in w for w in res.warnings)
    # Gopher's budget (5.76e23 FLOPs): Hoffmann's approach 2 gives 67B parameters (their Table 3).
    lo, hi = res.target["ci"]["N_opt"]
    assert lo < 67e9 < hi


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["loss"]), r"missing column\(s\) 'loss'"),
        (lambda d: d.drop(columns=["C"]), "need a 'C' .* or a 'D'"),
        (lambda d: d.assign(N=np.where(d.index == 4, np.nan, d["N"])), "column 'N' .* data row 5"),
        (lambda d: d.assign(loss=np.where(d.index == 0, 0.0, d["loss"])), "column 'loss' .* data row 1"),
        (lambda d: d.assign(run=[0, 0] + list(range(2, len(d)))), "duplicate run id 0"),
        (lambda d: d.iloc[0:0], "no rows"),
    ],
)
def test_approach2_bad_input(mutate, message) -> None:
    with pytest.raises(InputError, match=message) as exc:
        approach2(mutate(isoflops()), bootstrap=0)
    assert "\n" not in str(exc.value)


def test_runs_without_shared_compute_say_why_there_is_no_profile() -> None:
    """Kaplan-style runs (one token count, sizes a factor apart) each have their own C: no budget."""
    n = np.geomspace(1e4, 1e6, 8)
    runs = pd.DataFrame({"N": n, "D": 1e7, "loss": 5.0 * n**-0.08})
    with pytest.raises(InputError, match="none of the 8 runs falls in an IsoFLOP budget") as exc:
        approach2(runs, bootstrap=0)
    assert "train several sizes per budget" in str(exc.value) and "\n" not in str(exc.value)


def test_bad_options() -> None:
    df = isoflops()
    with pytest.raises(InputError, match="robust"):
        approach2(df, robust="l1")
    with pytest.raises(InputError, match="target_compute"):
        approach2(df, bootstrap=0, target_compute=-1.0)
    with pytest.raises(InputError, match="40 budgets asked for, but the runs form"):
        approach2(df.iloc[:30], budgets=40)


def test_approach1_excludes_lr_warmup_by_rule() -> None:
    clean = curves(n_sizes=12, n_points=30)
    dirty = clean.copy()
    first = dirty.groupby("run").cumcount() < 3
    dirty["is_warmup"] = first
    # Warmup points carry implausibly low losses: if they leaked into the envelope, N_opt would shift.
    dirty.loc[first, "loss"] *= 0.5
    res = approach1(dirty, bootstrap=0)
    ref = approach1(clean[~first.to_numpy()], bootstrap=0)
    assert res.a == pytest.approx(ref.a, abs=1e-12)
    assert res.warmup is not None and res.warmup.n_dropped == 36
    assert res.to_dict()["warmup_exclusion"]["n_dropped"] == 36
    leaked = approach1(dirty, bootstrap=0, use_lr=False)
    assert leaked.warmup.n_dropped == 0 and abs(leaked.a - res.a) > 0.01


def test_approach1_refine_tolerates_runs_sharing_n() -> None:
    df = curves(n_sizes=10, n_points=30)
    twin = df[df["run"] == "r5"].assign(run="r5b", loss=lambda d: d["loss"] * 1.001)
    res = approach1(pd.concat([df, twin]), bootstrap=5, refine="parabola")
    assert np.isfinite(res.a)
    assert res.n_runs == 11


def test_budget_with_two_sizes_is_excluded_not_crashing() -> None:
    df = isoflops()
    small = df["C"] == df["C"].min()
    df = pd.concat([df[~small], df[small].iloc[[4, 6]]])  # two sizes left in the smallest budget
    res = approach2(df, budgets=np.geomspace(1e18, 1e22, 9), bootstrap=50)
    assert res.table["status"].iloc[0] == "too_few_sizes" and not res.table["used"].iloc[0]
    assert any("fewer than 3 distinct model sizes" in w for w in res.warnings)
    assert res.a == pytest.approx(A_TRUE, abs=1e-3)
    coef = fit_parabolas(np.array([0.0, 1.0, 1.0]), np.array([1.0, 2.0, 2.0]), np.ones((2, 3)))
    assert np.isnan(coef).all()


def _five_sizes_a_budget(seed: int) -> pd.DataFrame:
    """7 budgets of 5 sizes a factor 2 apart, the grid shifted off the optimum, 0.5% loss noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.geomspace(1e18, 1e21, 7):
        for n in n_opt(c) * 2 ** rng.uniform(-0.5, 0.5) * 2.0 ** np.arange(-2, 3):
            rows.append({"N": n, "C": c, "loss": law(n, c / (6 * n)) * np.exp(rng.normal(0, 0.005))})
    return pd.DataFrame(rows)


def test_the_fixed_design_bootstrap_keeps_every_budget() -> None:
    """Redrawing the losses of the sizes as trained (a fixed design) keeps nearly every resample, and
    its interval holds the true exponent (bench/isoflop_bootstrap.py measures both bootstraps'
    coverage over many studies)."""
    df = _five_sizes_a_budget(3)
    runs = approach2(df, bootstrap=100, seed=0, target_compute=1e22)
    noise = approach2(df, bootstrap=100, seed=0, target_compute=1e22, resample="noise")
    assert noise.a == runs.a and noise.target["N_opt"] == runs.target["N_opt"]  # same point fit
    assert noise.n_bootstrap_failed <= 2
    lo, hi = noise.ci["a"]
    assert lo < A_TRUE < hi and hi - lo < 0.3
    with pytest.raises(InputError, match="resample must be 'runs' or 'noise'"):
        approach2(df, resample="pairs")


def test_cli_resample_option(tmp_path, capsys) -> None:
    from lmscale.cli.main import main

    path = tmp_path / "isoflops.csv"
    _five_sizes_a_budget(3).to_csv(path, index=False)
    args = ["fit", str(path), "--form", "approach2", "--bootstrap", "30", "--json"]
    main([*args, "--resample", "noise"])
    out = json.loads(capsys.readouterr().out)
    assert out["n_bootstrap_failed"] <= 1 and out["ci"]["a"][0] < A_TRUE < out["ci"]["a"][1]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--resample", "pairs"])
    assert exc.value.code == 2
    assert "pairs" in capsys.readouterr().err
