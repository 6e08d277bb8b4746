"""Effective data transferred (Hernandez et al. 2021, "Scaling Laws for Transfer", arXiv 2102.01293).

A model pretrained on one distribution and fine-tuned on D_F tokens of another reaches a loss on the
second that a model of the same size trained from scratch would need D_E tokens of it to reach. The
effective data transferred is D_T = D_E − D_F, and their eq. 1.1 fits it as

    D_T = k · D_F^α · N^β        (N: non-embedding parameters).

D_E comes from the from-scratch runs: a law L(N, D) fitted to them (Kaplan et al.'s eq. 1.5 by
default, the form of early-stopped, data-limited runs) is inverted in D at each fine-tuned run's N
and loss (`Law.data_for_loss_of`). Eq. 1.1 is then a linear fit in logs. Its intervals come from one
bootstrap that carries both sources of error: draw b pairs the from-scratch law's draw b (fitted to
the from-scratch runs resampled) with a resample of the fine-tuned runs.

Runs whose fine-tuned loss the from-scratch law never reaches at their N (D_E = ∞) or that lose from
pretraining (D_T ≤ 0, "ossification" in Hernandez et al.) have no log D_T; they are kept in the table
and counted, not fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.api import fit
from lmscale.fit.curves import early_stopped
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.result import FitResult

PARAMS = ("k", "alpha", "beta")
MIN_POINTS = 4  # three coefficients and one degree of freedom


@dataclass(frozen=True, eq=False)
class TransferFit:
    """D_T = k·D_F^α·N^β fitted to fine-tuned runs against a from-scratch law.

    ``params``: k, alpha, beta (point); ``ci``: their percentile intervals over the bootstrap;
    ``rows``: one row per fine-tuned run (N, D_F, loss, D_E, D_T, fraction = D_T/D_E, used,
    beyond_data = D_E above the largest from-scratch D, where the law extrapolates);
    ``scratch``: the from-scratch law; ``rms_log``: rms residual of log D_T."""

    params: dict[str, float]  # NaN when eq. 1.1 could not be fitted (`fitted`; the first warning says why)
    ci: dict[str, tuple[float, float]]
    rows: pd.DataFrame
    scratch: FitResult
    rms_log: float
    n_draws: int
    n_failed: int
    level: float = 0.95
    warnings: tuple[str, ...] = field(default=())

    @property
    def fitted(self) -> bool:
        return bool(np.isfinite(self.params["k"]))

    def predict(self, D_F: Any, N: Any) -> np.ndarray:
        """D_T at fine-tuning data D_F and model size N (broadcasting)."""
        p = self.params
        return p["k"] * np.asarray(D_F, float) ** p["alpha"] * np.asarray(N, float) ** p["beta"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitted": self.fitted,
            "params": self.params,
            "ci": {k: list(v) for k, v in self.ci.items()},
            "level": self.level,
            "rms_log": self.rms_log,
            "n_draws": self.n_draws,
            "n_failed": self.n_failed,
            "warnings": list(self.warnings),
            "rows": self.rows.to_dict(orient="records"),
            "scratch": {"form": self.scratch.form_name, "params": self.scratch.params, "ci": self.scratch.ci},
        }


def transfer_tables(
    runs: pd.DataFrame, curves: pd.DataFrame, where: str = "study"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(from-scratch, fine-tuned) early-stopped tables of a transfer study's runs (one row per run:
    run, N, D = distinct target tokens, loss, tokens_at_min, trained), from its final points (spec columns flattened:
    corpus, unique_tokens, pretrain_corpus, pretrain_tokens) and curves. The pretraining runs
    themselves (trained on another corpus) are left out; one target corpus and one pretraining
    setting are required, so that every loss is of the same distribution and the same kind."""
    for col in ("corpus", "pretrain_corpus", "pretrain_tokens"):
        if col not in runs.columns:
            runs = runs.assign(**{col: None})
    tuned_mask = runs["pretrain_corpus"].notna()
    targets = sorted(set(runs.loc[tuned_mask, "corpus"].astype(str)))
    if not targets:
        raise InputError(f"{where}: no fine-tuning runs (runs with pretrain_corpus set)")
    settings = runs.loc[tuned_mask, ["pretrain_corpus", "pretrain_tokens"]].drop_duplicates()
    if len(targets) > 1 or len(settings) > 1:
        raise InputError(
            f"{where}: fine-tuning runs on {', '.join(targets)} from {len(settings)} pretraining setting(s); "
            "a transfer fit takes one target corpus and one pretraining setting"
        )
    target = targets[0]
    scratch_mask = ~tuned_mask & (runs["corpus"].astype(str) == target)
    table = early_stopped(runs, curves).set_index("run")
    out = []
    for mask in (scratch_mask, tuned_mask):
        ids = [r for r in runs.loc[mask, "run"] if r in table.index]
        out.append(table.loc[ids, ["N", "D", "loss", "tokens_at_min", "trained"]].rename_axis("run").reset_index())
    if out[0].empty:
        raise InputError(f"{where}: no from-scratch runs on {target!r} to measure effective data against")
    return out[0], out[1]


def _runs(df: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in ("N", "D", "loss") if c not in df.columns]
    if missing:
        raise InputError(f"{what} runs: missing column(s) {', '.join(missing)}")
    out = df.copy()
    for c in ("N", "D", "loss"):
        out[c] = pd.to_numeric(out[c], errors="coerce")
    bad = out[~(np.isfinite(out[["N", "D", "loss"]]).all(axis=1) & (out[["N", "D", "loss"]] > 0).all(axis=1))]
    if len(bad):
        where = f"run {bad['run'].iloc[0]}" if "run" in bad else f"row {bad.index[0]}"
        raise InputError(f"{what} runs: {where} has a non-positive or missing N, D or loss")
    return out.reset_index(drop=True)


def _ols(log_d: np.ndarray, log_n: np.ndarray, log_t: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(log k, α, β) of log D_T = log k + α log D_F + β log N, and the rms residual; None when the
    design cannot separate the three (a single D_F or a single N)."""
    x = np.column_stack([np.ones_like(log_d), log_d, log_n])
    if len(log_t) < MIN_POINTS or np.linalg.matrix_rank(x) < 3:
        return None
    coef, *_ = np.linalg.lstsq(x, log_t, rcond=None)
    return coef, float(np.sqrt(np.mean((x @ coef - log_t) ** 2)))


def _design_problem(n: np.ndarray, d: np.ndarray, used: np.ndarray, total: int) -> str | None:
    """Why eq. 1.1 cannot be fitted to the usable runs (None when it can)."""
    if used.sum() >= MIN_POINTS and len(np.unique(n[used])) >= 2 and len(np.unique(d[used])) >= 2:
        return None
    return (
        f"eq. 1.1 not fitted: {int(used.sum())} of {total} fine-tuned run(s) have a finite, positive D_T over "
        f"{len(np.unique(n[used]))} size(s) and {len(np.unique(d[used]))} D_F value(s); it needs "
        f">= {MIN_POINTS} such runs, >= 2 sizes and >= 2 values of D_F"
    )


def fit_transfer(
    scratch: pd.DataFrame,
    finetuned: pd.DataFrame,
    *,
    form: str = "kaplan-nd",
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> TransferFit:
    """Fit D_T = k·D_F^α·N^β. Both tables hold one row per run with N (non-embedding), D (the
    run's distinct tokens of the target distribution: D_F for a fine-tuned run) and loss (its
    early-stopped held-out loss on the target distribution)."""
    scratch, tuned = _runs(scratch, "from-scratch"), _runs(finetuned, "fine-tuned")
    law = fit(scratch, form=form, bootstrap=bootstrap, seed=seed, level=level)
    n, d_f, loss = (tuned[c].to_numpy(float) for c in ("N", "D", "loss"))
    d_e = law.data_for_loss_of(law.theta(), n, loss)[0]
    d_t = d_e - d_f
    used = np.isfinite(d_t) & (d_t > 0)
    with np.errstate(invalid="ignore"):  # ∞/∞ where no D reaches the loss: NaN, not fitted
        rows = tuned.assign(D_F=d_f, D_E=d_e, D_T=d_t, fraction=d_t / d_e, used=used)
    rows["beyond_data"] = d_e > scratch["D"].max()
    rows = rows.drop(columns=["D"])
    problem = _design_problem(n, d_f, used, len(tuned))
    nan = float("nan")
    params, ci, rms, draws = dict.fromkeys(PARAMS, nan), dict.fromkeys(PARAMS, (nan, nan)), nan, np.empty((0, 3))
    point = None if problem else _ols(np.log(d_f[used]), np.log(n[used]), np.log(d_t[used]))
    if problem is None and point is None:
        problem = "eq. 1.1 not fitted: the fitted runs' D_F and N are collinear, so α and β cannot be told apart"
    if point is not None:
        coef, rms = point
        params = {"k": float(np.exp(coef[0])), "alpha": float(coef[1]), "beta": float(coef[2])}
        draws = _bootstrap(law, n, d_f, loss, seed)
        ci = _intervals(draws, level)
    return TransferFit(
        params=params,
        ci=ci,
        rows=rows,
        scratch=law,
        rms_log=rms,
        n_draws=len(draws),
        n_failed=int((~np.all(np.isfinite(draws), axis=1)).sum()),
        level=level,
        warnings=((problem,) if problem else ()) + _warnings(rows, law) + _length_limited(scratch),
    )


def _intervals(draws: np.ndarray, level: float) -> dict[str, tuple[float, float]]:
    """Percentile intervals of k, α, β from draws of (log k, α, β); NaN with fewer than 2 usable."""
    ok = draws[np.all(np.isfinite(draws), axis=1)]
    if len(ok) < 2:
        return dict.fromkeys(PARAMS, (float("nan"), float("nan")))
    lo, hi = percentile_interval(ok, level)
    out = {"k": (float(np.exp(lo[0])), float(np.exp(hi[0])))}
    out.update({name: (float(lo[i]), float(hi[i])) for i, name in ((1, "alpha"), (2, "beta"))})
    return out


def _bootstrap(law: FitResult, n: np.ndarray, d_f: np.ndarray, loss: np.ndarray, seed: int) -> np.ndarray:
    """(S, 3) draws of (log k, α, β): the from-scratch law's draw b inverts a resample of the
    fine-tuned runs; a resample whose design cannot separate the three gives NaN (a failed draw)."""
    if not law.has_draws:
        return np.empty((0, 3))
    d_e = law.data_for_loss_of(law.theta_draws(), n, loss)  # (S, k)
    rng = np.random.default_rng(seed + 1)  # not the scratch bootstrap's stream
    out = np.full((len(d_e), 3), np.nan)
    for b, row in enumerate(d_e):
        pick = rng.integers(0, len(n), len(n))
        d_t = row[pick] - d_f[pick]
        keep = np.isfinite(d_t) & (d_t > 0)
        got = _ols(np.log(d_f[pick][keep]), np.log(n[pick][keep]), np.log(d_t[keep]))
        if got is not None:
            out[b] = got[0]
    return out


def _length_limited(scratch: pd.DataFrame) -> tuple[str, ...]:
    """A warning when most from-scratch runs reach their lowest loss at their last evaluation: no
    early-stopping minimum, so their loss may be limited by training length rather than by data, and
    D_E would then count optimisation steps as well as data (columns from `transfer_tables`)."""
    if not {"tokens_at_min", "trained"} <= set(scratch.columns):
        return ()
    at_end = int((scratch["tokens_at_min"] >= scratch["trained"]).sum())
    if at_end * 2 <= len(scratch):
        return ()
    return (
        f"{at_end} of {len(scratch)} from-scratch runs reach their lowest loss at their last evaluation "
        "(no early-stopping minimum): they may be limited by training length, not by data, and D_E then "
        "measures steps as well as data; train them longer",
    )


def _warnings(rows: pd.DataFrame, law: FitResult) -> tuple[str, ...]:
    out = []
    unreached = int(np.isinf(rows["D_E"]).sum())
    if unreached:
        out.append(
            f"{unreached} fine-tuned run(s) reach a loss the from-scratch law does not reach at their size "
            "by D = 1e30 tokens (D_E = ∞): more than any amount of target data the law describes; not fitted"
        )
    negative = int((np.isfinite(rows["D_T"]) & (rows["D_T"] <= 0)).sum())
    if negative:
        out.append(f"{negative} fine-tuned run(s) lose from pretraining (D_T ≤ 0, ossification): not fitted")
    beyond = int((rows["used"] & rows["beyond_data"]).sum())
    if beyond:
        out.append(
            f"{beyond} of {int(rows['used'].sum())} fitted run(s) have D_E beyond the largest from-scratch D: "
            "their D_E extrapolates the from-scratch law"
        )
    unidentified = [name for name in law.unidentified if name in law.form.names]  # not N_opt at 5.76e23
    if unidentified:
        out.append(f"from-scratch law: {', '.join(unidentified)} not identified")
    return tuple(out)
