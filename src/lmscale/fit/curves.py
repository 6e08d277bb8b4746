"""Learning-curve tables: validation, warmup exclusion by rule, final points, log-log resampling.

A curve table is long format, one row per (run, eval point), with columns ``run``, ``N``
(non-embedding parameters), ``tokens`` (tokens seen), ``C`` (training FLOPs so far; 6·N·tokens when
absent), ``loss`` (eval loss, nats) and optionally ``lr``, ``step``, ``warmup_steps``, ``is_warmup``,
``batch_tokens``. Everything here is pure numpy/pandas so fits run without torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.jsonsafe import plain

#: Kaplan et al. (2020) report compute in PF-days: 1e15 FLOP/s for one day.
PF_DAY = 1e15 * 86400.0

#: Name of the FLOP convention recorded when C had to be computed from N and tokens.
C_FROM_6ND = "6*N*tokens"
C_GIVEN = "given"


def show(value: Any) -> str:
    """repr of a cell for messages, without numpy's type wrapper (np.int64(3) -> 3)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _bad_row(df: pd.DataFrame, mask: np.ndarray) -> str:
    """Describe the first offending row as 'data row k (run R)', k 1-based (line k+1 of a CSV).

    Tables are re-indexed 0..n-1 on entry, so the index label is the row's original position
    even after sorting.
    """
    pos = np.flatnonzero(np.asarray(mask))[0]
    label = df.index[pos]
    k = int(label) + 1 if isinstance(label, (int, np.integer)) else pos + 1
    run = f" (run {show(df['run'].iloc[pos])})" if "run" in df.columns else ""
    return f"data row {k}{run}"


def check_positive(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise InputError naming the column and row of the first NaN or non-positive value."""
    for col in columns:
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals) | (vals <= 0)
        if bad.any():
            raw = df[col].iloc[int(np.flatnonzero(bad)[0])]
            raise InputError(
                f"{where}: column '{col}' must be a finite positive number, got {show(raw)} at {_bad_row(df, bad)}"
            )


def require_columns(df: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise InputError listing the missing columns and the ones that are there."""
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(repr(c) for c in missing)}; "
            f"columns present: {', '.join(map(str, df.columns)) or 'none'}"
        )


def validate_curves(curves: pd.DataFrame, where: str = "curves") -> tuple[pd.DataFrame, str]:
    """Check a long-format curve table and return (clean copy sorted by run and tokens, C convention).

    C is computed as 6·N·tokens when the column is absent; the returned convention says which.
    Duplicate (run, tokens) rows are an error: they make interpolation along a curve ambiguous.
    """
    require_columns(curves, ["run", "N", "tokens", "loss"], where)
    if len(curves) == 0:
        raise InputError(f"{where}: the table has no rows")
    df = curves.reset_index(drop=True)
    if df["run"].isna().any():
        raise InputError(f"{where}: column 'run' has a missing value at {_bad_row(df, df['run'].isna())}")
    check_positive(df, ["N", "tokens", "loss"], where)
    convention = C_GIVEN
    if "C" in df.columns:
        check_positive(df, ["C"], where)
    else:
        df["C"] = 6.0 * df["N"].astype(float) * df["tokens"].astype(float)
        convention = C_FROM_6ND
    for col in ("N", "tokens", "loss", "C"):
        df[col] = df[col].astype(float)
    n_per_run = df.groupby("run", sort=False)["N"].nunique()
    if (n_per_run > 1).any():
        run = n_per_run.index[int(np.flatnonzero(n_per_run.to_numpy() > 1)[0])]
        raise InputError(f"{where}: run {show(run)} has more than one value in column 'N'")
    dup = df.duplicated(subset=["run", "tokens"], keep="first").to_numpy()
    if dup.any():
        raise InputError(f"{where}: duplicate (run, tokens) point at {_bad_row(df, dup)}")
    df = df.sort_values(["run", "tokens"], kind="stable")
    # C must grow along a run; otherwise compute cannot index the curve (e.g. final C copied to every row).
    flat = (df.groupby("run", sort=False)["C"].diff() <= 0).to_numpy()
    if flat.any():
        raise InputError(
            f"{where}: column 'C' must increase with tokens within a run; it does not at {_bad_row(df, flat)}"
        )
    return df, convention


@dataclass(frozen=True)
class WarmupExclusion:
    """Curve points kept after the warmup rule, and what was dropped per run (and why)."""

    kept: pd.DataFrame
    dropped: pd.DataFrame = field(repr=False)  # per run: n_points, n_dropped, by_fraction, by_lr
    min_fraction: float
    lr_rule: str  # which LR evidence was used: "is_warmup", "warmup_steps", "lr", or "none"
    C_convention: str = C_GIVEN  # how C in ``kept`` was obtained (computed as 6·N·tokens if absent)

    @property
    def n_dropped(self) -> int:
        return int(self.dropped["n_dropped"].sum())

    def to_dict(self) -> dict[str, Any]:
        return plain(
            {
                "min_fraction": self.min_fraction,
                "lr_rule": self.lr_rule,
                "C_convention": self.C_convention,
                "n_kept": len(self.kept),
                "n_dropped": self.n_dropped,
                "dropped_per_run": self.dropped,
            }
        )


def _lr_warming(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Per-row mask of points taken while the LR was still warming up, and which column said so.

    Preference: an explicit ``is_warmup`` flag, then ``step < warmup_steps``, then the LR trace
    itself (points before the run's LR first reaches its peak are in warmup).
    """
    if "is_warmup" in df.columns:
        flag = df["is_warmup"]
        if flag.isna().any():
            raise InputError(f"curves: column 'is_warmup' has a missing value at {_bad_row(df, flag.isna())}")
        return flag.astype(bool).to_numpy(), "is_warmup"
    if "warmup_steps" in df.columns and "step" in df.columns:
        step = pd.to_numeric(df["step"], errors="coerce").to_numpy(dtype=float)
        wu = pd.to_numeric(df["warmup_steps"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(step) | ~np.isfinite(wu) | (wu < 0)
        if bad.any():
            raise InputError(f"curves: bad 'step'/'warmup_steps' value at {_bad_row(df, bad)}")
        return step < wu, "warmup_steps"
    if "lr" in df.columns:
        lr = pd.to_numeric(df["lr"], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(lr) | (lr < 0)
        if bad.any():
            raise InputError(f"curves: column 'lr' must be finite and >= 0 at {_bad_row(df, bad)}")
        # Rows are sorted by (run, tokens): the position in the run vs the position of the first peak.
        lr_s = pd.Series(lr, index=df.index)
        pos = df.groupby("run", sort=False).cumcount().to_numpy()
        peak_pos = lr_s.groupby(df["run"], sort=False).transform(lambda s: int(np.argmax(s.to_numpy())))
        return pos < peak_pos.to_numpy(), "lr"
    return np.zeros(len(df), dtype=bool), "none"


def exclude_warmup(curves: pd.DataFrame, min_fraction: float = 0.1, use_lr: bool = True) -> WarmupExclusion:
    """Drop early curve points by rule, not by hand (DESIGN.md: early checkpoints are noisy).

    A point is dropped when its tokens are below ``min_fraction`` of its run's last tokens, or (with
    ``use_lr``) when the learning rate was still warming up according to ``is_warmup``,
    ``step < warmup_steps`` or the ``lr`` trace, whichever the table has (in that order).
    """
    if not (isinstance(min_fraction, (int, float)) and 0.0 <= min_fraction < 1.0):
        raise InputError(f"exclude_warmup: min_fraction must be in [0, 1), got {min_fraction!r}")
    df, convention = validate_curves(curves)
    last = df.groupby("run", sort=False)["tokens"].transform("max").to_numpy()
    by_fraction = df["tokens"].to_numpy() < min_fraction * last
    by_lr, rule = _lr_warming(df) if use_lr else (np.zeros(len(df), dtype=bool), "none")
    drop = by_fraction | by_lr
    flags = pd.DataFrame(
        {"run": df["run"].to_numpy(), "by_fraction": by_fraction, "by_lr": by_lr & ~by_fraction, "drop": drop}
    )
    per_run = flags.groupby("run", sort=False).agg(
        n_points=("drop", "size"),
        n_dropped=("drop", "sum"),
        by_fraction=("by_fraction", "sum"),
        by_lr=("by_lr", "sum"),
    )
    per_run = per_run.reset_index().astype({"n_dropped": int, "by_fraction": int, "by_lr": int})
    emptied = per_run["n_dropped"] == per_run["n_points"]
    if emptied.any():
        run = per_run.loc[emptied.to_numpy(), "run"].iloc[0]
        raise InputError(f"exclude_warmup: the rule drops every point of run {show(run)}; lower min_fraction")
    kept = df.loc[~drop].reset_index(drop=True)
    return WarmupExclusion(
        kept=kept, dropped=per_run, min_fraction=float(min_fraction), lr_rule=rule, C_convention=convention
    )


def final_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Last evaluation of each run (most tokens), one row per run, with D = tokens at that point."""
    df, convention = validate_curves(curves)
    last = df.groupby("run", sort=False).tail(1).reset_index(drop=True)
    last["D"] = last["tokens"]
    last["C_convention"] = convention
    return last


def log_grid(lo: float, hi: float, n: int) -> np.ndarray:
    """n points evenly spaced in log between lo and hi (both included)."""
    if not (lo > 0 and hi >= lo and n >= 1):
        raise InputError(f"log_grid: need 0 < lo <= hi and n >= 1, got lo={lo}, hi={hi}, n={n}")
    return np.exp(np.linspace(math.log(lo), math.log(hi), int(n)))


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> float:
    """x of the minimum of the parabola through three points (x distinct), clipped to their span; NaN
    where the parabola opens downward or the x repeat. Finds an optimum between grid points (the
    envelope's N at a budget, a learning-rate sweep's best factor in log lr)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if np.unique(x).size < 3:
        return math.nan
    p2, p1, _ = np.polyfit(x, y, 2)
    return float(np.clip(-p1 / (2 * p2), x.min(), x.max())) if p2 > 0 else math.nan


def interp_loglog(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Interpolate y(x) at ``grid`` linearly in (log x, log y); NaN outside the curve's own x range.

    Power laws are straight lines in log-log space, so this is exact for them and never
    extrapolates a curve past the compute it actually reached.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    grid = np.asarray(grid, dtype=float)
    order = np.argsort(x, kind="stable")
    lx, ly = np.log(x[order]), np.log(y[order])
    lg = np.log(grid)
    out = np.exp(np.interp(lg, lx, ly))
    # A tolerance of a few ulps keeps grid ends that equal a curve's first/last point.
    tol = 1e-12 * max(1.0, float(np.abs(lx).max()))
    out[(lg < lx[0] - tol) | (lg > lx[-1] + tol)] = np.nan
    return out


def at_first_reach(values: np.ndarray, loss: np.ndarray, target: float) -> float:
    """A curve's ``values`` (steps, tokens, noise scale; > 0) where its running-best loss first reaches
    ``target``: between the two evaluations that bracket the crossing, linear in (log loss, log value).

    NaN when the curve never reaches the target, or already had at its first evaluation (the crossing
    is then not bracketed, and the first value would only bound it). Where the bracketing values are
    not both positive and finite, the value at the crossing's evaluation.
    """
    values, best = np.asarray(values, float), np.minimum.accumulate(np.asarray(loss, float))
    hit = np.flatnonzero(best <= target)
    if hit.size == 0 or hit[0] == 0:
        return math.nan
    j = int(hit[0])
    pair = values[j - 1 : j + 1]
    if not np.all(np.isfinite(pair) & (pair > 0)):
        return float(values[j])
    w = math.log(best[j - 1] / target) / math.log(best[j - 1] / best[j])
    return math.exp((1 - w) * math.log(pair[0]) + w * math.log(pair[1]))


@dataclass(frozen=True)
class CurveGrid:
    """Every run's curve resampled onto one compute grid: arrays of shape (runs, grid)."""

    C: np.ndarray  # (G,) grid in FLOPs
    runs: np.ndarray  # (R,) run ids, sorted by N
    N: np.ndarray  # (R,)
    loss: np.ndarray  # (R, G), NaN where the run does not cover C
    tokens: np.ndarray  # (R, G)
    C_convention: str


def resample_curves(
    curves: pd.DataFrame, n_grid: int = 50, c_min: float | None = None, c_max: float | None = None
) -> CurveGrid:
    """Resample every run onto a common log-spaced C grid (log-log interpolation, within each run only)."""
    if not (isinstance(n_grid, int) and n_grid >= 2):
        raise InputError(f"resample_curves: n_grid must be an integer >= 2, got {n_grid!r}")
    df, convention = validate_curves(curves)
    lo = float(df["C"].min()) if c_min is None else float(c_min)
    hi = float(df["C"].max()) if c_max is None else float(c_max)
    if not (0 < lo < hi):
        if c_min is None and c_max is None:
            raise InputError(
                f"learning curves: every point has the same compute C = {lo:g}; curves need points over a range of C"
            )
        raise InputError(f"resample_curves: need 0 < c_min < c_max, got c_min={lo:g}, c_max={hi:g}")
    grid = log_grid(lo, hi, n_grid)
    groups = sorted(df.groupby("run", sort=False), key=lambda kv: (kv[1]["N"].iloc[0], str(kv[0])))
    loss = np.full((len(groups), len(grid)), np.nan)
    tokens = np.full_like(loss, np.nan)
    for i, (_, g) in enumerate(groups):
        c = g["C"].to_numpy()
        loss[i] = interp_loglog(c, g["loss"].to_numpy(), grid)
        tokens[i] = interp_loglog(c, g["tokens"].to_numpy(), grid)
    return CurveGrid(
        C=grid,
        runs=np.array([k for k, _ in groups], dtype=object),
        N=np.array([g["N"].iloc[0] for _, g in groups], dtype=float),
        loss=loss,
        tokens=tokens,
        C_convention=convention,
    )


def early_stopped(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """One row per run: N, D (= the distinct-token cap, `unique_tokens`, where set; else the tokens
    trained), the minimum held-out loss along its curve (early stopping, as Kaplan et al. 2020 §4 and
    Hernandez et al. 2021 measure data-limited runs) and where it fell."""
    caps = pd.to_numeric(runs.get("unique_tokens"), errors="coerce") if "unique_tokens" in runs else None
    trained = pd.to_numeric(runs["D"], errors="coerce")
    cap = trained if caps is None else caps.fillna(trained)
    spec = pd.DataFrame(
        {"run": runs["run"], "N": runs["N"].astype(float), "D": cap.astype(float), "trained": trained}
    )
    rows = []
    for run, g in curves.groupby("run", sort=False):
        g = g.sort_values("tokens")
        loss = g["loss"].to_numpy(float)
        i = int(np.nanargmin(loss))
        rows.append(
            {
                "run": run,
                "loss": loss[i],
                "loss_final": loss[-1],
                "tokens_at_min": float(g["tokens"].iloc[i]),
                "n_evals": len(g),
            }
        )
    per_run = pd.DataFrame(rows, columns=["run", "loss", "loss_final", "tokens_at_min", "n_evals"])
    table = spec.merge(per_run, on="run", how="inner")
    table["epochs"] = table["trained"] / table["D"]
    table["rise_after_min"] = table["loss_final"] / table["loss"] - 1.0
    return table.sort_values(["N", "D"]).reset_index(drop=True)
