"""Issue 14: the report's headline uses the method that extrapolated best to the largest budget, and
says so."""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_synth import TRUE, demo_study, optimum

import lmscale.report.headline as headline_module
from lmscale.fit.select import ranks_above, tied_with_best
from lmscale.reference import load_epoch2024
from lmscale.report.analysis import analyse
from lmscale.report.data import from_frames
from lmscale.report.figures import optimal_allocation
from lmscale.report.summary import summarise

BOOT = 50


def text(summary, section: str) -> str:
    return " ".join(summary.sections.get(section, []))


@pytest.fixture(scope="module")
def demo():
    d = demo_study()
    return analyse(from_frames(d["runs"], d["curves"]), bootstrap=BOOT)


def test_demo_headline_is_the_best_backtested_method(demo) -> None:
    sel = demo.selection
    assert sel is not None and sel.best is not None
    s = summarise(demo)
    expected = tuple(
        m for m in tied_with_best(sel) if m in ("approach1", "approach2") and ranks_above(sel, m, "approach3")
    )
    assert demo.candidates == expected
    if demo.headline is not None:
        assert demo.headline_name in expected
        assert s.facts["N_opt"] == pytest.approx(demo.headline.target["N_opt"])
        assert f"from approach {demo.headline_name[-1]}" in text(s, "Prediction at the target budget")
    else:
        assert demo.headline_name == "approach3"
        assert bool(demo.headline_note) == bool(expected)  # a candidate left out is explained
    assert s.facts["headline_method"] == demo.headline_name
    assert "The headline uses approach" in text(s, "How far to trust the extrapolation")
    # Whatever was chosen, the quoted allocation is near the truth 100x beyond the largest run.
    true_n, _ = optimum(demo.target_flops, TRUE)
    if "N_opt" in s.facts:
        assert abs(math.log10(s.facts["N_opt"] / true_n)) < 0.15


def test_the_allocation_figure_marks_the_allocation_the_summary_quotes(demo) -> None:
    spec = optimal_allocation(demo)
    ax_n = spec.figure.axes[0]
    marks = [line for line in ax_n.get_lines() if line.get_marker() == "D"]
    assert len(marks) == 1
    facts = summarise(demo).facts
    if "N_opt" in facts:
        assert marks[0].get_ydata()[0] == pytest.approx(facts["N_opt"])
    if demo.headline is not None:  # not approach 3's optimum, which the figure also draws as a line
        assert f"the allocation the summary quotes, from approach {demo.headline_name[-1]}" in spec.caption
        assert "no recommendation" not in spec.caption


def test_errors_quoted_are_the_selection_table(demo) -> None:
    s = summarise(demo)
    table = demo.selection.table.set_index("method")["N_opt_error_dex"].dropna()
    assert s.facts["method_errors_dex"] == pytest.approx(table.to_dict())
    for m, e in table.items():
        assert f"{m.replace('approach', 'approach ')} {e:.3f}" in text(s, "How far to trust the extrapolation")


def test_an_unidentified_best_method_is_not_quoted(monkeypatch) -> None:
    d = demo_study()
    monkeypatch.setattr(headline_module, "MAX_HEADLINE_DECADES", 1e-6)
    a = analyse(from_frames(d["runs"], d["curves"]), bootstrap=BOOT)
    if not a.candidates:
        pytest.skip("the backtest did not rank approach 1 or 2 above approach 3 on this study")
    assert a.headline is None and a.headline_name == "approach3"
    assert a.horizon_name == a.candidates[0] == a.selection.best
    assert "decades at the target (95% interval" in a.headline_note
    assert a.headline_note in text(summarise(a), "How far to trust the extrapolation")


def test_chinchilla_points_keep_approach_3_and_say_why() -> None:
    a = analyse(from_frames(load_epoch2024(drop_outliers=True)), bootstrap=BOOT, target_flops=5.76e23)
    s = summarise(a)
    assert a.headline_name == "approach3"
    n_opt, _ = a.main.optimal(5.76e23)
    assert s.facts.get("N_opt", float(n_opt)) == pytest.approx(float(n_opt), rel=1e-6)
    assert "The headline uses approach 3 (the L(N, D) law)" in text(s, "How far to trust the extrapolation")
    assert np.isfinite(s.facts["method_errors_dex"]["approach2"])


class _Widening:
    """An allocation N_opt = C^0.5 whose draws spread by σ = 0.1·log10(C/1e10) in ln N, so its 95%
    interval spans 2·1.96·σ/ln 10 decades: one decade at log10(C/1e10) = 5.87."""

    bootstrap, level = 4000, 0.95

    def optimal(self, C):
        return np.sqrt(C), np.sqrt(C) * 20

    def optimal_draws(self, C):
        z = np.random.default_rng(0).standard_normal((self.bootstrap, 1))
        sigma = 0.1 * np.log10(np.asarray(C) / 1e10)
        n = np.sqrt(C) * np.exp(z * sigma)
        return n, 20 * n


def test_identified_horizon_is_where_the_interval_reaches_a_decade() -> None:
    h = headline_module.identified_horizon(_Widening(), 1e10, 1e18, points=81)
    reach = math.log10(h["C"] / 1e10)
    assert 5.7 < reach <= 5.9  # the grid step is 0.1 decade
    assert math.log10(h["N_high"] / h["N_low"]) <= 1.0 and h["N_opt"] == pytest.approx(math.sqrt(h["C"]))
    assert headline_module.identified_horizon(_Widening(), 1e10, 1e14)["C"] == pytest.approx(1e14)
    # none where even the first budget is wider than a decade
    assert headline_module.identified_horizon(_Widening(), 1e17, 1e18) is None


def test_an_interval_that_drops_failed_resamples_says_so() -> None:
    from types import SimpleNamespace

    from lmscale.report.method_choice import conditional_interval

    assert conditional_interval(SimpleNamespace(n_bootstrap_failed=0, bootstrap=1000)) == ""
    said = conditional_interval(SimpleNamespace(n_bootstrap_failed=220, bootstrap=1000))
    assert said.startswith("That interval comes from the 780 of 1000 resamples") and "(22%)" in said
