"""Memory of a fit grows with the rows, not with seeds × rows; bootstrap counts are drawn per resample.

Issue 20: a 953k-row table was killed at 24 GB (about 150 KB per row) because variable-projection
seeding and seed scoring built (1,600 seeds × rows × K) arrays, and the bootstrap drew an
(n_boot × n_rows) count matrix up front.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from synthetic_runs import TRUTH, runs

from lmscale.fit import bootstrap as boot
from lmscale.fit import estimate, fit
from lmscale.fit.estimate import (
    SCORE_CELL_BYTES,
    VARPRO_CELL_BYTES,
    Problem,
    blocks,
    multistart,
    varpro_seeds,
)
from lmscale.fit.forms import get_form


def big_table(n: int, seed: int = 0) -> pd.DataFrame:
    """n runs from the Chinchilla law with 1% log-normal noise, N in 1e6..1e9, D in 1e8..1e11."""
    rng = np.random.default_rng(seed)
    t = TRUTH["chinchilla"]
    N = 10 ** rng.uniform(6, 9, n)
    D = 10 ** rng.uniform(8, 11, n)
    loss = t["E"] + t["A"] / N ** t["alpha"] + t["B"] / D ** t["beta"]
    return pd.DataFrame({"N": N, "D": D, "loss": loss * np.exp(rng.normal(0.0, 0.01, n))})


@pytest.mark.slow
def test_fit_memory_bounded_on_a_large_table():
    """100k rows (the unblocked code needed ~15 GB here; it takes ~45 MB now)."""
    df = big_table(100_000)
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        res = fit(df, "chinchilla", bootstrap=0, profiles=())  # a profile is ~19 more such searches
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 * 2**20, f"peak {peak / 2**20:.0f} MB"
    for name, value in TRUTH["chinchilla"].items():
        assert res.params[name] == pytest.approx(value, rel=0.02), name
    assert res.starts["n_reached_best"] == res.starts["n_starts"]


def test_a_large_table_is_searched_on_a_sample_and_refitted_on_every_row(monkeypatch):
    """Issue 20: 1M rows took over an hour (the profile of E runs ~19 multi-starts, each seeding and
    refining over every row). Above SAMPLE_ROWS the search runs on a sample; the answer is the
    every-row optimum all the same, and its objective is over every row."""
    df = big_table(3_000, seed=3)
    form = get_form("chinchilla")
    problem = Problem(form, {v: df[v].to_numpy() for v in form.variables}, np.log(df["loss"].to_numpy()))
    whole, whole_report = multistart(problem)
    assert whole_report.sample_rows is None
    monkeypatch.setattr(estimate, "SAMPLE_ROWS", 500)
    calls = []
    lbfgs = estimate.lbfgs
    monkeypatch.setattr(estimate, "lbfgs", lambda p, z, w: calls.append(p.log_loss.size) or lbfgs(p, z, w))
    sampled, report = multistart(problem)
    assert report.sample_rows == 500 and report.n_starts == 8
    assert calls.count(500) == 8 and 1 <= calls.count(3_000) <= estimate.POLISH  # one refit per basin
    np.testing.assert_allclose(sampled, whole, rtol=1e-6)
    assert report.best_objective == pytest.approx(problem.huber_sum(sampled[None, :])[0])


def test_blocks_cover_the_evaluation_once():
    for n_seeds, n_rows, budget in [(1600, 240, 2**26), (40, 100_000, 2**20), (7, 1000, 6400), (3, 5, 1)]:
        hits = np.zeros((n_seeds, n_rows), dtype=int)
        for s, r in blocks(n_seeds, n_rows, 64, budget):
            hits[s, r] += 1
            assert (s.stop - s.start) * (r.stop - r.start) * 64 <= max(budget, 64) or s.stop - s.start == 1
        assert (hits == 1).all()


@pytest.mark.parametrize("form_name", ["chinchilla", "kaplan-ns"])
def test_blocked_seeding_and_scoring_match_one_batch(form_name):
    """Splitting rows into blocks changes only the order of summation: equal to rounding."""
    df = runs(form_name, 0.01, seed=4)
    form = get_form(form_name)
    problem = Problem(form, {v: df[v].to_numpy() for v in form.variables}, np.log(df["loss"].to_numpy()))
    w = np.random.default_rng(0).multinomial(len(df), np.full(len(df), 1 / len(df))).astype(float)
    whole = varpro_seeds(problem, w)  # every row in one block
    split = varpro_seeds(problem, w, budget=VARPRO_CELL_BYTES * 5)  # 5 rows of one seed per block
    np.testing.assert_allclose(split, whole, rtol=1e-9, atol=1e-9)
    f_whole = problem.huber_sum(whole, w)
    f_split = problem.huber_sum(whole, w, budget=SCORE_CELL_BYTES * 5)
    np.testing.assert_allclose(f_split, f_whole, rtol=1e-12)


def test_resample_counts_depend_only_on_the_resample_index():
    full = boot.resample_counts(50, 10, seed=5)
    parts = np.vstack([boot.resample_counts(50, 4, seed=5), boot.resample_counts(50, 6, seed=5, start=4)])
    np.testing.assert_array_equal(parts, full)
    assert (full.sum(axis=1) == 50).all()
    spawned = np.random.SeedSequence(5).spawn(10)[7]
    np.testing.assert_array_equal(
        full[7], np.random.default_rng(spawned).multinomial(50, np.full(50, 1 / 50))
    )
    assert boot.resample_ranges(1000, 10**6, 8)[-1][1] == 1000
    assert all(b - a <= boot.COUNTS_BYTES // (8 * 10**6) for a, b in boot.resample_ranges(1000, 10**6, 8))


def bootstrap_draws(result) -> np.ndarray:
    """A fit's bootstrap draws: ``draws`` on the Law-based FitResult, ``samples`` before it."""
    d = result.draws if hasattr(result, "draws") else result.samples
    return np.empty((0, len(result.params))) if d is None else np.asarray(d)


@pytest.mark.slow
def test_bootstrap_independent_of_workers_and_blocks(monkeypatch):
    """Small count blocks (several per worker, several in the serial loop) and 1 or 2 workers: the
    same draws."""
    df = runs("chinchilla", 0.01, seed=6)
    form = get_form("chinchilla")
    problem = Problem(form, {"N": df["N"].to_numpy(), "D": df["D"].to_numpy()}, np.log(df["loss"].to_numpy()))
    theta = form.to_internal(TRUTH["chinchilla"])
    monkeypatch.setattr(boot, "COUNTS_BYTES", 8 * len(df) * 5)  # 5 resamples per block
    serial = boot.bootstrap(problem, theta, 64, seed=2, n_jobs=1)
    parallel = boot.bootstrap(problem, theta, 64, seed=2, n_jobs=2)
    assert serial.shape == (64, 5) and np.isfinite(serial).all()
    np.testing.assert_allclose(parallel, serial, rtol=1e-9)


@pytest.mark.slow
def test_two_stage_block_hook_runs_in_workers(monkeypatch):
    """The data-constrained two-stage refit (a ``block`` hook taking (spec, counts)) gets the same
    counts whether it runs in this process or in workers."""
    df = runs("data-constrained", 0.01, seed=7)
    monkeypatch.setattr(boot, "MIN_PARALLEL", 2)
    serial = fit(df, "data-constrained", bootstrap=6, seed=1, n_jobs=1)
    assert serial.settings["two_stage_bootstrap"] and len(bootstrap_draws(serial)) >= 5
    parallel = fit(df, "data-constrained", bootstrap=6, seed=1, n_jobs=2)
    np.testing.assert_allclose(bootstrap_draws(parallel), bootstrap_draws(serial), rtol=1e-9)
