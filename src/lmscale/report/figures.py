"""The report's figures. Each builder takes the Analysis and returns a Figure plus the data behind it,
or raises InputError saying why the data cannot support it (the report then lists it as skipped)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lmscale.errors import InputError
from lmscale.fit import get_law
from lmscale.fit.compute_optimal import ComputeOptimal
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.shift import fit_shift
from lmscale.report import headline
from lmscale.report.analysis import Analysis
from lmscale.report.identify import flags
from lmscale.report.style import (
    APPROACH_COLORS,
    FIT_COLOR,
    PUBLISHED_COLORS,
    SizeColors,
    log_span,
    new_figure,
)
from lmscale.report.summary import fmt

# Published laws that can be overlaid, by the name users pass, and what each panel uses.
OVERLAYS = ("kaplan2020", "hoffmann2022", "epoch2024")


@dataclass
class FigureSpec:
    key: str  # file stem and HTML anchor
    title: str
    caption: str
    figure: Figure
    data: pd.DataFrame  # the numbers plotted, offered as CSV


def _colors(a: Analysis) -> SizeColors:
    n = a.data.runs["N"].to_numpy(float) if len(a.data.runs) else np.array([1.0])
    if a.data.curves is not None:
        n = np.concatenate([n, a.data.curves["N"].to_numpy(float)])
    return SizeColors.for_values(n)


def loglog_axes(ax, xlabel: str, ylabel: str = "loss (nats/token)", plain_loss: bool = True) -> None:
    """Log-log axes with their labels; an axis whose label names a loss gets plain tick labels, unless
    ``plain_loss`` is False (a label that names a loss on an axis of something else)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    # Losses span less than a decade: plain numbers (2.5, 3), not 3×10⁰.
    for axis, label in ((ax.xaxis, xlabel), (ax.yaxis, ylabel)):
        if plain_loss and "loss" in label:
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)


def _band(ax, x, draws: np.ndarray, color: str, label: str | None = None, level: float = 0.95) -> None:
    lo, hi = percentile_interval(draws, level)
    ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0, label=label)


# ---------------------------------------------------------------------------------------------------------
def learning_curves(a: Analysis) -> FigureSpec:
    cur = a.data.curves
    if cur is None:
        raise InputError("the input has no learning curves")
    col = _colors(a)
    fig, (ax_t, ax_c) = new_figure(2, width=5.0)
    for _run, g in cur.groupby("run", sort=False):
        c = col(g["N"].iloc[0])
        ax_t.plot(g["tokens"], g["loss"], color=c, lw=1.2)
        ax_c.plot(g["C"], g["loss"], color=c, lw=1.2)
    loglog_axes(ax_t, "tokens seen D")
    loglog_axes(ax_c, "training compute C (FLOPs)")
    caption = "Eval loss along each run, coloured by model size N (Kaplan et al. 2020, Figs. 2 and 4)."
    data = cur[["run", "N", "tokens", "C", "loss"]].copy()
    fr = a.frontier
    if fr is not None:
        env = fr.envelope[fr.envelope["used"]]
        ax_c.plot(env["C"], env["loss"], "k.", ms=4, label="compute-efficient frontier")
        cg = log_span(env["C"])
        alpha = fr.alpha_C
        ax_c.plot(
            cg, fr.predict(C=cg), "--", color=FIT_COLOR, lw=1.6, label=f"L(C_min) = (C_c/C)^{alpha:.3f}"
        )
        ax_c.legend(fontsize=8, loc="upper right")
        lo, hi = fr.ci.get("alpha_C", (np.nan, np.nan))
        kaplan = get_law("kaplan2020-c").params["alpha_C"]
        caption += (
            f" Right: the lower envelope of all curves (black, {len(env)} grid points where an interior size "
            f"attains it) and its fit L(C_min) = (C_c/C)^α_C with α_C = {alpha:.3f} "
            f"(95% CI {lo:.3f}–{hi:.3f}; Kaplan: {kaplan:.3f})."
        )
        data = pd.concat([data, env[["C", "loss"]].assign(run="frontier")], ignore_index=True)
    col.colorbar(fig, [ax_t, ax_c])
    return FigureSpec("learning_curves", "Learning curves", caption, fig, data)


def _published_single(name: str, x: str, grid: np.ndarray) -> np.ndarray | None:
    """A published law along one variable: Kaplan's own L(N)/L(D)/L(C); Chinchilla laws at the limit."""
    if name == "kaplan2020":
        return get_law(f"kaplan2020-{x.lower()}").predict(**{x: grid})
    law = get_law(name)
    p = law.params
    if x == "N":
        return p["E"] + p["A"] / grid ** p["alpha"]  # D → ∞
    if x == "D":
        return p["E"] + p["B"] / grid ** p["beta"]  # N → ∞
    n, d = law.optimal(grid)
    return law.predict(N=n, D=d)  # the compute-optimal loss at C


def single_laws(a: Analysis, overlays: tuple[str, ...] = ()) -> FigureSpec:
    runs = a.data.runs
    if not a.single:
        raise InputError(
            "none of L(N), L(D), L(C) could be fitted: "
            + "; ".join(a.skipped.get(f"L({x}) fit", "") for x in "NDC")
        )
    col = _colors(a)
    fig, axes = new_figure(3, width=4.3)
    names = {"N": "parameters N", "D": "tokens D", "C": "training compute C (FLOPs)"}
    frames, notes = [], []
    for ax, x in zip(axes, ("N", "D", "C"), strict=True):
        ax.scatter(runs[x], runs["loss"], s=10, c=col(runs["N"]), alpha=0.35, lw=0)
        pts = a.single_points.get(x)
        if pts is not None and len(pts):
            ax.scatter(pts[x], pts["loss"], s=22, facecolor="none", edgecolor="k", lw=0.8, label="envelope")
            frames.append(pts[["run", "N", "D", "C", "loss"]].assign(panel=f"L({x}) envelope"))
        grid = log_span(runs[x])
        res = a.single.get(x)
        if res is not None:
            p = res.params
            ax.plot(
                grid,
                res.predict(**{x: grid}),
                color=FIT_COLOR,
                lw=1.8,
                label=f"fit: ({x}_c/{x})^{p[f'alpha_{x}']:.3f}",
            )
            lo, hi = res.ci.get(f"alpha_{x}", (np.nan, np.nan))
            notes.append(f"α_{x} = {p[f'alpha_{x}']:.3f} (95% CI {lo:.3f}–{hi:.3f})")
        else:
            ax.text(
                0.5,
                0.9,
                "no fit: " + a.skipped.get(f"L({x}) fit", "")[:60],
                transform=ax.transAxes,
                ha="center",
                fontsize=7,
                wrap=True,
            )
        for name in overlays:
            y = _published_single(name, x, grid)
            if y is not None:
                ax.plot(grid, y, ":", color=PUBLISHED_COLORS.get(name, "#555"), lw=1.5, label=name)
        loglog_axes(ax, names[x])
        ax.set_title(f"L({x})", fontsize=10)
        ax.legend(fontsize=7)
    col.colorbar(fig, list(axes))
    caption = (
        "Final loss of every run (dots, coloured by N) against each resource. Circled: the envelope, the runs "
        "that beat every run with less of that resource; Kaplan's power law L = (X_c/X)^α_X is fitted to it "
        "(Huber loss in log space, bootstrap over envelope points). " + "; ".join(notes) + "."
    )
    if overlays:
        caption += (
            " Dotted: published laws (" + ", ".join(overlays) + "); Chinchilla laws are drawn at D→∞ (L(N)), "
            "N→∞ (L(D)) and at the compute-optimal allocation (L(C)). Published laws were fitted on other "
            "data and tokenizers, so only slopes are comparable."
        )
    return FigureSpec("single_laws", "L(N), L(D), L(C)", caption, fig, pd.concat(frames, ignore_index=True))


def lnd_surface(a: Analysis) -> FigureSpec:
    res = a.main
    if res is None:
        raise InputError(a.skipped.get("L(N, D) fit", "no L(N, D) fit"))
    runs = a.data.runs
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=6.5, height=4.4)
    ax.scatter(runs["D"], runs["loss"], s=14, c=col(runs["N"]), lw=0)
    d_grid = log_span(runs["D"])
    n_vals = np.unique(runs["N"])
    if len(n_vals) > 7:
        n_vals = np.geomspace(n_vals.min(), n_vals.max(), 7)
    rows = []
    for n in n_vals:
        y = res.predict(N=n, D=d_grid)
        ax.plot(d_grid, y, color=col(n), lw=1.3)
        rows.append(pd.DataFrame({"N": n, "D": d_grid, "loss_fit": y}))
    loglog_axes(ax, "tokens D")
    col.colorbar(fig, ax)
    p = res.params
    caption = (
        f"Loss against tokens, one colour per model size; lines are the fitted surface "
        f"L(N, D) = {p['E']:.3g} + {p['A']:.3g}/N^{p['alpha']:.3f} + {p['B']:.3g}/D^{p['beta']:.3f} "
        "(Hoffmann et al. 2022, approach 3) at the sizes shown. A curve flattening at large D means the "
        "model size, not data, limits the loss."
    )
    data = pd.concat([runs[["run", "N", "D", "loss"]], *rows], ignore_index=True)
    return FigureSpec("lnd_surface", "L(N, D): loss vs data per model size", caption, fig, data)


def draw_isoflop(ax, co: ComputeOptimal, colors: SizeColors) -> pd.DataFrame:
    """Approach 2's runs (coloured by N), each budget's parabola (grey where the budget is excluded)
    and its minimum (star); returns the parabolas drawn."""
    pts = co.points
    ax.scatter(pts["N"], pts["loss"], s=16, c=colors(pts["N"]), lw=0)
    curves = co.parabolas()
    for _, g in curves.groupby("C"):
        ax.plot(g["N"], g["loss"], color="k" if g["used"].iloc[0] else "#aaa", lw=1, alpha=0.8)
    used = co.table[co.table["used"]]
    ax.plot(used["N_opt"], used["loss_opt"], "*", color=FIT_COLOR, ms=10, mec="k", mew=0.5, ls="none")
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    return curves


def isoflop(a: Analysis) -> FigureSpec:
    co = a.approach2
    if co is None or co.points is None:
        raise InputError(a.skipped.get("IsoFLOP profiles", "no IsoFLOP profiles"))
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=6.5, height=4.4)
    curves = draw_isoflop(ax, co, col)
    ax.set_ylabel("final loss (nats/token)")
    col.colorbar(fig, ax)
    n_used = int(co.table["used"].sum())
    caption = (
        f"IsoFLOP profiles (Hoffmann et al. 2022, approach 2): runs grouped into {len(co.table)} compute budgets, "
        f"a parabola in log N fitted to each (robust Huber) over the runs nearest its minimum and drawn over them, its "
        f"minimum (star) taken as N_opt. {n_used} budgets "
        "have a usable minimum (grey: excluded)."
    )
    parabolas = curves.drop(columns="used").rename(columns={"C": "budget", "loss": "loss_parabola"})
    data = pd.concat([co.points, parabolas], ignore_index=True)
    return FigureSpec("isoflop", "IsoFLOP profiles", caption, fig, data)


def draw_allocation(
    co: ComputeOptimal, grid: np.ndarray, color: str, label: str, ax_n, ax_d=None
) -> tuple[np.ndarray, np.ndarray]:
    """Approach 1 or 2 on N_opt(C) (and D_opt(C) when ax_d is given): the measured minima, the fitted
    line over ``grid`` and its bootstrap band; returns the line's (N_opt, D_opt)."""
    used = co.table[co.table["used"]]
    n_opt, d_opt = co.optimal(grid)
    draws = co.optimal_draws(grid) if co.N_opt.n_draws > 1 else None
    panels = ((ax_n, "N", n_opt, co.a, "N_opt"), (ax_d, "D", d_opt, co.b, "D_opt"))
    for i, (ax, name, line, exponent, column) in enumerate(panels):
        if ax is None:
            continue
        ax.plot(used["C"], used[column], "o", color=color, ms=5, label=f"{label} minima" if i == 0 else None)
        ax.plot(grid, line, "--", color=color, lw=1.2, label=f"{label}: {name} ∝ C^{exponent:.2f}")
        if draws is not None:
            _band(ax, grid, draws[i], color, level=co.level)
    return n_opt, d_opt


def _target_estimates(a: Analysis) -> tuple[str, list[tuple[float, float, float]]]:
    """The marker at the target: the allocation the summary quotes (the headline method's where there is
    one, else approach 3's), as its label and (value, low, high) for N_opt and D_opt."""
    if a.headline is not None and a.headline.target is not None:
        t = a.headline.target
        est = [(t[k], *t["ci"].get(k, (np.nan, np.nan))) for k in ("N_opt", "D_opt")]
        return f"headline, {headline.label(a.headline_name)} (95% CI)", est
    if a.allocation is None:
        return "", []
    est = [(e.value, e.low, e.high) if e.has_interval else (e.value, np.nan, np.nan) for e in (a.allocation.N_opt, a.allocation.D_opt)]
    return "approach 3 at the target (95% CI)", est


def optimal_allocation(a: Analysis) -> FigureSpec:
    res, co2, co1 = a.main, a.approach2, a.approach1
    if res is None and co2 is None and co1 is None:
        raise InputError("neither an L(N, D) fit nor IsoFLOP profiles nor approach 1 are available")
    runs = a.data.runs
    grid = log_span(runs["C"], extend_to=a.target_flops)
    fig, (ax_n, ax_d) = new_figure(2, width=5.0)
    out = pd.DataFrame({"C": grid})
    if res is not None:
        n, d = res.optimal(grid)
        ax_n.plot(grid, n, color=FIT_COLOR, lw=1.8, label="approach 3 (L(N, D) fit)")
        ax_d.plot(grid, d, color=FIT_COLOR, lw=1.8, label="approach 3 (L(N, D) fit)")
        out["N_opt_a3"], out["D_opt_a3"] = n, d
        if res.has_draws:
            bn, bd = res.optimal_of(res.theta_draws(), grid[None, :])
            _band(ax_n, grid, bn, FIT_COLOR, "95% CI", res.level)
            _band(ax_d, grid, bd, FIT_COLOR, "95% CI", res.level)
            for k, v in (("N", bn), ("D", bd)):
                out[f"{k}_opt_a3_low"], out[f"{k}_opt_a3_high"] = percentile_interval(v, res.level)
    for co, colr, lab in ((co2, APPROACH_COLORS[2], "approach 2"), (co1, APPROACH_COLORS[1], "approach 1")):
        if co is not None:
            n_opt, d_opt = draw_allocation(co, grid, colr, lab, ax_n, ax_d)
            out[f"N_opt_{lab.replace(' ', '')}"], out[f"D_opt_{lab.replace(' ', '')}"] = n_opt, d_opt
    marker, estimates = _target_estimates(a)
    for ax, (value, low, high) in zip((ax_n, ax_d), estimates, strict=False):
        yerr = [[value - low], [high - value]] if np.isfinite(low) and np.isfinite(high) else None
        ax.errorbar([a.target_flops], [value], yerr=yerr, fmt="D", color="k", ms=5, capsize=3, label=marker)
    for ax in (ax_n, ax_d):
        ax.axvline(a.target_flops, color="k", ls=":", lw=1)
        ax.axvspan(runs["C"].max(), grid.max(), color="#eee", zorder=0)
    loglog_axes(ax_n, "training compute C (FLOPs)", "N_opt (parameters)")
    loglog_axes(ax_d, "training compute C (FLOPs)", "D_opt (tokens)")
    ax_n.legend(fontsize=7)
    caption = (
        "Compute-optimal model size and data against compute, with 95% bootstrap confidence bands, extrapolated "
        f"(shaded background) to the target budget (dotted line, {fmt(a.target_flops)} FLOPs). Approach 3 derives "
        "N_opt = G·(C/6)^a, D_opt = G⁻¹·(C/6)^b with a = β/(α+β) from the L(N, D) fit; approaches 1 and 2 "
        "regress the measured optima on C."
    )
    if a.headline is not None:
        caption += f" The diamond at the target is the allocation the summary quotes, from {headline.label(a.headline_name)}."
    elif flags(res, a.target_flops).optimum:
        caption += (
            " The L(N, D) fit does not identify the optimum at the target (see the summary): "
            "its marker there is no recommendation."
        )
    return FigureSpec("optimal_allocation", "Compute-optimal N and D", caption, fig, out)


def backtest_figure(a: Analysis) -> FigureSpec:
    bt = a.backtest
    if bt is None:
        raise InputError(a.skipped.get("backtest", "no backtest"))
    t = bt.table
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=5.6, height=4.4)
    has_pi = t["pi_low"].notna().all()
    if has_pi:
        yerr = np.vstack([t["loss_pred"] - t["pi_low"], t["pi_high"] - t["loss_pred"]])
        ax.errorbar(t["loss"], t["loss_pred"], yerr=np.clip(yerr, 0, None), fmt="none", ecolor="#888", lw=0.8)
    ax.scatter(t["loss"], t["loss_pred"], c=col(t["N"]), s=24, zorder=3, edgecolor="k", lw=0.3)
    lo = float(min(t["loss"].min(), t["loss_pred"].min(), t.get("pi_low", t["loss"]).min()))
    hi = float(max(t["loss"].max(), t["loss_pred"].max(), t.get("pi_high", t["loss"]).max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("actual loss of held-out run")
    ax.set_ylabel("predicted loss")
    col.colorbar(fig, ax)
    s = bt.summary()
    caption = (
        f"Backtest: the L(N, D) law refitted on the {s['n_train']} runs with C ≤ {fmt(bt.cutoff)} FLOPs predicts the "
        f"{s['n_test']} larger runs. Mean |error| {100 * s['mean_abs_rel_error']:.2f}%, max "
        f"{100 * s['max_abs_rel_error']:.2f}%."
    )
    if has_pi:
        caption += (
            f" Bars: 95% prediction intervals (bootstrap + residual noise); "
            f"{100 * s['pi_coverage']:.0f}% of held-out runs fall inside."
        )
    return FigureSpec("backtest", "Backtest on held-out larger runs", caption, fig, t.copy())


def residuals(a: Analysis) -> FigureSpec:
    fits = [("L(N, D)", a.main, "C")] if a.main is not None else []
    fits += [(f"L({x})", r, x) for x, r in a.single.items()]
    if not fits:
        raise InputError("no fit to show residuals of")
    col = _colors(a)
    fig, axes = new_figure(len(fits), width=3.6, height=3.2)
    frames = []
    for ax, (label, res, x) in zip(axes, fits, strict=True):
        t = res.residuals.copy()
        if "N" not in t.columns and "run" in t.columns:
            t = t.merge(a.data.runs[["run", "N"]], on="run", how="left")
        if x not in t.columns:
            t[x] = 6.0 * t["N"] * t["D"]
        colors = col(t["N"]) if "N" in t.columns else "k"
        ax.scatter(t[x], t["log_residual"], c=colors, s=12, lw=0)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_title(f"{label}: rms {np.sqrt(np.mean(t['log_residual'] ** 2)):.4f}", fontsize=9)
        frames.append(t.assign(fit=label))
    axes[0].set_ylabel("log(pred) − log(actual)")
    caption = "Residuals of each fit in log space (positive: the law over-predicts the loss). Structure along x means the form misses a trend."
    return FigureSpec("residuals", "Residuals", caption, fig, pd.concat(frames, ignore_index=True))


def critical_batch(a: Analysis) -> FigureSpec:
    bs = a.batch
    if bs is None:
        raise InputError(a.skipped.get("critical batch size", "no batch-size sweep"))
    t = bs.table[np.isfinite(bs.table["B_crit"]) & (bs.table["B_crit"] > 0)]
    if len(t) < 2:
        raise InputError("the batch-size sweep gives fewer than 2 critical batch sizes")
    fig, (ax,) = new_figure(1, width=5.6, height=4.2)
    ax.plot(t["loss"], t["B_crit"], "o", color="k", label="B_crit = E_min/S_min")
    caption = "Critical batch size per target loss from runs that differ only in batch size (Kaplan et al. 2020, §5.1)."
    try:
        f = bs.fit_bcrit(bootstrap=a.bootstrap)
        g = log_span(t["loss"])
        ax.plot(g, f.predict(g), color=FIT_COLOR, label=f"B*/L^(1/{f.alpha_B:.3g})")
        kaplan = get_law("kaplan2020-bcrit")
        lo, hi = f.ci["alpha_B"]
        spread = f" ({round(100 * f.level)}% interval {lo:.3g}–{hi:.3g}, runs resampled)" if f.bootstrap else ""
        caption += (
            f" Fit: B* = {f.B_star:.3g} tokens, α_B = {f.alpha_B:.3g}{spread} "
            f"(Kaplan: {kaplan.B_star:.3g}, {kaplan.alpha_B:.3g})."
        )
    except InputError as exc:
        caption += f" No fit: {exc}."
    loglog_axes(ax, "loss", "B_crit (tokens)")
    ax.legend(fontsize=8)
    return FigureSpec("critical_batch", "Critical batch size", caption, fig, bs.table.copy())


#: Runs whose N and D are within this ratio of a neighbour's count as one shape comparison.
SHAPE_TOLERANCE = 1.1


def _chain(values: pd.Series, ratio: float) -> pd.Series:
    """Group labels: sorted values join a group while each is within ``ratio`` of the previous one."""
    order = values.astype(float).sort_values()
    labels = np.cumsum(np.r_[0, np.diff(np.log(order.to_numpy())) > np.log(ratio)])
    return pd.Series(labels, index=order.index).reindex(values.index)


def shape_study(a: Analysis) -> FigureSpec:
    runs = a.data.runs
    if not {"n_layer", "d_model"} <= set(runs.columns):
        raise InputError("the runs have no shape columns (n_layer, d_model)")
    df = runs.dropna(subset=["n_layer", "d_model"]).copy()
    df["aspect"] = df["d_model"].astype(float) / df["n_layer"].astype(float)
    # A shape comparison holds N and D (nearly) fixed: runs chained within 10% in N, then in D, form a group.
    df["g_n"] = _chain(df["N"], SHAPE_TOLERANCE)
    g_d = df.groupby("g_n", group_keys=False)["D"].apply(lambda d: _chain(d, SHAPE_TOLERANCE))
    df["group"] = g_d.astype(str) + "/" + df["g_n"].astype(str)
    groups = [g for _, g in df.groupby("group") if g["aspect"].nunique() >= 3]
    if not groups:
        raise InputError(
            "no (N, D) pair (within 10%) was trained at 3 or more aspect ratios (d_model/n_layer)"
        )
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=5.6, height=4.2)
    for g in groups:
        g = g.sort_values("aspect")
        ax.plot(
            g["aspect"],
            g["loss"],
            "o-",
            color=col(g["N"].median()),
            label=f"N ≈ {g['N'].median():.2g}, D ≈ {g['D'].median():.2g}",
        )
    ax.set_xscale("log")
    ax.set_xlabel("aspect ratio d_model / n_layer")
    ax.set_ylabel("final loss")
    ax.legend(fontsize=8)
    caption = "Loss against aspect ratio at (nearly) fixed N and D (Kaplan et al. 2020, Fig. 5: shape matters little)."
    data = pd.concat(groups)[["run", "N", "D", "n_layer", "d_model", "aspect", "loss"]]
    return FigureSpec("shape", "Shape study", caption, fig, data)


def transfer(a: Analysis) -> FigureSpec:
    ev = a.data.evals
    if ev is None or len(ev) == 0:
        raise InputError("no per-distribution evaluations in the input")
    runs = a.data.runs.set_index("run")
    wide = ev.pivot_table(index="run", columns="eval_set", values="loss", aggfunc="last")
    wide = wide[wide.index.isin(runs.index)]
    primary = runs.loc[wide.index, "loss"]
    others = [c for c in wide.columns if not np.allclose(wide[c], primary, rtol=1e-9, equal_nan=True)]
    if not others or len(wide) < 2:
        raise InputError("no evaluation set other than the training distribution")
    fig, (ax,) = new_figure(1, width=5.6, height=4.2)
    markers = "osd^v<>"
    lo, hi = float(primary.min()), float(primary.max())
    xs = np.linspace(lo, hi, 50)
    slopes = []
    for i, c in enumerate(others):
        (points,) = ax.plot(primary, wide[c], markers[i % len(markers)], label=str(c))
        pairs = pd.DataFrame({"run": wide.index, "train": primary.to_numpy(), "other": wide[c].to_numpy()}).dropna()
        if pairs["train"].nunique() >= 2:
            line = fit_shift(pairs, "train", "other", bootstrap=a.bootstrap, seed=0)
            ax.plot(xs, line.predict(xs), "-", color=points.get_color(), lw=1)
            b_lo, b_hi = line.ci["b"]
            band = f" (95% interval {b_lo:.2f}–{b_hi:.2f}, resampling runs)" if np.isfinite(b_lo) else ""
            slopes.append(f"{c}: slope b = {line.b:.2f}{band}")
    ax.plot([lo, hi], [lo, hi], "k:", lw=0.8, label="same loss")
    loglog_axes(ax, "loss on the training distribution", "loss on other distribution")
    ax.legend(fontsize=8)
    caption = (
        "Transfer: loss on other distributions against in-distribution loss, one point per run, with the line "
        "L_other = a + b·L_train fitted to each set. Kaplan et al. (2020, §3.2.2, Fig. 8) find a roughly "
        "constant offset (b near 1): transfer improves with in-distribution loss."
    )
    if slopes:
        caption += " " + "; ".join(slopes) + "."
    data = wide.assign(train_loss=primary).reset_index()
    return FigureSpec("transfer", "Transfer to other distributions", caption, fig, data)


def position_loss(a: Analysis) -> FigureSpec:
    pl = a.data.position_loss
    if pl is None or len(pl) == 0:
        raise InputError("no per-token-position loss in the input")
    runs = a.data.runs.set_index("run")
    pl = pl[pl["run"].isin(runs.index)]
    if len(pl) == 0:
        raise InputError("per-position loss only for runs that are not in the report")
    first = sorted(pl["eval_set"].astype(str).unique())[0]
    pl = pl[pl["eval_set"].astype(str) == first]
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=5.8, height=4.2)
    for run, g in pl.groupby("run"):
        g = g.sort_values("position")
        ax.plot(g["position"] + 1, g["loss"], color=col(runs.loc[run, "N"]), lw=1)
    loglog_axes(ax, "token position in context (1-based)")
    col.colorbar(fig, ax)
    caption = (
        f"Loss per token position on eval set {first!r}, one line per run (Kaplan et al. 2020, Fig. 20): "
        "later tokens are easier; larger models gain more at long range."
    )
    return FigureSpec("position_loss", "Per-token-position loss", caption, fig, pl.copy())


def schedule_figure(a: Analysis) -> FigureSpec:
    """Final losses the annealing law predicted against those observed: each size's longest run from
    its first 30%, and (when the study has both) cosine runs from WSD or constant-rate runs."""
    from lmscale.fit.schedule_backtest import error_summary

    if a.schedule is None:
        raise InputError(a.skipped.get("schedule-aware law", "no schedule-aware fit"))
    parts = {k: a.schedule[k].dropna(subset=["predicted"]) for k in ("early", "cross") if k in a.schedule}
    parts = {k: t for k, t in parts.items() if len(t)}
    if not parts:
        raise InputError("the schedule-aware law predicted no run (too few curve rows after warmup)")
    from lmscale.fit.schedule_backtest import EARLY_FRACTION

    labels = {
        "early": f"longest run per size, from its first {EARLY_FRACTION:.0%}",
        "cross": "cosine runs, from WSD/constant runs",
    }
    col = _colors(a)
    fig, (ax,) = new_figure(1, width=5.6, height=4.4)
    for (key, t), marker in zip(parts.items(), ("o", "s"), strict=False):
        ax.scatter(t["observed"], t["predicted"], c=col(t["N"]), marker=marker, s=26, edgecolor="k", lw=0.3, label=labels[key], zorder=3)
    both = pd.concat(parts.values())
    lo, hi = float(both[["observed", "predicted"]].min().min()), float(both[["observed", "predicted"]].max().max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("observed final loss")
    ax.set_ylabel("predicted by L0 + A·S1^-α − C·S2")
    ax.legend(fontsize=7, loc="upper left")
    col.colorbar(fig, ax)
    words = [
        f"{labels[k]}: {s['predicted']} of {s['runs']} predicted, mean |error| {100 * s['mean_abs_rel_error']:.1f}%, "
        f"worst {100 * s['max_abs_rel_error']:.1f}%"
        for k, s in ((k, error_summary(a.schedule[k])) for k in parts)
    ]
    caption = (
        "The loss-curve law under learning-rate schedules (Tissue et al. 2024), fitted per model size. "
        + "; ".join(words)
        + "."
    )
    data = pd.concat([t.assign(backtest=k) for k, t in parts.items()], ignore_index=True)
    return FigureSpec("schedule", "Loss under other schedules", caption, fig, data)


#: Every figure in report order: key → builder(Analysis).
BUILDERS: dict[str, Callable[..., FigureSpec]] = {
    "learning_curves": learning_curves,
    "single_laws": single_laws,
    "lnd_surface": lnd_surface,
    "isoflop": isoflop,
    "optimal_allocation": optimal_allocation,
    "backtest": backtest_figure,
    "residuals": residuals,
    "critical_batch": critical_batch,
    "shape": shape_study,
    "transfer": transfer,
    "position_loss": position_loss,
    "schedule": schedule_figure,
}
