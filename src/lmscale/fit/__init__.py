"""Fitting engine: scaling-law forms, robust multi-start estimation, bootstrap, diagnostics, backtests.

Pure numpy/scipy/pandas: importing this package never imports torch.
"""

from lmscale.fit.api import fit
from lmscale.fit.backtest import Backtest, backtest, rollout
from lmscale.fit.batch import BatchSweepResult, BcritFit, bcrit_from_batch_sweep, fit_bcrit
from lmscale.fit.compute_optimal import ComputeOptimal, approach1, approach2, budget_minima
from lmscale.fit.curves import exclude_warmup, final_points
from lmscale.fit.estimate import Prior
from lmscale.fit.forms import FORM_NAMES, Form, get_form
from lmscale.fit.frontier import FrontierResult, fit_frontier
from lmscale.fit.intervals import percentile_interval
from lmscale.fit.law import Conventions, Law
from lmscale.fit.loglog import LogLogLine, fit_line
from lmscale.fit.registry import CriticalBatchLaw, get_law, law_names, load_law, loss_law
from lmscale.fit.result import FitResult
from lmscale.fit.select import MethodSelection, compare_methods
from lmscale.fit.validate import validate_runs as _validate_runs


def validate_runs(df, form: str = "chinchilla", x: str = "N", source: str | None = None):
    """Check a table of runs for ``form`` (raises lmscale.errors.InputError); returns the clean table."""
    return _validate_runs(df, get_form(form, x), source=source)[0]


__all__ = [
    "BatchSweepResult",
    "BcritFit",
    "FrontierResult",
    "LogLogLine",
    "fit_line",
    "percentile_interval",
    "FORM_NAMES",
    "Backtest",
    "ComputeOptimal",
    "approach1",
    "approach2",
    "budget_minima",
    "compare_methods",
    "MethodSelection",
    "bcrit_from_batch_sweep",
    "exclude_warmup",
    "final_points",
    "fit_bcrit",
    "fit_frontier",
    "CriticalBatchLaw",
    "Conventions",
    "FitResult",
    "Form",
    "Law",
    "Prior",
    "backtest",
    "fit",
    "get_form",
    "get_law",
    "law_names",
    "load_law",
    "loss_law",
    "rollout",
    "validate_runs",
]
