"""The page of `lmscale compare A B --html`: both L(C) frontiers with their envelope points and
bands, the compute multiplier k against C, and the comparison's table, self-contained like the
report (lmscale.report.html: inline CSS, the figure as a PNG, its data as a CSV data: URI)."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from lmscale.plan.multiplier import Comparison
from lmscale.report.figures import FigureSpec, loglog_axes
from lmscale.report.headline import MAX_HEADLINE_DECADES
from lmscale.report.html import figure_page, render_png
from lmscale.report.style import new_figure

COLORS = ("#1f77b4", "#d62728")  # A, B


def _band(ax: Any, t: pd.DataFrame, key: str, color: str) -> None:
    if t[f"{key}_low"].notna().all():
        ax.fill_between(t["C"], t[f"{key}_low"], t[f"{key}_high"], color=color, alpha=0.18, lw=0)


#: Axis label of each loss unit a comparison can be made in (`lmscale compare --unit`).
UNIT_LABELS = {"loss": "loss (nats/token)", "bpb": "loss (bits/byte)"}


def comparison_figure(
    c: Comparison, envelopes: tuple[pd.DataFrame | None, pd.DataFrame | None], unit: str = "loss"
) -> FigureSpec:
    """Left: both frontiers (fitted line, 95% band, the envelope points each was fitted to). Right: k at
    the loss A reaches at each compute, with its band; a flat k is a multiplier that carries across scale."""
    t = c.table
    fig, (left, right) = new_figure(2, width=5.4, height=4.2)
    for name, key, env, color in ((c.a, "loss_a", envelopes[0], COLORS[0]), (c.b, "loss_b", envelopes[1], COLORS[1])):
        if env is not None and {"C", "loss"} <= set(env):
            used = env[env["used"].astype(bool)] if "used" in env else env
            left.scatter(used["C"], used["loss"], s=9, color=color, alpha=0.6, lw=0)
        left.plot(t["C"], t[key], color=color, lw=1.8, label=name)
        _band(left, t, key, color)
    loglog_axes(left, "compute C (FLOPs)", UNIT_LABELS[unit])
    left.legend(fontsize=8)
    left.set_title("L(C) frontiers", fontsize=10)
    right.plot(t["C"], t["k"], color="k", lw=1.8)
    _band(right, t, "k", "k")
    right.axhline(1.0, color="#888", lw=0.8, ls="--")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("compute C of A (FLOPs)")
    right.set_ylabel("k = C_B / C_A at A's loss")
    right.set_title(f"compute multiplier of {c.b} against {c.a}", fontsize=10)
    m = c.multiplier
    interval = f" (95% interval {m.low:.3g}–{m.high:.3g})" if m.has_interval else ""
    caption = (
        f"k = {m.value:.3g}{interval} at loss {c.target_loss:.4g}: {c.b} needs {m.value:.3g}× the compute of {c.a} "
        f"to reach it. Bands: 95% percentile intervals over {c.draws} paired bootstrap draws."
    )
    return FigureSpec("comparison", "Compute multiplier", caption, fig, t)


def spread_words(decades: float | None) -> str:
    """Whether the multiplier's interval is narrow enough to act on (the report's headline rule)."""
    if decades is None:
        return "no interval (no bootstrap draws)"
    verdict = "yes" if decades <= MAX_HEADLINE_DECADES else "no: not one number to act on"
    return f"{verdict} (its interval spans {decades:.2g} decades; at most {MAX_HEADLINE_DECADES:g} is)"


def _row(label: str, e: Any, fmt: str) -> str:
    interval = "" if not e.has_interval else f"{e.low:{fmt}} – {e.high:{fmt}}"
    return f'<tr><td class="l">{escape(label)}</td><td>{e.value:{fmt}}</td><td>{interval}</td></tr>'


def comparison_html(
    c: Comparison, envelopes: tuple[pd.DataFrame | None, pd.DataFrame | None], unit: str = "loss"
) -> str:
    """The whole page; `unit` (a key of UNIT_LABELS) is what the frontiers' losses are in."""
    fig = render_png(comparison_figure(c, envelopes, unit))
    shared = {True: "may be shared: the gap's interval holds 0, so a drift of k with scale is not established",
              False: "differ: k changes with scale, and a multiplier measured here does not carry to larger compute",
              None: "not tested (no bootstrap draws)"}[c.shared_exponent]
    rows = [
        _row(f"k = C_B/C_A at loss {c.target_loss:.4g}", c.multiplier, ".3g"),
        _row(f"loss gap L_B − L_A at {c.compute:.3g} FLOPs", c.loss_gap, "+.4f"),
        _row(f"exponent of {c.a}", c.exponent_a, ".4f"),
        _row(f"exponent of {c.b}", c.exponent_b, ".4f"),
        _row("exponent gap (A − B)", c.exponent_gap, "+.4f"),
    ]
    summary = (
        f"<p>{escape(fig.spec.caption)} The exponents {escape(shared)}. "
        f"Is k pinned down? {escape(spread_words(c.multiplier_decades))}.</p>"
        '<table><tr><th class="l">quantity</th><th>value</th><th>95% interval</th></tr>'
        + "".join(rows)
        + "</table>"
    )
    return figure_page(f"{c.b} against {c.a}", "lmscale compare", summary, fig)

