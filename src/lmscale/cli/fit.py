"""`lmscale fit`: fit a scaling law to a table of runs (CSV/Parquet), a stored study or a shipped data set.

The data source is a seam: ``run_fit(df, ...)`` takes any DataFrame, so `--study S` (runs from the
store) only has to produce one. Every fit records its conventions: what N counts (total or
non-embedding parameters) and C (6·N·D or the exact count), as --n and --c say or the source implies.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.curve_output import print_curve_fit
from lmscale.cli.fit_auto import select_and_fit
from lmscale.cli.options import JsonOpt, StoreOpt, choice, exactly_one, output_option
from lmscale.errors import InputError
from lmscale.fit import FORM_NAMES, Conventions, FitResult, backtest, fit, get_law, rollout
from lmscale.fit.law import N_CONVENTIONS
from lmscale.fit.select import SELECT_BOOTSTRAP
from lmscale.jsonsafe import plain
from lmscale.reference import load_epoch2024, load_muennighoff2023
from lmscale.store.tables import load_study, read_table

REFERENCES = ("epoch2024", "muennighoff2023")
RefineChoice = choice("RefineChoice", ("none", "parabola"))
ResampleChoice = choice("ResampleChoice", ("runs", "noise"))
#: Forms that need only learning curves: --curves F alone is a source for them.
CURVES_ONLY = ("approach1", "frontier")
#: Forms fitted by lmscale.fit.compute_optimal / frontier rather than by fit(): they read learning
#: curves (approach1, frontier) or IsoFLOP groups of final points (approach2).
CURVE_FORMS = ("approach1", "approach2", "frontier")
#: --c values → Conventions.c.
C_OPTION = {"6nd": "6ND", "exact": "exact"}
#: Learning-curve columns the curve fitters read (warmup flags come from lr and step).
CURVE_COLUMNS = ("run", "N", "tokens", "C", "loss", "lr", "step")
NChoice = choice("NChoice", N_CONVENTIONS)
CChoice = choice("CChoice", tuple(C_OPTION))
FitOutput = output_option("Write the full fit JSON (with bootstrap draws).")


def load_reference(
    name: str, drop_outliers: bool, n: str | None, c: str | None
) -> tuple[pd.DataFrame, Conventions]:
    """A shipped data set and its conventions: Epoch's points (Chinchilla's Figure 4) and
    Muennighoff et al.'s 182 data-constrained runs both count total N and C = 6ND."""
    if name not in REFERENCES:
        raise InputError(f"--reference: unknown data set {name!r} (choose from: {', '.join(REFERENCES)})")
    if n not in (None, "total") or c not in (None, "6nd"):
        raise InputError(f"--reference {name} counts total parameters and C = 6ND; drop --n/--c or give those")
    if drop_outliers and name != "epoch2024":
        raise InputError("--drop-outliers applies to --reference epoch2024 (Epoch's five highest-loss points)")
    table = load_epoch2024(drop_outliers=drop_outliers) if name == "epoch2024" else load_muennighoff2023()
    return table, Conventions(n="total", c="6ND", data=f"reference {name}")


def load_study_tables(
    study: str, store: Path | None, n: str | None, c: str | None, unit: str = "loss"
) -> tuple[pd.DataFrame, pd.DataFrame, Conventions]:
    """(final points, learning curves run/N/tokens/C/loss/lr/step, conventions) of a stored study.

    The store counts N both ways and C both ways: non-embedding N and C = 6ND unless --n/--c say otherwise.
    unit "bpb": the curves' loss is the held-out bits per byte (comparable across tokenizers).
    """
    n = n or "non-embedding"
    if n == "unknown":
        raise InputError("--n unknown: a stored study counts N both ways; choose total or non-embedding")
    tables = load_study(study, store, n=n, c=C_OPTION[c or "6nd"])
    runs = tables.finals
    if runs.empty:
        raise InputError(f"--study {study!r}: no completed runs in {tables.path}")
    curves = tables.curves
    if unit == "bpb":
        if "bpb" not in curves or curves["bpb"].isna().all():
            raise InputError(f"--unit bpb: study {study!r} has no bits-per-byte evaluations in {tables.path}")
        curves = curves.assign(loss=curves["bpb"])
    logged = [k for k in CURVE_COLUMNS if k in curves and curves[k].notna().any()]
    curves = curves[logged].dropna(subset=["loss"])  # a column never logged (lr) is left out
    curves = curves[curves["run"].isin(set(runs["run"]))]
    return runs, curves, Conventions(n=n, c=tables.c, data=f"study {study}")


def _fit_curve_form(
    form: str,
    runs: pd.DataFrame,
    curves: pd.DataFrame | None,
    budgets: list[float],
    groups: int | None,
    refine: str = "none",
    resample: str = "runs",
    **common: Any,
) -> Any:
    """approach1, approach2 or the frontier; ``common``: bootstrap, seed and conventions."""
    from lmscale.fit.compute_optimal import approach1, approach2
    from lmscale.fit.frontier import fit_frontier

    target = budgets[0] if budgets else None
    if form == "approach2":
        return approach2(runs, budgets=groups, target_compute=target, resample=resample, **common)
    if curves is None or curves.empty:
        raise InputError(f"--form {form} needs learning curves: give --curves FILE or --study S")
    if form == "approach1":
        return approach1(curves, target_compute=target, refine=refine, **common)
    return fit_frontier(curves, **common)


def _isoflop_option(groups: int | None, budgets: str | None) -> int | list[float] | None:
    """approach2's budgets: a count of piles, a list of FLOP values, or None (column or detection)."""
    if groups is not None and budgets is not None:
        raise InputError("give --isoflop-groups or --isoflop-budgets, not both")
    if budgets is None:
        return groups
    try:
        values = [float(v) for v in budgets.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--isoflop-budgets: expected FLOP values separated by commas, got {budgets!r}") from None
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise InputError(f"--isoflop-budgets: every budget must be a positive number of FLOPs, got {budgets!r}")
    return values


def _pairs(items: list[str], flag: str, n_values: int) -> dict[str, Any]:
    """Parse NAME=V or NAME=V1,V2 options."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        parts = rest.split(",")
        if not sep or not name.strip() or len(parts) != n_values:
            shape = "NAME=VALUE" if n_values == 1 else "NAME=" + ",".join(["V"] * n_values)
            raise InputError(f"{flag} {item!r}: expected {shape}")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"{flag} {item!r}: {rest!r} is not a number") from None
        out[name.strip()] = values[0] if n_values == 1 else tuple(values)
    return out


def _starts(value: str | None) -> str | int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def run_fit(df: pd.DataFrame, *, source: str, **options: Any) -> FitResult:
    """Fit a DataFrame with CLI options (the seam for --study)."""
    return fit(df, source=source, **options)


def _fmt(v: float) -> str:
    return "nan" if v != v else f"{v:.4g}"


def _print_fit(result: FitResult, source: str) -> None:
    console = Console()
    title = f"{result.form_name} fit of {source}: {result.n_points} runs, R² (log) = {result.r2_log:.4f}"
    table = Table(title=title)
    table.add_column("quantity")
    table.add_column("estimate", justify="right")
    table.add_column(f"{round(result.level * 100)}% CI", justify="right")
    for name, value in [*result.params.items(), *result.derived.items()]:
        lo, hi = result.ci.get(name, (float("nan"), float("nan")))
        if name in result.settings.get("fixed", {}):
            table.add_row(name, _fmt(value), "fixed")
        else:
            ci = f"[{_fmt(lo)}, {_fmt(hi)}]" if result.ci else "-"
            table.add_row(name, _fmt(value), ci + (" not identified" if name in result.unidentified else ""))
    console.print(table)
    if result.unidentified:
        console.print(
            f"[bold yellow]not identified by this data:[/bold yellow] {', '.join(result.unidentified)} "
            "(see the warnings; do not plan on these values)"
        )
    s = result.starts
    console.print(
        f"starts: {s['method']}, {s['n_reached_best']}/{s['n_starts']} reached the best objective "
        f"{s['best_objective']:.7g}; bootstrap: {0 if result.draws is None else len(result.draws)} resamples"
    )
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
    _print_profiles(result, console)


def _print_profiles(result: FitResult, console: Console) -> None:
    """The profile of each parameter the fit could not pin, so the reader sees the basins and the
    flat stretch behind the warning (the whole profile is in the fit JSON)."""
    for name, prof in result.profiles.items():
        if name not in result.unidentified:
            continue
        table = Table(title=f"profile of {name}: the others refitted at each value")
        for col in ("value", "objective", "above best", "within 95%"):
            table.add_column(col, justify="right")
        basins = {v for v, _ in prof.basins}
        for v, obj in zip(prof.values, prof.objective, strict=True):
            rise = max(obj / prof.best_objective - 1, 0.0)
            mark = "yes" if rise <= prof.rtol else ""
            table.add_row(_fmt(float(v)) + (" (basin)" if v in basins else ""), f"{obj:.7g}", f"{100 * rise:.2f}%", mark)
        console.print(table)


def _print_backtest(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    for c in frame.columns:
        table.add_column(str(c), justify="right")
    for _, row in frame.iterrows():
        table.add_row(*[_fmt(v) if isinstance(v, float) else str(v) for v in row])
    Console().print(table)


def _load_source(
    runs: Path | None,
    reference: str | None,
    study: str | None,
    options: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame | None, str, Conventions]:
    """(runs table, learning curves or None, source label, conventions) from exactly one source.

    ``options``: store, curves, drop_outliers, n and c as given on the command line.
    """
    n, c = options["n"], options["c"]
    curves = read_table(options["curves"], "--curves") if options["curves"] is not None else None
    if reference is not None:
        df, conventions = load_reference(reference, options["drop_outliers"], n, c)
        return df, curves, f"reference {reference}", conventions
    if study is not None:
        df, stored_curves, conventions = load_study_tables(study, options["store"], n, c)
        return df, curves if curves is not None else stored_curves, f"study {study}", conventions
    label = str(runs if runs is not None else options["curves"])
    conventions = Conventions(n=n or "unknown", c=C_OPTION.get(c or "", "unknown"), data=label)
    if runs is None:  # --curves alone, for a form that reads only curves
        return pd.DataFrame(), curves, label, conventions
    return read_table(runs), curves, label, conventions


def _write_curve_fit(result: Any, source: str, output: Path | None, as_json: bool) -> dict[str, Any]:
    """Print and/or write a curve form's result; -o gets the bootstrap draws too. Returns what is stored."""

    def payload(draws: bool) -> dict[str, Any]:
        return {**result.to_dict(include_draws=draws), "source": source}

    if as_json:
        print_json(payload(False))
    else:
        print_curve_fit(payload(False), source)
    if output is not None:
        output.write_text(json.dumps(plain(payload(True)), indent=2) + "\n")
    return payload(False)


@app.command("fit")
def fit_command(
    runs: Path = typer.Argument(None, help="Table of runs: CSV/TSV/Parquet with N, D, loss (C optional)."),
    form: str = typer.Option(
        "chinchilla",
        "--form",
        help=f"One of: {', '.join((*FORM_NAMES, *CURVE_FORMS))}, or auto (backtest approaches 1-3 and "
        "the frontier on the largest budget(s), then fit the one that predicted N_opt best).",
    ),
    holdout: int = typer.Option(
        1, "--holdout", min=1, help="--form auto: how many of the largest IsoFLOP budgets to hold out."
    ),
    refine: RefineChoice = typer.Option(
        "none", "--refine", help="approach1: none (the envelope's points) or parabola (Porian et al.)."
    ),
    resample: ResampleChoice = typer.Option(
        "runs",
        "--resample",
        help="approach2's bootstrap: runs (resample runs within each budget) or noise (keep each budget's "
        "sizes and redraw their losses with the pooled noise; fewer failed resamples on 5-6 sizes a budget).",
    ),
    study: str = typer.Option(None, "--study", help="Fit the completed runs of a study in the run store."),
    store: StoreOpt = None,
    curves: Path = typer.Option(
        None, "--curves", help="Learning curves (run, N, tokens, C, loss) for approach1 / frontier."
    ),
    n_convention: NChoice = typer.Option(
        None,
        "--n",
        help="What N counts: total or non-embedding parameters (default: non-embedding for a study, "
        "total for --reference epoch2024, unknown for a file).",
    ),
    c_convention: CChoice = typer.Option(
        None,
        "--c",
        case_sensitive=False,
        help="What C counts: 6nd (C = 6·N·D) or exact (every FLOP, from the store's exact count; "
        "default 6nd for a study and the reference, unknown for a file).",
    ),
    save: bool = typer.Option(False, "--save", help="With --study: save the fit in the run store."),
    isoflop_groups: int = typer.Option(
        None,
        "--isoflop-groups",
        help="approach2: the K most populated piles of runs in log C as budgets (default: a `budget` "
        "column, else every significant pile).",
    ),
    isoflop_budgets: str = typer.Option(
        None,
        "--isoflop-budgets",
        help="approach2: the IsoFLOP budgets in FLOPs, comma-separated (e.g. 6e18,1e19,3e19); each run "
        "joins the nearest within 0.3 decade.",
    ),
    x: str = typer.Option("N", "--x", help="Variable of single-variable forms: N, D or C."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples over runs (0: none)."),
    seed: int = typer.Option(0, "--seed"),
    fix: list[str] = typer.Option([], "--fix", help="Pin a parameter, e.g. --fix E=1.8 (repeatable)."),
    bound: list[str] = typer.Option([], "--bound", help="Bounds, e.g. --bound E=1.5,2.5 (repeatable)."),
    prior: list[str] = typer.Option([], "--prior", help="Gaussian prior, e.g. --prior E=1.69,0.05."),
    tie_exponents: bool = typer.Option(False, "--tie-exponents", help="Fit with alpha = beta."),
    starts: str = typer.Option(
        None, "--starts", help="varpro (default), grid (Hoffmann's 4,500) or a count."
    ),
    huber_delta: float = typer.Option(1e-3, "--huber-delta"),
    budget: list[float] = typer.Option([], "--budget", help="FLOP budget for N_opt/D_opt (repeatable)."),
    reference: str = typer.Option(
        None, "--reference", help="Fit a shipped data set instead: epoch2024 or muennighoff2023."
    ),
    drop_outliers: bool = typer.Option(
        False, "--drop-outliers", help="With --reference epoch2024: drop Epoch's 5."
    ),
    base: str = typer.Option(None, "--base", help="data-constrained: base law (name or fit JSON)."),
    bcrit: str = typer.Option(None, "--bcrit", help="kaplan-ns: B*,alpha_B to use S_min (needs column B)."),
    jobs: int = typer.Option(None, "--jobs", help="Bootstrap worker processes (default: CPUs, max 8)."),
    as_json: JsonOpt = False,
    output: FitOutput = None,
    do_backtest: bool = typer.Option(
        False, "--backtest", help="Fit up to --cutoff, score the held-out runs."
    ),
    cutoff: list[float] = typer.Option([], "--cutoff", help="Backtest cut-off(s) on --by (repeatable)."),
    by: str = typer.Option("C", "--by", help="Backtest split column: C or N."),
    do_rollout: bool = typer.Option(False, "--rollout", help="Backtest over successive cut-offs."),
) -> None:
    """Fit a scaling law with robust multi-start estimation and bootstrap intervals."""
    curves_only = form in CURVES_ONLY and curves is not None and runs is None and reference is None and study is None
    if not curves_only:
        if curves is not None and runs is None and reference is None and study is None:
            raise InputError(
                f"--form {form} fits final runs: give RUNS, --reference or --study (--curves alone serves "
                f"{' and '.join(CURVES_ONLY)})"
            )
        exactly_one({"RUNS (a CSV/Parquet file)": runs, "--reference NAME": reference, "--study S": study})
    if save and study is None:
        raise InputError("--save stores the fit with its study: give --study S")
    if drop_outliers and reference is None:
        raise InputError(
            "--drop-outliers applies to --reference epoch2024 (Epoch's five highest-loss points)"
        )
    source_options = dict(
        store=store,
        curves=curves,
        drop_outliers=drop_outliers,
        n=n_convention and n_convention.value,
        c=c_convention and c_convention.value,
    )
    df, curve_table, source, conventions = _load_source(runs, reference, study, source_options)
    curve_options = dict(bootstrap=bootstrap, seed=seed, conventions=conventions)
    refine_to = refine.value if hasattr(refine, "value") else str(refine)
    isoflop = _isoflop_option(isoflop_groups, isoflop_budgets)
    if form in CURVE_FORMS:
        resample_to = resample.value if hasattr(resample, "value") else str(resample)
        result = _fit_curve_form(form, df, curve_table, budget, isoflop, refine_to, resample_to, **curve_options)
        _save(save, study, store, form, _write_curve_fit(result, source, output, as_json))
        return
    options: dict[str, Any] = dict(
        bootstrap=bootstrap,
        seed=seed,
        huber_delta=huber_delta,
        fixed=_pairs(fix, "--fix", 1),
        bounds=_pairs(bound, "--bound", 2),
        priors=_pairs(prior, "--prior", 2),
        tie_exponents=tie_exponents,
        starts=_starts(starts),
        x=x,
        budgets=budget or None,
        n_jobs=jobs,
    )
    if base is not None:
        options["base"] = get_law(base)
    if bcrit is not None:
        options["bcrit"] = _pairs([f"bcrit={bcrit}"], "--bcrit", 2)["bcrit"]
    if do_backtest or do_rollout:
        _backtest(df, form, source, options, cutoff, by, do_rollout, as_json, output)
        return
    if form == "auto":

        def fit_best(chosen: str) -> dict[str, Any]:
            if chosen in CURVE_FORMS:
                r = _fit_curve_form(chosen, df, curve_table, budget, isoflop, "parabola", **curve_options)
                return _write_curve_fit(r, source, None, as_json) if not as_json else r.to_dict(include_draws=False)
            r = run_fit(df, form=chosen, **options, source=source, conventions=conventions)
            if not as_json:
                _print_fit(r, source)
            return r.to_dict(include_draws=False)

        select = dict(bootstrap=min(bootstrap, SELECT_BOOTSTRAP), seed=seed, n_jobs=jobs)
        select_and_fit(df, curve_table, source, holdout, fit_best, as_json, output, **select)
        return
    result = run_fit(df, form=form, **options, source=source, conventions=conventions)
    _save(save, study, store, form, result.to_dict(include_draws=False))
    if output is not None:
        result.to_json(output)
    if as_json:
        d = result.to_dict(include_draws=False)
        d.pop("residuals", None)
        d.pop("residual_log", None)
        d["source"] = source
        print_json(d)
    else:
        _print_fit(result, source)


def _save(save: bool, study: str | None, store: Path | None, form: str, payload: dict[str, Any]) -> None:
    if not save:
        return
    from lmscale.store import Store, default_store_path

    with Store(store if store is not None else default_store_path()) as st:
        fit_id = st.save_fit(study, form, payload)
    Console(stderr=True).print(f"saved as fit {fit_id} of study {study!r}")


def _backtest(df, form, source, options, cutoffs, by, do_rollout, as_json, output) -> None:
    if do_rollout:
        frame = rollout(df, form, cutoffs=cutoffs or None, by=by, source=source, **options)
        payload: dict[str, Any] = {"form": form, "by": by, "rollout": frame.to_dict(orient="records")}
    else:
        if len(cutoffs) != 1:
            raise InputError("--backtest needs exactly one --cutoff (use --rollout for several)")
        bt = backtest(df, form, cutoff=cutoffs[0], by=by, source=source, **options)
        frame = bt.table
        payload = {"form": form, "summary": bt.summary(), "heldout": frame.to_dict(orient="records")}
    if output is not None:
        output.write_text(json.dumps(plain(payload), indent=2) + "\n")
    if as_json:
        print_json(payload)
    else:
        _print_backtest(frame, f"{form} backtest on {source} (split by {by})")
        if not do_rollout:
            Console().print(payload["summary"])
