"""What an analysis reads: the store's studies (one per preset), loaded once, and its settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lmscale.errors import InputError
from lmscale.report.data import ReportInput, load_study
from lmscale.store import Store, flatten_spec


@dataclass
class Context:
    """store: the run store; bootstrap: resamples for every interval; seed: of the resampling."""

    store: Path
    bootstrap: int = 1000
    seed: int = 0
    _cache: dict[str, ReportInput] = field(default_factory=dict, repr=False)

    def data(self, study: str) -> ReportInput:
        """Finished runs, curves, evals and per-position losses of a store study (a preset name)."""
        if study not in self._cache:
            self._cache[study] = load_study(study, self.store)
        return self._cache[study]

    def runs(self, study: str, min_runs: int = 1) -> pd.DataFrame:
        """Final points (one row per completed run, spec flattened into columns)."""
        runs = self.data(study).runs
        if len(runs) < min_runs:
            raise InputError(
                f"study {study!r} has {len(runs)} completed run(s), needs {min_runs}: "
                f"run `lmscale sweep run {study}` first"
            )
        return runs

    def diverged(self, study: str) -> pd.DataFrame:
        """Runs of a store study that stopped as diverged: run, N and the spec flattened into columns."""
        with Store(self.store, readonly=True) as store:
            div = store.runs(study=study, status="diverged")
        specs = [flatten_spec(json.loads(s)) for s in div["spec"]]
        return pd.DataFrame(specs).assign(run=div["id"].astype(str).to_numpy(), N=div["N"].to_numpy(float))

    def curves(self, study: str) -> pd.DataFrame:
        cur = self.data(study).curves
        if cur is None or cur.empty:
            raise InputError(f"study {study!r} has no learning curves")
        return cur

    def eval_se(self, study: str, run_ids: pd.Series) -> pd.Series:
        """Standard error of each run's final eval loss (finite eval tokens), 0 where unknown."""
        try:
            cur = self.curves(study)
        except InputError:
            return pd.Series(0.0, index=run_ids.index)
        if "eval_loss_se" not in cur.columns:
            return pd.Series(0.0, index=run_ids.index)
        last = cur.dropna(subset=["eval_loss_se"]).sort_values("tokens").groupby("run")["eval_loss_se"].last()
        return run_ids.map(last).fillna(0.0).astype(float)
