"""Issue 15: the headline's rule (lmscale.report.headline) on backtests built by hand, so each branch
is reached: methods the backtest cannot rank apart are candidates together, an unidentified one does not
veto an identified one, and two candidates that disagree at the target leave the allocation open."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from lmscale.fit.select import MethodSelection, tied_with_best
from lmscale.report.headline import choose_headline, method_table

HALF = 0.03  # the held-out minimum's own uncertainty, in decades


def selection(errors: dict[str, float]) -> MethodSelection:
    table = pd.DataFrame({"method": list(errors), "N_opt_error_dex": list(errors.values())})
    truth = pd.DataFrame({"N_opt_low": [2e4], "N_opt_high": [2e4 * 10 ** (2 * HALF)]})
    best = min((m for m in errors if math.isfinite(errors[m])), key=errors.get)
    return MethodSelection(table, truth, best, 30, 1e12)


def allocation(n: float, decades: float, a: float = 0.6, failed: int = 0) -> SimpleNamespace:
    """A fit whose N_opt at the target is n, with a 95% interval of ``decades`` centred on it in log,
    from 1000 resamples of which ``failed`` could not be refitted."""
    lo, hi = n * 10 ** (-decades / 2), n * 10 ** (decades / 2)
    target = {"N_opt": n, "ci": {"N_opt": (lo, hi)}}
    return SimpleNamespace(target=target, a=a, ci={"a": (a - 0.1, a + 0.1)}, n_bootstrap_failed=failed, bootstrap=1000)


# The demo on an AMD EPYC (docs/demo.md): approach 1 backtested 0.01 decades better than approach 2,
# inside the held-out minimum's ±0.03, and only approach 2's allocation at the target is identified.
AMD = {"approach1": 0.185, "approach2": 0.195, "approach3": 1.968, "frontier": math.nan}


def test_methods_within_the_held_out_uncertainty_are_tied() -> None:
    assert tied_with_best(selection(AMD)) == ["approach1", "approach2"]
    assert tied_with_best(selection({**AMD, "approach2": 0.25})) == ["approach1"]


def test_an_unidentified_best_does_not_veto_a_tied_identified_method() -> None:
    fits = {"approach1": allocation(5e4, 1.2), "approach2": allocation(8e4, 0.7)}
    choice = choose_headline(selection(AMD), fits)
    assert choice.method == "approach2" and choice.candidates == ("approach1", "approach2")
    assert "approach 1, which the backtest cannot rank above it, spans 1.2 decades" in choice.note


def test_the_choice_does_not_depend_on_which_tied_method_was_closer() -> None:
    fits = {"approach1": allocation(5e4, 1.2), "approach2": allocation(8e4, 0.7)}
    swapped = {**AMD, "approach1": AMD["approach2"], "approach2": AMD["approach1"]}
    assert choose_headline(selection(swapped), fits).method == choose_headline(selection(AMD), fits).method


def test_tied_methods_that_disagree_at_the_target_leave_it_open() -> None:
    fits = {"approach1": allocation(5e5, 1.2), "approach2": allocation(8e4, 0.7)}  # 5e5 > 8e4·10^0.35
    choice = choose_headline(selection(AMD), fits)
    assert choice.method == "approach3" and choice.horizon_method == ""
    assert choice.note.startswith("approach 2 and approach 1 tie in the backtest but disagree at the target")
    assert "outside approach 2's 95% interval" in choice.note


def test_a_clear_winner_is_quoted_alone() -> None:
    fits = {"approach1": allocation(5e4, 0.5), "approach2": allocation(5e6, 0.4)}
    choice = choose_headline(selection({**AMD, "approach2": 0.40}), fits)
    assert (choice.method, choice.candidates, choice.note) == ("approach1", ("approach1",), "")


def test_no_identified_candidate_gives_the_best_ones_horizon() -> None:
    fits = {"approach1": allocation(5e4, 1.2), "approach2": allocation(8e4, 1.6)}
    choice = choose_headline(selection(AMD), fits)
    assert (choice.method, choice.horizon_method) == ("approach3", "approach1")
    assert choice.note == (
        "approach 1 and approach 2, which the backtest cannot rank apart, span 1.2 and 1.6 decades at the "
        "target (95% intervals)"
    )
    one = choose_headline(selection({**AMD, "approach2": 0.4}), fits)
    assert one.note == "approach 1, the closest, spans 1.2 decades at the target (95% interval)"


def test_approach_3_keeps_the_headline_when_the_backtest_cannot_rank_it_lower() -> None:
    fits = {"approach1": allocation(5e4, 0.5), "approach2": allocation(8e4, 0.5)}
    choice = choose_headline(selection({**AMD, "approach3": 0.20}), fits)
    assert (choice.method, choice.candidates, choice.note) == ("approach3", (), "")
    assert choose_headline(None, fits).method == "approach3"
    assert choose_headline(selection(AMD), {}).method == "approach3"  # no fit: no candidate


def test_the_table_sets_the_three_approaches_side_by_side() -> None:
    fits = {"approach1": allocation(5e4, 1.2, a=0.59), "approach2": allocation(8e4, 0.7, a=0.73, failed=220)}
    law = SimpleNamespace(N_opt=SimpleNamespace(value=3e3, low=1e1, high=1e6))
    t = method_table(selection(AMD), fits, law, (0.5, 0.2, 0.9), 0.005).set_index("method")
    assert list(t["resamples failed (%)"]) == pytest.approx([0.0, 22.0, 0.5])
    assert list(t.index) == ["approach 1", "approach 2", "approach 3"]
    assert t.loc["approach 1", "backtest N_opt error (decades)"] == pytest.approx(0.185)
    assert t.loc["approach 2", "a"] == pytest.approx(0.73) and t.loc["approach 3", "a high"] == 0.9
    assert t.loc["approach 1", "decades"] == pytest.approx(1.2) and t.loc["approach 3", "decades"] == pytest.approx(5)
    assert list(t["identified"]) == ["no", "yes", "no"]
    empty = method_table(None, {}, None, None)
    assert empty["identified"].eq("no").all() and empty["a"].isna().all()
    assert empty["resamples failed (%)"].isna().all()


def test_an_allocation_without_an_interval_is_not_identified() -> None:
    law = SimpleNamespace(N_opt=SimpleNamespace(value=3e3, low=None, high=None))  # a fit without draws
    row = method_table(selection(AMD), {}, law, None).set_index("method").loc["approach 3"]
    assert row["N_opt at target"] == 3e3 and math.isnan(row["N low"])
    assert row["decades"] == math.inf and row["identified"] == "no"
