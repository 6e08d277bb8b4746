"""Kaplan's compute-efficient frontier L(C_min) (Kaplan et al. 2020, §6).

The frontier is the lower envelope of all learning curves in (C, loss) (lmscale.fit.envelope).
Fitting L(C) = (C_c/C)^α_C to it gives Kaplan's α_C (published 0.050, C_c = 3.1e8 PF-days);
regressing the attaining N on C gives the compute-efficient allocation N ∝ C^a (published a = 0.73).
The fitted L(C) is a Law (form "power", or "power-e" for E + A/C^α) whose draws come from a
bootstrap over runs: a resample is a multiset of runs, and its envelope is a masked minimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.api import fit
from lmscale.fit.curves import C_FROM_6ND, PF_DAY, CurveGrid, WarmupExclusion, exclude_warmup, resample_curves
from lmscale.fit.envelope import (
    EnvelopePoints,
    Refine,
    envelope_on_grid,
    exclusion_warnings,
    resampled_envelopes,
    usable_envelope,
)
from lmscale.fit.estimate import Problem, best_of, single_threaded_blas
from lmscale.fit.forms import get_form
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.law import Conventions, Law
from lmscale.fit.loglog import LogLogLine, check_bootstrap, fit_line, fit_loglog
from lmscale.jsonsafe import plain

#: fit_frontier's form names → the Law form each fits (both in C).
FORMS = {"power": "power", "offset": "power-e"}
#: Fewest usable envelope points per form: one more than its parameters.
MIN_POINTS = {"power": 3, "offset": 4}


@dataclass(frozen=True, eq=False)
class FrontierResult(Law):
    """The L(C_min) law fitted to the envelope, its intervals, the envelope table and the N(C) allocation.

    As a Law it predicts with ``predict(C=...)`` and gives intervals from its bootstrap ``draws``.
    """

    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    allocation: LogLogLine | None = None  # attaining N ∝ C^a
    envelope: pd.DataFrame | None = None  # C, C_pfdays, loss, run, N, tokens, interior, used
    r2_log: float = float("nan")
    n_points: int = 0
    n_runs: int = 0
    bootstrap: int = 0
    n_bootstrap_failed: int = 0
    warnings: tuple[str, ...] = ()
    warmup: WarmupExclusion | None = field(default=None, repr=False)

    @property
    def alpha_C(self) -> float:
        """The frontier's exponent, whichever form was fitted."""
        return self.params["alpha_C" if "alpha_C" in self.params else "alpha"]

    def to_dict(self, include_draws: bool = True) -> dict[str, Any]:
        d = super().to_dict(include_draws=include_draws)
        d.update(
            kind="frontier",
            ci=self.ci,
            allocation={"N_vs_C": self.allocation.to_dict() if self.allocation else None},
            r2_log=self.r2_log,
            n_points=self.n_points,
            n_runs=self.n_runs,
            bootstrap=self.bootstrap,
            n_bootstrap_failed=self.n_bootstrap_failed,
            warnings=list(self.warnings),
            warmup_exclusion=self.warmup.to_dict() if self.warmup else None,
            envelope=self.envelope,
        )
        return plain(d)


def _power_theta(C: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Internal θ = (log C_c, α_C) of L = (C_c/C)^α_C from least squares in log space.

    log L = α·log C_c − α·log C, so log C_c = intercept/α; NaN where the line is flat (α = 0).
    """
    slope, intercept, _ = fit_loglog(C, L)
    alpha = -slope
    with np.errstate(divide="ignore", invalid="ignore"):
        log_cc = intercept / alpha if alpha != 0 else math.nan
    return np.array([log_cc, alpha])


def _offset_theta(
    C: np.ndarray, L: np.ndarray, huber_delta: float, seed: int
) -> tuple[np.ndarray, list[str]]:
    """Internal θ = (log E, log A, α) of L = E + A/C^α by lmscale.fit.fit (multi-start Huber), and its warnings."""
    res = fit(
        pd.DataFrame({"C": C, "loss": L}),
        "power-e",
        x="C",
        bootstrap=0,
        huber_delta=huber_delta,
        seed=seed,
        profiles=(),
    )
    return res.theta()[0], [f"L(C) fit: {w}" for w in res.warnings]


def _offset_refit(C: np.ndarray, L: np.ndarray, huber_delta: float, theta_hat: np.ndarray) -> np.ndarray:
    """One resample's E + A/C^α: L-BFGS-B from the full-data optimum, the fit engine's estimator.

    A warm start only, as the old private optimiser did: measured 0.3 ms per resample, against 36 ms
    for a fresh multi-start lmscale.fit.fit on 30 envelope points (36 s per 1,000 resamples).
    """
    problem = Problem(form=get_form("power-e", "C"), cols={"C": C}, log_loss=np.log(L), delta=huber_delta)
    f, theta = best_of(problem, problem.reduce(theta_hat[None, :]), np.ones(len(C)))
    return theta if np.isfinite(f) else np.full_like(theta_hat, np.nan)


@dataclass(frozen=True)
class _Envelope:
    """The full-data envelope and what the bootstrap needs to redo it on resamples of runs."""

    grid: CurveGrid
    env: EnvelopePoints
    used: np.ndarray
    refine: Refine
    exclude_edges: bool
    exclude_dominated: bool

    def resamples(self, bootstrap: int, seed: int):
        return resampled_envelopes(
            self.grid, bootstrap, seed, self.refine, self.exclude_edges, self.exclude_dominated
        )


def _bootstrap_thetas(
    form: str, envelope: _Envelope, theta_hat: np.ndarray, bootstrap: int, seed: int, huber_delta: float
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """θ per resample of runs (NaN rows where too few envelope points) and the (C, N) pairs of each."""
    thetas, alloc = [], []
    grid = envelope.grid
    with single_threaded_blas():
        for env, used in envelope.resamples(bootstrap, seed):
            if used.sum() < MIN_POINTS[form]:
                thetas.append(np.full_like(theta_hat, np.nan))
                alloc.append((np.empty(0), np.empty(0)))
                continue
            c, loss = grid.C[used], env.loss[used]
            thetas.append(
                _power_theta(c, loss) if form == "power" else _offset_refit(c, loss, huber_delta, theta_hat)
            )
            alloc.append((c, env.N[used]))
    return np.array(thetas).reshape(-1, len(theta_hat)), alloc


def _law_fields(form: str, theta: np.ndarray, thetas: np.ndarray, level: float) -> dict[str, Any]:
    """Form, public parameters, draws, intervals and notes of the fitted L(C) (C_c also in PF-days)."""
    law_form = get_form(FORMS[form], "C")
    if not np.all(np.isfinite(theta)):
        raise InputError("fit_frontier: the envelope is flat in compute; no L(C) law can be fitted")
    params = dict(zip(law_form.names, law_form.to_public(theta), strict=True))
    draws = law_form.to_public(thetas)
    named = {k: draws[:, i] for i, k in enumerate(law_form.names)}
    notes: dict[str, Any] = {}
    if form == "power":  # Kaplan quotes C_c in PF-days
        named["C_c_pfdays"] = named["C_c"] / PF_DAY
        notes["derived"] = {"C_c_pfdays": params["C_c"] / PF_DAY}
    ci = {k: percentile_interval(v, level) for k, v in named.items()} if len(draws) else {}
    return dict(form_name=law_form.name, params=params, draws=draws, ci=ci, notes=notes, level=level)


def _envelope_table(grid: CurveGrid, env: EnvelopePoints, used: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
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


def _check_options(form: str, bootstrap: int, level: float, huber_delta: float) -> None:
    if form not in FORMS:
        raise InputError(f"fit_frontier: form must be 'power' or 'offset', got {form!r}")
    check_bootstrap(bootstrap, level, "fit_frontier")
    if not (math.isfinite(huber_delta) and huber_delta > 0):
        raise InputError(f"fit_frontier: huber_delta must be positive, got {huber_delta!r}")


def _envelope(
    n_grid: int,
    form: str,
    refine: Refine,
    exclude_edges: bool,
    exclude_dominated: bool,
    warm: WarmupExclusion,
) -> _Envelope:
    grid = resample_curves(warm.kept, n_grid=n_grid)
    if len(grid.runs) < 2:
        raise InputError("fit_frontier: need learning curves from at least 2 runs for an envelope")
    env = envelope_on_grid(grid, refine=refine)
    used = usable_envelope(env, exclude_edges, exclude_dominated)
    if used.sum() < MIN_POINTS[form]:
        raise InputError(
            f"fit_frontier: only {int(used.sum())} envelope points where an interior run attains the minimum "
            f"(need {MIN_POINTS[form]}); add model sizes around the optimum or pass exclude_edges=False"
        )
    return _Envelope(grid, env, used, refine, exclude_edges, exclude_dominated)


def fit_frontier(
    curves: pd.DataFrame,
    n_grid: int = 50,
    form: Literal["power", "offset"] = "power",
    bootstrap: int = 1000,
    seed: int = 0,
    exclude_edges: bool = True,
    refine: Refine = "none",
    huber_delta: float = 1e-3,
    min_fraction: float = 0.0,
    use_lr: bool = True,
    exclude_dominated: bool = True,
    level: float = 0.95,
    conventions: Conventions | None = None,
    name: str = "",
) -> FrontierResult:
    """Fit Kaplan's L(C_min) to the lower envelope of all learning curves, with a bootstrap over runs.

    ``form``: "power", L = (C_c/C)^α_C by least squares in log space (Kaplan's), or "offset",
    L = E + A/C^α by the fit engine's Huber estimator. ``exclude_dominated`` drops grid points
    where the envelope lies above a loss some run already reached with less compute: after a run's
    last evaluation the envelope jumps up to a larger run's early, not yet annealed loss (with
    fixed-token runs, as Kaplan trained them, this happens after every small model ends).
    ``exclude_edges`` drops grid points whose attaining run has no covering run with a smaller or
    a larger N: there the true optimum may lie outside the sampled sizes. Warmup points are excluded
    by rule first (:func:`lmscale.fit.curves.exclude_warmup` with ``min_fraction`` and ``use_lr``);
    the fraction rule is off by default: Kaplan's frontier at small C is made of the early parts of
    the large models' curves. ``conventions``: what N and C count (C computed as 6·N·tokens is 6ND).
    """
    _check_options(form, bootstrap, level, huber_delta)
    warm = exclude_warmup(curves, min_fraction=min_fraction, use_lr=use_lr)
    e = _envelope(n_grid, form, refine, exclude_edges, exclude_dominated, warm)
    grid, env, used = e.grid, e.env, e.used
    warnings = exclusion_warnings(env, exclude_edges, exclude_dominated, "grid points")
    c_used, l_used = grid.C[used], env.loss[used]
    if form == "power":
        theta = _power_theta(c_used, l_used)
        if not theta[1] > 0:
            warnings.append("the envelope does not fall with compute: alpha_C <= 0")
    else:
        theta, more = _offset_theta(c_used, l_used, huber_delta, seed)
        warnings += more
    thetas, alloc_resamples = _bootstrap_thetas(form, e, theta, bootstrap, seed, huber_delta)
    failed = int(np.isnan(thetas).any(axis=1).sum())
    if bootstrap and failed / bootstrap > 0.1:
        warnings.append(f"{failed} of {bootstrap} bootstrap resamples had too few envelope points")
    if np.ptp(np.log(env.N[used])) == 0:
        warnings.append("one run attains the whole envelope: the N(C) allocation exponent is not identified")
    fields = _law_fields(form, theta, thetas, level)
    log_obs = np.log(l_used)
    log_pred = np.log(Law(fields["form_name"], fields["params"], x="C").predict(C=c_used))
    conv = conventions or Conventions()
    if warm.C_convention == C_FROM_6ND:  # the table had no C: it was computed as 6·N·tokens
        conv = replace(conv, c="6ND")
    return FrontierResult(
        **fields,
        x="C",
        name=name,
        conventions=conv,
        residual_log=log_pred - log_obs,
        allocation=fit_line(c_used, env.N[used], alloc_resamples, level=level),
        envelope=_envelope_table(grid, env, used),
        r2_log=1.0
        - float(np.sum((log_obs - log_pred) ** 2)) / float(np.sum((log_obs - log_obs.mean()) ** 2)),
        n_points=int(used.sum()),
        n_runs=len(grid.runs),
        bootstrap=int(bootstrap),
        n_bootstrap_failed=failed,
        warnings=tuple(warnings),
        warmup=warm,
    )
