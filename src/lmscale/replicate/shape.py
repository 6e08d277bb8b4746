"""Study 2: model shape at fixed N (Kaplan et al. 2020 §3.1, Figure 5).

The `shape` preset trains eleven shapes of ~1e5 non-embedding parameters on 5e6 tokens. They form
three one-factor sweeps around a shared reference (4 layers × d_model 48, d_ff = 4·d_model, the
sweep's default head dimension): depth/width (aspect ratio d_model/n_layer), number of heads at
4×48, and the feed-forward ratio d_ff/d_model at 4 layers. Because N differs slightly between
shapes, each loss is moved to a common N with the L(N) exponent fitted on study "kaplan-cpu", as
Kaplan do with their L(N) baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import FitResult
from lmscale.fit.intervals import percentile_interval
from lmscale.replicate.common import fit_power, param_ci
from lmscale.replicate.context import Context
from lmscale.replicate.criteria import criterion
from lmscale.replicate.result import StudyResult
from lmscale.report.replication import shape as shape_figures

STUDY = "shape"
SCALING_STUDY = "kaplan-cpu"
N_COMMON = 1e5
# "Within 3%", our reading of the paper's "a few percent": the criteria's band, used in the text and figure.
FLAT_PCT = criterion(STUDY, "Aspect ratio").band[1]
PAPER_ASPECT = (20.0, 200.0)  # aspect ratios the paper calls flat (a factor ~10 of its 40x)
MIN_GROUP = 3  # shapes a sweep needs before we judge it
SHAPE_COLS = ("n_layer", "d_model", "n_head", "d_ff")


@dataclass
class Correction:
    """L(N) exponent used to move every loss to N_COMMON, with its bootstrap draws."""

    alpha: float
    draws: np.ndarray  # bootstrap draws of alpha (empty without bootstrap)
    fit: FitResult | None
    note: str


def _shapes(ctx: Context) -> pd.DataFrame:
    runs = ctx.runs(STUDY, min_runs=MIN_GROUP)
    missing = [c for c in SHAPE_COLS if c not in runs.columns]
    if missing:
        raise InputError(f"study {STUDY!r}: runs lack shape column(s) {', '.join(missing)}")
    df = runs[["run", "N", "loss", *SHAPE_COLS]].copy()
    for c in SHAPE_COLS:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df = df.dropna().reset_index(drop=True)
    if len(df) < MIN_GROUP:
        raise InputError(f"study {STUDY!r}: only {len(df)} run(s) with a known shape, need {MIN_GROUP}")
    df["aspect"] = df["d_model"] / df["n_layer"]
    df["ff_ratio"] = df["d_ff"] / df["d_model"]
    df["head_dim"] = df["d_model"] / df["n_head"]
    df["label"] = [
        f"{int(r.n_layer)}×{int(r.d_model)} h{int(r.n_head)} ff{int(r.d_ff)}" for r in df.itertuples()
    ]
    return df


def _correction(ctx: Context) -> Correction:
    """α_N from kaplan-cpu; without that study, no correction (α = 0)."""
    try:
        runs = ctx.runs(SCALING_STUDY, min_runs=3)
        res = fit_power(runs, "N", bootstrap=ctx.bootstrap, seed=ctx.seed, n_jobs=1)
    except (InputError, ValueError, ArithmeticError) as exc:
        return Correction(
            0.0, np.empty(0), None, f"no N correction: L(N) from {SCALING_STUDY!r} unavailable ({exc})"
        )
    alpha = float(res.params["alpha_N"])
    draws = np.empty(0)
    if res.draws is not None:
        draws = res.draws[:, res.form.index("alpha_N")]
    note = (
        f"losses moved to N = 1e5 as L·(N/1e5)^α_N with α_N = {alpha:.3g} fitted on "
        f"{SCALING_STUDY!r} ({len(runs)} sizes)"
    )
    return Correction(alpha, draws[np.isfinite(draws)], res, note)


def _groups(df: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], str]:
    """Split the shapes into the three one-factor sweeps around the shared reference shape."""
    key = ["n_layer", "d_model", "d_ff"]
    default_dim = df["head_dim"].round(6).mode().iloc[0]  # the sweep's default head dimension
    counts = df.groupby(key)["n_head"].nunique()
    if counts.max() >= 2:  # the heads sweep shares n_layer × d_model × d_ff with the reference
        pool = df[(df[key] == pd.Series(counts.idxmax(), index=key)).all(axis=1)]
    else:  # heads sweep not finished: the reference is a 4·d_model shape at the common depth
        pool = df[np.isclose(df["d_ff"], 4 * df["d_model"])]
        pool = pool[pool["n_layer"] == df["n_layer"].mode().iloc[0]] if len(pool) else df
        pool = pool if len(pool) else df
    ref = pool.iloc[int(np.argmin(np.abs(pool["head_dim"] - default_dim)))]
    heads = df[(df[key] == ref[key]).all(axis=1)]
    others = heads.index.difference([ref.name])
    rest = df.drop(index=others)
    depth = rest[np.isclose(rest["d_ff"], 4 * rest["d_model"])]
    ffr = rest[rest["n_layer"] == ref["n_layer"]]
    groups = {
        "aspect": depth.sort_values("aspect"),
        "heads": heads.sort_values("n_head"),
        "ff_ratio": ffr.sort_values("ff_ratio"),
    }
    return groups, str(ref["run"])


def _increase(loss: np.ndarray) -> np.ndarray:
    """Percent above the group's best (rows: draws, columns: shapes)."""
    return 100.0 * (loss / loss.min(axis=-1, keepdims=True) - 1.0)


def _group_table(g: pd.DataFrame, corr: Correction, se: pd.Series, ctx: Context) -> pd.DataFrame:
    loss, n = g["loss"].to_numpy(float), g["N"].to_numpy(float)
    corrected = loss * (n / N_COMMON) ** corr.alpha
    inc = _increase(corrected)
    # Interval: α_N draws and Gaussian eval noise per run (seed noise is not covered: one seed).
    rng = np.random.default_rng(ctx.seed)
    b = max(ctx.bootstrap, 1)
    alphas = corr.draws if corr.draws.size else np.full(b, corr.alpha)
    alphas = rng.choice(alphas, size=b)
    noisy = loss[None, :] + rng.normal(size=(b, len(loss))) * se.loc[g.index].to_numpy(float)[None, :]
    draws = _increase(noisy * (n[None, :] / N_COMMON) ** alphas[:, None])
    lo, hi = percentile_interval(draws) if ctx.bootstrap else (inc * np.nan, inc * np.nan)
    out = g[["run", "label", "n_layer", "d_model", "n_head", "d_ff", "aspect", "ff_ratio", "head_dim", "N"]]
    return out.assign(
        loss=loss, loss_at_1e5=corrected, increase_pct=inc, increase_lo=lo, increase_hi=hi
    ).reset_index(drop=True)


def _fmt_rows(t: pd.DataFrame, x: str) -> str:
    return "; ".join(
        f"{x}={v:.3g}: +{i:.2f}%" + (f" ({lo:.2f}–{h:.2f})" if np.isfinite(lo) and np.isfinite(h) else "")
        for v, i, lo, h in zip(t[x], t["increase_pct"], t["increase_lo"], t["increase_hi"], strict=True)
    )


def _worst(t: pd.DataFrame) -> tuple[float, float, float]:
    """The largest increase over the best shape, with an interval from the shapes' own intervals
    (bounds of the maximum: the largest lower and the largest upper bound); NaN without shapes."""
    if len(t) == 0:
        return float("nan"), float("nan"), float("nan")
    return float(t["increase_pct"].max()), float(t["increase_lo"].max()), float(t["increase_hi"].max())


def _aspect_finding(t: pd.DataFrame, numbers: dict, res: StudyResult) -> None:
    within = t[t["increase_pct"] <= FLAT_PCT]["aspect"]
    in_range = t[(t["aspect"] >= PAPER_ASPECT[0]) & (t["aspect"] <= PAPER_ASPECT[1])]
    inc = in_range["increase_pct"].to_numpy(float)
    # Fewer than two shapes in the paper's range test nothing: NaN makes the verdict inconclusive.
    stat = _worst(in_range) if len(in_range) >= 2 else (float("nan"),) * 3
    lo, hi = float(within.min()), float(within.max())
    numbers["aspect"] = {
        "within_3pct_range": [lo, hi],
        "within_3pct_factor": hi / lo,
        "covered_paper_range": in_range["aspect"].tolist(),
        "max_increase_in_paper_range_pct": list(stat),
        "swept_range": [float(t["aspect"].min()), float(t["aspect"].max())],
    }
    ours = (
        f"loss above the depth sweep's best (at N = 1e5): {_fmt_rows(t, 'aspect')}. Within "
        f"{FLAT_PCT:g}% of the best for aspect ratio {lo:.3g}–{hi:.3g} (a factor {hi / lo:.3g}). Our "
        f"sweep covers the paper's 20–200 range only at {', '.join(f'{a:.3g}' for a in in_range['aspect'])}; "
        f"the shapes there are at most +{inc.max() if len(inc) else float('nan'):.2f}%."
    )
    best = t.iloc[int(np.argmin(t["increase_pct"]))]
    span = f"our sweep covers only aspect {', '.join(f'{a:.3g}' for a in in_range['aspect'])} of the paper's 20–200"
    if len(in_range) < 2:
        why = f"{span}: fewer than 2 shapes to compare, so the claim is not tested"
    else:
        worst = in_range.iloc[int(np.argmax(in_range["increase_pct"]))]
        why = (
            f"the best shape is aspect {best['aspect']:.3g} ({best['label']}) and aspect {worst['aspect']:.3g} "
            f"({worst['label']}) is {worst['increase_pct']:.1f}% worse. At N ~ 1e5 a wide shape has only 1–2 "
            "layers, far below the paper's model sizes; one seed per shape, byte-level data, context 128 and "
            "an untuned LR rule 0.06·N^-0.25 shared by every shape, which may suit some depths better; "
            f"{span} (a factor {in_range['aspect'].max() / in_range['aspect'].min():.3g}, not 40)"
        )
    res.judge(
        "Aspect ratio",
        *stat,
        paper=(
            "Kaplan §3.1, Fig. 5: at fixed N the loss varies only a few percent with aspect ratio "
            "d_model/n_layer over a factor ~40 (roughly 20–200)."
        ),
        ours=ours,
        why=why,
        figure="shape",
    )


def _factor_finding(
    key: str, t: pd.DataFrame, x: str, what: str, paper: str, numbers: dict, res: StudyResult
) -> None:
    inc = t["increase_pct"].to_numpy(float)
    within = t[t["increase_pct"] <= FLAT_PCT][x]
    worst_increase = _worst(t)
    numbers[key] = {
        "max_increase_pct": list(worst_increase),
        "within_3pct_range": [float(within.min()), float(within.max())],
        "swept_range": [float(t[x].min()), float(t[x].max())],
    }
    worst = t.iloc[int(np.argmax(inc))]
    res.judge(
        key,
        *worst_increase,
        paper=paper,
        ours=(
            f"loss above the sweep's best (at N = 1e5): {_fmt_rows(t, x)}; within {FLAT_PCT:g}% for "
            f"{what} {within.min():.3g}–{within.max():.3g} (swept {t[x].min():.3g}–{t[x].max():.3g})."
        ),
        why=(
            f"the worst shape ({what} {worst[x]:.3g}, +{worst['increase_pct']:.2f}%) is an extreme of our "
            "sweep at N ~ 1e5, where d_model is only 36–64; one seed each, "
            "byte-level data, untuned shared LR rule."
        ),
        figure="shape",
    )


def analyse_shape(ctx: Context) -> StudyResult:
    df = _shapes(ctx)
    corr = _correction(ctx)
    se = ctx.eval_se(STUDY, df["run"])
    groups, ref = _groups(df)
    res = StudyResult(study="shape", title="2. Model shape at fixed N (Kaplan §3.1, Figure 5)")
    res.notes.append(corr.note)
    tables: dict[str, pd.DataFrame] = {}
    for name, g in groups.items():
        if len(g) < MIN_GROUP:
            res.notes.append(
                f"sweep {name!r}: only {len(g)} finished shape(s), needs {MIN_GROUP}: not judged"
            )
            continue
        tables[name] = _group_table(g, corr, se, ctx)
    if not tables:
        raise InputError(f"study {STUDY!r}: no sweep has {MIN_GROUP} finished shapes yet")
    numbers: dict = {
        "n_shapes": len(df),
        "reference_run": ref,
        "N_range": [float(df["N"].min()), float(df["N"].max())],
        "alpha_N_correction": corr.alpha,
    }
    if corr.fit is not None:
        numbers["alpha_N_ci"] = list(param_ci(corr.fit, "alpha_N")[1:])
    if "aspect" in tables:
        _aspect_finding(tables["aspect"], numbers, res)
    if "heads" in tables:
        _factor_finding(
            "Number of heads",
            tables["heads"],
            "n_head",
            "n_head",
            "Kaplan §3.1, Fig. 5: the number of attention heads (head dimension d_model/n_head) at fixed "
            "N changes the loss by only a few percent.",
            numbers,
            res,
        )
    if "ff_ratio" in tables:
        _factor_finding(
            "Feed-forward ratio",
            tables["ff_ratio"],
            "ff_ratio",
            "d_ff/d_model",
            "Kaplan §3.1, Fig. 5: the feed-forward ratio d_ff/d_model at fixed N changes the loss by only "
            "a few percent.",
            numbers,
            res,
        )
    _noise_notes(res, df, se, corr, tables, numbers)
    for name, t in tables.items():
        numbers.setdefault(name, {})["increase_pct"] = dict(
            zip(t["label"], t["increase_pct"].round(4), strict=True)
        )
    res.numbers = numbers
    res.tables = {"shape_" + k: v for k, v in tables.items()}
    res.figures["shape"] = shape_figures.shape(tables, FLAT_PCT, PAPER_ASPECT)
    return res


def _noise_notes(
    res: StudyResult,
    df: pd.DataFrame,
    se: pd.Series,
    corr: Correction,
    tables: dict[str, pd.DataFrame],
    numbers: dict,
) -> None:
    """What noise the percentages carry: eval noise is measured, seed noise only bounded."""
    rel_se = float(np.nanmedian(se / df["loss"])) * 100
    resid = np.nan
    if corr.fit is not None and corr.fit.residual_log is not None:
        resid = float(np.sqrt(np.mean(np.square(corr.fit.residual_log)))) * 100
    spread = {k: float(t["increase_pct"].max()) for k, t in tables.items()}
    numbers["noise"] = {
        "eval_se_pct_median": rel_se,
        "kaplan_cpu_LN_residual_rms_pct": resid,
        "max_increase_pct_by_sweep": spread,
    }
    res.notes.append(
        f"Noise: one seed per shape, so seed-to-seed noise is not measured. The eval noise (finite eval "
        f"tokens) is ~{rel_se:.2f}% of the loss (median SE); the RMS scatter of the {SCALING_STUDY!r} runs "
        f"about their L(N) fit is {resid:.2f}% — an upper bound on run-to-run noise that also contains shape "
        f"and misfit. Differences between shapes below ~{resid:.1f}% are within that scatter; the intervals "
        "cover the α_N uncertainty and eval noise only."
    )
