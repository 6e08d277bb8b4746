"""The bootstrap resamples runs, not rows, when the rows are points of learning curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit import fit

ALPHA, D_C = 0.3, 1e4


def curves(rng: np.random.Generator, runs: int = 8, points: int = 20, offset_sd: float = 0.01) -> pd.DataFrame:
    """L(D) = (D_c/D)^α along each run's curve, each run shifted by its own 1% offset (seed, data
    order, ...) and covering its own stretch of D, so the offsets and the slope are confounded."""
    frames = []
    for r in range(runs):
        d = np.geomspace(10 ** (5 + 0.3 * r), 10 ** (6 + 0.3 * r), points)
        noise = rng.normal(0.0, offset_sd) + rng.normal(0.0, 0.001, points)
        frames.append(pd.DataFrame({"run": r, "D": d, "loss": (D_C / d) ** ALPHA * np.exp(noise)}))
    return pd.concat(frames, ignore_index=True)


def coverage(groups: str | None, studies: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(studies):
        res = fit(curves(rng), "power", x="D", bootstrap=60, n_jobs=1, groups=groups, profiles=())
        lo, hi = res.ci["alpha_D"]
        hits += lo <= ALPHA <= hi
    return hits / studies


@pytest.mark.slow
def test_resampling_runs_covers_the_truth() -> None:
    """Measured: runs 0.90-0.95 over 200 studies; rows about 0.3 on the same design."""
    assert coverage("auto", 200, seed=0) >= 0.90


@pytest.mark.slow
def test_resampling_rows_covers_far_less() -> None:
    assert coverage(None, 40, seed=1) <= 0.6


def test_groups_are_used_and_said() -> None:
    df = curves(np.random.default_rng(2))
    res = fit(df, "power", x="D", bootstrap=20, n_jobs=1, profiles=())
    assert any("resamples the 8 values of 'run', not the 160 rows" in n for n in res.settings["notes"])
    rows = fit(df, "power", x="D", bootstrap=20, n_jobs=1, profiles=(), groups=None)
    width = lambda r: np.subtract(*reversed(r.ci["alpha_D"]))  # noqa: E731
    assert width(res) > 1.5 * width(rows)
    with pytest.raises(InputError, match="no column 'seed'"):
        fit(df, "power", x="D", bootstrap=5, groups="seed")


def test_weights_weigh_rows() -> None:
    d = np.geomspace(1e5, 1e8, 20)
    loss = (D_C / d) ** ALPHA
    loss[-5:] *= 1.2  # five bad points
    df = pd.DataFrame({"D": d, "loss": loss, "w": np.r_[np.ones(15), np.full(5, 1e-6)]})
    fit_all = fit(df, "power", x="D", bootstrap=0, profiles=(), huber_delta=1.0)
    weighted = fit(df, "power", x="D", bootstrap=0, profiles=(), huber_delta=1.0, weights="w")
    assert abs(weighted.params["alpha_D"] - ALPHA) < 1e-3 < abs(fit_all.params["alpha_D"] - ALPHA)
