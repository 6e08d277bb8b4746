"""Chinchilla approaches 1 and 2: compute-optimal N_opt(C) ∝ C^a and D_opt(C) ∝ C^b (Hoffmann et al. 2022).

Approach 1 takes, for log-spaced FLOP budgets, the lowest loss any learning curve reached with that
compute (the lower envelope, see :mod:`lmscale.fit.envelope`) and the N and tokens that reached it.
Approach 2 takes IsoFLOP profiles: final losses of runs grouped by budget, a parabola in log N per
budget, its vertex as N_opt. Both then regress log N_opt and log D_opt on log C. Hoffmann report
a = 0.50 (approach 1) and 0.49 (approach 2), about 20 tokens per parameter.

Uncertainty: bootstrap over runs (approach 1: whole learning curves; approach 2: runs resampled
within each budget, so every resample keeps every budget). Intervals are confidence intervals of
the fitted line, not prediction intervals for a new training run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.budgets import WINDOW_DEX, assign_budgets
from lmscale.fit.curves import (
    C_FROM_6ND,
    C_GIVEN,
    PF_DAY,
    WarmupExclusion,
    check_positive,
    exclude_warmup,
    require_columns,
    resample_curves,
    show,
)
from lmscale.fit.envelope import (
    Refine,
    envelope_on_grid,
    exclusion_warnings,
    resampled_envelopes,
    usable_envelope,
)
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.law import Conventions
from lmscale.fit.loglog import NAN_PAIR, LogLogLine, check_bootstrap, fit_line
from lmscale.jsonsafe import plain


@dataclass(frozen=True)
class ComputeOptimal:
    """Compute-optimal allocation N_opt = N_coef·C^a, D_opt = D_coef·C^b from approach 1 or 2.

    Like Law.optimal, ``optimal(C)`` gives (N_opt, D_opt); ``optimal_draws(C)`` gives them per
    bootstrap resample (rows paired between N and D), and ``ci`` the percentile intervals of a, b.
    """

    approach: int
    N_opt: LogLogLine  # exponent = a
    D_opt: LogLogLine  # exponent = b
    table: pd.DataFrame  # approach 1: one row per grid C; approach 2: one row per budget
    points: pd.DataFrame | None  # approach 2: the runs with their budget (for IsoFLOP plots)
    target: dict[str, Any] | None  # predictions at target_compute, with their intervals under "ci"
    conventions: Conventions
    n_runs: int
    bootstrap: int
    n_bootstrap_failed: int
    level: float = 0.95
    warnings: tuple[str, ...] = ()
    warmup: WarmupExclusion | None = field(default=None, repr=False)  # approach 1 only

    @property
    def a(self) -> float:
        return self.N_opt.exponent

    @property
    def b(self) -> float:
        return self.D_opt.exponent

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        """Percentile bootstrap intervals of a, b and the two coefficients."""
        n, d = self.N_opt.ci, self.D_opt.ci
        return {"a": n["exponent"], "b": d["exponent"], "N_coef": n["coef"], "D_coef": d["coef"]}

    def optimal(self, C: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N_opt, D_opt) at compute C (FLOPs), shaped like C."""
        return self.N_opt.predict(C), self.D_opt.predict(C)

    def optimal_draws(self, C: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N_opt, D_opt) of every bootstrap resample at C: (S, *shape of C), NaN rows where it failed."""
        return self.N_opt.predict_draws(C), self.D_opt.predict_draws(C)

    def parabolas(self, points: int = 80) -> pd.DataFrame:
        """Approach 2's fitted parabola of every budget that has one, over the sizes it was fitted to (its
        window; beyond them it describes nothing) and its vertex: columns C, N, loss, used (empty for
        approach 1)."""
        fitted = self.table[np.isfinite(self.table["p2"])] if "p2" in self.table.columns else self.table.iloc[:0]
        parts = []
        for r in fitted.itertuples(index=False):
            ends = [r.N_fit_min, r.N_fit_max] + ([r.N_opt] if np.isfinite(r.N_opt) else [])  # show its vertex
            x = np.linspace(math.log(min(ends)), math.log(max(ends)), points)
            loss = _parabola_at((r.p0, r.p1, r.p2), x - r.lnN_centre)
            parts.append(pd.DataFrame({"C": r.C, "N": np.exp(x), "loss": loss, "used": r.used}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["C", "N", "loss", "used"])

    def to_dict(self, include_draws: bool = True) -> dict[str, Any]:
        """Parameters, intervals, diagnostics and the table; with ``include_draws`` each line's
        bootstrap draws (exponent, log coef), paired row by row."""
        used = self.table[self.table["used"]]
        d = {
            "kind": f"approach{self.approach}",
            "approach": self.approach,
            "params": {"a": self.a, "b": self.b, "N_coef": self.N_opt.coef, "D_coef": self.D_opt.coef},
            "ci": self.ci,
            "level": self.level,
            "r2_log": {"N_opt": self.N_opt.r2_log, "D_opt": self.D_opt.r2_log},
            "derived": {
                "tokens_per_param_median": float(np.median(used["tokens_per_param"])) if len(used) else None
            },
            "target": self.target,
            "conventions": self.conventions.to_dict(),
            "n_runs": self.n_runs,
            "n_points": int(self.table["used"].sum()),
            "bootstrap": self.bootstrap,
            "n_bootstrap_failed": self.n_bootstrap_failed,
            "warnings": list(self.warnings),
            "warmup_exclusion": self.warmup.to_dict() if self.warmup else None,
            "table": self.table,
        }
        if include_draws:
            d["draws"] = {"N_opt": self.N_opt.draws.tolist(), "D_opt": self.D_opt.draws.tolist()}
        return plain(d)


def _target_block(
    n_law: LogLogLine, d_law: LogLogLine, target_compute: float | None, level: float
) -> dict[str, Any] | None:
    if target_compute is None:
        return None
    c = float(target_compute)
    if not (math.isfinite(c) and c > 0):
        raise InputError(f"target_compute must be a finite positive number of FLOPs, got {target_compute!r}")
    n, d = float(n_law.predict(c)), float(d_law.predict(c))
    ci = {"N_opt": NAN_PAIR, "D_opt": NAN_PAIR, "tokens_per_param": NAN_PAIR}
    if len(n_law.draws):
        n_draws, d_draws = n_law.predict_draws(c), d_law.predict_draws(c)  # paired by resample
        ci = {
            "N_opt": percentile_interval(n_draws, level),
            "D_opt": percentile_interval(d_draws, level),
            "tokens_per_param": percentile_interval(d_draws / n_draws, level),
        }
    return {"C": c, "C_pfdays": c / PF_DAY, "N_opt": n, "D_opt": d, "tokens_per_param": d / n, "ci": ci}


def _with_c(conventions: Conventions | None, how_c: str) -> Conventions:
    """The caller's conventions, with C = 6ND when the fitter computed C as 6·N·tokens itself."""
    conv = conventions or Conventions()
    if how_c == C_FROM_6ND:
        return replace(conv, c="6ND")
    if how_c != C_GIVEN:  # computed with another FLOPs-per-parameter-token ratio
        return replace(conv, c="unknown")
    return conv


def _decade_warning(C: np.ndarray, warnings: list[str]) -> None:
    span = float(np.log10(C.max() / C.min())) if len(C) else 0.0
    if span < 1.0:
        warnings.append(
            f"the fitted budgets span only {span:.2f} decades of compute: exponents are poorly identified"
        )


# ---------------------------------------------------------------------------------------------
# Approach 1
# ---------------------------------------------------------------------------------------------


def approach1(
    curves: pd.DataFrame,
    n_grid: int = 50,
    bootstrap: int = 1000,
    seed: int = 0,
    exclude_edges: bool = True,
    refine: Refine = "none",
    target_compute: float | None = None,
    min_fraction: float = 0.0,
    use_lr: bool = True,
    exclude_dominated: bool = True,
    level: float = 0.95,
    conventions: Conventions | None = None,
) -> ComputeOptimal:
    """Chinchilla approach 1 from learning curves (long format: run, N, tokens, [C], loss).

    For ``n_grid`` log-spaced budgets C, the envelope's attaining N and tokens are N_opt and D_opt.
    Grid points where the smallest or largest covering run attains the minimum are excluded by
    default (the optimum may be outside the sampled sizes). ``refine="parabola"`` interpolates
    N_opt between sampled sizes; the default keeps Hoffmann's published procedure. Warmup points
    are excluded by rule first (:func:`lmscale.fit.curves.exclude_warmup` with ``min_fraction``,
    off by default because small budgets are met by the early parts of large runs, and ``use_lr``).
    ``conventions``: what N and C count (C computed as 6·N·tokens is 6ND).
    """
    check_bootstrap(bootstrap, level, "approach1")
    warm = exclude_warmup(curves, min_fraction=min_fraction, use_lr=use_lr)
    grid = resample_curves(warm.kept, n_grid=n_grid)
    if len(grid.runs) < 3:
        raise InputError("approach1: need learning curves from at least 3 runs (model sizes)")
    env = envelope_on_grid(grid, refine=refine)
    used = usable_envelope(env, exclude_edges, exclude_dominated)
    if used.sum() < 3:
        raise InputError(
            f"approach1: only {int(used.sum())} budgets where an interior run attains the minimum (need 3); "
            "add model sizes around the optimum or pass exclude_edges=False"
        )
    warnings = exclusion_warnings(env, exclude_edges, exclude_dominated, "budgets")
    n_distinct = np.unique(env.N[used]).size
    if n_distinct < 3:
        warnings.append(
            f"only {n_distinct} distinct model sizes attain the envelope: a and b are poorly identified"
        )
    _decade_warning(grid.C[used], warnings)

    boot_n: list[tuple[np.ndarray, np.ndarray]] = []
    boot_d: list[tuple[np.ndarray, np.ndarray]] = []
    failed = 0
    for be, bu in resampled_envelopes(grid, bootstrap, seed, refine, exclude_edges, exclude_dominated):
        failed += int(bu.sum() < 3)
        boot_n.append((grid.C[bu], be.N[bu]))
        boot_d.append((grid.C[bu], be.tokens[bu]))
    if bootstrap and failed / bootstrap > 0.1:
        warnings.append(f"{failed} of {bootstrap} bootstrap resamples had fewer than 3 usable budgets")
    n_law = fit_line(grid.C[used], env.N[used], boot_n, min_points=3, level=level)
    d_law = fit_line(grid.C[used], env.tokens[used], boot_d, min_points=3, level=level)
    table = pd.DataFrame(
        {
            "C": grid.C,
            "C_pfdays": grid.C / PF_DAY,
            "loss": env.loss,
            "run": [grid.runs[i] if i >= 0 else None for i in env.run_index],
            "N_opt": env.N,
            "D_opt": env.tokens,
            "tokens_per_param": env.tokens / env.N,
            "used": used,
        }
    )
    return ComputeOptimal(
        approach=1,
        N_opt=n_law,
        D_opt=d_law,
        table=table,
        points=None,
        target=_target_block(n_law, d_law, target_compute, level),
        conventions=_with_c(conventions, warm.C_convention),
        n_runs=len(grid.runs),
        bootstrap=int(bootstrap),
        n_bootstrap_failed=failed,
        level=level,
        warnings=tuple(warnings),
        warmup=warm,
    )


# ---------------------------------------------------------------------------------------------
# Approach 2: budgets
# ---------------------------------------------------------------------------------------------


def fit_parabolas(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    robust: Literal["huber", "ls"] = "huber",
    huber_delta: float = 1e-3,
    iterations: int = 100,
) -> np.ndarray:
    """Weighted parabolas y ≈ p0 + p1·x + p2·x², one per row of ``weights`` (shape (K, n)); ``y`` is
    one profile (n,) shared by every row, or one per row (K, n).

    Rows are bootstrap multiplicities (0, 1, 2, ...), so a weighted fit equals a fit on the
    resampled runs. ``robust="huber"`` minimises Huber(δ) of relative residuals (y − ŷ)/median(y)
    (≈ log-loss residuals, the scale of approach 3's δ) by iteratively reweighted least squares,
    vectorised over all K rows. Returns (K, 3) coefficients [p0, p1, p2]; rows with fewer than 3
    distinct x are NaN.
    """
    x = np.asarray(x, float)
    w0 = np.atleast_2d(np.asarray(weights, float))
    y = np.broadcast_to(np.asarray(y, float), w0.shape)
    design = np.column_stack([np.ones_like(x), x, x * x])  # (n, 3)
    distinct = np.array([np.unique(x[row > 0]).size for row in w0])
    ok = distinct >= 3
    scale = np.median(y, axis=1, keepdims=True)
    w = w0.copy()
    coef = np.zeros((w0.shape[0], 3))
    for _ in range(iterations if robust == "huber" else 1):
        xtwx = np.einsum("ni,kn,nj->kij", design, w, design)
        xtwy = np.einsum("ni,kn,kn->ki", design, w, y)
        xtwx[~ok] = np.eye(3)  # under-determined rows: a regular placeholder system, blanked below
        new = _solve_rows(xtwx, xtwy)
        if robust == "ls":
            coef = new
            break
        r = np.abs(y - new @ design.T) / scale
        w = w0 * np.minimum(1.0, huber_delta / np.maximum(r, 1e-12))
        done = np.allclose(new, coef, rtol=1e-10, atol=1e-12)
        coef = new
        if done:
            break
    coef[~ok] = np.nan
    return coef


def _solve_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve each (3, 3) system; a singular one (Huber weights can all but erase a run) by least squares."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.array([np.linalg.lstsq(ak, bk, rcond=None)[0] for ak, bk in zip(a, b, strict=True)])


def _parabola_at(coef: tuple[float, float, float] | np.ndarray, x: np.ndarray | float) -> np.ndarray | float:
    """p0 + p1·x + p2·x²: a budget's IsoFLOP parabola in centred ln N."""
    return coef[0] + coef[1] * x + coef[2] * x**2


def _vertex_status(coef: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex x* = −p1/(2·p2) and a status code: 0 ok, 1 outside [lo, hi], 2 opens downward, 3 no fit."""
    p1, p2 = coef[..., 1], coef[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xs = -p1 / (2.0 * p2)
    status = np.where(~np.isfinite(p2), 3, np.where(p2 <= 0, 2, np.where((xs < lo) | (xs > hi), 1, 0)))
    return xs, status


_STATUS = {0: "ok", 1: "outside", 2: "downward", 3: "too_few_sizes", 4: "edge"}
#: Loss windows tried in turn around a profile's lowest run, relative to its loss: a window is taken
#: when its parabola opens upward with its vertex inside and the vertex's standard error (delta method,
#: from the loss noise pooled over budgets) is at most MAX_VERTEX_SE in ln N; else the next, wider one
#: is tried (inf: the whole profile). Near the minimum a parabola is a good model; across 2+ decades
#: of N it is not, and a whole-profile fit pulls small budgets' vertices towards small N (Porian et
#: al. 2024). But a parabola through 3 noisy runs places its vertex anywhere: the standard error
#: tells a dense, quiet profile (Porian's seed-averaged points) from a sparse, noisy one.
#: MAX_VERTEX_SE was chosen on three data sets (bench/fit_calibration.py): exponents inside Porian
#: et al.'s published 95% intervals / mean |Δa| / Chinchilla a / 10 synthetic 5-run-per-budget
#: studies (0.4% noise) mean |Δa|: whole profile 7 / 0.025 / 0.52 / -; no SE limit 14 / 0.008 /
#: 0.519 / 0.040 (max 0.095); 0.05: 11 / 0.013 / 0.512 / 0.010; 0.1: 13 / 0.007 / 0.522 / 0.015
#: (max 0.041); 0.2: 13 / 0.008 / 0.524 / 0.019 (max 0.081).
LOSS_WINDOWS = (0.005, 0.01, 0.02, 0.05, 0.1, np.inf)
MIN_WINDOW_RUNS = 3  # the lowest run and one on each side
MAX_VERTEX_SE = 0.1  # ln N: a 10% standard error in N_opt
NOISE_WINDOW_RUNS = 5  # the noise comes from parabolas through 5 runs (2 residual degrees of freedom)


def _window(
    x: np.ndarray, y: np.ndarray, present: np.ndarray, tau: float, min_runs: int = MIN_WINDOW_RUNS
) -> np.ndarray | None:
    """Runs (mask) within ``tau`` of the lowest present run's loss, contiguous in N around it, with at
    least one run on each side and ``min_runs`` in all (grown towards the lower-loss side); None when
    the lowest run is the smallest or largest size."""
    idx = np.flatnonzero(present)
    pos = int(np.argmin(y[idx]))
    if pos == 0 or pos == idx.size - 1:
        return None
    limit = y[idx[pos]] * (1.0 + tau)
    lo, hi = pos - 1, pos + 1
    while lo > 0 and y[idx[lo - 1]] <= limit:
        lo -= 1
    while hi < idx.size - 1 and y[idx[hi + 1]] <= limit:
        hi += 1
    while hi - lo + 1 < min_runs and (lo > 0 or hi < idx.size - 1):
        grow_low = hi == idx.size - 1 or (lo > 0 and y[idx[lo - 1]] <= y[idx[hi + 1]])
        lo, hi = (lo - 1, hi) if grow_low else (lo, hi + 1)
    mask = np.zeros(len(x), bool)
    mask[idx[lo : hi + 1]] = True
    return mask


def _vertices(x: np.ndarray, y: np.ndarray, counts: np.ndarray, how: _ParabolaFit) -> tuple[np.ndarray, ...]:
    """(vertex, status, coef, runs used) of each row of ``counts`` (K, n): the first window whose parabola has an
    interior minimum (``how.window`` "auto"), or the whole profile ("all", Hoffmann's procedure).
    ``x`` (centred ln N) is sorted; ``y`` is one profile's losses (n,), or one per row (K, n)."""
    k = len(counts)
    y = np.broadcast_to(np.asarray(y, float), counts.shape)
    xs, status, coef = np.full(k, np.nan), np.full(k, 3), np.full((k, 3), np.nan)
    used = np.zeros(counts.shape, bool)  # the runs each row's parabola was fitted to
    pending = np.ones(k, bool)
    taus = LOSS_WINDOWS if how.window == "auto" else (np.inf,)
    for tau in taus:
        rows, masks = [], []
        for r in np.flatnonzero(pending):
            present = counts[r] > 0
            if np.unique(x[present]).size < 3:
                pending[r] = False  # status stays 3: too few sizes for a parabola
                continue
            m = present if tau == np.inf and how.window == "all" else _window(x, y[r], present, tau)
            if m is None:
                status[r], pending[r] = 4, False
                continue
            rows.append(r)
            masks.append(m)
        if not rows:
            break
        weights = counts[rows] * np.array(masks)
        c = fit_parabolas(x, y[rows], weights, how.robust, how.huber_delta)
        lo = np.where(weights > 0, x[None, :], np.inf).min(axis=1)
        hi = np.where(weights > 0, x[None, :], -np.inf).max(axis=1)
        v, st = _vertex_status(c, lo, hi)
        se = _vertex_se(x, weights, c, how.noise * np.median(y[rows], axis=1))
        done = ((st == 0) & ~(se > MAX_VERTEX_SE)) | (tau == taus[-1])
        rows = np.asarray(rows)
        xs[rows[done]], status[rows[done]], coef[rows[done]] = v[done], st[done], c[done]
        used[rows[done]] = weights[done] > 0
        pending[rows[done]] = False
    return xs, status, coef, used



def _vertex_se(x: np.ndarray, weights: np.ndarray, coef: np.ndarray, sigma: float) -> np.ndarray:
    """Standard error of each row's vertex −p1/(2·p2) in ln N (delta method), for each row's loss noise
    sigma (K,)."""
    if not np.isfinite(sigma).any():
        return np.full(len(weights), np.nan)
    design = np.column_stack([np.ones_like(x), x, x * x])
    xtwx = np.einsum("ni,kn,nj->kij", design, weights, design)
    with np.errstate(all="ignore"):
        cov = np.linalg.pinv(xtwx) * (sigma**2)[:, None, None]
        p1, p2 = coef[:, 1], coef[:, 2]
        g = np.column_stack([np.zeros_like(p1), -1 / (2 * p2), p1 / (2 * p2**2)])
        return np.sqrt(np.einsum("ki,kij,kj->k", g, cov, g))


def _pooled_noise(df: pd.DataFrame) -> float:
    """Relative loss scatter about each budget's parabola through its 5 runs nearest the minimum,
    pooled over budgets (the budgets' shared noise level)."""
    ss, dof = 0.0, 0
    for _, g in df.groupby("budget"):
        g = g.sort_values("_lnN")
        x, y = g["_lnN"].to_numpy(float), g["loss"].to_numpy(float)
        m = _window(x, y, np.ones(len(x), bool), 0.0, NOISE_WINDOW_RUNS)
        if m is None or m.sum() < 4:
            continue
        coef = np.polyfit(x[m] - x[m].mean(), y[m], 2)
        r = (y[m] - np.polyval(coef, x[m] - x[m].mean())) / np.median(y)
        ss, dof = ss + float(r @ r), dof + int(m.sum()) - 3
    return math.sqrt(ss / dof) if dof else math.nan


def _prepare_finals(finals: pd.DataFrame, flops_per_token: float | None) -> tuple[pd.DataFrame, str]:
    where = "approach2"
    require_columns(finals, ["N", "loss"], where)
    if "C" not in finals.columns and "D" not in finals.columns:
        raise InputError(f"{where}: need a 'C' (training FLOPs) or a 'D' (tokens) column")
    if len(finals) == 0:
        raise InputError(f"{where}: the table has no rows")
    df = finals.reset_index(drop=True)
    check_positive(df, ["N", "loss"] + [c for c in ("C", "D") if c in df.columns], where)
    if "run" in df.columns:
        dup = df["run"].duplicated().to_numpy()
        if dup.any():
            raise InputError(
                f"{where}: duplicate run id {show(df['run'].iloc[int(np.argmax(dup))])} (one row per run)"
            )
    else:
        df["run"] = df.index + 1  # data row numbers
    if flops_per_token is not None and not (math.isfinite(flops_per_token) and flops_per_token > 0):
        raise InputError(f"{where}: flops_per_token must be positive, got {flops_per_token!r}")
    # k = FLOPs per parameter per token of each run: given, else as the table implies (C/(N·D)),
    # else 6 (C = 6ND). D_opt = C/(k·N_opt) with the budget's median k.
    if "C" in df.columns:
        convention = C_GIVEN
        if flops_per_token is not None:
            df["_k"] = float(flops_per_token)
        elif "D" in df.columns:
            df["_k"] = df["C"].astype(float) / (df["N"].astype(float) * df["D"].astype(float))
        else:
            df["_k"] = 6.0
    else:
        k = 6.0 if flops_per_token is None else float(flops_per_token)
        df["C"] = k * df["N"].astype(float) * df["D"].astype(float)
        df["_k"] = k
        convention = C_FROM_6ND if k == 6.0 else f"{k:g}*N*D"
    return df, convention


@dataclass(frozen=True)
class _ParabolaFit:
    """How approach 2 fits each budget's parabola and its bootstrap."""

    robust: Literal["huber", "ls"]
    window: Literal["auto", "all"]
    huber_delta: float
    exclude_outside: bool
    bootstrap: int
    level: float
    noise: float = math.nan  # relative loss noise pooled over budgets, for the vertex's standard error
    resample: Literal["runs", "noise"] = "runs"  # what a bootstrap resample varies (see approach2)


def _noise_vertices(
    x: np.ndarray, y: np.ndarray, coef: np.ndarray, fitted_to: np.ndarray, how: _ParabolaFit, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap vertices (centred ln N, NaN where excluded) that keep every size as trained: the sizes
    are the experiment's design, not a sample. Each resample draws the losses of the runs the parabola
    was fitted to about that parabola, and leaves the others as measured, with the pooled noise."""
    if not fitted_to.any() or not np.isfinite(how.noise):
        return np.full(how.bootstrap, np.nan)
    sigma = how.noise * float(np.median(y))
    base = np.where(fitted_to, _parabola_at(coef, x), y)
    draws = base + sigma * rng.standard_normal((how.bootstrap, len(x)))
    v, st, _, _ = _vertices(x, draws, np.ones(draws.shape), how)
    return np.where((st == 0) | ((st == 1) & (not how.exclude_outside)), v, np.nan)


def _budget_row(
    c_b: float, g: pd.DataFrame, how: _ParabolaFit, rng: np.random.Generator, warnings: list[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """One budget's vertex N_opt (a parabola in ln N), its bootstrap vertices (NaN where excluded)."""
    # Sizes equal to 1e-4 in ln N are one size: Chinchilla's extracted points list 9.293215e9 and
    # 9.293224e9, and two "sizes" that close give a parabola of any curvature.
    g = g.assign(_lnN=g["_lnN"].round(4)).sort_values("_lnN", kind="stable")
    x, y = g["_lnN"].to_numpy(), g["loss"].to_numpy(float)
    centre = float(x.mean())  # centring keeps the normal equations well conditioned
    lo, hi = float(x.min()), float(x.max())
    (xs,), (status,), (coef,), (fitted_to,) = _vertices(x - centre, y, np.ones((1, len(x))), how)
    xs, status = float(xs) + centre, int(status)
    boot_xs = np.empty(0)
    if how.bootstrap and how.resample == "runs":
        counts = rng.multinomial(len(x), np.full(len(x), 1.0 / len(x)), size=how.bootstrap).astype(float)
        bxs, bstat, _, _ = _vertices(x - centre, y, counts, how)
        bad = (bstat >= 2) | ((bstat == 1) & how.exclude_outside)
        boot_xs = np.where(bad, np.nan, bxs + centre)
    elif how.bootstrap:
        boot_xs = _noise_vertices(x - centre, y, coef, fitted_to, how, rng) + centre
    if status == 1:
        warnings.append(
            f"budget {c_b:.3g} FLOPs: the parabola's minimum (N = {math.exp(xs):.3g}) lies outside the "
            f"sampled N range [{math.exp(lo):.3g}, {math.exp(hi):.3g}]"
            + ("; excluded" if how.exclude_outside else "")
        )
    elif status == 2:
        warnings.append(f"budget {c_b:.3g} FLOPs: the parabola opens downward (no minimum); excluded")
    elif status == 3:
        warnings.append(f"budget {c_b:.3g} FLOPs: fewer than 3 distinct model sizes; excluded")
    elif status == 4:
        warnings.append(
            f"budget {c_b:.3g} FLOPs: its lowest loss is at the smallest or largest sampled size, so the "
            "minimum may lie outside the sizes tried; excluded"
        )
    n_opt = math.exp(xs) if status in (0, 1) else float("nan")
    k_flops = float(g["_k"].median())
    d_opt = c_b / (k_flops * n_opt)
    x_rel = xs - centre
    n_lo, n_hi = percentile_interval(np.exp(boot_xs), how.level) if how.bootstrap else NAN_PAIR
    row = {
        "C": c_b,
        "C_pfdays": c_b / PF_DAY,
        "n_runs": len(g),
        "N_min": math.exp(lo),
        "N_max": math.exp(hi),
        # the runs the parabola was fitted to (its window): where the parabola describes the data
        "N_fit_min": math.exp(x[fitted_to].min()) if fitted_to.any() else np.nan,
        "N_fit_max": math.exp(x[fitted_to].max()) if fitted_to.any() else np.nan,
        "N_opt": n_opt,
        "N_opt_low": n_lo,
        "N_opt_high": n_hi,
        "D_opt": d_opt,
        "tokens_per_param": d_opt / n_opt,
        "flops_per_param_token": k_flops,
        "loss_opt": float(_parabola_at(coef, x_rel)) if status in (0, 1) else np.nan,
        "p0": coef[0],
        "p1": coef[1],
        "p2": coef[2],
        "lnN_centre": centre,
        "status": _STATUS[status],
        "used": status == 0 or (status == 1 and not how.exclude_outside),
    }
    return row, boot_xs


def _allocation_lines(
    table: pd.DataFrame, boot_xs: list[np.ndarray], bootstrap: int, level: float, warnings: list[str]
) -> tuple[LogLogLine, LogLogLine, int]:
    """N_opt ∝ C^a and D_opt ∝ C^b over the usable budgets, each resample from its budgets' vertices."""
    use = table["used"].to_numpy(bool)
    c_used = table["C"].to_numpy(float)[use]
    k_used = table["flops_per_param_token"].to_numpy(float)[use]
    bx = np.array(boot_xs)[use] if bootstrap else np.empty((use.sum(), 0))  # (budgets, bootstrap)
    boot_n, boot_d, failed = [], [], 0
    for j in range(int(bootstrap)):
        ok = np.isfinite(bx[:, j])
        if ok.sum() < 2:
            failed += 1
        n_j = np.exp(bx[ok, j])
        boot_n.append((c_used[ok], n_j))
        boot_d.append((c_used[ok], c_used[ok] / (k_used[ok] * n_j)))
    if bootstrap and failed / bootstrap > 0.1:
        warnings.append(f"{failed} of {bootstrap} bootstrap resamples had fewer than 2 usable budgets")
    n_law = fit_line(c_used, table["N_opt"].to_numpy(float)[use], boot_n, level=level)
    d_law = fit_line(c_used, table["D_opt"].to_numpy(float)[use], boot_d, level=level)
    return n_law, d_law, failed


def _budget_table(
    finals: pd.DataFrame,
    budgets: Sequence[float] | int | None,
    budget_col: str,
    window_dex: float,
    how: _ParabolaFit,
    seed: int,
    flops_per_token: float | None,
) -> tuple[pd.DataFrame, list[np.ndarray], pd.DataFrame, str, list[str]]:
    """(one row per budget, its bootstrap vertices, the runs with their budget, C convention, warnings)."""
    df, how_c = _prepare_finals(finals, flops_per_token)
    budget, warnings = assign_budgets(df, budgets, budget_col, window_dex)
    df["budget"] = budget
    n_runs = len(df)
    df = df[np.isfinite(df["budget"])].copy()
    df["_lnN"] = np.log(df["N"].astype(float))
    if how.window == "auto" or how.resample == "noise":
        how = replace(how, noise=_pooled_noise(df))
    rng = np.random.default_rng(seed)
    rows, boot_xs = [], []  # per budget: the row, and (bootstrap,) vertex ln N, NaN where excluded
    for c_b, g in df.groupby("budget", sort=True):
        row, bxs = _budget_row(float(c_b), g, how, rng, warnings)
        rows.append(row)
        boot_xs.append(bxs)
    if not rows:
        raise InputError(
            f"approach2: none of the {n_runs} runs falls in an IsoFLOP budget: no group of runs shares about "
            "the same compute (C), so there is no profile of loss against N at fixed compute; train several "
            "sizes per budget (`lmscale sweep` IsoFLOP presets), or give the budgets (--isoflop-budgets, or a "
            "'budget' column)"
        )
    return pd.DataFrame(rows), boot_xs, df, how_c, warnings


def _parabola_options(
    robust: str,
    window: str,
    huber_delta: float,
    exclude_outside: bool,
    bootstrap: int,
    level: float,
    resample: str = "runs",
) -> _ParabolaFit:
    where = "approach2"
    check_bootstrap(bootstrap, level, where)
    if resample not in ("runs", "noise"):
        raise InputError(f"{where}: resample must be 'runs' or 'noise', got {resample!r}")
    if robust not in ("huber", "ls"):
        raise InputError(f"{where}: robust must be 'huber' or 'ls', got {robust!r}")
    if not (math.isfinite(huber_delta) and huber_delta > 0):
        raise InputError(f"{where}: huber_delta must be positive, got {huber_delta!r}")
    if window not in ("auto", "all"):
        raise InputError(f"{where}: window must be 'auto' or 'all', got {window!r}")
    return _ParabolaFit(robust, window, huber_delta, exclude_outside, int(bootstrap), level, resample=resample)  # type: ignore[arg-type]


def budget_minima(
    finals: pd.DataFrame,
    budgets: Sequence[float] | int | None = None,
    budget_col: str = "budget",
    window: Literal["auto", "all"] = "auto",
    bootstrap: int = 0,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Each budget's IsoFLOP minimum, as approach 2 finds it: one row per budget (C, N_opt with its
    bootstrap interval N_opt_low/N_opt_high, loss_opt, status, used). One budget is enough here."""
    how = _parabola_options("huber", window, 1e-3, True, bootstrap, level)
    return _budget_table(finals, budgets, budget_col, WINDOW_DEX, how, seed, None)[0]


def approach2(
    finals: pd.DataFrame,
    budgets: Sequence[float] | int | None = None,
    budget_col: str = "budget",
    window_dex: float = WINDOW_DEX,
    window: Literal["auto", "all"] = "auto",
    robust: Literal["huber", "ls"] = "huber",
    huber_delta: float = 1e-3,
    exclude_outside: bool = True,
    flops_per_token: float | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    target_compute: float | None = None,
    level: float = 0.95,
    conventions: Conventions | None = None,
    resample: Literal["runs", "noise"] = "runs",
) -> ComputeOptimal:
    """Chinchilla approach 2 (IsoFLOP profiles) from final points (one row per run: N, C or D, loss).

    Runs are grouped into budgets (see :func:`assign_budgets`); per budget a parabola in ln N is
    fitted to loss and its vertex is N_opt; D_opt = C/(k·N_opt) with k FLOPs per parameter-token
    (``flops_per_token``; default the table's median C/(N·D), else 6). Budgets whose vertex lies
    outside their sampled N range are excluded (``exclude_outside``) and parabolas that open
    downward always are, each with a warning. ``resample="runs"`` bootstraps by resampling runs
    within each budget; ``"noise"`` keeps every budget's sizes as trained and redraws their losses about
    its fitted parabola with the noise pooled over budgets (a fixed-design bootstrap: with 5 or 6 runs
    a budget, resampling runs often drops an end size and with it the budget's minimum).
    ``conventions``: what N and C count (C computed as 6·N·D is 6ND).
    """
    where = "approach2"
    how = _parabola_options(robust, window, huber_delta, exclude_outside, bootstrap, level, resample)
    table, boot_xs, df, how_c, warnings = _budget_table(
        finals, budgets, budget_col, window_dex, how, seed, flops_per_token
    )
    use = table["used"].to_numpy(bool)
    if use.sum() < 2:
        raise InputError(
            f"{where}: only {int(use.sum())} budget(s) with a usable parabola minimum; need at least 2 "
            "(3 or more to check the power law)"
        )
    if use.sum() < 3:
        warnings.append(f"only {int(use.sum())} usable budgets: the power laws are fitted without any check")
    _decade_warning(table["C"].to_numpy()[use], warnings)
    n_law, d_law, failed = _allocation_lines(table, boot_xs, int(bootstrap), level, warnings)
    return ComputeOptimal(
        approach=2,
        N_opt=n_law,
        D_opt=d_law,
        table=table,
        points=df[["run", "N", "C", "loss", "budget"]].reset_index(drop=True),
        target=_target_block(n_law, d_law, target_compute, level),
        conventions=_with_c(conventions, how_c),
        n_runs=len(df),
        bootstrap=int(bootstrap),
        n_bootstrap_failed=failed,
        level=level,
        warnings=tuple(warnings),
    )
