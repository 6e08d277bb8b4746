"""Bootstrap over runs: resample with replacement, refit, collect parameters.

A resample is a vector of integer counts over the runs (a multinomial draw), so the table is never
copied. Resample i draws its counts from its own generator, keyed by (seed, i), where it is fitted:
the (n_boot × n_rows) count matrix is never built (8 GB for 1,000 resamples of 1M rows, issue 20),
and the result does not depend on how many worker processes share the work or how the resamples are
split among them. Workers are plain processes (numpy releases no GIL in these small loops); each
takes contiguous blocks of resample indices.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmscale.fit.estimate import Problem, best_of, resample_starts, single_threaded_blas
from lmscale.fit.forms import Array
from lmscale.processes import die_with_parent

# Below this many resamples, starting processes costs more than it saves.
MIN_PARALLEL = 64
# Most bytes of counts a block of resamples holds at once ((k, n_rows) floats): bounds a worker's
# memory on large tables, and is a whole bootstrap of a few thousand runs in one block.
COUNTS_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Resampling:
    """What a resample draws and how rows weigh.

    ``groups``: an integer code per row; rows sharing one (the points of one learning curve) are
    drawn together, so the resample is over runs, not rows (resampling curve points as if they were
    independent gives intervals about 3x too narrow). ``weights``: a per-row weight multiplying
    every count (the fit's own objective uses them too).
    """

    groups: Array | None = None
    weights: Array | None = None


def resample_counts(
    n_rows: int, n_boot: int, seed: int, start: int = 0, resampling: Resampling = Resampling()
) -> Array:
    """(n_boot, n_rows) counts of resamples start … start + n_boot − 1 (times the row weights).

    Resample i comes from SeedSequence(seed, spawn_key=(i,)), the i-th child of
    SeedSequence(seed).spawn(): any range of resamples is drawn the same wherever it is drawn.
    With groups, each resample draws as many groups as there are, with replacement, and a row
    counts as often as its group was drawn.
    """
    groups = resampling.groups
    units = n_rows if groups is None else int(groups.max()) + 1
    p = np.full(units, 1.0 / units)
    out = np.empty((n_boot, n_rows))
    for k in range(n_boot):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(start + k,)))
        drawn = rng.multinomial(units, p)
        out[k] = drawn if groups is None else drawn[groups]
    return out if resampling.weights is None else out * resampling.weights[None, :]


def _fit_block(spec: tuple[Problem, Array], counts: Array) -> Array:
    problem, z_hat = spec
    out = np.full((counts.shape[0], problem.base.size), np.nan)
    with single_threaded_blas():
        for i, w in enumerate(counts):
            f, theta = best_of(problem, resample_starts(problem, w, z_hat), w)
            if np.isfinite(f):
                out[i] = theta
    return out


def default_jobs() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _context() -> mp.context.BaseContext:
    # fork is fast (no re-import); avoid it once torch (with its thread pools) is loaded in this process.
    if sys.platform.startswith("linux") and "torch" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


# What a worker process refits: set once per process by the pool's initializer, so the tasks carry
# only resample index ranges, not the table (or counts) again and again.
_WORKER: dict[str, Any] = {}


def _init_worker(fn: Callable[..., Array], spec: Any, n_rows: int, seed: int, resampling: Resampling) -> None:
    # A kill -9 of the fit must not leave workers spinning (issue 20 #6). SIGKILL, not SIGTERM: a
    # forked worker inherits the CLI's SIGTERM handler, and it has nothing to clean up.
    die_with_parent(signal.SIGKILL)
    _WORKER.update(fn=fn, spec=spec, n_rows=n_rows, seed=seed, resampling=resampling)


def _run_range(bounds: tuple[int, int]) -> Array:
    """Refit resamples start … stop − 1, drawing their counts here (in the worker)."""
    start, stop = bounds
    counts = resample_counts(_WORKER["n_rows"], stop - start, _WORKER["seed"], start, _WORKER["resampling"])
    return _WORKER["fn"](_WORKER["spec"], counts)


def resample_ranges(n_boot: int, n_rows: int, n_blocks: int) -> list[tuple[int, int]]:
    """At least n_blocks contiguous (start, stop) ranges covering 0 … n_boot − 1, each small enough
    that its counts fit COUNTS_BYTES."""
    per_block = max(1, COUNTS_BYTES // (8 * n_rows))
    n_blocks = min(n_boot, max(n_blocks, -(-n_boot // per_block)))
    edges = np.linspace(0, n_boot, n_blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def bootstrap(
    problem: Problem,
    theta_hat: Array,
    n_boot: int,
    seed: int = 0,
    n_jobs: int | None = None,
    block: tuple[Callable[..., Array], Any] | None = None,
    resampling: Resampling = Resampling(),
) -> Array:
    """Internal θ for each resample (n_boot, P); rows of NaN where a refit failed.

    ``block``: (function, spec) refitting a block of resamples as ``function(spec, counts)``, counts a
    (k, n_rows) array, for estimators that are more than one multi-start fit (the data-constrained
    two-stage fit). ``resampling``: groups of rows drawn together, and row weights.
    """
    if n_boot <= 0:
        return np.empty((0, problem.base.size))
    n_rows = problem.log_loss.size
    if block is None:
        block = (_fit_block, (problem, problem.reduce(theta_hat[None, :])[0]))
    fn, spec = block
    jobs = default_jobs() if n_jobs is None else max(1, int(n_jobs))
    if jobs == 1 or n_boot < MIN_PARALLEL:
        ranges = resample_ranges(n_boot, n_rows, 1)
        return np.vstack([fn(spec, resample_counts(n_rows, b - a, seed, a, resampling)) for a, b in ranges])
    ranges = resample_ranges(n_boot, n_rows, jobs * 4)
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_context(), initializer=_init_worker, initargs=(fn, spec, n_rows, seed, resampling)
    ) as pool:
        parts = list(pool.map(_run_range, ranges))
    return np.vstack(parts)
