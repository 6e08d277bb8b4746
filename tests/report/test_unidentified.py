"""Issue 14: an unidentified quantity is never a headline, in the summary, the report page or the demo.

The unidentified case is a real fit: runs from a law with no floor (E = 0) and 1% noise over two
decades of compute, so E's interval reaches 0 and the optimum at 100x the largest run spans decades.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_checks import check_well_formed_and_self_contained
from report_synth import demo_study

from lmscale.demo import DemoResult, summary_lines
from lmscale.fit import fit
from lmscale.fit.law import budget_key
from lmscale.plan import optimal, what_if
from lmscale.report.analysis import Analysis, next_dollar
from lmscale.report.data import from_frames
from lmscale.report.html import fit_table, render_html
from lmscale.report.identify import flags, mentions
from lmscale.report.summary import fmt, summarise

BOOT = 30


def no_floor_runs(seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    """4 sizes at each of 5 budgets from 1e9 to 1e11 FLOPs, L = 8/N^0.06 + 12/D^0.15 (no floor)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in (1e9, 3e9, 1e10, 3e10, 1e11):
        for f in np.geomspace(1 / 4, 4, 4):
            n = 300 * (c / 1e9) ** 0.5 * f
            d = c / (6 * n)
            rows.append({"N": n, "D": d, "loss": (8 / n**0.06 + 12 / d**0.15) * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def analysis_of(runs: pd.DataFrame, target: float) -> Analysis:
    """The report's Analysis with the L(N, D) fit and the plan steps built on it (what analyse does,
    without the backtest and single-variable fits these tests do not read)."""
    data = from_frames(runs)
    main = fit(data.runs, "chinchilla", bootstrap=BOOT, seed=0, budgets=(target,))
    a = Analysis(data, target, False, BOOT, main=main)
    a.allocation, a.whatif = optimal(main, target), what_if(main, target)
    a.next_dollar = next_dollar(main, data.runs)
    return a


def text_of(a: Analysis) -> str:
    return " ".join(s for ss in summarise(a).sections.values() for s in ss)


@pytest.fixture(scope="module")
def unidentified() -> Analysis:
    return analysis_of(no_floor_runs(), 1e13)


@pytest.fixture(scope="module")
def identified() -> Analysis:
    return analysis_of(demo_study()["runs"], 1e19)


def test_the_no_floor_fit_flags_e_and_the_optimum(unidentified):
    fl = flags(unidentified.main, unidentified.target_flops)
    assert fl.floor
    assert budget_key("tokens_per_param", 1e13) in fl.optimum
    assert any("spans" in w for w in fl.warnings) and any("reaches 0" in w for w in fl.warnings)


def test_summary_withholds_an_unidentified_optimum(unidentified):
    a = unidentified
    text, facts = text_of(a), summarise(a).facts
    al = a.allocation
    # The point estimate is never stated, nor kept as a fact a caller could quote as the plan.
    assert f"{fmt(al.tokens_per_param.value)} tokens per parameter" not in text
    assert f"{fmt(al.N_opt.value)} parameters" not in text
    assert "compute-optimal model has about" not in text
    assert "N_opt" not in facts and "D_opt" not in facts
    # Instead: it is not identified, why (the fit's own warning) and what would identify it.
    assert "tokens per parameter at this budget are not identified by this data" in text
    key = budget_key("tokens_per_param", 1e13)
    assert next(w for w in a.main.warnings if w.startswith(key)) in text
    assert "What would identify them: more compute budgets" in text
    assert "recommends no model size or tokens per parameter" in text
    assert set(facts["unidentified"]) == set(a.main.unidentified)


def test_summary_says_the_floor_is_not_identified(unidentified):
    text = text_of(unidentified)
    assert "E (the irreducible loss) is not identified by this data. Why: " in text
    assert "E's interval reaches 0" in text
    assert "What would identify it: larger runs" in text
    assert "of the loss above the fitted floor" not in text  # the 10x share of an unidentified floor
    assert "the floor E is not identified" in text
    assert "the fit's optimum at that compute is" not in text  # next dollar
    assert "so they are rough" in text  # the what-if shares from the unidentified optimum


def test_report_page_flags_the_unidentified_quantities(unidentified):
    a = unidentified
    html = render_html("t", a, summarise(a), [], {})
    check_well_formed_and_self_contained(html)
    box = html[html.index('<div class="flag"') : html.index("</div>")]
    assert html.index('<div class="flag"') < html.index("<h3>Prediction at the target budget</h3>")
    assert "Not identified by this data" in box
    for name in a.main.unidentified:
        assert name in box
    assert "reaches 0" in box and "spans" in box
    assert "they are not a plan" in html  # the what-if table's caveat
    table = fit_table(a)
    marked = table.loc[table["note"] == "not identified", "quantity"]
    assert set(marked) == set(a.main.unidentified)


def test_demo_printout_withholds_the_optimum(unidentified):
    a = unidentified
    res = DemoResult("s", "demo", None, None, None, None, {}, a.main, None)
    lines = "\n".join(summary_lines(res, a))
    assert "Compute-optimal tokens per parameter at" not in lines
    assert fmt(a.allocation.tokens_per_param.value) not in lines
    assert "Approach 3's compute-optimal allocation at 1.00e13 FLOPs is not identified by this data" in lines
    assert "(not identified)" in lines.splitlines()[1]  # E's entry in the fitted law


def test_identified_fit_keeps_its_headline(identified):
    a = identified
    assert not flags(a.main, a.target_flops)
    text = text_of(a)
    al = a.allocation
    assert (
        f"about {fmt(al.N_opt.value)} parameters trained on {fmt(al.D_opt.value)} tokens "
        f"({fmt(al.tokens_per_param.value)} tokens per parameter)" in text
    )
    assert "not identified" not in text and "of the loss above the fitted floor" in text
    html = render_html("t", a, summarise(a), [], {})
    assert 'class="flag"' not in html
    res = DemoResult("s", "demo", None, None, None, None, {}, a.main, None)
    assert any(line.startswith("Compute-optimal tokens per parameter at") for line in summary_lines(res, a))


def test_mentions_matches_whole_names_only():
    assert mentions("E's interval reaches 0 (lower end 1e-11)", "E")
    assert mentions("the 95% interval of E reaches its bound: E is not identified", "E")
    assert not mentions("N_opt@C=1e+13: its 95% interval 2–83 spans 1.6 decades", "E")
    assert mentions("N_opt@C=1e+13: its 95% interval spans 1.6 decades", "N_opt@C=1e+13")
    assert not mentions("N_opt@C=1e+13: its interval spans 1.6 decades", "N_opt@C=1e+1")
    assert mentions("R_D*: the objective has 2 basins", "R_D*")
