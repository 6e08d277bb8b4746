"""Kaplan §3.2.2's transfer line, L_other = a + b·L_train (lmscale.fit.shift): recovered on synthetic
runs with known a and b, intervals that resample runs cover b at about their level, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.shift import fit_shift

A, B = 0.4, 1.3


def runs(
    seed: int, n_runs: int = 12, per_run: int = 5, run_sd: float = 0.03, point_sd: float = 0.005
) -> pd.DataFrame:
    """Curves of ``per_run`` points each; every run is shifted off the line by its own offset, so points
    of one run are correlated (what a point bootstrap would miss)."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_runs):
        offset = rng.normal(0, run_sd)
        for x in np.linspace(2.0, 3.0, per_run) + rng.uniform(-0.5, 0.5):
            rows.append({"run": f"r{r}", "train": x, "other": A + B * x + offset + rng.normal(0, point_sd)})
    return pd.DataFrame(rows)


def test_an_exact_line_is_recovered() -> None:
    df = pd.DataFrame({"run": list("abcd"), "train": [2.0, 2.5, 3.0, 3.5]}).assign(
        other=lambda d: A + B * d["train"]
    )
    fit = fit_shift(df, "train", "other", bootstrap=50)
    assert (fit.a, fit.b, fit.r2, fit.n_runs) == (pytest.approx(A), pytest.approx(B), pytest.approx(1.0), 4)
    assert fit.residual_rms == pytest.approx(0, abs=1e-12)
    assert fit.predict([2.0, 3.0]) == pytest.approx([A + 2 * B, A + 3 * B])
    assert fit.ci["b"] == (pytest.approx(B), pytest.approx(B))


def test_run_resampled_intervals_cover_the_true_slope() -> None:
    hits = 0
    for seed in range(40):
        lo, hi = fit_shift(runs(seed, n_runs=30), "train", "other", bootstrap=200, seed=seed).ci["b"]
        hits += lo <= B <= hi
    assert 33 <= hits <= 40  # 95% nominal; measured 36 of 40 (with 12 runs, 33)


def test_bad_input_says_what_is_wrong() -> None:
    df = runs(0)
    with pytest.raises(InputError, match=r"needs columns \['run'\]"):
        fit_shift(df.drop(columns="run"), "train", "other")
    with pytest.raises(InputError, match="two distinct values of 'train'"):
        fit_shift(df.assign(train=2.0), "train", "other")
    one_run = fit_shift(df[df["run"] == "r0"], "train", "other", bootstrap=20)
    assert np.isnan(one_run.ci["b"]).all() and len(one_run.draws) == 0  # resampling one run repeats it
