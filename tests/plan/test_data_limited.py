"""Data-limited plans under Muennighoff et al. 2023's data-constrained law."""

from __future__ import annotations

import math

import numpy as np
import pytest
from plan_helpers import law_with_draws

from lmscale.errors import InputError
from lmscale.fit import Law, loss_law
from lmscale.fit.forms import effective_amount as effective
from lmscale.fit.forms import params_for_data
from lmscale.plan import data_constrained_law, data_limited, optimal


def test_effective_data_by_hand():
    U, r = 1e9, 15.4
    assert effective(0.5e9, U, r) == pytest.approx(0.5e9)  # no repetition
    assert effective(U, U, r) == pytest.approx(U)
    # 2 epochs = 1 repetition: U + U*15.4*(1 - e^(-1/15.4))
    assert effective(2 * U, U, r) == pytest.approx(U * (1 + 15.4 * (1 - math.exp(-1 / 15.4))))
    assert effective(2 * U, U, r) == pytest.approx(1.9683e9, rel=1e-4)
    # infinitely many epochs saturate at U (1 + R*)
    assert effective(1e30, U, r) == pytest.approx(U * (1 + r))


@pytest.mark.parametrize("flops", [1e21, 5.76e23])
def test_large_U_equals_unconstrained(hoffmann, flops):
    free = optimal(hoffmann, flops)
    for U in (free.D_opt.value * 1.0001, 1e15):
        plan = data_limited(hoffmann, flops, U)
        assert not plan.repeats
        assert plan.N.value == pytest.approx(free.N_opt.value, rel=1e-5)
        assert plan.D.value == pytest.approx(free.D_opt.value, rel=1e-5)
        assert plan.loss.value == pytest.approx(free.loss.value, rel=1e-9)
        assert abs(plan.loss_given_up.value) < 1e-9


def test_scarce_data_repeats_and_costs_loss(hoffmann):
    flops = 5.76e23
    free = optimal(hoffmann, flops)
    given_up = []
    for U in (1e12, 3e11, 1e11):
        plan = data_limited(hoffmann, flops, U)
        assert plan.repeats and plan.epochs.value > 1
        assert plan.D.value == pytest.approx(plan.epochs.value * U)
        assert plan.effective_D < plan.D.value
        given_up.append(plan.loss_given_up.value)
        # it is a minimum of the constrained loss along C = 6ND
        law = data_constrained_law(hoffmann)
        for f in (0.9, 1.1):
            n = plan.N.value * f
            assert law.predict(N=n, D=flops / 6 / n, U=U) > plan.loss.value
    assert 0 < given_up[0] < given_up[1] < given_up[2]
    assert data_limited(hoffmann, flops, 1e12).warnings == []
    assert "epochs" in data_limited(hoffmann, flops, 1e11).warnings[0]  # 36 epochs > R_D* + 1
    assert data_limited(hoffmann, flops, 1e11).N.value < free.N_opt.value


@pytest.mark.parametrize("name", ["hoffmann2022", "kaplan2020"])
def test_u_n_is_the_optimal_size_for_U(name):
    law = loss_law(name)
    for U in (3e9, 2e12):
        u_n = params_for_data(law.derived, U)
        a = optimal(law, 6 * u_n * U)
        assert a.D_opt.value == pytest.approx(U, rel=1e-5)
        assert a.N_opt.value == pytest.approx(u_n, rel=1e-5)


def test_intervals_and_errors(hoffmann):
    plan = data_limited(law_with_draws(0.05, n=60), 1e22, 3e10)
    for est in (plan.N, plan.epochs, plan.loss_given_up):
        assert est.low <= est.value <= est.high
    assert np.isfinite(plan.to_dict()["ci"]["N_opt"]).all()
    with pytest.raises(InputError, match="unique tokens"):
        data_limited(hoffmann, 1e22, 0)
    with pytest.raises(InputError, match="R_D"):
        data_limited(hoffmann, 1e22, 1e9, r_d_star=-1)


def test_constrained_loss_is_muennighoff_eqs_5_to_7_by_hand(hoffmann):
    """The planner's loss is the base law at N', D' with U_D = min(U, D) and U_N = min(N, N_opt(U_D))."""
    p = dict(hoffmann.params)
    rd, rn = 15.387756, 5.309743  # the published R* the planner takes for a plain Chinchilla law
    N = np.array([1e8, 1e9, 3e10, 1e11])
    D = np.array([1e10, 5e11, 2e12, 1e13])
    U = 4e11
    g = (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"]))
    u_d = np.minimum(D, U)
    u_n = np.minimum(N, g * (g * u_d) ** (p["beta"] / p["alpha"]))
    d_eff = u_d + u_d * rd * (1 - np.exp(-(D / u_d - 1) / rd))
    n_eff = u_n + u_n * rn * (1 - np.exp(-(N / u_n - 1) / rn))
    by_hand = p["E"] + p["A"] / n_eff ** p["alpha"] + p["B"] / d_eff ** p["beta"]
    assert data_constrained_law(hoffmann).predict(N=N, D=D, U=U) == pytest.approx(by_hand, rel=1e-12)


def test_fitted_data_constrained_law_carries_its_r_star():
    params = {
        "E": 1.69,
        "A": 406.4,
        "B": 410.7,
        "alpha": 0.34,
        "beta": 0.28,
        "R_D_star": 5.0,
        "R_N_star": 2.0,
    }
    plan = data_limited(Law("data-constrained", params), 1e23, 1e11)
    assert plan.assumptions["R_D_star"] == 5.0 and plan.assumptions["R_N_star"] == 2.0
    default = data_limited("hoffmann2022", 1e23, 1e11)
    assert plan.loss_given_up.value > default.loss_given_up.value  # repeats are worth less with R_D* = 5
