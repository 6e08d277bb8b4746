"""LR schedules against their closed forms, the per-size LR rule, log-spaced evaluation steps."""

from __future__ import annotations

import math

import pytest

from lmscale.errors import InputError
from lmscale.train.schedule import constant_lr, cosine_lr, log_spaced_steps, lr_at, lr_for_size, wsd_lr

PEAK = 3e-3


def test_cosine_matches_formula() -> None:
    total, warm, ratio = 1000, 100, 0.1
    floor = ratio * PEAK
    assert cosine_lr(0, total, PEAK, warm, ratio) == pytest.approx(PEAK / 100)
    assert cosine_lr(49, total, PEAK, warm, ratio) == pytest.approx(PEAK * 50 / 100)
    assert cosine_lr(100, total, PEAK, warm, ratio) == pytest.approx(PEAK)
    for step in (150, 400, 550, 777, 999):
        p = (step - warm) / (total - 1 - warm)
        expect = floor + 0.5 * (PEAK - floor) * (1 + math.cos(math.pi * p))
        assert cosine_lr(step, total, PEAK, warm, ratio) == pytest.approx(expect, rel=1e-12)
    assert cosine_lr(total - 1, total, PEAK, warm, ratio) == pytest.approx(floor)
    # half-way through the decay the rate is the mean of peak and floor
    assert cosine_lr(warm + (total - 1 - warm) // 2, total, PEAK, warm, ratio) == pytest.approx(
        (PEAK + floor) / 2, rel=1e-2
    )
    values = [cosine_lr(s, total, PEAK, warm, ratio) for s in range(warm, total)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_constant_and_no_warmup() -> None:
    assert constant_lr(0, 100, PEAK, 10) == pytest.approx(PEAK / 10)
    assert constant_lr(10, 100, PEAK, 10) == PEAK
    assert constant_lr(99, 100, PEAK, 10) == PEAK
    assert constant_lr(0, 100, PEAK, 0) == PEAK
    assert cosine_lr(0, 100, PEAK, 0, 0.0) == PEAK


def test_wsd_matches_formula() -> None:
    total, warm, ratio, frac = 1000, 50, 0.0, 0.2
    decay_start = 800
    assert wsd_lr(10, total, PEAK, warm, ratio, frac) == pytest.approx(PEAK * 11 / 50)
    assert wsd_lr(50, total, PEAK, warm, ratio, frac) == PEAK
    assert wsd_lr(decay_start - 1, total, PEAK, warm, ratio, frac) == PEAK
    for step in (800, 850, 900, 999):
        expect = PEAK * (1 - (step - decay_start + 1) / 200)
        assert wsd_lr(step, total, PEAK, warm, ratio, frac) == pytest.approx(expect, abs=1e-15)
    assert wsd_lr(999, total, PEAK, warm, 0.1, frac) == pytest.approx(0.1 * PEAK)
    # the stable phase is shared by every longer budget: what makes WSD branchable
    assert all(
        wsd_lr(s, 1000, PEAK, warm, ratio, frac) == wsd_lr(s, 5000, PEAK, warm, ratio, frac)
        for s in range(800)
    )


def test_dispatch_and_unknown() -> None:
    assert lr_at("cosine", 5, 100, PEAK, 10, 0.1, 0.2) == cosine_lr(5, 100, PEAK, 10, 0.1)
    assert lr_at("wsd", 95, 100, PEAK, 10, 0.1, 0.2) == wsd_lr(95, 100, PEAK, 10, 0.1, 0.2)
    with pytest.raises(InputError):
        lr_at("linear", 0, 10, PEAK, 0)


def test_lr_rules() -> None:
    assert lr_for_size(10_000, "power", 0.1, 0.25) == pytest.approx(0.01)
    assert lr_for_size(1e8, "power", 0.1, 0.25) == pytest.approx(0.001)
    # Kaplan et al. 2020 eq. D.1
    assert lr_for_size(1e6, "kaplan") == pytest.approx(0.003239 - 0.0001395 * math.log(1e6))
    assert lr_for_size(1e12, "kaplan") == 1e-5
    with pytest.raises(InputError):
        lr_for_size(10, "magic")


def test_log_spaced_steps() -> None:
    steps = log_spaced_steps(10_000, 5)
    assert steps == [1, 10, 100, 1000, 10_000]
    assert log_spaced_steps(3, 12) == [1, 2, 3]
    assert log_spaced_steps(50, 1) == [50]
    many = log_spaced_steps(391, 12)
    assert many[0] == 1 and many[-1] == 391 and len(many) == 12
    ratios = [b / a for a, b in zip(many[3:], many[4:], strict=False)]
    assert max(ratios) / min(ratios) < 1.2  # evenly spaced in log once past rounding


def test_wsd_decay_inside_warmup_starts_from_the_rate_reached() -> None:
    # 100 steps, decay over the last 20 (from step 80), warmup 200 steps (a short run of a long
    # trunk): the rate climbs to 80/200 of the peak (step 79), then decays linearly from there.
    top = PEAK * 80 / 200
    assert wsd_lr(79, 100, PEAK, 200, 0.1, 0.2) == pytest.approx(top)
    assert wsd_lr(80, 100, PEAK, 200, 0.1, 0.2) == pytest.approx(top + (0.1 * PEAK - top) / 20)
    assert wsd_lr(99, 100, PEAK, 200, 0.1, 0.2) == pytest.approx(0.1 * PEAK)
    rates = [wsd_lr(s, 100, PEAK, 200, 0.1, 0.2) for s in range(79, 100)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))  # no jump up to the peak
    # warmup that reaches less than the floor: the decay holds the rate reached, never raises it
    low = [wsd_lr(s, 10, PEAK, 100, 0.1, 0.2) for s in range(10)]
    assert all(a >= b for a, b in zip(low[7:], low[8:], strict=False)) and low[-1] == pytest.approx(low[7])
