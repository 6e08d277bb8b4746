"""Model families (GPT-style transformer, LSTM) and exact parameter/FLOP accounting.

Importing this package does not import torch: ``build_model`` and ``parameter_groups`` load the
torch modules on first use, so ``lmscale.fit``/``lmscale.plan`` can use shapes and accounting
on a machine without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmscale.model.accounting import ModelAccount, account, run_flops
from lmscale.model.shape import ModelShape
from lmscale.model.sizing import shape_for_params, shape_ladder

if TYPE_CHECKING:
    from lmscale.model.build import build_model, parameter_groups

__all__ = [
    "ModelAccount",
    "ModelShape",
    "account",
    "build_model",
    "parameter_groups",
    "run_flops",
    "shape_for_params",
    "shape_ladder",
]


def __getattr__(name: str) -> Any:
    if name in ("build_model", "parameter_groups"):
        from lmscale.model import build

        return getattr(build, name)
    raise AttributeError(f"module 'lmscale.model' has no attribute {name!r}")
