"""Planning: from a scaling law (lmscale.fit.Law) to a decision.

Pure numpy/scipy/pandas (never torch, never lmscale.model): the laws themselves, their forms,
allocations and intervals live in lmscale.fit; this package holds only decision logic over a Law.

- `optimal(law, flops)`: compute-optimal N, D, tokens/param and loss, with bootstrap intervals.
- `compute_for_loss(law, target_loss, hardware=...)`: the inverse, with time and money.
- `what_if(law, flops)`: 2x/10x/100x compute, 10x params or data, marginal returns.
- `data_limited(law, flops, unique_tokens)`: Muennighoff et al. 2023 repetition-aware optimum.
- `inference_aware(law, inference_tokens, target_loss=...)`: Sardana, Portes, Doubov & Frankle 2024.
- `hardware("h100", count, mfu=..., price=...)`, `make_budget(...)`: accelerator-time budgets.

A concrete model shape for a planned N is `lmscale.model.sizing.model_shape`.
"""

from lmscale.plan.budget import (
    ACCELERATORS,
    DEFAULT_GRID_KG_PER_KWH,
    DEFAULT_MFU,
    DEFAULT_PUE,
    Accelerator,
    Budget,
    Hardware,
    get_accelerator,
    hardware,
    make_budget,
)
from lmscale.plan.compare import compare_laws
from lmscale.plan.data_limited import DataLimitedPlan, data_constrained_law, data_limited
from lmscale.plan.inference import InferencePlan, inference_aware
from lmscale.plan.optimal import Allocation, TargetPlan, compute_for_loss, optimal
from lmscale.plan.quantity import Estimate
from lmscale.plan.whatif import WhatIf, what_if

__all__ = [
    "ACCELERATORS",
    "DEFAULT_GRID_KG_PER_KWH",
    "DEFAULT_MFU",
    "DEFAULT_PUE",
    "Accelerator",
    "Allocation",
    "Budget",
    "DataLimitedPlan",
    "Estimate",
    "Hardware",
    "InferencePlan",
    "TargetPlan",
    "WhatIf",
    "compare_laws",
    "compute_for_loss",
    "data_constrained_law",
    "data_limited",
    "get_accelerator",
    "hardware",
    "inference_aware",
    "make_budget",
    "optimal",
    "what_if",
]
