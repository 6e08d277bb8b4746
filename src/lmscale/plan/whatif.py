"""What-if tables: what more compute, more parameters or more data buy (diminishing returns).

All rows are point predictions of the law; the compute table also carries the loss interval
when the law has bootstrap draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit.law import Law
from lmscale.fit.registry import loss_law
from lmscale.plan.budget import Hardware, check_flops
from lmscale.plan.optimal import optimal
from lmscale.plan.quantity import DEFAULT_LEVEL

COMPUTE_MULTIPLIERS = (1.0, 2.0, 10.0, 100.0)


@dataclass(frozen=True)
class WhatIf:
    compute: pd.DataFrame  # the optimum at 1x/2x/10x/100x compute
    allocation: pd.DataFrame  # 10x params at fixed data, 10x data at fixed params, vs 10x compute
    marginal: pd.DataFrame  # loss reduction per extra FLOP (and per dollar) along the optimum

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict(orient="records") for k in ("compute", "allocation", "marginal")}


def _marginal(law: Law, flops: float) -> tuple[float, float]:
    """(-dL*/dC, loss drop per doubling) of the compute-optimal loss, by a centred log difference."""
    h = 1e-3
    budgets = flops * np.array([[math.exp(-h), math.exp(h), 1.0, 2.0]])
    down, up, here, double = law.optimal_loss_of(law.theta(), budgets)[0]
    return -(up - down) / (2 * h) / flops, here - double


def what_if(
    law: Any,
    flops: float,
    *,
    hardware: Hardware | None = None,
    multipliers: tuple[float, ...] = COMPUTE_MULTIPLIERS,
    level: float = DEFAULT_LEVEL,
) -> WhatIf:
    """Three tables around the compute-optimal plan for `flops`.

    With `hardware` that has a price, costs and loss reduction per dollar are added.
    """
    law = loss_law(law)
    c0 = check_flops(flops)
    price_per_flop = hardware.price_per_flop if hardware is not None else None
    base = optimal(law, c0, level=level)
    rows = []
    for m in multipliers:
        a = base if m == 1.0 else optimal(law, c0 * m, level=level)
        row: dict[str, Any] = {
            "compute_x": m,
            "flops": a.flops,
            "N_opt": a.N_opt.value,
            "D_opt": a.D_opt.value,
            "tokens_per_param": a.tokens_per_param.value,
            "loss": a.loss.value,
            "loss_low": a.loss.low,
            "loss_high": a.loss.high,
            "loss_drop": base.loss.value - a.loss.value,
        }
        if price_per_flop is not None:
            row["cost"] = a.flops * price_per_flop
        rows.append(row)
    compute = pd.DataFrame(rows)
    if not base.loss.has_interval:
        compute = compute.drop(columns=["loss_low", "loss_high"])

    n0, d0, l0 = base.N_opt.value, base.D_opt.value, base.loss.value
    ten = optimal(law, 10 * c0).loss.value
    alloc_rows = []
    for label, n, d in (
        ("optimum", n0, d0),
        ("10x params, same data", 10 * n0, d0),
        ("10x data, same params", n0, 10 * d0),
        ("10x compute at the optimum", *_opt_nd(law, 10 * c0)),
    ):
        loss = float(law.predict(N=n, D=d))
        drop = l0 - loss
        alloc_rows.append(
            {
                "change": label,
                "N": n,
                "D": d,
                "flops": 6 * n * d,
                "loss": loss,
                "loss_drop": drop,
                # Share of what spending the same extra compute on the optimum would buy.
                "vs_optimal_spend": np.nan if label == "optimum" else drop / (l0 - ten),
            }
        )
    allocation = pd.DataFrame(alloc_rows)

    marg_rows = []
    for m in multipliers:
        c = c0 * m
        per_flop, per_doubling = _marginal(law, c)
        row = {
            "compute_x": m,
            "flops": c,
            "loss_drop_per_flop": per_flop,
            "loss_drop_per_doubling": per_doubling,
        }
        if price_per_flop is not None and price_per_flop > 0:
            row["loss_drop_per_dollar"] = per_flop / price_per_flop
        marg_rows.append(row)
    return WhatIf(compute, allocation, pd.DataFrame(marg_rows))


def _opt_nd(law: Any, flops: float) -> tuple[float, float]:
    a = optimal(law, flops)
    return a.N_opt.value, a.D_opt.value
