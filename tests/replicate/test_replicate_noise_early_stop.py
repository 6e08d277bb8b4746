"""Synthetic checks of L(D) with early stopping reached (Kaplan §4) and of the run-to-run noise study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.replicate.data_limited import analyse_data
from lmscale.replicate.noise import analyse_noise

from .test_replicate_data_batch import FakeContext, by_key, capped_curve, data_frames

ES_SIZES = (1e5, 3e5)
ES_CAPS = (1e4, 3e4, 1e5, 3e5, 1e6)
ES_TRAINED = 1e7


def early_stop_frames(alpha_d: float = 0.095, d_c: float = 1e9, epochs_to_min: float = 10.0, seed: int = 3):
    """data-early-stop runs whose lowest losses follow L(D) = (D_c/D)^α_D at the larger size; a cap's
    held-out loss bottoms out after `epochs_to_min` epochs, or is still falling when training ends."""
    rng = np.random.default_rng(seed)
    runs, curves = [], []
    for n in ES_SIZES:
        for u in ES_CAPS:
            run = f"es-n{n:g}-u{u:g}"
            l_min = (d_c / u) ** alpha_d * (1.03 if n < max(ES_SIZES) else 1.0) * np.exp(rng.normal(0, 0.002))
            t_min = min(ES_TRAINED, epochs_to_min * u)
            tokens, loss = capped_curve(l_min, t_min, ES_TRAINED, 30, rise=0.03)
            runs.append({"run": run, "N": n, "D": ES_TRAINED, "loss": loss[-1], "unique_tokens": u})
            curves.append(pd.DataFrame({"run": run, "N": n, "tokens": tokens, "loss": loss}))
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def test_ld_uses_only_caps_whose_loss_turned_up():
    res = analyse_data(FakeContext({"data-limited": data_frames(), "data-early-stop": early_stop_frames()}))
    f = by_key(res)
    # the data-limited runs: L(N, D) and its ratio, as before
    r, lo, hi = res.numbers["alpha_N/alpha_D"]["ratio"]
    assert abs(r - 0.75) < 0.08 and lo <= 0.75 <= hi + 0.05
    assert f["alpha_N/alpha_D"].verdict == "reproduced" and f["L(N,D)"].verdict == "reproduced"
    assert f["overfitting"].verdict == "reproduced"
    assert res.numbers["L(N,D)"]["backtest"]["mean_abs_rel_error"] < 0.03
    assert {"data_loss_vs_d", "data_penalty", "data_curves"} <= set(res.figures)
    # L(D): caps 1e4-3e5 bottom out after 10 epochs (1e5-3e6 tokens); 1e6 would need all 1e7 trained
    nums = res.numbers["L_D"]
    assert nums["early_stopped_caps"] == 4 and nums["headline_N"] == 3e5
    assert abs(nums["alpha_D"][0] - 0.095) < 0.01
    assert nums["alpha_D"][1] <= 0.095 <= nums["alpha_D"][2]
    assert f["Early stopping reached"].verdict == "reproduced"
    assert f["L(D), early stopping reached"].verdict == "reproduced"
    assert "still falling" in f["Early stopping reached"].ours and "data_early_stop" in res.figures
    assert "L(D)" not in f  # the data-limited runs no longer give L(D)


def test_ld_without_early_stopped_caps_is_inconclusive():
    never = early_stop_frames(epochs_to_min=1e4)  # every curve still falling at the end
    f = by_key(analyse_data(FakeContext({"data-limited": data_frames(), "data-early-stop": never})))
    assert f["Early stopping reached"].verdict == "not reproduced"
    assert f["L(D), early stopping reached"].verdict == "inconclusive"
    assert "not estimated" in f["L(D), early stopping reached"].ours


def test_ld_far_from_kaplan_is_not_reproduced():
    res = analyse_data(
        FakeContext({"data-limited": data_frames(), "data-early-stop": early_stop_frames(alpha_d=0.4)})
    )
    assert by_key(res)["L(D), early stopping reached"].verdict == "not reproduced"


def replicate_frames(column: str, rel_noise: float, seed: int) -> pd.DataFrame:
    """Five sizes x three replicates on L(N) = (N_c/N)^0.08, each run off by a relative noise."""
    rng = np.random.default_rng(seed)
    rows = [
        {
            "run": f"{column}{v}-{n:g}",
            "N": n,
            column: v,
            "loss": (1e9 / n) ** 0.08 * (1 + rng.normal(0, rel_noise)),
        }
        for n in (1e3, 3e3, 1e4, 3e4, 1e5)
        for v in (0, 1, 2)
    ]
    return pd.DataFrame(rows)


def noise_context(seed_noise: float, order_noise: float) -> FakeContext:
    return FakeContext(
        {
            "seeds": (replicate_frames("seed", seed_noise, 1), None),
            "data-seeds": (replicate_frames("data_seed", order_noise, 2), None),
        }
    )


def test_noise_measures_each_factor_against_its_criterion():
    res = analyse_noise(noise_context(seed_noise=0.002, order_noise=0.03))
    f = by_key(res)
    assert f["Seed noise"].verdict == "reproduced" and f["Noise against size steps"].verdict == "reproduced"
    assert f["Data-order noise"].verdict == "not reproduced"  # 3% > the 1% band
    rel = [row["rel_sd"] for row in res.numbers["data_seed"]["per_size"]]
    assert 0.005 < max(rel) < 0.08
    assert all(f.group == "self-check" for f in res.findings)
    assert {"seeds_runs", "data-seeds_runs"} <= set(res.tables) and "noise" in res.figures


def test_noise_needs_three_replicates_at_every_size():
    runs = replicate_frames("seed", 0.002, 1)
    thin = FakeContext({"seeds": (runs[runs["seed"] < 2], None), "data-seeds": (runs, None)})
    with pytest.raises(InputError, match="seeds"):
        analyse_noise(thin)
