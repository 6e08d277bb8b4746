"""Issue 14: the report's headline uses the method that extrapolated best to the largest budget, and
says so."""

from __future__ import annotations

import math

import numpy as np
import pytest
from report_synth import TRUE, demo_study, optimum

import lmscale.report.analysis as analysis_module
from lmscale.fit.select import ranks_above
from lmscale.reference import load_epoch2024
from lmscale.report.analysis import analyse
from lmscale.report.data import from_frames
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
    if sel.best in ("approach1", "approach2") and ranks_above(sel, sel.best, "approach3"):
        assert demo.headline_name == sel.best
        assert s.facts["N_opt"] == pytest.approx(demo.headline.target["N_opt"])
        assert f"from approach {sel.best[-1]}" in text(s, "Prediction at the target budget")
    else:
        assert demo.headline_name == "approach3"
    assert s.facts["headline_method"] == demo.headline_name
    assert "The headline uses approach" in text(s, "How far to trust the extrapolation")
    # Whatever was chosen, the quoted allocation is near the truth 100x beyond the largest run.
    true_n, _ = optimum(demo.target_flops, TRUE)
    if "N_opt" in s.facts:
        assert abs(math.log10(s.facts["N_opt"] / true_n)) < 0.15


def test_errors_quoted_are_the_selection_table(demo) -> None:
    s = summarise(demo)
    table = demo.selection.table.set_index("method")["N_opt_error_dex"].dropna()
    assert s.facts["method_errors_dex"] == pytest.approx(table.to_dict())
    for m, e in table.items():
        assert f"{m.replace('approach', 'approach ')} {e:.3f}" in text(s, "How far to trust the extrapolation")


def test_an_unidentified_best_method_is_not_quoted(monkeypatch) -> None:
    d = demo_study()
    monkeypatch.setattr(analysis_module, "MAX_HEADLINE_DECADES", 1e-6)
    a = analyse(from_frames(d["runs"], d["curves"]), bootstrap=BOOT)
    if a.selection.best not in ("approach1", "approach2") or not ranks_above(a.selection, a.selection.best, "approach3"):
        pytest.skip("the backtest did not prefer approach 1 or 2 on this study")
    assert a.headline is None and a.headline_name == "approach3"
    assert "spans" in a.headline_note
    assert "because its N_opt at the target spans" in text(summarise(a), "How far to trust the extrapolation")


def test_chinchilla_points_keep_approach_3_and_say_why() -> None:
    a = analyse(from_frames(load_epoch2024(drop_outliers=True)), bootstrap=BOOT, target_flops=5.76e23)
    s = summarise(a)
    assert a.headline_name == "approach3"
    n_opt, _ = a.main.optimal(5.76e23)
    assert s.facts.get("N_opt", float(n_opt)) == pytest.approx(float(n_opt), rel=1e-6)
    assert "The headline uses approach 3 (the L(N, D) law)" in text(s, "How far to trust the extrapolation")
    assert np.isfinite(s.facts["method_errors_dex"]["approach2"])
