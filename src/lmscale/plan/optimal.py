"""Compute-optimal allocation for a budget, and its inverse (compute for a target loss).

Both come from the Law (lmscale.fit.law): the allocation N_opt = G·(C/6)^a of its form, and the
inverse by bisection on the optimal loss. Intervals: every quantity is recomputed for each
bootstrap draw of the law's parameters and the percentile interval reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.diagnostics import MAX_INTERVAL_RATIO
from lmscale.fit.law import C_SEARCH, Law
from lmscale.fit.registry import loss_law
from lmscale.plan.budget import Budget, Hardware, check_flops
from lmscale.plan.quantity import DEFAULT_LEVEL, Estimate, estimate


@dataclass(frozen=True)
class Allocation:
    """The compute-optimal model for a budget."""

    law: str
    flops: float
    N_opt: Estimate
    D_opt: Estimate
    tokens_per_param: Estimate
    loss: Estimate
    level: float = DEFAULT_LEVEL
    n_draws: int = 0
    assumptions: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extrapolation_decades: float | None = None  # log10(budget / largest 6ND the law was fitted on)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"law": self.law, "flops": self.flops}
        if self.extrapolation_decades is not None:
            out["extrapolation_decades"] = self.extrapolation_decades
        if self.warnings:
            out["warnings"] = list(self.warnings)
        ci: dict[str, Any] = {}
        for key in ("N_opt", "D_opt", "tokens_per_param", "loss"):
            est: Estimate = getattr(self, key)
            out[key] = est.value
            if est.has_interval:
                ci[key] = est.interval()
        out["ci"] = ci
        out["ci_level"] = self.level if ci else None
        out["bootstrap_draws"] = self.n_draws
        out["assumptions"] = self.assumptions
        return out


def describe(law: Law) -> dict[str, Any]:
    """What a plan states about its law: name, form, parameters, conventions, draws, citation."""
    return {
        "name": law.label,
        "form": law.form_name,
        "params": dict(law.params),
        "N_is": law.conventions.n,
        "conventions": law.conventions.to_dict(),
        "bootstrap_draws": 0 if law.draws is None else len(law.draws),
        "citation": law.citation,
        "caveat": law.notes.get("caveat", ""),
    }


def law_assumptions(law: Law) -> dict[str, Any]:
    return {
        "law": describe(law),
        "training_flops_rule": "C = 6 N D (Kaplan et al. 2020; Hoffmann et al. 2022)",
        "N_is": law.conventions.n,
        "interval": "bootstrap percentile over the law's parameter draws (parameter uncertainty only)"
        if law.has_draws
        else "none: the law has no bootstrap draws",
    }


def _allocate(law: Law, theta: np.ndarray, flops: float) -> np.ndarray:
    """(S, 4): N_opt, D_opt, tokens per parameter, loss for each parameter vector of θ."""
    n, d = law.optimal_of(theta, flops)
    loss = law.evaluate(theta, N=n, D=d)
    return np.column_stack([n, d, d / n, loss])


def optimal(law: Any, flops: float | Budget, *, level: float = DEFAULT_LEVEL) -> Allocation:
    """Compute-optimal N, D, tokens per parameter and loss for a budget of `flops` (C = 6ND)."""
    law = loss_law(law)
    budget = flops if isinstance(flops, Budget) else None
    c = check_flops(budget.flops if budget else flops)
    point = _allocate(law, law.theta(), c)[0]
    if not (point[0] >= 1 and point[1] >= 1):
        raise InputError(
            f"budget {c:g} FLOPs: the compute-optimal model would have {point[0]:.3g} parameters and "
            f"{point[1]:.3g} tokens; a budget this small buys no model"
        )
    draws = _allocate(law, law.theta_draws(), c) if law.has_draws else None
    est = [estimate(point[k], None if draws is None else draws[:, k], level) for k in range(4)]
    assumptions = law_assumptions(law)
    if budget is not None:
        assumptions.update(budget.assumptions())
        costs = budget.costs()
        if costs is not None:
            assumptions["costs"] = costs.to_dict()
    n_draws = 0 if draws is None else len(draws)
    reach = extrapolation_decades(law, c)
    return Allocation(
        law.label, c, *est, level=level, n_draws=n_draws, assumptions=assumptions,
        warnings=trust_warnings(law, est[0], reach, level), extrapolation_decades=reach,
    )


def extrapolation_decades(law: Law, flops: float) -> float | None:
    """How many decades the budget lies beyond the largest run (6ND) of the law's own fit; None for a
    law without its data (a published one)."""
    table = getattr(law, "residuals", None)
    if table is None or not {"N", "D"} <= set(table.columns) or table.empty:
        return None
    largest = float((6.0 * table["N"].astype(float) * table["D"].astype(float)).max())
    return math.log10(flops / largest)


def trust_warnings(law: Law, n_opt: Estimate, reach: float | None, level: float) -> tuple[str, ...]:
    """What a reader of this plan must know before acting on it: quantities the fit did not identify,
    an N_opt interval over a decade wide, and a far extrapolation."""
    out = []
    unidentified = getattr(law, "unidentified", ())
    if unidentified:
        out.append(
            f"the fit does not identify {', '.join(unidentified)}: treat this allocation as a rough guide, "
            "not a recommendation"
        )
    if n_opt.has_interval:
        lo, hi = n_opt.interval()
        if lo > 0 and hi / lo > MAX_INTERVAL_RATIO:
            out.append(f"N_opt's {round(100 * level)}% interval spans {math.log10(hi / lo):.1f} decades")
    if reach is not None and reach > 0:
        out.append(f"the budget is {reach:.1f} decades beyond the largest run the law was fitted on")
    return tuple(out)


# ---------------------------------------------------------------- inverse: compute for a target loss


@dataclass(frozen=True)
class TargetPlan:
    """Compute (and hardware time/cost) needed to reach a target loss at the optimum."""

    law: str
    target_loss: float
    flops: Estimate
    allocation: Allocation
    unreachable_fraction: float
    hardware: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = self.allocation.to_dict()
        out["target_loss"] = self.target_loss
        out["flops"] = self.flops.value
        if self.flops.has_interval:
            out["ci"]["flops"] = self.flops.interval()
        out["unreachable_fraction"] = self.unreachable_fraction
        if self.hardware is not None:
            out["hardware"] = self.hardware
        return out


def compute_for_loss(
    law: Any, target_loss: float, *, hardware: Hardware | None = None, level: float = DEFAULT_LEVEL
) -> TargetPlan:
    """The inverse of `optimal`: the budget whose compute-optimal loss is `target_loss`.

    Bootstrap draws whose irreducible loss is at or above the target can never reach it: they
    count as infinite compute (an open upper bound) and their share is reported.
    """
    law = loss_law(law)
    target = float(target_loss)
    floor = float(law.floor_of(law.theta())[0])
    if not math.isfinite(target) or target <= floor:
        raise InputError(
            f"target loss {target_loss!r} is not above the law's irreducible loss E = {floor:.4g}; no budget reaches it"
        )
    c = float(law.compute_for_loss_of(law.theta(), target)[0])
    if not math.isfinite(c):
        raise InputError(f"target loss {target} is out of reach below {C_SEARCH[1]:.0e} FLOPs for law {law.label!r}")
    draws = law.compute_for_loss_of(law.theta_draws(), target) if law.has_draws else None
    unreachable = 0.0 if draws is None else float(np.mean(~np.isfinite(draws)))
    flops_est = estimate(c, draws, level)
    alloc = optimal(law, c, level=level)
    hw = None
    if hardware is not None:
        hw = {"assumptions": hardware.assumptions(), **hardware.costs(hardware.hours_for_flops(c)).to_dict()}
        if flops_est.has_interval:
            # hours and money scale linearly with FLOPs; an unreachable tail stays inf
            per_flop_hours = 1.0 / (hardware.sustained_flops_per_s * 3600.0)
            hw["hours_ci"] = [flops_est.low * per_flop_hours, flops_est.high * per_flop_hours]
            if hardware.price_per_hour is not None:
                hw["cost_ci"] = [h * hardware.count * hardware.price_per_hour for h in hw["hours_ci"]]
    return TargetPlan(law.label, target, flops_est, alloc, unreachable, hw)
