"""Input tables for a report: final points (one row per run) and optional learning curves.

Thin loaders turn a store study, a runs CSV or a shipped reference data set into the same pair of
DataFrames, so the rest of the report never knows where the numbers came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.law import Conventions
from lmscale.store.tables import load_study as load_study_tables
from lmscale.store.tables import numeric_column, read_table

#: Statuses that count as a finished run with a usable final loss.
OK_STATUSES = ("completed", "ok", "")


@dataclass
class ReportInput:
    """What a report is built from.

    runs: final points (run, N, D, C, loss, ...); curves: long format (run, N, tokens, C, loss, ...);
    failed: runs left out, with a ``reason``; evals: (run, eval_set, loss) final loss per eval set;
    position_loss: (run, eval_set, position, loss); convention: how N and C were counted, in words;
    conventions: the same for the fits (lmscale.fit.Conventions: unknown for a table of runs);
    lr_traces, schedules: each run's per-step learning rates and schedule name, for the
    schedule-aware law (a caller that knows them passes them: `lmscale.train.schedule.run_traces`).
    """

    runs: pd.DataFrame
    curves: pd.DataFrame | None = None
    failed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["run", "reason"]))
    evals: pd.DataFrame | None = None
    position_loss: pd.DataFrame | None = None
    convention: list[str] = field(default_factory=list)
    source: str = ""
    conventions: Conventions = field(default_factory=lambda: Conventions(n="unknown", c="unknown"))
    lr_traces: dict[str, np.ndarray] | None = None
    schedules: dict[str, str] = field(default_factory=dict)


def prepare_runs(runs: pd.DataFrame, where: str = "runs") -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Split a runs table into usable final points and failed runs; fill C or D from C = 6ND.

    Returns (usable, failed with a ``reason`` column, notes on the accounting convention).
    A run is left out (not an error) when its status says it did not complete; a run without such a
    status and without a positive N, D, C or loss is an InputError.
    """
    if not isinstance(runs, pd.DataFrame):
        raise InputError(f"{where}: expected a table of runs, got {type(runs).__name__}")
    df = runs.reset_index(drop=True).copy()
    for alt in ("L", "eval_loss", "val_loss"):
        if "loss" not in df.columns and alt in df.columns:
            df = df.rename(columns={alt: "loss"})
    missing = [c for c in ("N", "loss") if c not in df.columns]
    if "D" not in df.columns and "C" not in df.columns:
        missing.append("D or C")
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns)) or 'none'} "
            "(need N = non-embedding parameters, D = tokens, loss = nats; C optional)"
        )
    if len(df) == 0:
        raise InputError(f"{where}: the table has no runs")
    if "run" not in df.columns and "id" in df.columns:  # `lmscale runs export` names it id
        df = df.rename(columns={"id": "run"})
    if "run" not in df.columns:
        df.insert(0, "run", [f"row{i + 1}" for i in range(len(df))])
    df["run"] = df["run"].astype(str)
    for col in ("N", "D", "C", "loss"):
        if col in df.columns:
            df[col] = numeric_column(df, col, where)
    notes: list[str] = []
    if "C" not in df.columns:
        df["C"] = 6.0 * df["N"] * df["D"]
        notes.append("C = 6·N·D (Kaplan et al. 2020), computed from the table's N and D")
    elif "D" not in df.columns:
        df["D"] = df["C"] / (6.0 * df["N"])
        notes.append("D = C/(6·N), computed from the table's C")
    else:
        ratio = df["C"] / (6.0 * df["N"] * df["D"])
        r = ratio[np.isfinite(ratio)]
        if len(r) and np.allclose(r, 1.0, rtol=1e-6):
            notes.append("C as given in the table; it equals 6·N·D for every run (Kaplan et al. 2020)")
        elif len(r):
            notes.append(
                f"C as given in the table; C/(6·N·D) ranges {r.min():.3g} to {r.max():.3g} "
                "(1 would be the 6ND convention)"
            )
    reason = pd.Series("", index=df.index, dtype=object)
    if "status" in df.columns:
        status = df["status"].fillna("").astype(str).str.strip()
        bad = ~status.str.lower().isin(OK_STATUSES)
        reason[bad] = "status " + status[bad]
    # A run the table calls finished must have usable numbers: refused in one line naming the column
    # and row, as `fit` and `runs import` do (a silently dropped row changes the fit).
    finished = df[["N", "D", "loss", "C"]].copy()
    finished.loc[reason != "", :] = 1.0
    for col in ("N", "D", "loss", "C"):
        numeric_column(finished, col, where, positive=True)
    failed = df.loc[reason != "", ["run"]].assign(reason=reason[reason != ""])
    ok = df.loc[reason == ""].reset_index(drop=True)
    return ok, failed.reset_index(drop=True), notes


def prepare_curves(
    curves: pd.DataFrame | None, runs: pd.DataFrame, where: str = "curves"
) -> pd.DataFrame | None:
    """Long-format curves restricted to usable runs, with positive tokens, C and loss."""
    if curves is None or len(curves) == 0:
        return None
    df = curves.copy()
    if "run" not in df.columns and "run_id" in df.columns:
        df = df.rename(columns={"run_id": "run"})
    missing = [c for c in ("run", "N", "tokens", "loss") if c not in df.columns]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}"
        )
    df["run"] = df["run"].astype(str)
    for col in ("N", "tokens", "loss", *(["C"] if "C" in df.columns else [])):
        df[col] = numeric_column(df, col, where)
    if "C" not in df.columns:
        df["C"] = 6.0 * df["N"] * df["tokens"]
    keep = df["run"].isin(set(runs["run"])) if "run" in runs.columns and len(runs) else True
    cols = ["N", "tokens", "C", "loss"]
    df = df[keep & np.all(np.isfinite(df[cols]) & (df[cols] > 0), axis=1)]
    df = df.drop_duplicates(subset=["run", "tokens"], keep="last")
    return df.sort_values(["run", "tokens"]).reset_index(drop=True) if len(df) else None


def from_frames(
    runs: pd.DataFrame, curves: pd.DataFrame | None = None, source: str = "runs", **extra: pd.DataFrame | None
) -> ReportInput:
    ok, failed, notes = prepare_runs(runs, source)
    return ReportInput(
        runs=ok, curves=prepare_curves(curves, ok), failed=failed, convention=notes, source=source, **extra
    )


def load_runs_csv(runs: str | Path, curves: str | Path | None = None) -> ReportInput:
    """A runs CSV/TSV/Parquet (one row per run) and optionally a long-format curves file."""
    runs_p = Path(runs)
    df = read_table(runs_p, "--runs")
    cur = read_table(curves, "--curves") if curves is not None else None
    return from_frames(df, cur, source=str(runs_p))


def load_reference(name: str = "epoch2024") -> ReportInput:
    """A shipped reference data set: Epoch AI's 245 points from Chinchilla's Figure 4."""
    from lmscale.reference import EPOCH2024_CITATION, load_epoch2024

    if name != "epoch2024":
        raise InputError(f"--reference: unknown data set {name!r} (choose from: epoch2024)")
    df = load_epoch2024(drop_outliers=False)
    df.insert(0, "run", [f"epoch{i + 1}" for i in range(len(df))])
    kept = load_epoch2024(drop_outliers=True)
    # Epoch's procedure: the highest-loss points (smallest models at the smallest budgets) are dropped.
    dropped = ~df.set_index(["N", "C"]).index.isin(kept.set_index(["N", "C"]).index)
    df["status"] = np.where(dropped, "outlier (Epoch drop the highest-loss points)", "completed")
    out = from_frames(df, None, source="epoch2024 (Besiroglu et al. 2024, from Hoffmann et al. 2022 Fig. 4)")
    out.conventions = Conventions(n="total", c="6ND", data="epoch2024")
    out.convention = [
        "N = total parameters as plotted in Hoffmann et al. Figure 4; C = training FLOPs from the same figure; "
        "D = C/(6·N)",
        f"data: {EPOCH2024_CITATION}",
    ]
    return out


def batch_tokens(runs: pd.DataFrame) -> pd.Series | None:
    """Tokens per optimizer step of each run (batch_size × n_ctx) from the flattened run spec, if known."""
    if len(runs) == 0 or "batch_size" not in runs.columns:
        return None
    ctx = pd.Series(np.nan, index=runs.index)
    for col in ("shape.n_ctx", "n_ctx"):  # the run's override wins over the shape's context
        if col in runs.columns:
            ctx = pd.to_numeric(runs[col], errors="coerce").where(lambda v: v.notna(), ctx)
    out = pd.to_numeric(runs["batch_size"], errors="coerce") * ctx
    return pd.Series(out.to_numpy(), index=runs["run"]) if out.notna().all() else None


def load_study(study: str, store: str | Path | None = None) -> ReportInput:
    """A study from the run store: finished runs, their learning curves, evals and per-position loss."""
    st = load_study_tables(study, store)
    table, all_runs = st.finals, st.runs
    done = set(table["run"]) if len(table) else set()
    not_done = all_runs[~all_runs["id"].isin(done)]
    failed = pd.DataFrame(
        {
            "run": not_done["id"].astype(str),
            "reason": [
                f"status {s}" + (f": {str(e).splitlines()[0][:120]}" if e else "")
                for s, e in zip(not_done["status"], not_done["error"], strict=True)
            ],
        }
    )
    if len(table) == 0:
        ok = pd.DataFrame(columns=["run", "N", "D", "C", "loss"])
    else:
        ok, more_failed, _ = prepare_runs(table, f"study {study}")
        failed = pd.concat([failed, more_failed], ignore_index=True)
        if "wall_time" not in ok.columns:  # seconds per run: what the next runs would cost here
            ok["wall_time"] = ok["run"].map(all_runs.set_index("id")["wall_time"])
    # The store's C column is 6·N·D by construction (Store.fit_table); say so rather than re-derive it.
    notes = [
        "N = non-embedding parameters (Kaplan et al. 2020 Table 1); C = 6·N·D training FLOPs "
        "(the store also keeps the exact and Kaplan counts: columns C_exact, C_kaplan)"
    ]
    cur = None
    if len(st.curves):
        cur = st.curves
        bt = batch_tokens(ok)
        if bt is not None:
            cur["batch_tokens"] = cur["run"].map(bt)
        cur = prepare_curves(cur, ok)
    return ReportInput(
        runs=ok,
        curves=cur,
        failed=failed.reset_index(drop=True),
        evals=st.evals if len(st.evals) else None,
        position_loss=st.position_loss if len(st.position_loss) else None,
        convention=notes,
        source=f"study {study} ({st.path})",
        conventions=Conventions(n=st.n, c=st.c, data=f"study {study}"),
    )
