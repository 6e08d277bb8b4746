"""Synthetic checks of study 10, the learning-rate rule: losses with a known best factor per size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.replicate.learning_rate import SWEEP, analyse_learning_rate, vertex

from .test_replicate_data_batch import FakeContext, by_key

SIZES = (1e3, 3e3, 1e4, 3e4, 1e5, 3e5)
CURVATURE = 0.02  # loss rises 2% per (ln factor)^2 away from the best factor


class SweepContext(FakeContext):
    def __init__(self, runs: pd.DataFrame, diverged: pd.DataFrame | None = None) -> None:
        super().__init__({"lr-sweep": (runs, None)}, bootstrap=200)
        self._diverged = diverged if diverged is not None else pd.DataFrame(columns=["run", "N", "lr_scale"])

    def diverged(self, study: str) -> pd.DataFrame:
        return self._diverged


def sweep_runs(best_factor, alpha: float = 0.08, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """L(N, f) = (1e9/N)^alpha · (1 + CURVATURE·ln(f/f*(N))²) at every size and factor of the sweep."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "run": f"n{n:g}-f{f:g}",
            "N": n,
            "lr_scale": f,
            "loss": (1e9 / n) ** alpha
            * (1 + CURVATURE * np.log(f / best_factor(n)) ** 2)
            * (1 + rng.normal(0, noise)),
        }
        for n in SIZES
        for f in SWEEP
    ]
    return pd.DataFrame(rows)


def test_vertex_recovers_the_best_factor_and_stops_at_the_ends():
    lr = np.array(SWEEP)
    assert vertex(lr, np.log(lr / 0.2) ** 2) == pytest.approx(0.2, rel=1e-9)
    assert vertex(lr, -np.log(lr)) == 0.48  # still falling at the largest factor: the end, not beyond
    assert vertex(lr, np.array([1.0, 2.0, 3.0, np.inf])) == 0.06


def test_a_rule_off_by_a_constant_factor_costs_loss_but_not_the_exponent():
    res = analyse_learning_rate(SweepContext(sweep_runs(lambda n: 0.2)))
    f = by_key(res)
    assert f["Learning-rate optimum inside the extended sweep"].verdict == "reproduced"
    assert "N≈1e3: 0.24" in f["Learning-rate optimum inside the extended sweep"].ours
    at_rule, at_best = (1 + CURVATURE * np.log(f / 0.2) ** 2 for f in (0.06, 0.24))
    cost = at_rule / at_best - 1
    assert f["Cost of the shared learning-rate rule"].statistic[0] == pytest.approx(cost, rel=1e-9)
    assert f["Cost of the shared learning-rate rule"].verdict == "not reproduced"  # about 2.9%, over 1%
    assert [o["lr_scale_star"] for o in res.numbers["optima"]] == pytest.approx([0.2] * 6, rel=1e-6)
    assert f["α_N under the tuned learning rate"].verdict == "reproduced"
    assert abs(res.numbers["alpha_N"]["difference"][0]) < 1e-9
    assert f["Best learning rate independent of N under the rule"].verdict == "reproduced"
    assert {"lr_sweep", "lr_loss_vs_n"} <= set(res.figures) and {"lr_sweep", "lr_optima"} <= set(res.tables)


def test_a_best_factor_that_falls_with_n_is_caught():
    res = analyse_learning_rate(SweepContext(sweep_runs(lambda n: 0.2 * (n / 1e4) ** -0.2, noise=0.001)))
    f = by_key(res)
    slope, lo, hi = res.numbers["lr_star_slope"]
    assert slope == pytest.approx(-0.2, abs=0.03) and lo <= -0.2 <= hi
    assert f["Best learning rate independent of N under the rule"].verdict == "not reproduced"
    # the largest sizes lose most at the rule's 0.06 less than the smallest: tuned α_N differs
    assert res.numbers["alpha_N"]["difference"][0] < 0


def test_diverged_runs_count_as_worse_and_missing_runs_are_named():
    runs = sweep_runs(lambda n: 1.0)  # best factor beyond the sweep: every size best at 0.48
    f = by_key(analyse_learning_rate(SweepContext(runs)))
    assert f["Learning-rate optimum inside the extended sweep"].statistic[0] == 6
    assert f["Learning-rate optimum inside the extended sweep"].verdict == "not reproduced"
    top = runs[runs["lr_scale"] == 0.48]
    diverged = top[["run", "N", "lr_scale"]]
    res = analyse_learning_rate(SweepContext(runs[runs["lr_scale"] < 0.48], diverged))
    assert res.numbers["diverged"] == 6
    assert "N≈1e3: 0.24" in by_key(res)["Learning-rate optimum inside the extended sweep"].ours
    with pytest.raises(InputError, match=r"no finished run at N≈3e5 lr_scale 0.48.*sweep run lr-sweep"):
        analyse_learning_rate(SweepContext(runs[~((runs["N"] == 3e5) & (runs["lr_scale"] == 0.48))]))
