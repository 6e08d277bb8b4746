"""``lmscale.fit.fit``: validate a table of runs, fit a form robustly, bootstrap it, diagnose it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.batch import critical_batch, steps_min
from lmscale.fit.bootstrap import Resampling
from lmscale.fit.bootstrap import bootstrap as run_bootstrap
from lmscale.fit.data_constrained import data_constrained_setup, two_stage_block
from lmscale.fit.diagnostics import (
    identification_warnings,
    interval_warnings,
    optimisation_warnings,
    profile_warnings,
    r2_log,
    residual_table,
)
from lmscale.fit.estimate import Prior, Problem, multistart
from lmscale.fit.forms import Form, get_form
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.law import Conventions, Law
from lmscale.fit.profile import profile
from lmscale.fit.result import FitResult
from lmscale.fit.validate import prepare_columns, validate_runs
from lmscale.store.tables import numeric_column

# Chinchilla's (and Gopher's) training budget, FLOPs: where N_opt/D_opt are reported by default.
CHINCHILLA_BUDGET = 5.76e23
# Bootstrap refits that fail are dropped; more than this fraction failing is worth a warning.
MAX_FAILED_FRACTION = 0.01


def _priors(priors: Mapping[str, Any] | None) -> dict[str, Prior]:
    out = {}
    for name, p in (priors or {}).items():
        prior = p if isinstance(p, Prior) else Prior(*map(float, p))
        if not prior.sd > 0:
            raise InputError(f"prior on {name}: standard deviation must be positive, got {prior.sd}")
        out[name] = prior
    return out


def _apply_bcrit(df: pd.DataFrame, bcrit: Any) -> tuple[pd.DataFrame, list[str]]:
    """S → S_min = S/(1 + B_crit(L)/B), B_crit(L) = B*/L^(1/α_B) (Kaplan et al. 2020, eqs. 5.3-5.4)."""
    if "B" not in df.columns or "S" not in df.columns:
        raise InputError("B_crit adjustment needs columns 'S' (steps) and 'B' (batch size in tokens)")
    b_star, alpha_b = (float(v) for v in bcrit)
    if not (b_star > 0 and alpha_b > 0):
        raise InputError(f"--bcrit B*,alpha_B must both be positive, got {b_star:g},{alpha_b:g}")
    if "loss" not in df.columns:
        raise InputError("B_crit adjustment needs a column 'loss' (the loss that sets B_crit)")
    loss = pd.to_numeric(df["loss"], errors="coerce").to_numpy(float)
    b = pd.to_numeric(df["B"], errors="coerce").to_numpy(float)
    s = pd.to_numeric(df["S"], errors="coerce").to_numpy(float)
    out = df.copy()
    out["S"] = steps_min(s, b, critical_batch(loss, b_star, alpha_b))
    return out, [f"S replaced by S_min with B_crit = {b_star:g}/L^(1/{alpha_b:g})"]


def fit(
    df: pd.DataFrame,
    form: str = "chinchilla",
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    huber_delta: float = 1e-3,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    priors: Mapping[str, Any] | None = None,
    tie_exponents: bool = False,
    starts: str | int | Sequence | np.ndarray | None = None,
    x: str = "N",
    budgets: Sequence[float] | None = None,
    level: float = 0.95,
    n_jobs: int | None = None,
    base: Any = None,
    fit_base: bool = False,
    bcrit: tuple[float, float] | None = None,
    source: str | None = None,
    name: str = "",
    conventions: Conventions | None = None,
    profiles: Sequence[str] | str = "auto",
    groups: str | None = "auto",
    weights: str | None = None,
) -> FitResult:
    """Fit ``form`` to a table of runs (one row per run) and bootstrap it over runs.

    ``fixed`` pins parameters (public values, e.g. ``{"E": 1.69}``); ``bounds`` limits them;
    ``priors`` adds Gaussian penalties (``{"E": (1.69, 0.05)}``); ``tie_exponents`` sets α = β (or the
    form's pair). ``starts``: "varpro" (default where the form is partly linear), "grid" (Hoffmann's
    4,500 for chinchilla), a number of random starts, or an array of internal start points.
    ``budgets``: FLOP budgets at which N_opt/D_opt are derived (Chinchilla-type forms).
    ``base``/``fit_base``: the data-constrained form's base law (fitted on single-epoch runs if None).
    ``bcrit``: (B*, α_B) to replace S by S_min in kaplan-ns.
    ``conventions``: what N and C count in ``df`` (recorded on the result; planning honours them).
    ``profiles``: parameters to profile (lmscale.fit.profile); "auto" profiles E and, for the
    data-constrained form, R_D* and R_N* wherever they are free.
    ``groups``: a column whose rows are resampled together (one learning curve's points); "auto"
    uses ``run`` when some run has several rows; None resamples rows. ``weights``: a column of
    positive per-row weights for the objective (and every resample).
    """
    for bad, message in (
        (not huber_delta > 0, f"--huber-delta must be positive, got {huber_delta}"),
        (bootstrap < 0, f"--bootstrap must be >= 0, got {bootstrap}"),
        (not 0 < level < 1, f"level must be between 0 and 1, got {level}"),
    ):
        if bad:
            raise InputError(message)
    f = get_form(form, x)
    fixed_d = {str(k): float(v) for k, v in (fixed or {}).items()}
    user_fixed = dict(fixed_d)  # before the data-constrained setup pins the base law in fixed_d
    df, f, dc, notes = _prepare(df, f, fixed_d, tie_exponents, base, fit_base, bcrit, seed, source)
    tied = 1 if tie_exponents and f.tie and not set(f.tie) <= set(fixed_d) else 0
    data, more = validate_runs(df, f, n_free=max(len(f.params) - len(fixed_d) - tied, 1), source=source)
    notes += more
    resampling = _resampling(df, data, groups, weights, source, notes)
    log_loss = np.log(data["loss"].to_numpy(dtype=float))
    prior_d = _priors(priors)
    common = dict(
        form=f,
        cols={v: data[v].to_numpy(dtype=float) for v in f.variables},
        log_loss=log_loss,
        delta=float(huber_delta),
        fixed=fixed_d,
        bounds={k: tuple(map(float, v)) for k, v in (bounds or {}).items()},
        tie_exponents=tie_exponents,
    )
    problem, theta, report = _estimate(common, prior_d, starts, seed, resampling.weights)
    params = {p.name: float(v) for p, v in zip(f.params, f.to_public(theta), strict=True)}
    has_alloc = f.name in ("chinchilla", "data-constrained", "kaplan-nd")
    budgets_t = tuple(float(c) for c in (budgets if budgets is not None else (CHINCHILLA_BUDGET,) * has_alloc))
    # The base law was estimated from these runs: refit it in every resample too (see
    # data_constrained.two_stage_block), or the R* intervals would ignore its uncertainty.
    block = two_stage_block(dc, problem, theta, user_fixed) if dc is not None and dc.two_stage else None
    thetas = run_bootstrap(
        problem, theta, int(bootstrap), seed=seed, n_jobs=n_jobs, block=block, resampling=resampling
    )
    ok = np.all(np.isfinite(thetas), axis=1)
    law = Law(f.name, params, x=x, budgets=budgets_t, draws=f.to_public(thetas[ok]) if ok.any() else None, level=level)
    table = residual_table(data, problem, theta)
    ci = _intervals(law)
    profs = {k: profile(problem, theta, k, seed=seed) for k in _profiled(profiles, f, fixed_d)}
    warnings = identification_warnings(data, f.variables) + optimisation_warnings(report, problem, theta)
    more, unidentified = profile_warnings(profs)
    more2, unidentified2 = interval_warnings(ci, problem, float(np.exp(log_loss.min())))
    warnings += more + more2
    n_failed = int((~ok).sum())
    if bootstrap and n_failed > MAX_FAILED_FRACTION * bootstrap:
        warnings.append(f"{n_failed} of {bootstrap} bootstrap refits failed and were dropped")
    settings = {
        "bootstrap": int(bootstrap),
        "seed": int(seed),
        "huber_delta": float(huber_delta),
        "fixed": user_fixed,
        "bounds": {k: list(v) for k, v in common["bounds"].items()},
        "priors": {k: [p.mean, p.sd] for k, p in prior_d.items()},
        "tie_exponents": bool(tie_exponents),
        "bcrit": None if bcrit is None else [float(v) for v in bcrit],
        "starts": starts if isinstance(starts, (str, int, type(None))) else "explicit",
        "objective": "sum of Huber(log L_pred - log L)",
        "notes": notes,
    }
    if dc is not None:
        settings["base"] = {k: params[k] for k in ("E", "A", "B", "alpha", "beta")}
        settings["two_stage_bootstrap"] = dc.two_stage
    return FitResult(
        f.name,
        params,
        x=x,
        name=name,
        conventions=conventions or Conventions(data=source or ""),
        draws=law.draws,
        level=level,
        budgets=budgets_t,
        residual_log=table["log_residual"].to_numpy(),
        ci=ci,
        profiles=profs,
        unidentified=tuple(dict.fromkeys(unidentified + unidentified2)),
        residuals=table,
        r2_log=r2_log(table["log_residual"].to_numpy(), log_loss),
        n_points=len(data),
        starts=report.to_dict(),
        warnings=tuple(warnings),
        settings=settings,
        n_bootstrap_failed=n_failed,
    )


def _prepare(
    df: pd.DataFrame, f: Form, fixed: dict[str, float], tie: bool, base: Any, fit_base: bool,
    bcrit: Any, seed: int, source: str | None,
) -> tuple[pd.DataFrame, Form, Any, list[str]]:
    """Form-specific preparation: S → S_min for kaplan-ns, the base law and U_N for data-constrained."""
    for k in fixed:
        f.index(k)
    notes: list[str] = []
    if tie and f.name == "data-constrained" and not fit_base:
        raise InputError(
            "--tie-exponents with the data-constrained form needs the base law refitted (fit_base); "
            "otherwise the base law's exponents are fixed and cannot be tied"
        )
    if bcrit is not None:
        if f.name != "kaplan-ns":
            raise InputError("bcrit (S_min adjustment) applies to form kaplan-ns only")
        df, more = prepare_columns(df, f, source)  # loss aliases (val_loss, ...) before B_crit(L)
        df, more2 = _apply_bcrit(df, bcrit)
        notes += more + more2
    dc = None
    if f.name == "data-constrained":
        dc = data_constrained_setup(df, f, base, fit_base, fixed, seed)
        df, f = dc.prepared, dc.form
        notes += dc.notes
    return df, f, dc, notes


def _estimate(
    common: dict[str, Any], priors: dict[str, Prior], starts: Any, seed: int, weights: Any = None
) -> tuple[Problem, Any, Any]:
    """The multi-start fit; with priors, weighted by the residual scale of an unpenalised fit first
    (see Problem.set_prior_scale)."""
    problem = Problem(**common, priors=priors)
    if not priors:
        theta, report = multistart(problem, starts, weights=weights, seed=seed)
        return problem, theta, report
    theta0, _ = multistart(Problem(**common), starts, weights=weights, seed=seed)
    problem.set_prior_scale(theta0)
    theta, report = multistart(problem, starts, weights=weights, seed=seed, extra=problem.reduce(theta0[None, :]))
    return problem, theta, report


def _intervals(law: Law) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every parameter and derived quantity over the law's draws."""
    if law.draws is None:
        return {}
    named = {name: law.draws[:, i] for i, name in enumerate(law.form.names)}
    named.update(law.derived_of(law.theta_draws()))
    return {k: percentile_interval(v, law.level) for k, v in named.items()}


def _profiled(profiles: Sequence[str] | str, form: Form, fixed: Mapping[str, float]) -> list[str]:
    """The parameters to profile: the named ones, or by default the usually flat ones that are free."""
    if profiles != "auto":
        names = [str(p) for p in profiles]
        for name in names:
            form.index(name)
        return names
    usual = ("E", "R_D_star", "R_N_star") if form.name == "data-constrained" else ("E",)
    return [k for k in usual if k in form.names and k not in fixed]


def _resampling(
    raw: pd.DataFrame, data: pd.DataFrame, groups: str | None, weights: str | None, source: str | None,
    notes: list[str],
) -> Resampling:
    """Groups of rows resampled together and row weights, from columns of the table."""
    codes = None
    if groups == "auto":
        groups = "run" if "run" in raw.columns and raw["run"].duplicated().any() else None
    if groups is not None:
        if groups not in raw.columns:
            raise InputError(f"{source + ': ' if source else ''}no column {groups!r} to group the bootstrap by")
        codes = pd.factorize(raw[groups].to_numpy())[0]
        notes.append(f"bootstrap resamples the {codes.max() + 1} values of {groups!r}, not the {len(codes)} rows")
    w = None
    if weights is not None:
        if weights not in raw.columns:
            raise InputError(f"{source + ': ' if source else ''}no column {weights!r} of weights")
        w = numeric_column(raw, weights, source or "", positive=True)
        notes.append(f"rows weighted by column {weights!r}")
    if len(raw) != len(data):  # validation keeps every row, in order; say so if that ever changes
        raise InputError("internal: the validated table lost rows, so groups and weights cannot be aligned")
    return Resampling(codes, w)
