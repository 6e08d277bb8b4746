"""Inference-aware planning (Sardana, Portes, Doubov & Frankle 2024)."""

from __future__ import annotations

import numpy as np
import pytest
from plan_helpers import law_with_draws

from lmscale.errors import InputError
from lmscale.plan import compute_for_loss, inference_aware, optimal


def test_no_inference_is_the_chinchilla_optimum(hoffmann, kaplan):
    for law, target in ((hoffmann, 2.0), (kaplan, 1.8)):
        plan = inference_aware(law, 0.0, target_loss=target)
        ref = compute_for_loss(law, target).allocation
        assert plan.N.value == pytest.approx(ref.N_opt.value, rel=1e-5)
        assert plan.D.value == pytest.approx(ref.D_opt.value, rel=1e-5)
        assert plan.saving == pytest.approx(0.0, abs=1e-9)


def test_more_inference_means_smaller_model_more_data(hoffmann):
    ns, ds = [], []
    for tokens in (0.0, 1e11, 1e12, 1e13, 1e14):
        plan = inference_aware(hoffmann, tokens, target_loss=2.0)
        assert float(hoffmann.predict(N=plan.N.value, D=plan.D.value)) == pytest.approx(2.0, rel=1e-9)
        assert plan.total_cost <= plan.training_only_total_cost * (1 + 1e-9)
        ns.append(plan.N.value)
        ds.append(plan.D.value)
    assert all(np.diff(ns) < 0) and all(np.diff(ds) > 0)


def test_matches_brute_force_on_the_iso_loss_curve(hoffmann):
    """Independent check: scan N, solve D from L(N, D) = target, minimise 6ND + 2NI."""
    p, target, tokens = dict(hoffmann.params), 2.0, 1e13
    n_min = (p["A"] / (target - p["E"])) ** (1 / p["alpha"])
    n = n_min * np.logspace(1e-4, 3, 200_001)
    d = (p["B"] / (target - p["E"] - p["A"] / n ** p["alpha"])) ** (1 / p["beta"])
    best = n[np.argmin(6 * n * d + 2 * n * tokens)]
    plan = inference_aware(hoffmann, tokens, target_loss=target)
    assert plan.N.value == pytest.approx(best, rel=1e-3)


def test_target_from_budget_and_cost_ratio(hoffmann):
    plan = inference_aware(hoffmann, 1e13, flops=1e23)
    assert plan.target_loss == pytest.approx(optimal(hoffmann, 1e23).loss.value)
    cheap = inference_aware(hoffmann, 1e13, flops=1e23, inference_cost_per_flop=0.1)
    assert plan.N.value < cheap.N.value  # cheaper inference matters less: closer to Chinchilla


def test_intervals_and_errors(hoffmann):
    plan = inference_aware(law_with_draws(0.05, n=50), 1e12, target_loss=2.1)
    assert plan.N.low <= plan.N.value <= plan.N.high
    with pytest.raises(InputError, match="irreducible"):
        inference_aware(hoffmann, 1e12, target_loss=1.6)
    with pytest.raises(InputError, match="inference tokens"):
        inference_aware(hoffmann, -1, target_loss=2.0)
    with pytest.raises(InputError, match="target loss or a compute budget"):
        inference_aware(hoffmann, 1e12)
