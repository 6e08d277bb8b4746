"""Kaplan's compute-efficient frontier L(C_min) and critical batch size (Kaplan et al. 2020, §5-6).

The frontier is the lower envelope of all learning curves in (C, loss): at each compute C, the
lowest loss any run reached with C FLOPs, and which run (model size N) got there. Fitting
L(C) = (C_c/C)^α_C to it gives Kaplan's α_C (published 0.050, C_c = 3.1e8 PF-days); regressing
the attaining N on C gives the compute-efficient allocation N ∝ C^a (published a = 0.73).
Uncertainty comes from a bootstrap over runs: a resample is a multiset of runs, and the envelope
of a multiset is the envelope of its distinct members, so each resample is a masked minimum.

Critical batch size: B_crit(L) = B*/L^(1/α_B) (Kaplan eq. 5.3; B* ≈ 2e8 tokens, α_B ≈ 0.21) and
the step/data trade-off (S/S_min − 1)(E/E_min − 1) = 1 (Kaplan eq. 5.4, McCandlish et al. 2018).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize

from lmscale.errors import InputError
from lmscale.fit.curves import (
    PF_DAY,
    CurveGrid,
    WarmupExclusion,
    check_positive,
    exclude_warmup,
    log_grid,
    require_columns,
    resample_curves,
    show,
)
from lmscale.jsonsafe import plain

# ---------------------------------------------------------------------------------------------
# Power laws in log space (shared with compute_optimal)
# ---------------------------------------------------------------------------------------------


def fit_loglog(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least squares of log y on log x: returns (slope, intercept, R² in log space)."""
    lx, ly = np.log(np.asarray(x, float)), np.log(np.asarray(y, float))
    slope, intercept = np.polyfit(lx, ly, 1)
    resid = ly - (slope * lx + intercept)
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else float("nan")
    return float(slope), float(intercept), r2


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval over the finite samples (NaN pair when there are none)."""
    s = np.asarray(samples, float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo), float(hi))


@dataclass(frozen=True)
class PowerLaw:
    """y = coef · x^exponent fitted in log space, with bootstrap intervals."""

    exponent: float
    coef: float
    r2_log: float
    n_points: int
    exponent_ci95: tuple[float, float] = (float("nan"), float("nan"))
    boot_exponents: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    boot_log_coefs: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.coef * np.asarray(x, float) ** self.exponent

    def predict_ci95(self, x: float) -> tuple[float, float]:
        """Bootstrap confidence interval of the fitted line at x (not a prediction interval)."""
        if self.boot_exponents.size == 0:
            return (float("nan"), float("nan"))
        return percentile_ci(np.exp(self.boot_log_coefs + self.boot_exponents * math.log(x)))

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "exponent": self.exponent,
                "coef": self.coef,
                "exponent_ci95": self.exponent_ci95,
                "r2_log": self.r2_log,
                "n_points": self.n_points,
            }
        )


def power_law_with_boot(
    x: np.ndarray, y: np.ndarray, boot_xy: list[tuple[np.ndarray, np.ndarray]], min_points: int = 2
) -> PowerLaw:
    """Fit y ∝ x^k on the full data and on each bootstrap (x, y) pair; failed resamples give NaN."""
    slope, intercept, r2 = fit_loglog(x, y)
    bk = np.full(len(boot_xy), np.nan)
    bc = np.full(len(boot_xy), np.nan)
    for i, (bx, by) in enumerate(boot_xy):
        if len(bx) >= min_points and np.ptp(np.log(bx)) > 0:
            bk[i], bc[i], _ = fit_loglog(bx, by)
    return PowerLaw(
        exponent=slope,
        coef=math.exp(intercept),
        r2_log=r2,
        n_points=len(x),
        exponent_ci95=percentile_ci(bk),
        boot_exponents=bk,
        boot_log_coefs=bc,
    )


def run_resamples(n_runs: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_runs) boolean masks: which runs appear in each resample-with-replacement of runs."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_runs, size=(n_boot, n_runs))
    mask = np.zeros((n_boot, n_runs), dtype=bool)
    np.put_along_axis(mask, draws, True, axis=1)
    return mask


def check_boot(n_boot: int, where: str) -> None:
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 0):
        raise InputError(f"{where}: n_boot must be an integer >= 0, got {n_boot!r}")


# ---------------------------------------------------------------------------------------------
# The lower envelope
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvelopePoints:
    """Envelope on the grid for one set of runs; arrays of shape (G,)."""

    loss: np.ndarray
    run_index: np.ndarray  # index into CurveGrid.runs, -1 where no run covers C
    N: np.ndarray  # attaining N (parabola-refined when asked)
    tokens: np.ndarray  # attaining tokens
    interior: np.ndarray  # a covering run with smaller N and one with larger N exist


def envelope_on_grid(
    grid: CurveGrid, mask: np.ndarray | None = None, refine: Literal["none", "parabola"] = "none"
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
        x, y = logn[three], loss[three, g]
        if np.unique(x).size < 3:  # runs sharing N (seeds, LR sweeps): no parabola through them
            continue
        p2, p1, _ = np.polyfit(x, y, 2)
        if p2 <= 0:
            continue
        x_star = float(np.clip(-p1 / (2 * p2), x[0], x[-1]))
        # Keep the run's own FLOPs-per-parameter-token ratio: C = k·N·D along every curve.
        ratio = grid.C[g] / (grid.N[idx[g]] * grid.tokens[idx[g], g])
        n_att[g] = math.exp(x_star)
        tok_att[g] = grid.C[g] / (ratio * n_att[g])
    return n_att, tok_att


# ---------------------------------------------------------------------------------------------
# L(C_min) fit
# ---------------------------------------------------------------------------------------------


def _fit_offset(
    C: np.ndarray, L: np.ndarray, huber_delta: float, start: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """L = E + A/C^α by Huber on log residuals (log-sum-exp form, analytic Jacobian).

    Without ``start``, the best of a few starts (E at 0, 50, 80, 95% of the lowest loss); with
    ``start`` = [E, A, α] (a bootstrap warm start from the full-data fit), that start only.
    Returns ([E, A, α], objective).
    """
    lc, ll = np.log(C), np.log(L)
    centre = float(np.median(lc))  # centre log C so log A stays O(1) in the solver
    z = lc - centre

    def resid(p: np.ndarray) -> np.ndarray:
        return np.logaddexp(p[0], p[1] - p[2] * z) - ll

    def jac(p: np.ndarray) -> np.ndarray:
        w_e = np.exp(p[0] - np.logaddexp(p[0], p[1] - p[2] * z))  # share of E in the prediction
        return np.column_stack([w_e, 1.0 - w_e, -(1.0 - w_e) * z])

    if start is None:
        starts = []
        for frac in (0.0, 0.5, 0.8, 0.95):
            e0 = frac * float(L.min())
            slope, icpt = np.polyfit(z, np.log(np.maximum(L - e0, 1e-12)), 1)
            starts.append(np.array([math.log(max(e0, 1e-6 * L.min())), icpt, max(-slope, 1e-4)]))
    else:
        e, a, alpha = start
        starts = [np.array([math.log(max(e, 1e-12)), math.log(a) - alpha * centre, alpha])]
    best: tuple[np.ndarray, float] | None = None
    for x0 in starts:
        sol = optimize.least_squares(
            resid, x0, jac=jac, loss="huber", f_scale=huber_delta, bounds=([-np.inf, -np.inf, 0], np.inf)
        )
        if best is None or sol.cost < best[1]:
            best = (sol.x, float(sol.cost))
    assert best is not None
    e, loga, alpha = best[0]
    return np.array([math.exp(e), math.exp(loga + alpha * centre), alpha]), best[1]


@dataclass(frozen=True)
class FrontierResult:
    """Compute-efficient frontier: the envelope table, the L(C) fit and the N(C) allocation."""

    form: str  # "power": L = (C_c/C)^alpha_C; "offset": L = E + A/C^alpha_C
    params: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    allocation: PowerLaw  # attaining N ∝ C^a
    envelope: pd.DataFrame  # C, C_pfdays, loss, run, N, tokens, interior, used
    C_convention: str
    n_runs: int
    n_boot: int
    n_boot_failed: int
    r2_log: float
    warnings: tuple[str, ...] = ()
    warmup: WarmupExclusion | None = field(default=None, repr=False)

    def predict(self, C: float | np.ndarray) -> np.ndarray:
        """Frontier loss at compute C (FLOPs)."""
        c = np.asarray(C, float)
        if self.form == "power":
            return (self.params["C_c"] / c) ** self.params["alpha_C"]
        return self.params["E"] + self.params["A"] / c ** self.params["alpha_C"]

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "form": self.form,
                "params": self.params,
                "ci95": self.ci95,
                "allocation": {"N_vs_C": self.allocation.to_dict()},
                "C_convention": self.C_convention,
                "n_runs": self.n_runs,
                "n_boot": self.n_boot,
                "n_boot_failed": self.n_boot_failed,
                "r2_log": self.r2_log,
                "warnings": list(self.warnings),
                "warmup_exclusion": self.warmup.to_dict() if self.warmup else None,
                "envelope": self.envelope,
            }
        )


def _frontier_params(
    form: str, C: np.ndarray, L: np.ndarray, huber_delta: float, start: dict[str, float] | None = None
) -> dict[str, float]:
    if form == "power":
        slope, intercept, _ = fit_loglog(C, L)
        alpha = -slope
        c_c = math.exp(intercept / alpha) if alpha > 0 else float("nan")
        return {"alpha_C": alpha, "C_c": c_c, "C_c_pfdays": c_c / PF_DAY}
    x0 = None if start is None else np.array([start["E"], start["A"], start["alpha_C"]])
    (e, a, alpha), _ = _fit_offset(C, L, huber_delta, x0)
    return {"E": float(e), "A": float(a), "alpha_C": float(alpha)}


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


def fit_frontier(
    curves: pd.DataFrame,
    n_grid: int = 50,
    form: Literal["power", "offset"] = "power",
    n_boot: int = 1000,
    seed: int = 0,
    exclude_edges: bool = True,
    refine: Literal["none", "parabola"] = "none",
    huber_delta: float = 1e-3,
    min_fraction: float = 0.0,
    use_lr: bool = True,
    exclude_dominated: bool = True,
) -> FrontierResult:
    """Fit Kaplan's L(C_min) to the lower envelope of all learning curves, with a bootstrap over runs.

    ``exclude_dominated`` drops grid points where the envelope lies above a loss some run already
    reached with less compute: after a run's last evaluation the envelope jumps up to a larger
    run's early, not yet annealed loss, which is not compute-efficient (with fixed-token runs, as
    Kaplan trained them, this happens after every small model ends).

    ``exclude_edges`` drops grid points whose attaining run has no covering run with a smaller or
    a larger N: there the true optimum may lie outside the sampled sizes, so the envelope is
    biased upward. Warmup points are excluded by rule first (:func:`lmscale.fit.curves.exclude_warmup`
    with ``min_fraction`` and ``use_lr``). The fraction rule is off by default here: Kaplan's frontier
    at small C is made of the early parts of the large models' curves.
    """
    if form not in ("power", "offset"):
        raise InputError(f"fit_frontier: form must be 'power' or 'offset', got {form!r}")
    check_boot(n_boot, "fit_frontier")
    if not (math.isfinite(huber_delta) and huber_delta > 0):
        raise InputError(f"fit_frontier: huber_delta must be positive, got {huber_delta!r}")
    warm = exclude_warmup(curves, min_fraction=min_fraction, use_lr=use_lr)
    grid = resample_curves(warm.kept, n_grid=n_grid)
    if len(grid.runs) < 2:
        raise InputError("fit_frontier: need learning curves from at least 2 runs for an envelope")
    warnings: list[str] = []
    env = envelope_on_grid(grid, refine=refine)
    used = usable_envelope(env, exclude_edges, exclude_dominated)
    min_pts = 3 if form == "power" else 4
    if used.sum() < min_pts:
        raise InputError(
            f"fit_frontier: only {int(used.sum())} envelope points where an interior run attains the minimum "
            f"(need {min_pts}); add model sizes around the optimum or pass exclude_edges=False"
        )
    if exclude_edges and (~env.interior & np.isfinite(env.loss)).any():
        warnings.append(
            f"{int((~env.interior & np.isfinite(env.loss)).sum())} of {len(grid.C)} grid points excluded: the "
            "smallest or largest covering run attains the envelope there"
        )
    n_dominated = int((dominated(env.loss) & np.isfinite(env.loss)).sum())
    if exclude_dominated and n_dominated:
        warnings.append(
            f"{n_dominated} of {len(grid.C)} grid points excluded: a run reached a lower loss with less compute"
        )
    params = _frontier_params(form, grid.C[used], env.loss[used], huber_delta)
    if not params["alpha_C"] > 0:
        warnings.append("the envelope does not fall with compute: alpha_C <= 0, C_c undefined")
    pred = (
        (params["C_c"] / grid.C[used]) ** params["alpha_C"]
        if form == "power"
        else params["E"] + params["A"] / grid.C[used] ** params["alpha_C"]
    )
    ll = np.log(env.loss[used])
    r2 = 1.0 - float(np.sum((ll - np.log(pred)) ** 2)) / float(np.sum((ll - ll.mean()) ** 2))

    boot_params: dict[str, list[float]] = {k: [] for k in params}
    boot_alloc: list[tuple[np.ndarray, np.ndarray]] = []
    failed = 0
    for m in run_resamples(len(grid.runs), n_boot, seed):
        be = envelope_on_grid(grid, m, refine=refine)
        bu = usable_envelope(be, exclude_edges, exclude_dominated)
        if bu.sum() < min_pts:
            failed += 1
            boot_alloc.append((np.empty(0), np.empty(0)))
            continue
        bp = _frontier_params(form, grid.C[bu], be.loss[bu], huber_delta, start=params)
        for k in params:
            boot_params[k].append(bp[k])
        boot_alloc.append((grid.C[bu], be.N[bu]))
    if n_boot and failed / n_boot > 0.1:
        warnings.append(f"{failed} of {n_boot} bootstrap resamples had too few envelope points")
    alloc = power_law_with_boot(grid.C[used], env.N[used], boot_alloc)
    if np.ptp(np.log(env.N[used])) == 0:
        warnings.append("one run attains the whole envelope: the N(C) allocation exponent is not identified")

    table = pd.DataFrame(
        {
            "C": grid.C,
            "C_pfdays": grid.C / PF_DAY,
            "loss": env.loss,
            "run": [grid.runs[i] if i >= 0 else None for i in env.run_index],
            "N": env.N,
            "tokens": env.tokens,
            "interior": env.interior,
            "used": used,
        }
    )
    return FrontierResult(
        form=form,
        params=params,
        ci95={k: percentile_ci(np.array(v)) for k, v in boot_params.items()},
        allocation=alloc,
        envelope=table,
        C_convention=warm.C_convention,
        n_runs=len(grid.runs),
        n_boot=int(n_boot),
        n_boot_failed=failed,
        r2_log=r2,
        warnings=tuple(warnings),
        warmup=warm,
    )


# ---------------------------------------------------------------------------------------------
# Critical batch size
# ---------------------------------------------------------------------------------------------

#: Kaplan et al. 2020, eq. 5.3 / Figure 10 (tokens, dimensionless).
KAPLAN_B_STAR = 2e8
KAPLAN_ALPHA_B = 0.21


def bcrit_kaplan(
    loss: float | np.ndarray, B_star: float = KAPLAN_B_STAR, alpha_B: float = KAPLAN_ALPHA_B
) -> np.ndarray:
    """B_crit(L) = B*/L^(1/α_B), in tokens (Kaplan eq. 5.3)."""
    return B_star / np.asarray(loss, float) ** (1.0 / alpha_B)


def steps_min(S: float | np.ndarray, B: float | np.ndarray, B_crit: float | np.ndarray) -> np.ndarray:
    """Fewest steps to the same loss at a very large batch: S_min = S/(1 + B_crit/B) (Kaplan eq. 5.4)."""
    return np.asarray(S, float) / (1.0 + np.asarray(B_crit, float) / np.asarray(B, float))


def examples_min(E: float | np.ndarray, B: float | np.ndarray, B_crit: float | np.ndarray) -> np.ndarray:
    """Fewest tokens to the same loss at a very small batch: E_min = E/(1 + B/B_crit) (Kaplan eq. 5.4)."""
    return np.asarray(E, float) / (1.0 + np.asarray(B, float) / np.asarray(B_crit, float))


@dataclass(frozen=True)
class BcritFit:
    """B_crit(L) = B*/L^(1/α_B) fitted in log space, with a bootstrap over (loss, B_crit) pairs."""

    B_star: float
    alpha_B: float
    ci95: dict[str, tuple[float, float]]
    r2_log: float
    n_points: int
    warnings: tuple[str, ...] = ()

    def predict(self, loss: float | np.ndarray) -> np.ndarray:
        return bcrit_kaplan(loss, self.B_star, self.alpha_B)

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "params": {"B_star": self.B_star, "alpha_B": self.alpha_B},
                "ci95": self.ci95,
                "r2_log": self.r2_log,
                "n_points": self.n_points,
                "warnings": list(self.warnings),
            }
        )


def _bcrit_params(loss: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    slope, intercept, _ = fit_loglog(loss, b)
    alpha = -1.0 / slope if slope < 0 else float("nan")
    return math.exp(intercept), alpha


def fit_bcrit(
    df: pd.DataFrame, loss_col: str = "loss", bcrit_col: str = "B_crit", n_boot: int = 1000, seed: int = 0
) -> BcritFit:
    """Fit Kaplan's B_crit(L) = B*/L^(1/α_B) to (loss, B_crit) pairs by least squares in log space."""
    where = "fit_bcrit"
    require_columns(df, [loss_col, bcrit_col], where)
    check_boot(n_boot, where)
    check_positive(df.reset_index(drop=True), [loss_col, bcrit_col], where)
    loss = df[loss_col].to_numpy(float)
    b = df[bcrit_col].to_numpy(float)
    if np.unique(loss).size < 2:
        raise InputError(f"{where}: need B_crit at 2 or more distinct values of '{loss_col}'")
    warnings = []
    if len(loss) < 3:
        warnings.append("fewer than 3 (loss, B_crit) pairs: the fit has no residual to check")
    slope, _, r2 = fit_loglog(loss, b)
    if slope >= 0:
        warnings.append("B_crit does not grow as the loss falls: alpha_B is undefined (reported as NaN)")
    b_star, alpha = _bcrit_params(loss, b)
    rng = np.random.default_rng(seed)
    bs, ba = [], []
    for _ in range(n_boot):
        i = rng.integers(0, len(loss), len(loss))
        if np.ptp(loss[i]) > 0:
            s, a = _bcrit_params(loss[i], b[i])
            bs.append(s)
            ba.append(a)
    return BcritFit(
        B_star=b_star,
        alpha_B=alpha,
        ci95={"B_star": percentile_ci(np.array(bs)), "alpha_B": percentile_ci(np.array(ba))},
        r2_log=r2,
        n_points=len(loss),
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class BatchSweepResult:
    """Per target loss: S_min, E_min and B_crit = E_min/S_min from runs at several batch sizes."""

    table: pd.DataFrame  # loss, S_min, E_min, B_crit, n_batch, rms_rel
    points: pd.DataFrame  # loss, run, B, S, E (steps and tokens each run needed)
    warnings: tuple[str, ...] = ()

    def fit_bcrit(self, n_boot: int = 1000, seed: int = 0) -> BcritFit:
        """Kaplan's B_crit(L) law fitted to this sweep's per-loss critical batch sizes."""
        ok = self.table[np.isfinite(self.table["B_crit"]) & (self.table["B_crit"] > 0)]
        return fit_bcrit(ok, n_boot=n_boot, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return plain({"table": self.table, "points": self.points, "warnings": list(self.warnings)})


def _steps_to_reach(steps: np.ndarray, loss: np.ndarray, target: float) -> float:
    """Steps at which the running-best loss first reaches ``target`` (log-log interpolation); NaN if never
    reached or already reached at the first evaluation (then the crossing is not bracketed)."""
    best = np.minimum.accumulate(loss)
    hit = np.flatnonzero(best <= target)
    if hit.size == 0 or hit[0] == 0:
        return float("nan")
    j = int(hit[0])
    l0, l1 = math.log(best[j - 1]), math.log(best[j])
    s0, s1 = math.log(steps[j - 1]), math.log(steps[j])
    return math.exp(s0 + (math.log(target) - l0) * (s1 - s0) / (l1 - l0))


def bcrit_from_batch_sweep(
    curves: pd.DataFrame,
    targets: np.ndarray | list[float] | None = None,
    n_targets: int = 8,
    batch_col: str = "batch_tokens",
) -> BatchSweepResult:
    """Critical batch size per target loss from runs that differ in batch size (Kaplan §5.1).

    For each target loss, each run's steps S (from ``step``, else tokens/B) and tokens E = B·S to
    first reach it are found; eq. 5.4 implies S = S_min + E_min/B, a linear model in (S_min, E_min)
    that is fitted by non-negative least squares on relative residuals. B_crit = E_min/S_min.
    Default targets: ``n_targets`` log-spaced losses that every run crosses.
    """
    where = "bcrit_from_batch_sweep"
    require_columns(curves, ["run", "loss", batch_col], where)
    if "step" not in curves.columns and "tokens" not in curves.columns:
        raise InputError(f"{where}: need a 'step' or a 'tokens' column")
    df = curves.reset_index(drop=True)
    check_positive(df, ["loss", batch_col] + (["step"] if "step" in df.columns else ["tokens"]), where)
    nb = df.groupby("run", sort=False)[batch_col].nunique()
    if (nb > 1).any():
        raise InputError(
            f"{where}: run {show(nb.index[int(np.argmax(nb.to_numpy() > 1))])} has several batch sizes"
        )
    df["S"] = df["step"].astype(float) if "step" in df.columns else df["tokens"].astype(float) / df[batch_col]
    runs = [(r, g.sort_values("S")) for r, g in df.groupby("run", sort=False)]
    if len({float(g[batch_col].iloc[0]) for _, g in runs}) < 2:
        raise InputError(f"{where}: need runs at 2 or more distinct values of '{batch_col}'")
    if targets is None:
        lo = max(float(g["loss"].min()) for _, g in runs)
        hi = min(float(g["loss"].iloc[0]) for _, g in runs)
        if not lo < hi:
            raise InputError(f"{where}: no loss range is crossed by every run; pass targets explicitly")
        # Stay strictly inside (lo, hi): the ends are not bracketed by two evaluations.
        targets = log_grid(lo, hi, n_targets + 2)[1:-1][::-1]
    targets = np.asarray(targets, float)
    if targets.size == 0 or not np.all(np.isfinite(targets) & (targets > 0)):
        raise InputError(f"{where}: targets must be finite positive losses")

    rows, pts, warnings = [], [], []
    for t in targets:
        s_b = []
        for r, g in runs:
            b = float(g[batch_col].iloc[0])
            s = _steps_to_reach(g["S"].to_numpy(float), g["loss"].to_numpy(float), float(t))
            pts.append({"loss": t, "run": r, "B": b, "S": s, "E": s * b})
            if math.isfinite(s):
                s_b.append((s, b))
        distinct_b = len({b for _, b in s_b})
        if distinct_b < 2:
            warnings.append(f"loss {t:.4g}: reached at fewer than 2 batch sizes; skipped")
            rows.append(
                {"loss": t, "S_min": np.nan, "E_min": np.nan, "B_crit": np.nan, "n_batch": distinct_b}
            )
            continue
        s_arr, b_arr = np.array(s_b).T
        design = np.column_stack([1.0 / s_arr, 1.0 / (b_arr * s_arr)])
        (s_min, e_min), _ = optimize.nnls(design, np.ones_like(s_arr))
        rms = float(np.sqrt(np.mean((design @ [s_min, e_min] - 1.0) ** 2)))
        b_crit = e_min / s_min if s_min > 0 else float("inf")
        if not (0 < b_crit < float("inf")):
            warnings.append(
                f"loss {t:.4g}: steps do not fall with batch size as eq. 5.4 needs; B_crit undefined"
            )
        rows.append(
            {
                "loss": t,
                "S_min": s_min,
                "E_min": e_min,
                "B_crit": b_crit,
                "n_batch": distinct_b,
                "rms_rel": rms,
            }
        )
    table = pd.DataFrame(rows)
    if (table["n_batch"] < 3).any() and (table["n_batch"] >= 2).any():
        warnings.append("some target losses rest on only 2 batch sizes: eq. 5.4 is fitted exactly, unchecked")
    return BatchSweepResult(table=table, points=pd.DataFrame(pts), warnings=tuple(warnings))
