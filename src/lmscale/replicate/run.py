"""`lmscale replicate`: train what the chosen studies need, analyse, write results and figures."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lmscale import __version__
from lmscale.errors import InputError
from lmscale.replicate.context import Context
from lmscale.replicate.criteria import GROUPS, LEGEND, VERDICTS, stale_findings
from lmscale.replicate.studies import STUDIES, Study, get_studies


def machine() -> str:
    """One line: CPU, cores, memory, Python and torch versions (recorded with every result)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(row.split()[1])
            for row in Path("/proc/meminfo").read_text().splitlines()
            if row.startswith("MemTotal")
        )
        mem = f", {mem_kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        mem = ""
    try:
        import torch

        tv = f", torch {torch.__version__}"
    except ImportError:
        tv = ""
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}{tv}"


@dataclass
class StudyOutcome:
    study: str
    folder: Path
    verdicts: dict[str, str]
    wall_seconds: float


def _compute_used(store_path: Path, presets: tuple[str, ...]) -> dict[str, Any]:
    """Runs, training FLOPs and summed run time of the completed runs of the presets' studies."""
    from lmscale.store import Store

    with Store(store_path, readonly=True) as st:
        frames = [st.runs(study=p) for p in presets]
    ids: dict[str, Any] = {}
    for df in frames:
        for r in df[df["status"] == "completed"].itertuples(index=False):
            ids[r.id] = r
    return {
        "runs": len(ids),
        "compute_6nd": float(sum(r.C_6ND or 0.0 for r in ids.values())),
        "compute_exact": float(sum(r.C_exact or 0.0 for r in ids.values())),
        "run_hours": float(sum(r.wall_time or 0.0 for r in ids.values())) / 3600.0,
    }


def train(
    studies: list[Study], store_path: Path, workers: int | None, threads: int | None, live: bool | None
) -> float:
    """Run every preset the studies need in one driver (shared runs train once); returns wall seconds."""
    from lmscale.store import Store
    from lmscale.sweep.driver import run_sweeps
    from lmscale.sweep.presets import load_preset

    presets = list(dict.fromkeys(p for s in studies for p in s.presets))
    t0 = time.time()
    with Store(store_path) as st:
        summary = run_sweeps(
            [(load_preset(p), p, f"preset {p}") for p in presets],
            st,
            workers=workers,
            threads=threads,
            live=live,
        )
    unfinished = summary.unfinished  # failed now, or earlier and not retried
    if unfinished:
        first = next(iter(unfinished.items()))
        raise InputError(
            f"{len(unfinished)} run(s) failed (first: {first[0]}: {first[1]}); fix and rerun, or use "
            "`lmscale sweep run PRESET --retry-failed`"
        )
    return time.time() - t0


def export_presets(store_path: Path, presets: list[str], out: Path) -> None:
    """The store's runs, curves and final evals of each preset study as CSV under out/store-export/<preset>/."""
    from lmscale.store import Store
    from lmscale.store.io import export

    with Store(store_path, readonly=True) as st:
        for p in presets:
            export(st, out / "store-export" / p, "csv", study=p)


def analyse(study: Study, ctx: Context, out: Path, command: str, train_seconds: float) -> StudyOutcome:
    t0 = time.time()
    result = study.analyse(ctx)
    wall = time.time() - t0
    meta = {
        "command": command,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "lmscale": __version__,
        "presets": list(study.presets),
        "bootstrap": ctx.bootstrap,
        "analysis_seconds": wall,
        "training_seconds_this_command": train_seconds,
        "wall_seconds": wall + train_seconds,
        **_compute_used(ctx.store, study.presets),
    }
    folder = out / study.name
    result.write(folder, meta)
    for fig in result.figures.values():
        fig.clear()
    return StudyOutcome(study.name, folder, {f.key: f.verdict for f in result.findings}, wall)


def verdict_counts(verdicts: list[str]) -> str:
    """'3 reproduced, 1 partly, 0 not reproduced, 2 inconclusive' in VERDICTS order."""
    return ", ".join(f"{verdicts.count(v)} {v}" for v in VERDICTS)


def write_index(out: Path) -> Path:
    """out/README.md: every study's verdicts by group, read back from the results.json files present,
    with the counts per group (self-checks are not counted) and any finding whose criterion changed."""
    rows: dict[str, list[tuple[str, str, str]]] = {g: [] for g in GROUPS}
    for name in STUDIES:
        path = out / name / "results.json"
        if path.is_file():
            for f in json.loads(path.read_text())["findings"]:
                rows.setdefault(f.get("group", "legacy"), []).append((name, f["key"], f["verdict"]))
    lines = [
        "# Replication results",
        "",
        "Written by `lmscale replicate`; each folder holds one study's findings.md, results.json, figures",
        "and tables; store-export/ holds the runs, curves and evals of each preset. The discussion is",
        "in docs/replication.md of the lmscale repository. Verdicts follow the criteria pre-registered in",
        "src/lmscale/replicate/criteria.toml.",
        "",
    ]
    for group, found in rows.items():
        if not found:
            continue
        counted = "" if group == "self-check" else f" ({verdict_counts([v for _, _, v in found])})"
        title = GROUPS.get(group, "Judged before the criteria were pre-registered")
        lines += [f"## {title}{counted}", "", "| study | finding | verdict |", "|---|---|---|"]
        lines += [f"| [{name}]({name}/findings.md) | {key} | {verdict} |" for name, key, verdict in found]
        lines.append("")
    stale = stale_findings(out)
    if stale:
        lines += ["## Not judged by today's criteria", ""] + [f"- {s}" for s in stale] + [""]
    lines += ["## Verdicts", "", LEGEND, ""]
    path = out / "README.md"
    path.write_text("\n".join(lines))
    return path


def replicate(
    names: list[str],
    store_path: Path,
    out: Path,
    bootstrap: int = 1000,
    do_train: bool = True,
    workers: int | None = None,
    threads: int | None = None,
    live: bool | None = None,
    command: str = "",
    on_study: Callable[[StudyOutcome], None] | None = None,
) -> list[StudyOutcome]:
    if bootstrap < 0:
        raise InputError(f"--bootstrap must be >= 0, got {bootstrap}")
    studies = get_studies(names)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    train_seconds = train(studies, store_path, workers, threads, live) if do_train else 0.0
    if not store_path.is_file():
        raise InputError(f"--store {store_path}: no such store file (run without --no-train first)")
    ctx = Context(store_path, bootstrap=bootstrap)
    outcomes = []
    for s in studies:  # each study is written (and reported) as soon as it is analysed
        outcomes.append(
            analyse(s, ctx, out, command or f"lmscale replicate {s.name}", train_seconds / len(studies))
        )
        if on_study is not None:
            on_study(outcomes[-1])
    export_presets(store_path, list(dict.fromkeys(p for s in studies for p in s.presets)), out)
    write_index(out)
    return outcomes
