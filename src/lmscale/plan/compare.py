"""Side-by-side allocations of the published laws (the closing table of issue 6)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from lmscale.fit.registry import loss_law
from lmscale.plan.optimal import optimal

DEFAULT_BUDGETS = (1e21, 1e23, 1e25)


def compare_laws(
    laws: Iterable[str] | None = None, budgets: Iterable[float] = DEFAULT_BUDGETS
) -> pd.DataFrame:
    """One row per (law, budget): N_opt, D_opt, tokens per parameter, predicted loss.

    Losses are not comparable across laws (Kaplan: WebText2 nats/token, non-embedding N;
    Hoffmann/Epoch: MassiveText, total N); allocations are. ``N_opt_exponent`` is a in N_opt ∝ C^a:
    for kaplan2020 it is the optimum of his early-stopped L(N, D) (0.575), not his compute-efficient
    rule N ∝ C^0.73 (see the law's caveat).
    """
    rows = []
    for name in laws if laws is not None else ("kaplan2020", "hoffmann2022", "epoch2024"):
        law = loss_law(name)
        for c in budgets:
            a = optimal(law, c)
            rows.append(
                {
                    "law": law.name,
                    "flops": c,
                    "N_opt": a.N_opt.value,
                    "D_opt": a.D_opt.value,
                    "tokens_per_param": a.tokens_per_param.value,
                    "loss": a.loss.value,
                    "N_opt_exponent": law.derived["a"],
                    "N_is": law.conventions.n,
                }
            )
    return pd.DataFrame(rows)


__all__ = ["DEFAULT_BUDGETS", "compare_laws"]
