"""Which IsoFLOP budget each run belongs to (Chinchilla approach 2).

An IsoFLOP study trains several sizes at each of a few budgets, so its runs pile up at a few values
of log C. Real tables hold more: Chinchilla's 240 points (Besiroglu et al.'s extraction) mix the 9
IsoFLOP profiles with runs of other studies spread between them, so no gap in log C separates the
budgets and k-means on log C merges or invents some. A budget here is a pile: runs within
``window_dex`` decades of a centre, denser than the runs around it (within ``BACKGROUND_DEX``) at
Poisson p < ``SIGNIFICANCE``. Runs in no pile are left out, with a warning.

Measured on Chinchilla's points (``lmscale.reference.load_epoch2024(drop_outliers=True)``): exactly
9 piles, at 5.4e18 … 3.0e21 FLOPs (the paper's 6e18 … 3e21 as extracted); the next candidate has
p = 0.14. Exact budgets (lmscale's own IsoFLOP sweeps, Porian et al.'s tables) are recovered as given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import gammainc

from lmscale.errors import InputError
from lmscale.fit.curves import check_positive

WINDOW_DEX = 0.03  # half-width of a budget's pile in log10 C (extraction scatter is ~0.01-0.02)
BACKGROUND_DEX = 0.3  # half-width of the neighbourhood the pile must stand out from
SIGNIFICANCE = 0.05
MIN_BACKGROUND = 0.5  # expected runs per window even where the neighbourhood is empty
GIVEN_DEX = 0.3  # runs this far from every budget the user named are left out


def _piles(lc: np.ndarray, window: float) -> list[tuple[float, np.ndarray, float]]:
    """Every pile, densest first: (centre, member positions, Poisson p-value against its surroundings)."""
    left = np.ones(len(lc), bool)
    out = []
    while left.any():
        idx = np.flatnonzero(left)
        counts = np.array([np.sum(np.abs(lc[idx] - lc[i]) <= window) for i in idx])
        seed = idx[np.argmax(counts)]
        members = idx[np.abs(lc[idx] - lc[seed]) <= window]
        centre = float(np.median(lc[members]))
        members = idx[np.abs(lc[idx] - centre) <= window]
        if members.size == 0:  # the median moved away from every point: keep the seed's pile
            members, centre = idx[np.abs(lc[idx] - lc[seed]) <= window], float(lc[seed])
        around = np.sum(np.abs(lc - centre) <= BACKGROUND_DEX) - members.size
        expected = max(around / (2 * (BACKGROUND_DEX - window)) * 2 * window, MIN_BACKGROUND)
        out.append((centre, members, float(gammainc(members.size, expected))))  # Poisson P(X >= k)
        left[members] = False
    return out


def _detected(lc: np.ndarray, k: int | None, window: float, warnings: list[str]) -> np.ndarray:
    """Budget centre (log10 C) of each run, NaN outside every kept pile."""
    piles = _piles(lc, window)
    if k is None:
        kept = [p for p in piles if p[2] < SIGNIFICANCE]
    else:
        if not 1 <= k <= len(piles):
            raise InputError(f"approach2: {k} budgets asked for, but the runs form {len(piles)} piles in log C")
        kept = sorted(piles, key=lambda p: p[2])[:k]
        if kept[-1][2] >= SIGNIFICANCE:
            warnings.append(
                f"of the {k} budgets asked for, some are not denser than the runs around them "
                f"(p = {kept[-1][2]:.2g}); check --isoflop-groups"
            )
    out = np.full(len(lc), np.nan)
    for centre, members, _ in kept:
        out[members] = centre
    left_out = int(np.isnan(out).sum())
    if left_out:
        warnings.append(
            f"{left_out} runs belong to no IsoFLOP budget (no pile of runs within {window} decades of "
            "their compute) and were left out"
        )
    return out


def assign_budgets(
    finals: pd.DataFrame,
    budgets: Sequence[float] | int | None = None,
    budget_col: str = "budget",
    window_dex: float = WINDOW_DEX,
) -> tuple[pd.Series, list[str]]:
    """Budget (FLOPs) of each run, NaN for runs in no budget, plus warnings.

    - a ``budget_col`` column, when the table has one and ``budgets`` is None, is used as given;
    - ``budgets`` a list of FLOP values: each run goes to the nearest, if within ``GIVEN_DEX``;
    - ``budgets`` an int k: the k most significant piles of runs in log C;
    - else every significant pile (see the module's docstring).
    """
    warnings: list[str] = []
    if budgets is None and budget_col in finals.columns:
        check_positive(finals, [budget_col], "approach2")
        return finals[budget_col].astype(float), warnings
    if not window_dex > 0:
        raise InputError(f"approach2: window_dex must be positive, got {window_dex!r}")
    lc = np.log10(finals["C"].to_numpy(float))
    if budgets is None or (isinstance(budgets, (int, np.integer)) and not isinstance(budgets, bool)):
        centre = _detected(lc, None if budgets is None else int(budgets), window_dex, warnings)
    else:
        given = np.asarray(list(budgets), float)
        if given.size == 0 or not np.all(np.isfinite(given) & (given > 0)):
            raise InputError("approach2: budgets must be positive FLOP values")
        values = np.log10(given)
        nearest = values[np.abs(lc[:, None] - values[None, :]).argmin(axis=1)]
        # Given budgets are nominal (an extraction may sit a few hundredths of a decade off): wider.
        centre = np.where(np.abs(lc - nearest) <= GIVEN_DEX, nearest, np.nan)
        far = int(np.isnan(centre).sum())
        if far:
            warnings.append(f"{far} runs lie more than {GIVEN_DEX} decades from every given budget and were left out")
    return pd.Series(10.0**centre, index=finals.index), warnings
