"""Fit diagnostics: residual table, R² in log space, and warnings when the data cannot identify the law."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmscale.fit.estimate import Problem, StartReport
from lmscale.fit.forms import Array
from lmscale.fit.loglog import r_squared
from lmscale.fit.profile import Profile

MIN_DECADES = 2.0  # fewer decades than this in an input leaves its exponent poorly identified
MAX_ABS_CORR = 0.95  # |corr(log N, log D)| above this: the two effects cannot be separated
MIN_REACHED = 2  # fewer starts than this at the best value: the optimum may be a lucky basin


def residual_table(data: pd.DataFrame, problem: Problem, theta: Array) -> pd.DataFrame:
    """One row per run: inputs, observed and predicted loss, log residual (pred − obs)."""
    pred = problem.form.log_predict(theta[None, :], problem.cols)[0][0]
    out = data.copy()
    out["loss_pred"] = np.exp(pred)
    out["log_residual"] = pred - problem.log_loss
    out["rel_error"] = out["loss_pred"] / out["loss"] - 1.0
    return out


def r2_log(log_residual: Array, log_loss: Array) -> float:
    """1 − SS_res/SS_tot of log loss (NaN when every loss is equal)."""
    return r_squared(log_residual, log_loss)


def identification_warnings(data: pd.DataFrame, variables: tuple[str, ...]) -> list[str]:
    """Warnings about the design: too narrow a range, or two inputs that move together."""
    out = []
    inputs = [v for v in variables if v in ("N", "D", "C", "S")]
    for v in inputs:
        decades = float(np.log10(data[v].max() / data[v].min()))
        if decades < MIN_DECADES:
            out.append(
                f"{v} spans only {decades:.2f} decades (< {MIN_DECADES:g}): its exponent and coefficient "
                "are poorly identified; extrapolation is unreliable"
            )
    if len(inputs) >= 2:
        a, b = np.log(data[inputs[0]]), np.log(data[inputs[1]])
        if a.std() > 0 and b.std() > 0:
            corr = float(np.corrcoef(a, b)[0, 1])
            if abs(corr) > MAX_ABS_CORR:
                out.append(
                    f"log {inputs[0]} and log {inputs[1]} are nearly collinear (corr {corr:.3f}): the two "
                    "terms trade off; vary them independently (e.g. IsoFLOP profiles)"
                )
    return out


def optimisation_warnings(report: StartReport, problem: Problem, theta: Array) -> list[str]:
    out = []
    if report.n_starts >= MIN_REACHED and report.n_reached_best < MIN_REACHED:
        out.append(
            f"only {report.n_reached_best} of {report.n_starts} starts reached the best objective: the "
            "optimum may be fragile; try more starts (--starts grid or a number)"
        )
    z = problem.reduce(theta[None, :])[0]
    for k, (lo, hi, val) in enumerate(zip(problem.lower, problem.upper, z, strict=True)):
        name = problem.form.names[problem.free[k]]
        span = max(1.0, abs(val))
        if (np.isfinite(lo) and val - lo < 1e-6 * span) or (np.isfinite(hi) and hi - val < 1e-6 * span):
            out.append(f"parameter {name} ended at its bound: it is not identified by the data")
    for k, p in enumerate(problem.form.params):
        if p.log and theta[k] < np.log(1e-8) and p.name not in problem.fixed:
            out.append(f"parameter {p.name} collapsed to ~0: the data show no such term; consider fixing it")
    return out


#: An interval whose high/low ratio exceeds this spans more than a decade: the quantity is not pinned.
MAX_INTERVAL_RATIO = 10.0
#: An interval end within this relative distance of a bound "touches" it.
BOUND_RTOL = 1e-3


def profile_warnings(profiles: dict[str, Profile]) -> tuple[list[str], list[str]]:
    """(warnings, unidentified names) from profiles: rival basins, or a flat stretch over a decade."""
    out, names = [], []
    for name, p in profiles.items():
        rivals = p.rivals()
        if rivals:
            shown = ", ".join(f"{v:.4g} (objective {o:.7g})" for v, o in (p.basins[0], *rivals))
            out.append(
                f"{name}: the objective has {1 + len(rivals)} basins the data cannot tell apart (within "
                f"{100 * p.rtol:.2g}% of the best, a 95% profile-likelihood bound): {shown}"
            )
            names.append(name)
        lo, hi = p.near_best()
        if lo > 0 and hi / lo > MAX_INTERVAL_RATIO:
            out.append(
                f"{name} is not identified: every value from {lo:.3g} to {hi:.3g} fits within {100 * p.rtol:.2g}% "
                "of the best objective (its 95% profile-likelihood range; see the profile)"
            )
            names.append(name)
            continue  # an open end of that range says nothing more
        for side in p.open_ends():
            end = hi if side == "above" else lo
            out.append(
                f"{name} is not bounded {side}: the objective stays within {100 * p.rtol:.2g}% of the best out to "
                f"the end of its profile ({end:.3g}); the data set no {'upper' if side == 'above' else 'lower'} limit"
            )
            names.append(name)
    return out, list(dict.fromkeys(names))


def interval_warnings(
    ci: dict[str, tuple[float, float]], problem: Problem, lowest_loss: float
) -> tuple[list[str], list[str]]:
    """(warnings, unidentified names) from the bootstrap intervals: an end at a bound, E reaching 0 or
    above the data, a compute-optimal quantity whose interval spans more than a decade."""
    out, names = [], []
    form = problem.form
    for k, (lo_b, hi_b) in zip(problem.free, zip(problem.lower, problem.upper, strict=True), strict=True):
        p = form.params[k]
        lo, hi = ci.get(p.name, (np.nan, np.nan))
        ends = np.log([lo, hi]) if p.log and lo > 0 else np.array([lo, hi])
        for end, bound in ((ends[0], lo_b), (ends[1], hi_b)):
            if np.isfinite(bound) and abs(end - bound) <= BOUND_RTOL * max(1.0, abs(bound)):
                out.append(f"the 95% interval of {p.name} reaches its bound: {p.name} is not identified")
                names.append(p.name)
    if "E" in ci and "E" not in problem.fixed:
        lo, hi = ci["E"]
        if lo < 1e-3 * lowest_loss:
            out.append(f"E's interval reaches 0 (lower end {lo:.3g}): the irreducible loss is not identified")
            names.append("E")
        elif hi >= lowest_loss:
            out.append(f"E's interval ({lo:.3g}–{hi:.3g}) reaches the lowest observed loss {lowest_loss:.4g}")
            names.append("E")
    for key, (lo, hi) in ci.items():
        if key.startswith(("N_opt@", "D_opt@", "tokens_per_param@")) and lo > 0 and hi / lo > MAX_INTERVAL_RATIO:
            out.append(f"{key}: its 95% interval {lo:.3g}–{hi:.3g} spans {np.log10(hi / lo):.1f} decades")
            names.append(key)
    return out, list(dict.fromkeys(names))
