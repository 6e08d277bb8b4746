"""One self-contained HTML page: inline CSS, figures as base64 PNG, every figure's data as a CSV data: URI.

No scripts and no external URL of any kind, so it opens offline, passes strict content policies and
prints as it looks (figures never split across pages).
"""

from __future__ import annotations

import base64
import datetime as _dt
import io
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from lmscale.report.analysis import Analysis, method_table
from lmscale.report.figures import FigureSpec
from lmscale.report.headline import MAX_HEADLINE_DECADES, label
from lmscale.report.identify import Flags, display_name, flags
from lmscale.report.style import DPI
from lmscale.report.summary import Summary, fmt

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;max-width:1180px;margin:0 auto;padding:1.5em}
h1{font-size:1.7em;margin:.2em 0}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.05em;margin:1.1em 0 .3em}p.meta{color:#666;margin:0}
nav ul{columns:2;list-style:none;padding:0}nav a{text-decoration:none}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}
figure{margin:1.4em 0;break-inside:avoid;page-break-inside:avoid}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#333;max-width:60em}a.csv{white-space:nowrap;margin-left:.5em}
.summary p{margin:.3em 0 .6em;max-width:60em}.skip li{color:#555}
.flag{border:2px solid #c25e00;background:#fff4e5;padding:.4em 1em;margin:.8em 0;max-width:60em;break-inside:avoid}
.flag h3{margin:.3em 0;color:#8a3d00}
@media print{body{max-width:none;padding:0;font-size:11pt}nav{display:none}a{color:inherit}h2{break-after:avoid}}
"""


@dataclass
class RenderedFigure:
    spec: FigureSpec
    png: bytes
    width: int
    height: int


def render_png(spec: FigureSpec) -> RenderedFigure:
    buf = io.BytesIO()
    spec.figure.savefig(buf, format="png", dpi=DPI)
    w, h = (int(round(v * DPI)) for v in spec.figure.get_size_inches())
    return RenderedFigure(spec, buf.getvalue(), w, h)


def csv_uri(df: pd.DataFrame) -> str:
    return "data:text/csv;base64," + base64.b64encode(df.to_csv(index=False).encode()).decode("ascii")


def figure_page(title: str, command: str, summary_html: str, fig: RenderedFigure) -> str:
    """A self-contained page of one figure under a summary (the pages of `compare --html` and
    `fit-transfer --html`): inline CSS, the PNG inline, its data as a CSV data: URI."""
    b64 = base64.b64encode(fig.png).decode("ascii")
    s = fig.spec
    return "".join(
        [
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
            f'<header><h1>{escape(title)}</h1><p class="meta">generated '
            f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by {escape(command)}</p></header>",
            f'<section class="summary"><h2>Summary</h2>{summary_html}</section>',
            f'<section id="{s.key}"><h2>{escape(s.title)}</h2><figure>',
            f'<img src="data:image/png;base64,{b64}" width="{fig.width}" height="{fig.height}" alt="{escape(s.title)}">',
            f'<figcaption>{escape(s.caption)}<a class="csv" download="{s.key}.csv" '
            f'href="{csv_uri(s.data)}">data (CSV)</a></figcaption></figure></section>',
            "</body></html>",
        ]
    )


def _table(df: pd.DataFrame, left: tuple[str, ...] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{escape(str(c))}</th>' for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for c, v in zip(df.columns, r, strict=True):
            text = fmt(float(v)) if isinstance(v, (float, np.floating)) else str(v)
            cells.append(f'<td class="{"l" if c in left else ""}">{escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def fit_table(a: Analysis) -> pd.DataFrame:
    """One row per fitted quantity: fit, quantity, value, confidence interval low/high (95% unless set),
    and a note ("not identified" where the fit's diagnostics flag the quantity)."""
    rows: list[dict] = []

    def add(fit: str, name: str, value: float, ci: tuple[float, float] | None, note: str = "") -> None:
        lo, hi = ci if ci else (np.nan, np.nan)
        rows.append({"fit": fit, "quantity": name, "value": value, "ci_low": lo, "ci_high": hi, "note": note})

    if a.main is not None:
        label = f"L(N,D) chinchilla, {a.main.n_points} runs"
        for k, v in [*a.main.params.items(), *a.main.derived.items()]:
            add(label, k, v, a.main.ci.get(k), "not identified" if k in a.main.unidentified else "")
        add(label, "R² (log loss)", a.main.r2_log, None)
    for x, r in a.single.items():
        label = f"L({x}) power, {r.n_points} envelope runs"
        for k, v in r.params.items():
            add(label, k, v, r.ci.get(k))
    fr = a.frontier
    if fr is not None:
        for k, v in {**fr.params, **fr.derived}.items():
            add("L(C_min) frontier", k, v, fr.ci.get(k))
        add("L(C_min) frontier", "N ∝ C^a: a", fr.allocation.exponent, fr.allocation.ci["exponent"])
    for co in (a.approach1, a.approach2):
        if co is not None:
            label = f"approach {co.approach}"
            add(label, "a (N_opt ∝ C^a)", co.a, co.ci["a"])
            add(label, "b (D_opt ∝ C^b)", co.b, co.ci["b"])
    return pd.DataFrame(rows, columns=["fit", "quantity", "value", "ci_low", "ci_high", "note"])


def flag_box(fl: Flags) -> str:
    """The warning next to the headline: what the L(N, D) fit leaves unidentified, in the fit's words."""
    if not fl:
        return ""
    names = ", ".join(escape(display_name(n)) for n in fl.names)
    items = "".join(f"<li>{escape(w)}</li>" for w in fl.warnings)
    withheld = (
        " The compute-optimal model size and tokens per parameter at the target are therefore not stated as results."
        if fl.optimum
        else ""
    )
    return (
        '<div class="flag" role="note"><h3>Not identified by this data</h3>'
        f"<p>The L(N, D) fit cannot pin: <b>{names}</b>.{escape(withheld)} The fit table marks them "
        f"&ldquo;not identified&rdquo;.</p><ul>{items}</ul></div>"
    )


def whatif_tables(a: Analysis, fl: Flags) -> list[str]:
    """The what-if tables, with a caveat when they sit on an optimum the fit does not identify."""
    if a.whatif is None:
        return []
    out: list[str] = []
    comp = a.whatif.compute
    out.append(
        "<h3>What more compute buys (from the L(N, D) fit)</h3>"
        f'<p><a class="csv" download="what_if.csv" href="{csv_uri(comp)}">what-if (CSV)</a></p>'
    )
    if fl.optimum:  # these rows sit on the unidentified optimum: say so where they are read
        out.append(
            '<p class="flag">The N_opt, D_opt and tokens_per_param columns follow the fit\'s compute-optimal '
            "allocation, which this data does not identify (see the summary): they are not a plan.</p>"
        )
    out.append(_table(comp))
    alloc = a.whatif.allocation
    out.append(_table(alloc, left=("change",)))
    return out


def approaches_section(a: Analysis) -> list[str]:
    """Approaches 1, 2 and 3 side by side at the target: where they agree or disagree, which are
    identified there, and how each extrapolated in the backtest (lmscale.report.headline)."""
    t = method_table(a)
    if t is None:
        return []
    quoted = label(a.headline_name)
    if a.headline is None and flags(a.main, a.target_flops).optimum:
        quoted = "none (no allocation at the target is identified)"
    return [
        f"<h3>The three approaches at the target ({fmt(a.target_flops)} FLOPs)</h3>",
        "<p>Backtest error: how far each method's N_opt, fitted below the largest budget, landed from that "
        f"budget's own IsoFLOP minimum. N_opt's interval is 95%; a method is identified at the target when it "
        f"spans at most {MAX_HEADLINE_DECADES:g} decade. Approach 1 is fitted as the backtest fitted it, with the "
        "parabola refine (the fit table's approach 1 is the unrefined envelope). Resamples failed: the share "
        "of bootstrap resamples in which a method could not be refitted; its intervals leave them out, so they "
        "may be too narrow. "
        f"The headline's method: {escape(quoted)}. "
        f'<a class="csv" download="approaches.csv" href="{csv_uri(t)}">approaches (CSV)</a></p>',
        _table(t, left=("method", "identified")),
    ]


def render_html(
    title: str, a: Analysis, summary: Summary, figures: list[RenderedFigure], skipped_figures: dict[str, str]
) -> str:
    d = a.data
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">Data: {escape(d.source)} · generated {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC '
        f"by lmscale · bootstrap resamples: {a.bootstrap}</p></header>",
        "<nav><h2>Contents</h2><ul>",
        '<li><a href="#summary">Summary</a></li><li><a href="#fits">Fit table</a></li>',
        '<li><a href="#accounting">Accounting</a></li>',
    ]
    parts += [f'<li><a href="#{f.spec.key}">{escape(f.spec.title)}</a></li>' for f in figures]
    parts.append('<li><a href="#skipped">Not shown</a></li></ul></nav>')

    fl = flags(a.main, a.target_flops)
    parts.append('<section id="summary" class="summary"><h2>Summary</h2>')
    parts.append(flag_box(fl))
    for head, sentences in summary.sections.items():
        parts.append(f"<h3>{escape(head)}</h3>")
        parts.append("<p>" + " ".join(escape(s) for s in sentences) + "</p>")
    parts += approaches_section(a)
    parts.append("</section>")

    ft = fit_table(a)
    parts.append('<section id="fits"><h2>Fit table</h2>')
    if len(ft):
        parts.append(
            "<p>Point estimates with 95% percentile-bootstrap confidence intervals (resampling runs). "
            f'<a class="csv" download="fits.csv" href="{csv_uri(ft)}">fit table (CSV)</a></p>'
        )
        parts.append(_table(ft, left=("fit", "quantity", "note")))
    else:
        parts.append("<p>No law could be fitted to this data.</p>")
    parts += whatif_tables(a, fl)
    parts.append("</section>")

    parts.append('<section id="accounting"><h2>Accounting</h2><ul>')
    notes = list(d.convention)
    notes.append(
        "Loss: nats per token on held-out text. Fits: Huber (δ = 1e-3) on log-loss residuals, multi-start L-BFGS."
    )
    if a.main is not None:
        notes += [str(n) for n in a.main.settings.get("notes", [])]
    if a.frontier is not None:
        notes.append(f"Learning curves: C convention {a.frontier.warmup.C_convention}.")
    parts += [f"<li>{escape(n)}</li>" for n in notes]
    parts.append("</ul></section>")

    for f in figures:
        b64 = base64.b64encode(f.png).decode("ascii")
        parts.append(
            f'<section id="{f.spec.key}"><h2>{escape(f.spec.title)}</h2><figure>'
            f'<img src="data:image/png;base64,{b64}" width="{f.width}" height="{f.height}" '
            f'alt="{escape(f.spec.title)}"><figcaption>{escape(f.spec.caption)}'
            f'<a class="csv" download="{f.spec.key}.csv" href="{csv_uri(f.spec.data)}">data (CSV)</a>'
            "</figcaption></figure></section>"
        )

    parts.append('<section id="skipped" class="skip"><h2>Not shown</h2>')
    if skipped_figures:
        parts.append("<p>Figures the data cannot support, and why:</p><ul>")
        parts += [f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in skipped_figures.items()]
        parts.append("</ul>")
    else:
        parts.append("<p>Every figure could be drawn.</p>")
    if len(d.failed):
        parts.append(f"<h3>Runs left out ({len(d.failed)})</h3>")
        parts.append(_table(d.failed.head(200), left=("run", "reason")))
    parts.append("</section></body></html>")
    return "\n".join(parts)
