"""The runs a report proposes when the allocation is not identified: the study's next budgets, sizes
around the best-backtested method's N_opt, and their cost at the study's own measured throughput."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lmscale.report.analysis import Analysis
from lmscale.report.data import from_frames
from lmscale.report.next_runs import next_runs, next_runs_sentence


class _SqrtAllocation:
    def optimal(self, C):
        return np.sqrt(C), 20 * np.sqrt(C)


def _analysis(wall_time: list[float]) -> Analysis:
    runs = pd.DataFrame(
        {
            "N": [100.0, 200, 300, 400],
            "D": [1e6 / 600, 1e6 / 1200, 1e7 / 1800, 1e7 / 2400],
            "loss": [3.0, 2.9, 2.8, 2.7],
            "budget": [1e9, 1e9, 1e10, 1e10],
            "wall_time": wall_time,
        }
    )
    runs["C"] = 6 * runs["N"] * runs["D"] * 1e3
    a = Analysis(from_frames(runs), 1e14, True, 0)
    a.allocation_fits, a.selection = {"approach2": _SqrtAllocation()}, SimpleNamespace(best="approach2")
    return a


def test_next_budgets_sizes_and_cost() -> None:
    a = _analysis([1.0, 1.0, 4.0, 6.0])
    nr = next_runs(a)
    assert nr.budgets == pytest.approx((1e11, 1e12))  # the study's own step (10x), continued
    assert nr.method == "approach2"
    assert nr.sizes[0] == pytest.approx(tuple(np.sqrt(1e11) * f for f in (0.25, 0.5, 1, 2, 4)))
    top_c = float(a.data.runs.loc[a.data.runs["budget"] == 1e10, "C"].sum())
    assert nr.rate == pytest.approx(top_c / 10.0)  # the largest budget's runs only: 4 s + 6 s
    assert nr.flops == pytest.approx(5 * (1e11 + 1e12)) and nr.seconds == pytest.approx(nr.flops / nr.rate)
    said = next_runs_sentence(nr)
    assert said.startswith("Runs that would test the allocation further: 5 model sizes at each of 1.00e11 and")


def test_no_proposal_without_run_times() -> None:
    assert next_runs(_analysis([0.0, 0.0, 0.0, 0.0])) is None
    assert next_runs_sentence(None) == ""
