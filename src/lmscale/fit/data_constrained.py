"""Muennighoff et al. 2023's two-stage fit: a Chinchilla base law, then R_D* and R_N* on repeated runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.estimate import Problem, best_of, resample_starts, single_threaded_blas
from lmscale.fit.forms import Array, Form, get_form, params_for_data
from lmscale.fit.law import Law
from lmscale.fit.validate import prepare_columns

BASE_NAMES = ("E", "A", "B", "alpha", "beta")
MIN_BASE_RUNS = 6


def base_params(base: Any) -> dict[str, float]:
    """E, A, B, alpha, beta from a Law/FitResult or a dict."""
    if isinstance(base, Law):
        if base.form_name not in ("chinchilla", "data-constrained"):
            raise InputError(f"base law must be a chinchilla law, got form {base.form_name}")
        return {k: float(base.params[k]) for k in BASE_NAMES}
    if isinstance(base, Mapping):
        missing = [k for k in BASE_NAMES if k not in base]
        if missing:
            raise InputError(f"base law is missing {', '.join(missing)}")
        return {k: float(base[k]) for k in BASE_NAMES}
    raise InputError("base must be a Law, a FitResult or a dict of E, A, B, alpha, beta")


def unique_params(base: Mapping[str, float], N: Array, U: Array, D: Array) -> Array:
    """U_N = min(N, N_opt(U_D)) with U_D = min(U, D), the unique tokens seen (Muennighoff et al. eq. 6)."""
    derived = get_form("chinchilla").derived(base)
    return np.minimum(N, params_for_data(derived, np.minimum(U, D)))


@dataclass
class Setup:
    """The prepared table (with U_N), the form, the base law and how it was obtained."""

    prepared: pd.DataFrame
    form: Form
    params: dict[str, float]
    notes: list[str] = field(default_factory=list)
    subset: Array | None = None  # row positions the base law was fitted on (None: base given)
    two_stage: bool = False  # bootstrap refits the base law too


def _fit_base(single: pd.DataFrame, seed: int) -> tuple[dict[str, float], pd.DataFrame]:
    """Muennighoff's law discounts excess parameters (N > N_opt(U)) even in one epoch, so the plain
    Chinchilla base holds only for single-epoch runs with N ≤ N_opt(D): fit, restrict, refit until
    that subset stops changing."""
    from lmscale.fit.api import fit

    subset = single
    n_s = pd.to_numeric(single["N"], errors="coerce").to_numpy(float)
    d_s = pd.to_numeric(single["D"], errors="coerce").to_numpy(float)
    for _ in range(5):
        params = dict(fit(subset, "chinchilla", bootstrap=0, seed=seed).params)
        keep = n_s <= unique_params(params, n_s, d_s, d_s) * (1 + 1e-9)
        if keep.sum() < MIN_BASE_RUNS or keep.sum() == len(subset):
            break
        subset = single[keep]
    return params, subset


def data_constrained_setup(
    df: pd.DataFrame, form: Form, base: Any, fit_base: bool, fixed: dict[str, float], seed: int
) -> Setup:
    """Stage one (base law: given, or fitted on single-epoch runs) and the U_N column."""
    prepared, notes = prepare_columns(df, form)
    if "U" not in prepared.columns:
        raise InputError("form data-constrained needs column 'U' (unique tokens) or 'epochs'")
    prepared = prepared.reset_index(drop=True)
    subset_pos = None
    if base is None and set(BASE_NAMES) <= set(fixed):
        base = {k: fixed[k] for k in BASE_NAMES}  # every base parameter pinned: that is the base law
    if base is None:
        d = pd.to_numeric(prepared["D"], errors="coerce")
        u = pd.to_numeric(prepared["U"], errors="coerce")
        single = prepared[d <= u * (1 + 1e-9)]
        if len(single) < MIN_BASE_RUNS:
            raise InputError(
                f"form data-constrained: only {len(single)} single-epoch runs (D <= U) to fit the base "
                f"law; need at least {MIN_BASE_RUNS}, or pass a base law"
            )
        params, subset = _fit_base(single, seed)
        subset_pos = subset.index.to_numpy()
        notes.append(f"base law fitted on {len(subset)} single-epoch runs with N <= N_opt(D)")
    else:
        params = base_params(base)
        notes.append("base law given")
    given_un = "U_N" in prepared.columns
    if not given_un:
        n, u, d = (pd.to_numeric(prepared[k], errors="coerce").to_numpy(float) for k in ("N", "U", "D"))
        prepared["U_N"] = unique_params(params, n, u, d)
        notes.append("U_N = min(N, N_opt(min(U, D))) from the base law")
    if not fit_base:
        for k, v in params.items():
            fixed.setdefault(k, v)
    base_theta = get_form("chinchilla").to_internal(params)
    return Setup(
        prepared=prepared,
        form=dataclasses.replace(form, extra={"base_theta": base_theta}),
        params=params,
        notes=notes,
        subset=subset_pos,
        two_stage=subset_pos is not None and not fit_base and not given_un,
    )


def two_stage_block(setup: Setup, problem: Problem, theta_hat: Array, user_fixed: dict[str, float]) -> tuple:
    """(function, spec) for bootstrap(): every resample refits the base law on its resampled
    single-epoch runs, recomputes U_N, then refits R_D*, R_N* with that base."""
    chin = get_form("chinchilla")
    assert setup.subset is not None
    cols = problem.cols
    base_problem = Problem(
        chin,
        {"N": cols["N"][setup.subset], "D": cols["D"][setup.subset]},
        problem.log_loss[setup.subset],
        delta=problem.delta,
    )
    spec = {
        "problem": problem,
        "base_problem": base_problem,
        "base_z": base_problem.reduce(chin.to_internal(setup.params)[None, :])[0],
        "subset": setup.subset,
        "user_fixed": dict(user_fixed),
        "z_hat": problem.reduce(theta_hat[None, :])[0],
    }
    return (_two_stage_fit_block, spec)


def _two_stage_fit_block(spec: dict, counts: Array) -> Array:
    problem: Problem = spec["problem"]
    base_problem: Problem = spec["base_problem"]
    chin = base_problem.form
    out = np.full((counts.shape[0], problem.base.size), np.nan)
    with single_threaded_blas():
        for i, w in enumerate(counts):
            wb = w[spec["subset"]]
            if np.count_nonzero(wb) < MIN_BASE_RUNS:
                continue
            f, tb = best_of(base_problem, resample_starts(base_problem, wb, spec["base_z"], refine=1), wb)
            if not np.isfinite(f):
                continue
            params = dict(zip(chin.names, chin.to_public(tb), strict=True))
            cols = dict(problem.cols)
            cols["U_N"] = unique_params(params, cols["N"], cols["U"], cols["D"])
            fixed = {**params, **spec["user_fixed"]}
            sub = Problem(
                problem.form,
                cols,
                problem.log_loss,
                delta=problem.delta,
                fixed=fixed,
                bounds=problem.bounds,
                priors=problem.priors,
                tie_exponents=problem.tie_exponents,
                prior_scale=problem.prior_scale,
            )
            f2, theta = best_of(sub, resample_starts(sub, w, spec["z_hat"], refine=1), w)
            if np.isfinite(f2):
                out[i] = theta
    return out
