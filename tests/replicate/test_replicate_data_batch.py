"""Synthetic checks of the data-limited (Kaplan §4) and batch-size (Kaplan §5) replications."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit import fit
from lmscale.replicate.batch import analyse_batch
from lmscale.replicate.context import Context
from lmscale.replicate.data_limited import analyse_data, d2_table, early_stopped, finding_ratio


class FakeContext(Context):
    """A Context whose studies are given DataFrames (no store, no training)."""

    def __init__(self, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame]], bootstrap: int = 50) -> None:
        super().__init__(store=Path("/nonexistent"), bootstrap=bootstrap, seed=0)
        self.frames = frames

    def runs(self, study: str, min_runs: int = 1) -> pd.DataFrame:
        runs = self.frames.get(study, (pd.DataFrame(columns=["run", "N", "D", "loss"]), None))[0]
        if len(runs) < min_runs:
            raise InputError(f"study {study!r} has {len(runs)} completed run(s), needs {min_runs}")
        return runs

    def curves(self, study: str) -> pd.DataFrame:
        cur = self.frames.get(study, (None, None))[1]
        if cur is None or cur.empty:
            raise InputError(f"study {study!r} has no learning curves")
        return cur


# ------------------------------------------------------------------------------------------------
# data-limited
# ------------------------------------------------------------------------------------------------

SIZES = (1e3, 1e4, 1e5, 3e5)
CAPS = (1e5, 3e5, 1e6, 3e6, 5e6)
TRAINED = 5e6


def kaplan_nd(n, d, nc, dc, an, ad):
    return ((nc / n) ** (an / ad) + dc / d) ** ad


def data_frames(
    an: float = 0.1, ad: float = 0.133, nc: float = 1e8, dc: float = 1e8, noise: float = 0.003, seed: int = 1
):
    """Runs and curves whose early-stopped losses follow Kaplan's L(N, D) with known exponents."""
    rng = np.random.default_rng(seed)
    runs, curves = [], []
    for n in SIZES:
        for u in CAPS:
            run = f"n{n:g}-u{u:g}"
            l_min = kaplan_nd(n, u, nc, dc, an, ad) * np.exp(rng.normal(0, noise))
            t_min = min(TRAINED, 3 * u)  # the held-out minimum: ~3 epochs, or the end of training
            tokens, loss = capped_curve(l_min, t_min, TRAINED, 20, rise=0.02)
            runs.append({"run": run, "N": n, "D": TRAINED, "loss": loss[-1], "unique_tokens": u})
            curves.append(pd.DataFrame({"run": run, "N": n, "tokens": tokens, "loss": loss}))
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def capped_curve(l_min: float, t_min: float, trained: float, points: int, rise: float):
    """A held-out curve on log-spaced evaluations that bottoms out at (t_min, l_min) and rises after it
    (quadratically in log tokens), or is still falling when t_min is the end of training."""
    tokens = np.geomspace(1e4, trained, points)
    tokens[np.argmin(np.abs(np.log(tokens / t_min)))] = t_min
    lt = np.log(tokens / t_min)
    return tokens, l_min * np.where(lt < 0, 1 + 0.05 * lt**2, 1 + rise * lt**2)


def by_key(result):
    return {f.key: f for f in result.findings}


def test_data_wrong_ratio_not_reproduced():
    # Only the ratio verdict is under test: fit the surface directly (the full analysis is tested above).
    runs, curves = data_frames(an=0.2, ad=0.133, nc=1e7)
    table = early_stopped(runs, curves)
    res = fit(table[["N", "D", "loss"]], "kaplan-nd", bootstrap=30, seed=0)
    f, nums = finding_ratio(res, d2_table(res, np.array(SIZES)))
    assert abs(nums["ratio"][0] - 1.5) < 0.1
    assert f.verdict == "not reproduced"


def test_data_missing_or_thin_raises_input_error():
    with pytest.raises(InputError):
        analyse_data(FakeContext({}))
    runs, curves = data_frames()
    few = runs[runs["N"] == 1e3]
    with pytest.raises(InputError):
        analyse_data(FakeContext({"data-limited": (few, curves[curves["run"].isin(few["run"])])}))


# ------------------------------------------------------------------------------------------------
# batch-size
# ------------------------------------------------------------------------------------------------

B_STAR, ALPHA_B = 2e5, 0.3  # truth: B_crit(L) = B*/L^(1/α_B), bytes


def bcrit_true(loss):
    return B_STAR / np.asarray(loss, float) ** (1 / ALPHA_B)


def smin_true(loss):
    return 30.0 * (3.0 / np.asarray(loss, float)) ** 4


def batch_frames(noise_factor: float = 1.5, seed: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Runs at 7 batch sizes whose steps to each loss follow S = S_min(L)(1 + B_crit(L)/B) exactly."""
    rng = np.random.default_rng(seed)
    grid = np.geomspace(1.5, 5.5, 2000)
    curves = []
    for seqs in (4, 8, 16, 32, 64, 128, 256):
        b = seqs * 128.0
        steps_needed = smin_true(grid) * (1 + bcrit_true(grid) / b)  # decreasing in loss
        total = int(4e6 // b)
        steps = np.unique(np.geomspace(1, total, 24).round())
        loss = np.exp(np.interp(np.log(steps), np.log(steps_needed[::-1]), np.log(grid[::-1])))
        loss *= np.exp(rng.normal(0, 0.002, len(steps)))  # evaluation noise
        run = f"b{seqs}"
        curves.append(
            pd.DataFrame(
                {
                    "run": run,
                    "N": 1e5,
                    "step": steps,
                    "tokens": steps * b,
                    "batch_tokens": b,
                    "lr": np.where(steps < 0.02 * total, steps / (0.02 * total), 1.0) * 1e-3,
                    "loss": loss,
                    "noise_scale": noise_factor * bcrit_true(loss) * np.exp(rng.normal(0, 0.1, len(steps))),
                }
            )
        )
    cur = pd.concat(curves, ignore_index=True)
    runs = cur.groupby("run").tail(1)[["run", "N", "tokens", "loss"]].rename(columns={"tokens": "D"})
    return runs, cur


def curves_frames(alpha_s: float = 0.6) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kaplan-cpu-like curves: L = (N_c/N)^0.1 + (S_c/S_min)^α_S with S = S_min(1 + B_crit(L)/B)."""
    b, curves = 4096.0, []
    for n in (3e2, 3e3, 3e4, 3e5, 1e6):
        s_min = np.geomspace(5, 1500, 30)
        loss = (1e8 / n) ** 0.1 + (50.0 / s_min) ** alpha_s
        steps = s_min * (1 + bcrit_true(loss) / b)
        curves.append(
            pd.DataFrame(
                {
                    "run": f"n{n:g}",
                    "N": n,
                    "step": steps,
                    "tokens": steps * b,
                    "batch_tokens": b,
                    "loss": loss,
                }
            )
        )
    cur = pd.concat(curves, ignore_index=True)
    runs = cur.groupby("run").tail(1)[["run", "N", "tokens", "loss"]].rename(columns={"tokens": "D"})
    return runs, cur


def test_batch_recovers_bcrit_law_and_ns():
    ctx = FakeContext({"batch-size": batch_frames(), "kaplan-cpu": curves_frames()})
    res = analyse_batch(ctx)
    f = by_key(res)
    a, lo, hi = res.numbers["B_crit(L)"]["alpha_B"]
    assert abs(a - ALPHA_B) < 0.03 and lo <= ALPHA_B <= hi
    assert f["B_crit(L)"].verdict == "reproduced"
    assert f["S-E trade-off"].verdict == "reproduced"
    assert f["noise scale"].verdict == "reproduced"
    assert abs(res.numbers["noise scale"]["median_ratio"] - 1.5) < 0.3
    a_s = res.numbers["L(N,S_min)"]["alpha_S"][0]
    assert abs(a_s - 0.6) < 0.05
    assert f["L(N,S_min)"].verdict == "reproduced"
    assert {"batch_tradeoff", "batch_bcrit", "batch_lns"} <= set(res.figures)


def test_batch_noise_far_from_bcrit_is_not_reproduced():
    ctx = FakeContext({"batch-size": batch_frames(noise_factor=40.0), "kaplan-cpu": curves_frames()})
    f = by_key(analyse_batch(ctx))
    assert f["noise scale"].verdict == "not reproduced"  # 40x off, outside [0.5, 2]


def test_batch_missing_raises_and_missing_curves_study_is_noted():
    with pytest.raises(InputError):
        analyse_batch(FakeContext({}))
    runs, cur = batch_frames()
    two = cur[cur["run"].isin(["b4", "b8"])]
    with pytest.raises(InputError):
        analyse_batch(FakeContext({"batch-size": (runs, two)}))
    res = analyse_batch(FakeContext({"batch-size": (runs, cur)}))
    assert "L(N,S_min)" not in by_key(res) and any("L(N, S_min)" in n for n in res.notes)
