"""Effective data transferred (Hernandez et al. 2021, eq. 1.1): the from-scratch law inverted in D,
exact recovery of k, α, β from noise-free synthetic runs, interval coverage with noise, the runs that
cannot be fitted counted, the study table split into from-scratch and fine-tuned runs, and the page of
`fit-transfer --html`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.law import Law
from lmscale.fit.transfer import fit_transfer, transfer_tables
from lmscale.reference.published import load_transfer_fits
from lmscale.report.transfer import transfer_html

# Kaplan et al. 2020's L(N, D) (eq. 1.5, Table 1 values) as the from-scratch truth
TRUTH = Law("kaplan-nd", {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095})
SIZES = (1e4, 3e4, 1e5, 3e5)


def synthetic(k: float, alpha: float, beta: float, noise: float, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    jitter = lambda: np.exp(rng.normal(0.0, noise)) if noise else 1.0  # noqa: E731
    scratch = [(n, d, float(TRUTH.predict(N=n, D=d)) * jitter()) for n in SIZES for d in (1e5, 3e5, 1e6, 3e6, 1e7)]
    tuned = []
    for n in SIZES:
        for d_f in (3e4, 1e5, 3e5, 1e6):
            d_e = d_f + k * d_f**alpha * n**beta
            tuned.append((n, d_f, float(TRUTH.predict(N=n, D=d_e)) * jitter()))
    return pd.DataFrame(scratch, columns=["N", "D", "loss"]), pd.DataFrame(tuned, columns=["N", "D", "loss"])


def test_effective_data_inverts_the_law() -> None:
    n = np.array([1e4, 1e5, 1e6])
    d = np.array([3e5, 2e7, 5e9])
    back = TRUTH.data_for_loss_of(TRUTH.theta(), n, TRUTH.predict(N=n, D=d))[0]
    np.testing.assert_allclose(back, d, rtol=1e-9)
    floor = TRUTH.predict(N=1e5, D=1e30)
    assert np.isinf(TRUTH.data_for_loss_of(TRUTH.theta(), 1e5, floor * 0.99)[0, 0])
    with pytest.raises(InputError, match="not a law of N and D"):
        Law("power", {"N_c": 8.8e13, "alpha_N": 0.076}).data_for_loss_of(np.zeros((1, 2)), 1e5, 3.0)


def test_noise_free_runs_give_k_alpha_beta_exactly() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    fit = fit_transfer(scratch, tuned, bootstrap=20)
    assert fit.params["k"] == pytest.approx(2000.0, rel=1e-5)
    assert fit.params["alpha"] == pytest.approx(0.2, abs=1e-6)
    assert fit.params["beta"] == pytest.approx(0.4, abs=1e-6)
    assert fit.rows["used"].all() and fit.rms_log < 1e-6
    np.testing.assert_allclose(fit.predict(tuned["D"], tuned["N"]), fit.rows["D_T"], rtol=1e-5)


def test_intervals_cover_the_truth_with_noisy_losses() -> None:
    covered = {"alpha": 0, "beta": 0}
    for seed in range(3):
        scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.003, seed=seed)
        fit = fit_transfer(scratch, tuned, bootstrap=40, seed=seed)
        for name, truth in (("alpha", 0.2), ("beta", 0.4)):
            lo, hi = fit.ci[name]
            covered[name] += lo <= truth <= hi
    assert covered == {"alpha": 3, "beta": 3}


def test_runs_beyond_from_scratch_reach_and_negative_transfer_are_counted_not_fitted() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    tuned.loc[0, "loss"] = float(TRUTH.predict(N=tuned.loc[0, "N"], D=1e30)) * 0.98  # no D reaches it
    tuned.loc[1, "loss"] = float(TRUTH.predict(N=tuned.loc[1, "N"], D=tuned.loc[1, "D"])) * 1.02  # worse than scratch
    fit = fit_transfer(scratch, tuned, bootstrap=20)
    assert not fit.rows.loc[0, "used"] and np.isinf(fit.rows.loc[0, "D_E"])
    assert not fit.rows.loc[1, "used"] and fit.rows.loc[1, "D_T"] < 0
    assert fit.params["beta"] == pytest.approx(0.4, abs=1e-6)  # the other 14 still give the truth
    text = " ".join(fit.warnings)
    assert "1 fine-tuned run(s) reach a loss" in text and "1 fine-tuned run(s) lose from pretraining" in text


def test_from_scratch_runs_without_an_early_stopping_minimum_are_flagged() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    ended = scratch.assign(trained=1e6, tokens_at_min=[1e6] * 15 + [3e5] * 5)
    fit = fit_transfer(ended, tuned, bootstrap=0)
    assert any(w.startswith("15 of 20 from-scratch runs reach their lowest loss at their last") for w in fit.warnings)
    interior = scratch.assign(trained=1e6, tokens_at_min=[1e6] * 10 + [3e5] * 10)
    assert not any("from-scratch runs reach" in w for w in fit_transfer(interior, tuned, bootstrap=0).warnings)


def test_a_design_that_cannot_separate_d_f_from_n_is_reported_not_fitted() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    one_size = fit_transfer(scratch, tuned[tuned["N"] == 1e4], bootstrap=0)
    assert not one_size.fitted and np.isnan(one_size.params["alpha"]) and np.isnan(one_size.ci["beta"][0])
    assert one_size.warnings[0].startswith("eq. 1.1 not fitted: 4 of 4 fine-tuned run(s)")
    assert one_size.rows["used"].all()  # the table is still there: D_E and D_T per run
    pairs = tuned[((tuned["N"] == 1e4) & (tuned["D"] == 3e4)) | ((tuned["N"] == 1e5) & (tuned["D"] == 3e5))]
    assert "collinear" in fit_transfer(scratch, pd.concat([pairs, pairs]), bootstrap=0).warnings[0]
    with pytest.raises(InputError, match="fine-tuned runs: run r1 has a non-positive"):
        fit_transfer(scratch, tuned.assign(run=[f"r{i}" for i in range(len(tuned))], loss=[1.0, -1.0, *tuned["loss"][2:]]))


def test_study_tables_split_scratch_and_fine_tuned_runs_by_target_corpus() -> None:
    runs = pd.DataFrame(
        {
            "run": ["pre", "s1", "s2", "t1", "t2"],
            "N": [1e4] * 5,
            "D": [3e6, 1e6, 1e6, 1e6, 1e6],
            "corpus": ["english", "code", "code", "code", "code"],
            "unique_tokens": [None, 3e4, 1e5, 3e4, 1e5],
            "pretrain_corpus": [None, None, None, "english", "english"],
            "pretrain_tokens": [None, None, None, 3e6, 3e6],
        }
    )
    curves = pd.DataFrame(
        {"run": np.repeat(runs["run"], 3), "tokens": [1e5, 3e5, 1e6] * 5, "loss": [3.0, 2.0, 2.5] * 5}
    )
    scratch, tuned = transfer_tables(runs, curves)
    assert list(scratch["run"]) == ["s1", "s2"] and list(tuned["run"]) == ["t1", "t2"]
    assert list(tuned["D"]) == [3e4, 1e5] and (tuned["loss"] == 2.0).all()  # the cap; early-stopped
    assert (scratch["tokens_at_min"] == 3e5).all() and (scratch["trained"] == 1e6).all()
    mixed = runs.assign(pretrain_tokens=[None, None, None, 3e6, 1e6])
    with pytest.raises(InputError, match="one target corpus and one pretraining setting"):
        transfer_tables(mixed, curves)
    with pytest.raises(InputError, match="no fine-tuning runs"):
        transfer_tables(runs.assign(pretrain_corpus=None), curves)


def test_page_shows_the_fit_and_the_published_law() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    fit = fit_transfer(scratch, tuned, bootstrap=10)
    page = transfer_html("study-x", fit, scratch, load_transfer_fits()["hernandez2021-text-python"])
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page and "data:text/csv" in page
    assert "α = 0.200" in page and "β = 0.400" in page and "16 of 16 fine-tuned runs" in page
    assert "http" not in page.replace("https://", "").split("<body>")[0]  # nothing fetched from elsewhere


def test_page_says_when_nothing_was_fitted() -> None:
    scratch, tuned = synthetic(2000.0, 0.2, 0.4, noise=0.0)
    fit = fit_transfer(scratch, tuned[tuned["N"] == 1e4], bootstrap=0)
    page = transfer_html("study-x", fit, scratch)
    assert "Eq. 1.1 is not fitted: 4 of 4 fine-tuned runs" in page and "eq. 1.1 not fitted" in page
    tuned.loc[:, "loss"] = 0.5  # below every from-scratch loss: no D_E, nothing for the right panel
    nothing = fit_transfer(scratch, tuned, bootstrap=0)
    assert not nothing.rows["used"].any() and "0 of 16" in transfer_html("study-x", nothing, scratch)
