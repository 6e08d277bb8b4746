"""Per-position loss comparison (lmscale.fit.position): exact on noise-free curves with a known
plateau, a paired interval that finds a real difference and not a made-up one."""

from __future__ import annotations

import numpy as np
import pytest

from lmscale.fit.position import compare_positions, log2_bins, plateau_position

P = np.arange(1, 129)
KEEPS_IMPROVING = 2.0 + P**-0.5  # a transformer-like curve: better with every position
PLATEAUS = 2.1 + np.maximum(P, 32) ** -0.5  # an LSTM-like curve: flat from position 32


def test_log2_bins_cover_every_position_once() -> None:
    starts, means = log2_bins(np.arange(1.0, 129.0))
    assert list(starts) == [1, 2, 4, 8, 16, 32, 64]
    assert means[0] == 1.0 and means[-1] == pytest.approx(np.mean(np.arange(64, 129)))
    assert list(log2_bins(np.ones(90))[0]) == [1, 2, 4, 8, 16, 32]  # 64–90 would be narrower than 32–63


def test_plateau_is_where_the_curve_stops_falling() -> None:
    assert plateau_position(PLATEAUS, 2.0) == 32
    assert plateau_position(KEEPS_IMPROVING, 0.1) == 64  # within 0.1% only in its last bin
    assert plateau_position(np.full(128, 3.0), 2.0) == 1


def test_noise_free_curves_give_the_exact_difference() -> None:
    c = compare_positions(KEEPS_IMPROVING, PLATEAUS, early=8, late=32, plateau_pct=2.0, bootstrap=200)
    early, late = slice(0, 8), slice(96, 128)
    gain_a = KEEPS_IMPROVING[early].mean() - KEEPS_IMPROVING[late].mean()
    gain_b = PLATEAUS[early].mean() - PLATEAUS[late].mean()
    assert c.improvement_diff == pytest.approx(gain_a - gain_b)
    assert c.early_gap == pytest.approx(PLATEAUS[early].mean() - KEEPS_IMPROVING[early].mean())
    assert c.early_late_ratio == pytest.approx(c.early_gap / c.late_gap)
    assert (c.plateau_a, c.plateau_b) == (64, 32)
    lo, hi = c.improvement_diff_ci
    assert 0 < lo <= c.improvement_diff <= hi  # the transformer gains more from context


def test_the_interval_holds_zero_when_both_curves_are_one_curve_plus_noise() -> None:
    held = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        a, b = (KEEPS_IMPROVING + rng.normal(0, 0.02, P.size) for _ in range(2))
        lo, hi = compare_positions(a, b, 8, 32, 2.0, bootstrap=300, seed=seed).improvement_diff_ci
        held += lo < 0 < hi
    assert held >= 42  # 95% nominal; measured 44 of 50


def test_too_short_a_context_is_refused() -> None:
    with pytest.raises(ValueError, match="need at least 40 positions"):
        compare_positions(KEEPS_IMPROVING[:39], PLATEAUS, early=8, late=32, plateau_pct=2.0)
