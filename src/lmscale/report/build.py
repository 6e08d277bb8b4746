"""build_report: run the analyses, draw every figure the data supports, write HTML or PNGs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from lmscale.errors import InputError
from lmscale.report.analysis import SKIPPABLE, Analysis, analyse
from lmscale.report.data import ReportInput, from_frames
from lmscale.report.figures import BUILDERS, OVERLAYS, FigureSpec
from lmscale.report.html import RenderedFigure, fit_table, render_html, render_png
from lmscale.report.summary import Summary, summarise

TITLES = {
    "learning_curves": "Learning curves",
    "single_laws": "L(N), L(D), L(C)",
    "lnd_surface": "L(N, D)",
    "isoflop": "IsoFLOP profiles",
    "optimal_allocation": "Compute-optimal N and D",
    "backtest": "Backtest",
    "residuals": "Residuals",
    "critical_batch": "Critical batch size",
    "shape": "Shape study",
    "transfer": "Transfer",
    "position_loss": "Per-token-position loss",
    "schedule": "Loss under other schedules",
}


@dataclass
class ReportResult:
    """What was written: the HTML file (or the PNG folder), each figure's file, and the fits behind them."""

    html: Path | None
    figures: dict[str, Path | None]  # key → PNG path (format png) or None (embedded in the HTML)
    skipped: dict[str, str]  # figure title → why it is not shown
    analysis: Analysis
    summary: Summary
    fits: pd.DataFrame  # the fit table shown in the report
    seconds: float
    size_bytes: int = 0


def draw_figures(a: Analysis, overlays: tuple[str, ...]) -> tuple[list[FigureSpec], dict[str, str]]:
    specs, skipped = [], {}
    for key, builder in BUILDERS.items():
        try:
            specs.append(builder(a, overlays) if key == "single_laws" else builder(a))
        except SKIPPABLE as exc:  # data the figure cannot show: say why instead of failing the report
            skipped[TITLES[key]] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return specs, skipped


def build_from_input(
    data: ReportInput,
    out: str | Path,
    *,
    title: str = "Scaling-law report",
    target_flops: float | None = None,
    overlays: tuple[str, ...] | list[str] = (),
    bootstrap: int = 200,
    seed: int = 0,
    fmt: Literal["html", "png"] = "html",
    isoflop_budgets: Any = None,
    extra_figures: tuple[FigureSpec, ...] = (),
) -> ReportResult:
    """Analyse ``data`` and write the report to ``out`` (an .html file, or a folder for ``fmt='png'``).
    ``extra_figures``: sections made elsewhere (the comparison with another study), shown last."""
    t0 = time.perf_counter()
    overlays = tuple(overlays)
    bad = [o for o in overlays if o not in OVERLAYS]
    if bad:
        raise InputError(f"--overlay: unknown law {bad[0]!r} (choose from: {', '.join(OVERLAYS)})")
    if fmt not in ("html", "png"):
        raise InputError(f"--format must be html or png, got {fmt!r}")
    out = Path(out)
    if fmt == "html" and out.exists() and out.is_dir():
        raise InputError(f"-o {out}: is a folder; give a file name ending in .html")
    if fmt == "png" and out.exists() and not out.is_dir():
        raise InputError(f"-o {out}: exists and is not a folder (--format png writes a folder of PNGs)")
    a = analyse(
        data, target_flops=target_flops, bootstrap=bootstrap, seed=seed, isoflop_budgets=isoflop_budgets
    )
    summary = summarise(a)
    specs, skipped = draw_figures(a, overlays)
    specs += list(extra_figures)
    rendered: list[RenderedFigure] = [render_png(s) for s in specs]
    figures: dict[str, Path | None] = {}
    try:
        if fmt == "png":
            out.mkdir(parents=True, exist_ok=True)
            for r in rendered:
                path = out / f"{r.spec.key}.png"
                path.write_bytes(r.png)
                r.spec.data.to_csv(out / f"{r.spec.key}.csv", index=False)
                figures[r.spec.key] = path
            html_path, size = None, sum(len(r.png) for r in rendered)
        else:
            text = render_html(title, a, summary, rendered, skipped)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            figures = {r.spec.key: None for r in rendered}
            html_path, size = out, len(text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"-o {out}: cannot write ({exc.strerror or exc})") from None
    return ReportResult(
        html=html_path,
        figures=figures,
        skipped=skipped,
        analysis=a,
        summary=summary,
        fits=fit_table(a),
        seconds=time.perf_counter() - t0,
        size_bytes=size,
    )


def build_report(
    runs: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    out: str | Path = "report.html",
    *,
    title: str = "Scaling-law report",
    target_flops: float | None = None,
    overlays: tuple[str, ...] | list[str] = (),
    bootstrap: int = 200,
    seed: int = 0,
    fmt: Literal["html", "png"] = "html",
    evals: pd.DataFrame | None = None,
    position_loss: pd.DataFrame | None = None,
    source: str = "runs table",
    isoflop_budgets: Any = None,
) -> ReportResult:
    """A report from DataFrames: ``runs`` (one row per run: N, D and/or C, loss; optional run, status,
    n_layer, d_model, epochs) and optional long-format ``curves`` (run, N, tokens, [C], loss)."""
    data = from_frames(runs, curves, source=source, evals=evals, position_loss=position_loss)
    return build_from_input(
        data,
        out,
        title=title,
        target_flops=target_flops,
        overlays=overlays,
        bootstrap=bootstrap,
        seed=seed,
        fmt=fmt,
        isoflop_budgets=isoflop_budgets,
    )
