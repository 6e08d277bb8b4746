"""Inference-aware planning (Sardana, Portes, Doubov & Frankle 2024, arXiv 2401.00448).

For a target loss and an expected number of inference tokens I over the model's life, choose the
(N, D) on the iso-loss curve L(N, D) = target that minimises

    train_cost * 6 N D  +  inference_cost * 2 N I

(FLOPs when both costs are 1; money when they are prices per FLOP of each phase). More inference
pushes towards a smaller model trained on more tokens. The search runs over the share s of the
reducible loss carried by the N term (Form.iso_loss), in logit space, for every draw at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.law import Law
from lmscale.fit.registry import loss_law
from lmscale.plan.budget import check_flops
from lmscale.plan.optimal import describe, optimal
from lmscale.plan.quantity import DEFAULT_LEVEL, Estimate, argmin_grid, estimate


def _share(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


def solve_inference(
    law: Law, theta: np.ndarray, target: float, inference_tokens: float, train_cost: float, infer_cost: float
) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) on each row's iso-loss curve minimising training + inference cost; NaN when unreachable."""
    pub = law.public(theta)

    def cost(x: np.ndarray) -> np.ndarray:
        n, d = law.form.iso_loss(pub, target, _share(x))
        # log of the cost keeps the objective well scaled over many decades
        return np.log(train_cost * 6.0 * n * d + infer_cost * 2.0 * n * inference_tokens)

    x = argmin_grid(cost, -40.0, 40.0, len(theta), grid=401)
    n, d = law.form.iso_loss(pub, target, _share(x[:, None]))
    reachable = law.floor_of(theta) < target
    return np.where(reachable, n[:, 0], np.nan), np.where(reachable, d[:, 0], np.nan)


@dataclass(frozen=True)
class InferencePlan:
    law: str
    target_loss: float
    inference_tokens: float
    N: Estimate
    D: Estimate
    tokens_per_param: Estimate
    training_flops: float
    inference_flops: float
    training_only_N: float
    training_only_D: float
    training_only_total_cost: float
    total_cost: float
    assumptions: dict[str, Any] = field(default_factory=dict)

    @property
    def saving(self) -> float:
        """Fraction of life-time cost saved vs deploying the training-only (Chinchilla) optimum."""
        return 1.0 - self.total_cost / self.training_only_total_cost

    def to_dict(self) -> dict[str, Any]:
        ci = {}
        out: dict[str, Any] = {
            "law": self.law,
            "target_loss": self.target_loss,
            "loss": self.target_loss,
            "inference_tokens": self.inference_tokens,
        }
        for key, name in (("N", "N_opt"), ("D", "D_opt"), ("tokens_per_param", "tokens_per_param")):
            est: Estimate = getattr(self, key)
            out[name] = est.value
            if est.has_interval:
                ci[name] = est.interval()
        out.update(
            training_flops=self.training_flops,
            inference_flops=self.inference_flops,
            total_cost=self.total_cost,
            training_only_N_opt=self.training_only_N,
            training_only_D_opt=self.training_only_D,
            training_only_total_cost=self.training_only_total_cost,
            N_shift=self.N.value / self.training_only_N,
            D_shift=self.D.value / self.training_only_D,
            saving=self.saving,
            ci=ci,
            assumptions=self.assumptions,
        )
        return out


def _costs(train: Any, infer: Any) -> tuple[float, float]:
    for name, v in (("training cost per FLOP", train), ("inference cost per FLOP", infer)):
        if not math.isfinite(float(v)) or float(v) <= 0:
            raise InputError(f"{name} must be a positive number, got {v!r}")
    return float(train), float(infer)


def inference_aware(
    law: Any,
    inference_tokens: float,
    *,
    target_loss: float | None = None,
    flops: float | None = None,
    train_cost_per_flop: float = 1.0,
    inference_cost_per_flop: float = 1.0,
    level: float = DEFAULT_LEVEL,
) -> InferencePlan:
    """N, D reaching `target_loss` at the least training + inference cost.

    Without a target loss, `flops` sets it: the loss of the compute-optimal model for that budget
    (same quality as the training-only plan, then cheaper over the model's life).
    """
    law = loss_law(law)
    inf = float(inference_tokens)
    if not math.isfinite(inf) or inf < 0:
        raise InputError(f"inference tokens must be a non-negative number, got {inference_tokens!r}")
    ct, ci_ = _costs(train_cost_per_flop, inference_cost_per_flop)
    if target_loss is None:
        if flops is None:
            raise InputError("inference-aware planning needs a target loss or a compute budget")
        target_loss = optimal(law, check_flops(flops)).loss.value
    target = float(target_loss)
    floor = float(law.floor_of(law.theta())[0])
    if not math.isfinite(target) or target <= floor:
        raise InputError(f"target loss {target_loss!r} is not above the law's irreducible loss E = {floor:.4g}")
    theta = law.theta()
    (n,), (d,) = solve_inference(law, theta, target, inf, ct, ci_)
    (n0,), (d0,) = solve_inference(law, theta, target, 0.0, ct, ci_)
    draws = None
    unreachable = 0.0
    if law.has_draws:
        dn, dd = solve_inference(law, law.theta_draws(), target, inf, ct, ci_)
        draws = np.column_stack([dn, dd, dd / dn])
        unreachable = float(np.mean(np.isnan(dn)))
    est = [estimate(v, None if draws is None else draws[:, k], level) for k, v in enumerate((n, d, d / n))]

    def life_cost(nn: float, dd: float) -> float:
        return ct * 6.0 * nn * dd + ci_ * 2.0 * nn * inf

    return InferencePlan(
        law=law.label,
        target_loss=target,
        inference_tokens=inf,
        N=est[0],
        D=est[1],
        tokens_per_param=est[2],
        training_flops=6.0 * n * d,
        inference_flops=2.0 * n * inf,
        training_only_N=float(n0),
        training_only_D=float(d0),
        training_only_total_cost=life_cost(n0, d0),
        total_cost=life_cost(n, d),
        assumptions={
            "law": describe(law),
            "objective": "train_cost*6ND + inference_cost*2N*I (Sardana, Portes, Doubov & Frankle 2024, arXiv 2401.00448)",
            "train_cost_per_flop": ct,
            "inference_cost_per_flop": ci_,
            "inference_flops_rule": "2 N FLOPs per inference token (forward pass, Kaplan et al. 2020)",
            "draws_never_reaching_target": unreachable,
        },
    )
