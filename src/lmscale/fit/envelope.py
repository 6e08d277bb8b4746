"""The lower envelope of learning curves in (C, loss): the best loss any run reached with C FLOPs.

At each grid compute C the envelope says which run (model size N) got lowest and with how many
tokens; Kaplan's L(C_min) frontier (lmscale.fit.frontier) fits the loss and the attaining N, and
Chinchilla's approach 1 (lmscale.fit.compute_optimal) regresses the attaining N and tokens on C.
Both bootstrap over runs, and a resample of runs is a mask over the grid's rows (see
lmscale.fit.loglog.run_resamples), so each resample's envelope is a masked minimum.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.curves import CurveGrid, parabola_vertex
from lmscale.fit.loglog import run_resamples

Refine = Literal["none", "parabola"]


@dataclass(frozen=True)
class EnvelopePoints:
    """Envelope on the grid for one set of runs; arrays of shape (G,)."""

    loss: np.ndarray
    run_index: np.ndarray  # index into CurveGrid.runs, -1 where no run covers C
    N: np.ndarray  # attaining N (parabola-refined when asked)
    tokens: np.ndarray  # attaining tokens
    interior: np.ndarray  # a covering run with smaller N and one with larger N exist


def envelope_on_grid(
    grid: CurveGrid, mask: np.ndarray | None = None, refine: Refine = "none"
) -> EnvelopePoints:
    """Lower envelope of the runs selected by ``mask`` at every grid C.

    ``refine="parabola"`` places the optimum between sampled sizes: a parabola in log N through
    the attaining run and its covering neighbours, as approach 2 does per budget. Without it the
    attaining N is one of the sampled sizes (Hoffmann's approach 1 as published).
    """
    loss = grid.loss if mask is None else np.where(mask[:, None], grid.loss, np.nan)
    covered = np.isfinite(loss)
    any_cov = covered.any(axis=0)
    filled = np.where(covered, loss, np.inf)
    idx = np.argmin(filled, axis=0)
    cols = np.arange(loss.shape[1])
    env = np.where(any_cov, filled[idx, cols], np.nan)
    n_att = np.where(any_cov, grid.N[idx], np.nan)
    tok_att = np.where(any_cov, grid.tokens[idx, cols], np.nan)
    # Runs are sorted by N: a covering run below and above the attaining one makes it interior.
    rows = np.arange(loss.shape[0])[:, None]
    below = (covered & (rows < idx[None, :]) & (grid.N[:, None] < grid.N[idx][None, :])).any(axis=0)
    above = (covered & (rows > idx[None, :]) & (grid.N[:, None] > grid.N[idx][None, :])).any(axis=0)
    interior = any_cov & below & above
    if refine == "parabola":
        n_att, tok_att = _refine_parabola(grid, covered, loss, idx, interior, n_att, tok_att)
    elif refine != "none":
        raise InputError(f"envelope: refine must be 'none' or 'parabola', got {refine!r}")
    return EnvelopePoints(
        loss=env, run_index=np.where(any_cov, idx, -1), N=n_att, tokens=tok_att, interior=interior
    )


def _refine_parabola(
    grid: CurveGrid,
    covered: np.ndarray,
    loss: np.ndarray,
    idx: np.ndarray,
    interior: np.ndarray,
    n_att: np.ndarray,
    tok_att: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    n_att, tok_att = n_att.copy(), tok_att.copy()
    logn = np.log(grid.N)
    for g in np.flatnonzero(interior):
        cov = np.flatnonzero(covered[:, g])
        k = int(np.searchsorted(cov, idx[g]))
        if k == 0 or k == len(cov) - 1:
            continue
        three = cov[k - 1 : k + 2]
        # NaN where runs share N (seeds, LR sweeps) or the three do not bend upward
        x_star = parabola_vertex(logn[three], loss[three, g])
        if math.isnan(x_star):
            continue
        # Keep the run's own FLOPs-per-parameter-token ratio: C = k·N·D along every curve.
        ratio = grid.C[g] / (grid.N[idx[g]] * grid.tokens[idx[g], g])
        n_att[g] = math.exp(x_star)
        tok_att[g] = grid.C[g] / (ratio * n_att[g])
    return n_att, tok_att


def dominated(loss: np.ndarray) -> np.ndarray:
    """Grid points (C ascending) whose loss is above the lowest loss reached at any smaller C."""
    best_before = np.fmin.accumulate(np.where(np.isfinite(loss), loss, np.inf))
    best_before = np.concatenate([[np.inf], best_before[:-1]])
    return loss > best_before


def usable_envelope(env: EnvelopePoints, exclude_edges: bool, exclude_dominated: bool) -> np.ndarray:
    """Envelope points a fit may use: covered, interior (if asked), not dominated (if asked)."""
    used = np.isfinite(env.loss)
    if exclude_edges:
        used &= env.interior
    if exclude_dominated:
        used &= ~dominated(env.loss)
    return used


def exclusion_warnings(
    env: EnvelopePoints, exclude_edges: bool, exclude_dominated: bool, what: str
) -> list[str]:
    """Why grid points (``what``: "grid points", "budgets") were left out of the fit, one line each."""
    finite = np.isfinite(env.loss)
    total = len(env.loss)
    out = []
    edge = int((finite & ~env.interior).sum())
    if exclude_edges and edge:
        out.append(
            f"{edge} of {total} {what} excluded: the smallest or largest covering run attains the envelope there"
        )
    beaten = int((finite & dominated(env.loss)).sum())
    if exclude_dominated and beaten:
        out.append(
            f"{beaten} of {total} {what} excluded: a run reached a lower loss with less compute (the envelope "
            "there is a larger run's early, not annealed loss)"
        )
    return out


def resampled_envelopes(
    grid: CurveGrid,
    bootstrap: int,
    seed: int,
    refine: Refine,
    exclude_edges: bool,
    exclude_dominated: bool,
) -> Iterator[tuple[EnvelopePoints, np.ndarray]]:
    """(envelope, usable points) of each bootstrap resample of runs, in resample order."""
    for mask in run_resamples(len(grid.runs), bootstrap, seed):
        env = envelope_on_grid(grid, mask, refine=refine)
        yield env, usable_envelope(env, exclude_edges, exclude_dominated)
