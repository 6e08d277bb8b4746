"""Two studies as a compute multiplier: is a data, tokenizer or architecture change worth it?

Both studies' L(C) laws (the learning-curve frontier, `lmscale.fit.frontier`, fitted under one form)
are compared three ways, each with a percentile interval over their bootstrap draws (draw i of A
paired with draw i of B: the two bootstraps are independent, so any pairing is a valid joint draw):

- the compute multiplier at a target loss, k = C_B(L) / C_A(L): how many times A's compute B needs
  to reach the same loss (k > 1: A is the better recipe; Kaplan et al. 2020 and Hoffmann et al. 2022
  compare setups this way, as an "effective compute" ratio);
- the loss gap at matched compute, L_B(C) − L_A(C);
- the exponent gap α_A − α_B: when its interval holds 0 the exponents may be shared, and a drift of
  k with scale is not established; otherwise k changes with scale and a multiplier measured at small
  compute does not carry to large.

Pure decision logic over two fitted Laws, as the rest of `plan/`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.law import Law
from lmscale.plan.quantity import DEFAULT_LEVEL, Estimate, estimate


@dataclass(frozen=True)
class Comparison:
    """What B costs against A: the multiplier at `target_loss`, the loss gap at `compute`, the exponent
    gap, and `table`: over a log grid of compute, both laws' losses and k at the loss A reaches there."""

    a: str
    b: str
    target_loss: float
    compute: float
    multiplier: Estimate
    loss_gap: Estimate
    exponent_a: Estimate
    exponent_b: Estimate
    exponent_gap: Estimate
    draws: int
    table: pd.DataFrame

    @property
    def shared_exponent(self) -> bool | None:
        """Whether the exponent gap's interval holds 0 (None without draws: not tested)."""
        gap = self.exponent_gap
        return None if not gap.has_interval else bool(gap.low <= 0.0 <= gap.high)

    @property
    def multiplier_decades(self) -> float | None:
        """How many decades the multiplier's interval spans (None without one; inf when open)."""
        m = self.multiplier
        if not m.has_interval:
            return None
        return float(np.log10(m.high / m.low)) if m.low > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        def est(e: Estimate) -> dict[str, Any]:
            return {"value": e.value, "interval": e.interval()}

        return {
            "a": self.a,
            "b": self.b,
            "target_loss": self.target_loss,
            "compute": self.compute,
            "multiplier": est(self.multiplier),
            "loss_gap": est(self.loss_gap),
            "exponent_a": est(self.exponent_a),
            "exponent_b": est(self.exponent_b),
            "exponent_gap": est(self.exponent_gap),
            "shared_exponent": self.shared_exponent,
            "multiplier_decades": self.multiplier_decades,
            "draws": self.draws,
            "table": self.table.to_dict(orient="records"),
        }


def exponent_name(law: Law) -> str:
    """The name of a law's exponent in C (alpha_C of the power form, alpha of the offset form)."""
    names = [p for p in law.form.names if p.startswith("alpha")]
    if law.x != "C" or len(names) != 1:
        raise InputError(f"law {law.label} is not a law of compute alone (L(C)); compare needs two L(C) laws")
    return names[0]


def _paired(a: Law, b: Law) -> tuple[np.ndarray, np.ndarray] | None:
    """The first S draws of each (S = the fewer of the two), as internal parameters; None when either
    law has none."""
    if not (a.has_draws and b.has_draws):
        return None
    s = min(len(a.draws), len(b.draws))  # type: ignore[arg-type]
    return a.theta_draws()[:s], b.theta_draws()[:s]


def _multiplier_at(a: Law, b: Law, theta_a: np.ndarray, theta_b: np.ndarray, target: Any) -> np.ndarray:
    """k = C_B(target) / C_A(target) per row pair (one target, or one per pair); +inf where B never
    reaches it, NaN where A does not."""
    c_a = a.compute_for_loss_of(theta_a, target)
    c_b = b.compute_for_loss_of(theta_b, target)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(c_a), c_b / c_a, np.nan)


def _table(a: Law, b: Law, grid: np.ndarray, paired: Any, level: float) -> pd.DataFrame:
    """Per compute on the grid: both losses, and k at the loss A reaches there, each with its interval."""
    rows = []
    for c in grid:
        loss_a, loss_b = float(a.predict(C=c)), float(b.predict(C=c))
        k = _multiplier_at(a, b, a.theta(), b.theta(), loss_a)[0]
        draws: dict[str, Any] = {"loss_a": None, "loss_b": None, "k": None}
        if paired is not None:
            ta, tb = paired
            at = np.full((len(ta), 1), c)
            draws["loss_a"], draws["loss_b"] = a.evaluate(ta, C=at)[:, 0], b.evaluate(tb, C=at)[:, 0]
            draws["k"] = _multiplier_at(a, b, ta, tb, draws["loss_a"])  # each draw of A at its own loss there
        row: dict[str, Any] = {"C": float(c)}
        for key, value in (("loss_a", loss_a), ("loss_b", loss_b), ("k", k)):
            e = estimate(value, draws[key], level)
            row.update({key: e.value, f"{key}_low": e.low, f"{key}_high": e.high})
        rows.append(row)
    return pd.DataFrame(rows)


def compare_frontiers(
    a: Law,
    b: Law,
    target_loss: float,
    compute: float,
    grid: np.ndarray | None = None,
    level: float = DEFAULT_LEVEL,
) -> Comparison:
    """Compare B's L(C) law against A's (both of one form, in C) at a target loss and a compute."""
    names = exponent_name(a), exponent_name(b)
    if a.form_name != b.form_name:
        raise InputError(f"compare: the two laws must have one form, got {a.form_name} and {b.form_name}")
    if not (math.isfinite(target_loss) and target_loss > 0):
        raise InputError(f"compare: the target loss must be a positive number, got {target_loss}")
    if not (math.isfinite(compute) and compute > 0):
        raise InputError(f"compare: the compute must be a positive number of FLOPs, got {compute}")
    k = _multiplier_at(a, b, a.theta(), b.theta(), target_loss)[0]
    if not math.isfinite(k):
        raise InputError(f"compare: {a.label} or {b.label} never reaches the target loss {target_loss:.4g}")
    paired = _paired(a, b)
    gap = float(b.predict(C=compute) - a.predict(C=compute))
    i_a, i_b = (a.form.names.index(names[0]), b.form.names.index(names[1]))
    k_draws = gap_draws = alpha_a = alpha_b = None
    if paired is not None:
        ta, tb = paired
        k_draws = _multiplier_at(a, b, ta, tb, target_loss)
        at = np.full((len(ta), 1), compute)
        gap_draws = b.evaluate(tb, C=at)[:, 0] - a.evaluate(ta, C=at)[:, 0]
        alpha_a, alpha_b = ta[:, i_a], tb[:, i_b]  # exponents are not log-parametrised
    point_a, point_b = a.params[names[0]], b.params[names[1]]
    gap_exp = None if alpha_a is None else alpha_a - alpha_b
    return Comparison(
        a=a.label,
        b=b.label,
        target_loss=float(target_loss),
        compute=float(compute),
        multiplier=estimate(k, k_draws, level),
        loss_gap=estimate(gap, gap_draws, level),
        exponent_a=estimate(point_a, alpha_a, level),
        exponent_b=estimate(point_b, alpha_b, level),
        exponent_gap=estimate(point_a - point_b, gap_exp, level),
        draws=0 if paired is None else len(paired[0]),
        table=_table(a, b, grid if grid is not None else np.array([compute]), paired, level),
    )
