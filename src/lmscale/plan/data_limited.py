"""Data-limited planning under Muennighoff et al. 2023's data-constrained scaling law.

With U unique tokens, training on D > U tokens repeats data for D/U epochs, and repeated tokens
(and parameters beyond what the unique data can use) are worth less: the loss is the base law at
effective N', D' (lmscale.fit.forms.DataConstrained, eqs. 5-7 of arXiv 2305.16264). A plan
searches N along C = 6ND for the least such loss, for the point law and for each bootstrap draw,
R_D* and R_N* included. With U at least the unconstrained D_opt nothing repeats and the plan
equals the unconstrained optimum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.forms import effective_amount
from lmscale.fit.law import Law
from lmscale.fit.registry import get_law, loss_law
from lmscale.plan.budget import check_flops
from lmscale.plan.optimal import describe
from lmscale.plan.quantity import DEFAULT_LEVEL, Estimate, argmin_grid, estimate

#: Where a Chinchilla-type law without its own R_D*, R_N* takes them from.
DEFAULT_R_STAR_LAW = "muennighoff2023"
_BASE = ("E", "A", "B", "alpha", "beta")


def data_constrained_law(law: Law, r_d_star: float | None = None, r_n_star: float | None = None) -> Law:
    """``law`` as a data-constrained Law: its own R* (a fitted data-constrained law, draws included),
    else Muennighoff et al.'s published ones; ``r_d_star``/``r_n_star`` override both (held fixed)."""
    if law.form_name not in ("chinchilla", "data-constrained"):
        raise InputError(
            f"data-limited planning needs a Chinchilla-type law (E + A/N^alpha + B/D^beta); {law.label} is {law.form_name}"
        )
    own = law.form_name == "data-constrained"
    published = get_law(DEFAULT_R_STAR_LAW).params
    r_star = {k: law.params[k] if own else published[k] for k in ("R_D_star", "R_N_star")}
    for key, value in (("R_D_star", r_d_star), ("R_N_star", r_n_star)):
        if value is not None:
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{key.replace('_star', '*')} must be a positive number, got {value!r}")
            r_star[key] = float(value)
    draws = None
    if law.draws is not None:
        columns = [law.draws[:, : len(_BASE)]]
        for i, (key, override) in enumerate((("R_D_star", r_d_star), ("R_N_star", r_n_star))):
            keep = own and override is None  # a fitted R* keeps its own bootstrap spread
            columns.append(law.draws[:, len(_BASE) + i] if keep else np.full(len(law.draws), r_star[key]))
        draws = np.column_stack(columns)
    params = {**{k: law.params[k] for k in _BASE}, **r_star}
    return replace(law, form_name="data-constrained", params=params, draws=draws, residual_log=None)


def _solve(law: Law, theta: np.ndarray, flops: float, unique: float) -> np.ndarray:
    """(S, 5): N, D, loss, unconstrained loss, U_N for each parameter vector of θ."""
    x6 = flops / 6.0

    def loss_at(log_n: np.ndarray) -> np.ndarray:
        n = np.exp(log_n)
        return law.evaluate(theta, N=n, D=x6 / n, U=unique)

    n = np.exp(argmin_grid(loss_at, 0.0, math.log(x6), len(theta)))
    d = x6 / n
    loss = law.evaluate(theta, N=n, D=d, U=unique)
    n_free, d_free = law.optimal_of(theta, flops)
    free = law.evaluate(theta, N=n_free, D=d_free)  # U = D: nothing repeats
    u_n = law.form.unique_params(theta, {"N": n[:, None], "D": d[:, None], "U": np.array([unique])})[:, 0]
    return np.column_stack([n, d, loss, free, u_n])


@dataclass(frozen=True)
class DataLimitedPlan:
    law: str
    flops: float
    unique_tokens: float
    N: Estimate
    D: Estimate
    epochs: Estimate
    loss: Estimate
    unconstrained_loss: Estimate
    loss_given_up: Estimate
    effective_D: float
    effective_N: float
    unconstrained_N: float
    unconstrained_D: float
    repeats: bool
    assumptions: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"law": self.law, "flops": self.flops, "unique_tokens": self.unique_tokens}
        ci: dict[str, Any] = {}
        for key in ("N", "D", "epochs", "loss", "unconstrained_loss", "loss_given_up"):
            est: Estimate = getattr(self, key)
            name = {"N": "N_opt", "D": "D_opt"}.get(key, key)
            out[name] = est.value
            if est.has_interval:
                ci[name] = est.interval()
        out["tokens_per_param"] = self.D.value / self.N.value
        out.update(
            effective_D=self.effective_D,
            effective_N=self.effective_N,
            unconstrained_N_opt=self.unconstrained_N,
            unconstrained_D_opt=self.unconstrained_D,
            repeats_data=self.repeats,
            warnings=list(self.warnings),
            ci=ci,
            assumptions=self.assumptions,
        )
        return out


def data_limited(
    law: Any,
    flops: float,
    unique_tokens: float,
    *,
    r_d_star: float | None = None,
    r_n_star: float | None = None,
    level: float = DEFAULT_LEVEL,
) -> DataLimitedPlan:
    """Best N and epochs for `flops` with only `unique_tokens` of distinct data."""
    dc = data_constrained_law(loss_law(law), r_d_star, r_n_star)
    c = check_flops(flops)
    U = float(unique_tokens)
    if not math.isfinite(U) or U <= 0:
        raise InputError(f"unique tokens must be a positive number, got {unique_tokens!r}")
    n, d, loss, free, u_n = _solve(dc, dc.theta(), c, U)[0]
    rows = None
    if dc.has_draws:
        s = _solve(dc, dc.theta_draws(), c, U)
        rows = np.column_stack([s[:, 0], s[:, 1], s[:, 1] / U, s[:, 2], s[:, 3], s[:, 2] - s[:, 3]])
    point = (n, d, d / U, loss, free, loss - free)
    est = [estimate(v, None if rows is None else rows[:, k], level) for k, v in enumerate(point)]
    rd, rn = dc.params["R_D_star"], dc.params["R_N_star"]
    warnings = []
    if d / U > rd + 1:
        warnings.append(
            f"{d / U:.3g} epochs: beyond ~R_D* = {rd:.3g} repetitions extra epochs add almost nothing "
            "(Muennighoff et al. 2023); more unique data or a smaller budget is the better buy"
        )
    n_free, d_free = dc.optimal(c)
    return DataLimitedPlan(
        dc.label,
        c,
        U,
        *est,
        effective_D=float(effective_amount(d, U, rd)),
        effective_N=float(effective_amount(n, u_n, rn)),
        unconstrained_N=float(n_free),
        unconstrained_D=float(d_free),
        repeats=bool(d > U),
        assumptions={
            "law": describe(dc),
            "data_constrained_law": "Muennighoff et al. 2023 (arXiv 2305.16264): loss = base law at (N', D')",
            "R_D_star": rd,
            "R_N_star": rn,
            "U_N": float(u_n),
            "training_flops_rule": "C = 6 N D, D counts repeated tokens",
        },
        warnings=warnings,
    )
