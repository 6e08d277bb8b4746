"""Side-by-side allocations of the published laws (the closing table of issue 6)."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from lmscale.fit.curves import PF_DAY
from lmscale.fit.registry import loss_law
from lmscale.plan.optimal import optimal
from lmscale.reference import load_allocation_rules

DEFAULT_BUDGETS = (1e21, 1e23, 1e25)


def compare_laws(
    laws: Iterable[str] | None = None,
    budgets: Iterable[float] = DEFAULT_BUDGETS,
    rules: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per (law, budget): N_opt, D_opt, tokens per parameter, predicted loss.

    Losses are not comparable across laws (Kaplan: WebText2 nats/token, non-embedding N;
    Hoffmann/Epoch: MassiveText, total N); allocations are. ``N_opt_exponent`` is a in N_opt ∝ C^a:
    for kaplan2020 it is the optimum of his early-stopped L(N, D) (0.575), not his compute-efficient
    rule N ∝ C^0.73 (see the law's caveat), which ``rules`` (default: kaplan2020-efficient) adds.
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
    for name in rules if rules is not None else ("kaplan2020-efficient",):
        rows.extend(allocation_rule_rows(name, budgets))
    return pd.DataFrame(rows)


def allocation_rule_rows(name: str, budgets: Iterable[float]) -> list[dict]:
    """A published allocation rule's rows, the budget read as its C_min: N = N_e C^p_N and
    D = D_e C^p_D as published, the loss from the rule's own L(C_min)."""
    rule = load_allocation_rules()[name]
    law = loss_law(rule["loss_law"])
    rows = []
    for c in budgets:
        c_unit = c / PF_DAY if rule["C_unit"] == "PF-day" else c
        n = rule["N_e"] * c_unit ** rule["p_N"]
        d = rule["D_e"] * c_unit ** rule["p_D"]
        rows.append(
            {
                "law": name,
                "flops": c,
                "N_opt": n,
                "D_opt": d,
                "tokens_per_param": d / n,
                "loss": float(law.predict(C=c)),
                "N_opt_exponent": rule["p_N"],
                "N_is": law.conventions.n,
            }
        )
    return rows


__all__ = ["DEFAULT_BUDGETS", "allocation_rule_rows", "compare_laws"]
