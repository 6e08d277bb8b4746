"""Critical batch size (Kaplan et al. 2020, §5.1; McCandlish et al. 2018).

B_crit(L) = B*/L^(1/α_B) (Kaplan eq. 5.3; B* ≈ 2e8 tokens, α_B ≈ 0.21) and the step/data trade-off
(S/S_min − 1)(E/E_min − 1) = 1 (eq. 5.4): from runs that differ in batch size, the fewest steps
S_min and tokens E_min to each target loss, B_crit = E_min/S_min, and the law fitted to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from lmscale.errors import InputError
from lmscale.fit.curves import at_first_reach, check_positive, log_grid, require_columns, show
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.loglog import NAN_PAIR, LogLogLine, check_bootstrap, fit_line, fit_loglog
from lmscale.jsonsafe import plain


def critical_batch(loss: float | np.ndarray, B_star: float, alpha_B: float) -> np.ndarray:
    """B_crit(L) = B*/L^(1/α_B), in tokens (Kaplan et al. 2020, eq. 5.3; his values are the
    published law ``kaplan2020-bcrit``: B* = 2e8 tokens, α_B = 0.21)."""
    return B_star / np.asarray(loss, float) ** (1.0 / alpha_B)


def steps_min(S: float | np.ndarray, B: float | np.ndarray, B_crit: float | np.ndarray) -> np.ndarray:
    """Fewest steps to the same loss at a very large batch: S_min = S/(1 + B_crit/B) (Kaplan eq. 5.4)."""
    return np.asarray(S, float) / (1.0 + np.asarray(B_crit, float) / np.asarray(B, float))


def examples_min(E: float | np.ndarray, B: float | np.ndarray, B_crit: float | np.ndarray) -> np.ndarray:
    """Fewest tokens to the same loss at a very small batch: E_min = E/(1 + B/B_crit) (Kaplan eq. 5.4)."""
    return np.asarray(E, float) / (1.0 + np.asarray(B, float) / np.asarray(B_crit, float))


def bcrit_law_of_line(
    slope: float | np.ndarray, intercept: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(B*, α_B) of the log-log line log B_crit = intercept + slope·log L: B* = e^intercept,
    α_B = −1/slope; α_B is NaN where B_crit does not grow as the loss falls (slope ≥ 0)."""
    slope = np.asarray(slope, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(slope < 0, -1.0 / slope, np.nan)
    return np.exp(np.asarray(intercept, float)), alpha


def tradeoff_fit(S: np.ndarray, B: np.ndarray) -> tuple[float, float, float]:
    """(S_min, E_min, rms relative residual) of S = S_min + E_min/B (eq. 5.4) from the steps S each
    batch size B needed: non-negative least squares on relative residuals."""
    design = np.column_stack([1.0 / S, 1.0 / (B * S)])
    (s_min, e_min), _ = optimize.nnls(design, np.ones_like(S))
    rms = float(np.sqrt(np.mean((design @ [s_min, e_min] - 1.0) ** 2)))
    return float(s_min), float(e_min), rms


@dataclass(frozen=True)
class BcritFit:
    """B_crit(L) = B*/L^(1/α_B) fitted in log space, with a bootstrap over (loss, B_crit) pairs.

    ``draws`` (S, 2) holds (B*, α_B) per resample (NaN where it failed); ``ci`` their percentile
    intervals (lmscale.fit.intervals).
    """

    B_star: float
    alpha_B: float
    ci: dict[str, tuple[float, float]]
    r2_log: float
    n_points: int
    bootstrap: int = 0
    level: float = 0.95
    draws: np.ndarray = field(default_factory=lambda: np.empty((0, 2)), repr=False)
    warnings: tuple[str, ...] = ()

    def predict(self, loss: float | np.ndarray) -> np.ndarray:
        return critical_batch(loss, self.B_star, self.alpha_B)

    def to_dict(self, include_draws: bool = True) -> dict[str, Any]:
        d = {
            "kind": "bcrit",
            "params": {"B_star": self.B_star, "alpha_B": self.alpha_B},
            "ci": self.ci,
            "level": self.level,
            "r2_log": self.r2_log,
            "n_points": self.n_points,
            "bootstrap": self.bootstrap,
            "warnings": list(self.warnings),
        }
        if include_draws:
            d["draws"] = self.draws.tolist()
        return plain(d)


def _bcrit_from_line(line: LogLogLine, bootstrap: int, warnings: list[str]) -> BcritFit:
    b_star, alpha = bcrit_law_of_line(line.exponent, math.log(line.coef))
    b_star_d, alpha_d = bcrit_law_of_line(line.draws[:, 0], line.draws[:, 1])
    draws = np.column_stack([b_star_d, alpha_d])
    return BcritFit(
        B_star=float(b_star),
        alpha_B=float(alpha),
        ci={
            "B_star": line.ci["coef"],
            "alpha_B": percentile_interval(alpha_d, line.level) if bootstrap else NAN_PAIR,
        },
        r2_log=line.r2_log,
        n_points=line.n_points,
        bootstrap=bootstrap,
        level=line.level,
        draws=draws,
        warnings=tuple(warnings),
    )


def fit_bcrit(
    df: pd.DataFrame,
    loss_col: str = "loss",
    bcrit_col: str = "B_crit",
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BcritFit:
    """Fit Kaplan's B_crit(L) = B*/L^(1/α_B) to (loss, B_crit) pairs by least squares in log space,
    with a bootstrap over the pairs."""
    where = "fit_bcrit"
    require_columns(df, [loss_col, bcrit_col], where)
    check_bootstrap(bootstrap, level, where)
    check_positive(df.reset_index(drop=True), [loss_col, bcrit_col], where)
    loss = df[loss_col].to_numpy(float)
    b = df[bcrit_col].to_numpy(float)
    if np.unique(loss).size < 2:
        raise InputError(f"{where}: need B_crit at 2 or more distinct values of '{loss_col}'")
    warnings = []
    if len(loss) < 3:
        warnings.append("fewer than 3 (loss, B_crit) pairs: the fit has no residual to check")
    rng = np.random.default_rng(seed)
    picks = [rng.integers(0, len(loss), len(loss)) for _ in range(bootstrap)]
    line = fit_line(loss, b, [(loss[i], b[i]) for i in picks], level=level)
    if line.exponent >= 0:
        warnings.append("B_crit does not grow as the loss falls: alpha_B is undefined (reported as NaN)")
    return _bcrit_from_line(line, int(bootstrap), warnings)


def bcrit_over_run_resamples(
    points: pd.DataFrame, targets: np.ndarray, bootstrap: int, seed: int
) -> np.ndarray:
    """B_crit = E_min/S_min per target (bootstrap, T) from the (loss, run, B, S) points of a batch
    sweep, its runs resampled with replacement; NaN where a resample has < 2 distinct batch sizes."""
    runs = points["run"].unique()
    rng = np.random.default_rng(seed)
    out = np.full((bootstrap, len(targets)), np.nan)
    by_target = [points[np.isclose(points["loss"], t)] for t in targets]
    for i in range(bootstrap):
        pick = pd.Series(rng.choice(runs, size=len(runs)), name="run")
        for j, pts in enumerate(by_target):
            sel = pick.to_frame().merge(pts, on="run")
            sel = sel[np.isfinite(sel["S"])]
            if sel["B"].nunique() < 2:
                continue
            s_min, e_min, _ = tradeoff_fit(sel["S"].to_numpy(float), sel["B"].to_numpy(float))
            if s_min > 0 and e_min > 0:
                out[i, j] = e_min / s_min
    return out


def bcrit_law_draws(targets: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B*, α_B) of B_crit = B*/L^(1/α_B) for each row of per-target B_crit draws (NaN where a row has
    < 2 finite targets or B_crit does not grow as the loss falls)."""
    b_star, alpha = np.full(len(draws), np.nan), np.full(len(draws), np.nan)
    for i, row in enumerate(draws):
        ok = np.isfinite(row)
        if ok.sum() >= 2 and np.ptp(targets[ok]) > 0:
            slope, intercept, _ = fit_loglog(targets[ok], row[ok])
            if slope < 0:
                b_star[i], alpha[i] = bcrit_law_of_line(slope, intercept)
    return b_star, alpha


@dataclass(frozen=True)
class BatchSweepResult:
    """Per target loss: S_min, E_min and B_crit = E_min/S_min from runs at several batch sizes."""

    table: pd.DataFrame  # loss, S_min, E_min, B_crit, n_batch, rms_rel
    points: pd.DataFrame  # loss, run, B, S, E (steps and tokens each run needed)
    warnings: tuple[str, ...] = ()

    def bcrit_draws(self, bootstrap: int = 1000, seed: int = 0) -> np.ndarray:
        """B_crit per target loss (bootstrap, targets), with the runs (batch sizes) resampled with
        replacement; NaN where a resample has < 2 distinct batch sizes at a target."""
        return bcrit_over_run_resamples(self.points, self.table["loss"].to_numpy(float), bootstrap, seed)

    def fit_bcrit(self, bootstrap: int = 1000, seed: int = 0, level: float = 0.95) -> BcritFit:
        """Kaplan's B_crit(L) law fitted to this sweep's per-loss critical batch sizes. Its draws and
        intervals resample runs, not (loss, B_crit) pairs: every target's B_crit comes from the same
        few runs, so pairs are not independent and resampling them would understate the spread."""
        check_bootstrap(bootstrap, level, "fit_bcrit")
        ok = self.table[np.isfinite(self.table["B_crit"]) & (self.table["B_crit"] > 0)]
        point = fit_bcrit(ok, bootstrap=0, level=level)
        if not bootstrap:
            return point
        b_star, alpha = bcrit_law_draws(self.table["loss"].to_numpy(float), self.bcrit_draws(bootstrap, seed))
        ci = {"B_star": percentile_interval(b_star, level), "alpha_B": percentile_interval(alpha, level)}
        return replace(point, ci=ci, bootstrap=int(bootstrap), draws=np.column_stack([b_star, alpha]))

    def to_dict(self) -> dict[str, Any]:
        return plain({"table": self.table, "points": self.points, "warnings": list(self.warnings)})


def bcrit_from_batch_sweep(
    curves: pd.DataFrame,
    targets: np.ndarray | list[float] | None = None,
    n_targets: int = 8,
    batch_col: str = "batch_tokens",
) -> BatchSweepResult:
    """Critical batch size per target loss from runs that differ in batch size (Kaplan §5.1).

    For each target loss, each run's steps S (from ``step``, else tokens/B) and tokens E = B·S to
    first reach it are found; eq. 5.4 implies S = S_min + E_min/B, a linear model in (S_min, E_min)
    that is fitted by non-negative least squares on relative residuals. B_crit = E_min/S_min.
    Default targets: ``n_targets`` log-spaced losses that every run crosses.
    """
    where = "bcrit_from_batch_sweep"
    require_columns(curves, ["run", "loss", batch_col], where)
    if "step" not in curves.columns and "tokens" not in curves.columns:
        raise InputError(f"{where}: need a 'step' or a 'tokens' column")
    df = curves.reset_index(drop=True)
    check_positive(df, ["loss", batch_col] + (["step"] if "step" in df.columns else ["tokens"]), where)
    nb = df.groupby("run", sort=False)[batch_col].nunique()
    if (nb > 1).any():
        raise InputError(
            f"{where}: run {show(nb.index[int(np.argmax(nb.to_numpy() > 1))])} has several batch sizes"
        )
    df["S"] = df["step"].astype(float) if "step" in df.columns else df["tokens"].astype(float) / df[batch_col]
    runs = [(r, g.sort_values("S")) for r, g in df.groupby("run", sort=False)]
    if len({float(g[batch_col].iloc[0]) for _, g in runs}) < 2:
        raise InputError(f"{where}: need runs at 2 or more distinct values of '{batch_col}'")
    if targets is None:
        lo = max(float(g["loss"].min()) for _, g in runs)
        hi = min(float(g["loss"].iloc[0]) for _, g in runs)
        if not lo < hi:
            raise InputError(f"{where}: no loss range is crossed by every run; pass targets explicitly")
        # Stay strictly inside (lo, hi): the ends are not bracketed by two evaluations.
        targets = log_grid(lo, hi, n_targets + 2)[1:-1][::-1]
    targets = np.asarray(targets, float)
    if targets.size == 0 or not np.all(np.isfinite(targets) & (targets > 0)):
        raise InputError(f"{where}: targets must be finite positive losses")

    rows, pts, warnings = [], [], []
    for t in targets:
        s_b = []
        for r, g in runs:
            b = float(g[batch_col].iloc[0])
            s = at_first_reach(g["S"].to_numpy(float), g["loss"].to_numpy(float), float(t))
            pts.append({"loss": t, "run": r, "B": b, "S": s, "E": s * b})
            if math.isfinite(s):
                s_b.append((s, b))
        distinct_b = len({b for _, b in s_b})
        if distinct_b < 2:
            warnings.append(f"loss {t:.4g}: reached at fewer than 2 batch sizes; skipped")
            rows.append(
                {"loss": t, "S_min": np.nan, "E_min": np.nan, "B_crit": np.nan, "n_batch": distinct_b}
            )
            continue
        s_min, e_min, rms = tradeoff_fit(*np.array(s_b).T)
        b_crit = e_min / s_min if s_min > 0 else float("inf")
        if not (0 < b_crit < float("inf")):
            warnings.append(
                f"loss {t:.4g}: steps do not fall with batch size as eq. 5.4 needs; B_crit undefined"
            )
        rows.append(
            {
                "loss": t,
                "S_min": s_min,
                "E_min": e_min,
                "B_crit": b_crit,
                "n_batch": distinct_b,
                "rms_rel": rms,
            }
        )
    table = pd.DataFrame(rows)
    if (table["n_batch"] < 3).any() and (table["n_batch"] >= 2).any():
        warnings.append("some target losses rest on only 2 batch sizes: eq. 5.4 is fitted exactly, unchecked")
    return BatchSweepResult(table=table, points=pd.DataFrame(pts), warnings=tuple(warnings))
