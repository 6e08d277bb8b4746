"""Reports from Epoch's reference data, a synthetic demo study (DataFrames and a run store), and edge cases."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from report_checks import check_well_formed_and_self_contained, csv_links, img_bytes, png_size
from report_synth import ALPHA_B, B_STAR, BUDGETS, N_PER_BUDGET, TRUE, batch_sweep, demo_study, write_store

from lmscale.errors import InputError
from lmscale.report import build_from_input, build_report, load_reference, load_study
from lmscale.report.analysis import envelope
from lmscale.report.data import prepare_runs
from lmscale.report.summary import fmt

BOOT = 20
CHINCHILLA_BUDGET = 5.76e23


@pytest.fixture(scope="module")
def epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp("epoch") / "epoch.html"
    res = build_from_input(
        load_reference("epoch2024"),
        out,
        bootstrap=BOOT,
        target_flops=CHINCHILLA_BUDGET,
        overlays=("kaplan2020", "hoffmann2022", "epoch2024"),
    )
    return res, out.read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = demo_study()
    out = tmp_path_factory.mktemp("demo") / "demo.html"
    res = build_report(
        d["runs"], d["curves"], out, bootstrap=BOOT, evals=d["evals"], position_loss=d["position_loss"]
    )
    return res, out.read_text(), d


# ---- Epoch's 245 points ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_epoch_report_figures_and_skips(epoch):
    res, html = epoch
    # Approach 2 finds Chinchilla's 9 budgets (issue 14), so the IsoFLOP profiles are drawn.
    assert set(res.figures) == {
        "single_laws",
        "lnd_surface",
        "isoflop",
        "optimal_allocation",
        "backtest",
        "residuals",
    }
    # Everything the data cannot support is named with its reason, in the result and in the page.
    assert set(res.skipped) == {
        "Learning curves",
        "Critical batch size",
        "Shape study",
        "Transfer",
        "Per-token-position loss",
        "Loss under other schedules",
    }
    assert "no learning curves" in res.skipped["Learning curves"]
    for name in res.skipped:
        assert name in html


@pytest.mark.slow
def test_epoch_report_recovers_epoch_fit_and_lists_outliers(epoch):
    res, html = epoch
    main = res.analysis.main
    assert main.n_points == 240  # Epoch's five highest-loss points are left out, and listed
    assert len(res.analysis.data.failed) == 5
    # Besiroglu et al. 2024, Table 1: E = 1.82, A = 482, B = 2085, alpha = 0.35, beta = 0.37.
    assert main.params["E"] == pytest.approx(1.82, abs=0.03)
    assert main.params["alpha"] == pytest.approx(0.348, abs=0.01)
    assert main.params["beta"] == pytest.approx(0.366, abs=0.01)
    assert "Runs left out (5)" in html


@pytest.mark.slow
def test_epoch_html_valid_and_self_contained(epoch):
    _, html = epoch
    c = check_well_formed_and_self_contained(html)
    assert len(c.imgs) == 6
    for img in c.imgs:
        w, h = png_size(img_bytes(img))
        assert (int(img["width"]), int(img["height"])) == (w, h)
        assert w > 300 and h > 200


@pytest.mark.slow
def test_summary_numbers_match_the_fit(epoch):
    res, html = epoch
    a, f = res.analysis, res.summary.facts
    main = a.main
    n_opt, d_opt = main.optimal(CHINCHILLA_BUDGET)
    assert f["N_opt"] == pytest.approx(float(n_opt), rel=1e-6)
    assert f["D_opt"] == pytest.approx(float(d_opt), rel=1e-6)
    assert f["loss_target"] == pytest.approx(float(main.predict(N=n_opt, D=d_opt)), rel=1e-9)
    lo, hi = f["loss_target_ci"]
    assert lo < f["loss_target"] < hi
    assert f["a"] == pytest.approx(main.derived["a"])
    # The sentences quote these numbers as formatted.
    text = " ".join(s for ss in res.summary.sections.values() for s in ss)
    assert f"{fmt(float(n_opt))} parameters" in text
    assert f"predicted loss of {f['loss_target']:.3f}" in text
    assert f"{lo:.3f}–{hi:.3f}" in text
    assert f"{fmt(float(n_opt))} parameters" in html
    # 10x compute: the plan's what-if at the same law.
    from lmscale.plan import optimal

    ten = optimal(main, 10 * CHINCHILLA_BUDGET).loss.value
    assert f["loss_10x"] == pytest.approx(ten, rel=1e-9)
    assert f"to {ten:.3f}" in text
    # Backtest error sentence.
    bt = a.backtest.summary()
    assert f["backtest_mean_error"] == pytest.approx(bt["mean_abs_rel_error"])
    # one split: the loss backtest is the method backtest's approach 3 (largest IsoFLOP budget held out)
    assert a.backtest is a.selection.backtests["approach3"]
    assert bt["n_test"] == int(a.selection.truth["n_runs"].sum()) == 16 and bt["n_train"] == a.selection.n_train


@pytest.mark.slow
def test_csv_downloads_hold_the_plotted_data(epoch):
    res, html = epoch
    c = check_well_formed_and_self_contained(html)
    csvs = csv_links(c)
    assert {"fits.csv", "what_if.csv", *(f"{k}.csv" for k in res.figures)} <= set(csvs)
    fits = csvs["fits.csv"]
    e = fits[(fits["quantity"] == "E") & fits["fit"].str.startswith("L(N,D)")]
    assert e["value"].iloc[0] == pytest.approx(res.analysis.main.params["E"])
    bt = csvs["backtest.csv"]
    assert len(bt) == 16 and {"loss", "loss_pred", "pi_low", "pi_high"} <= set(bt.columns)


# ---- synthetic demo study -----------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_report_has_every_figure_but_batch(demo):
    res, html, _ = demo
    assert set(res.figures) == {
        "learning_curves",
        "single_laws",
        "lnd_surface",
        "isoflop",
        "optimal_allocation",
        "backtest",
        "residuals",
        "transfer",
        "position_loss",
    }
    # a table of runs carries no schedules (a store study does: tests/sweep/test_branches.py)
    assert list(res.skipped) == ["Critical batch size", "Shape study", "Loss under other schedules"]
    c = check_well_formed_and_self_contained(html)
    assert len(c.imgs) == 9
    for img in c.imgs:
        data = img_bytes(img)
        assert len(data) > 10_000  # a drawn figure, not a blank canvas


@pytest.mark.slow
def test_demo_recovers_the_true_allocation(demo):
    res, _, d = demo
    a = res.analysis
    true_a = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    lo, hi = a.main.ci["a"]
    assert lo < true_a < hi
    assert a.approach2.a == pytest.approx(true_a, abs=0.05)
    assert len(a.approach2.table) == len(BUDGETS)
    assert a.approach2.n_runs == len(BUDGETS) * N_PER_BUDGET
    # Curves CSV: every curve point plus the frontier points used.
    csv = csv_links(check_well_formed_and_self_contained(res.html.read_text()))["learning_curves.csv"]
    assert (csv["run"] != "frontier").sum() == len(d["curves"])
    assert (csv["run"] == "frontier").sum() == int(a.frontier.envelope["used"].sum())


@pytest.mark.slow
def test_the_three_approaches_sit_side_by_side_at_the_target(demo):
    res, html, _ = demo
    a = res.analysis
    t = csv_links(check_well_formed_and_self_contained(html))["approaches.csv"].set_index("method")
    assert "The three approaches at the target" in html
    assert list(t.index) == ["approach 1", "approach 2", "approach 3"]
    assert t.loc["approach 2", "a"] == pytest.approx(a.approach2.a)
    assert t.loc["approach 3", "N_opt at target"] == pytest.approx(a.allocation.N_opt.value)
    errors = a.selection.table.set_index("method")["N_opt_error_dex"]
    assert t.loc["approach 1", "backtest N_opt error (decades)"] == pytest.approx(errors["approach1"])
    for m, row in t.iterrows():  # identified means the 95% interval spans at most a decade
        assert (row["identified"] == "yes") == (np.log10(row["N high"] / row["N low"]) <= 1.0), m
    if a.headline is not None:  # the quoted allocation is its method's row
        assert t.loc[a.headline_name.replace("approach", "approach "), "N_opt at target"] == pytest.approx(
            res.summary.facts["N_opt"]
        )


@pytest.mark.slow
def test_next_dollar_sentence_follows_the_derivatives(demo):
    res, _, d = demo
    nd = res.summary.facts["next_dollar"]
    runs = d["runs"]
    top = runs[runs["C"] == runs["C"].max()].sort_values("loss").iloc[0]
    assert nd["N"] == top["N"]
    text = " ".join(res.summary.sections["Data or parameters?"])
    if nd["drop_more_data"] > 1.1 * nd["drop_more_params"]:
        assert "More data is the better next dollar" in text
    elif nd["drop_more_params"] > 1.1 * nd["drop_more_data"]:
        assert "More parameters are the better next dollar" in text
    else:
        assert "close to compute-optimal" in text


def test_store_study_with_failed_run(tmp_path):
    db = tmp_path / "s.db"
    demo = write_store(db, failed=1)
    data = load_study("demo", db)
    assert len(data.runs) == len(demo["runs"])
    assert list(data.failed["run"]) == ["crashed0"]
    assert data.failed["reason"].iloc[0] == "status failed: CUDA out of memory"
    assert data.curves is not None and data.curves["run"].nunique() == len(demo["runs"])
    assert "batch_tokens" in data.curves.columns and set(data.curves["batch_tokens"]) == {8 * 64}
    assert data.evals is not None and set(data.evals["eval_set"]) == {"english", "code"}
    assert data.position_loss is not None and len(data.position_loss) == 32 * len(demo["runs"])


def test_runs_exported_from_a_store(tmp_path):
    from lmscale.report import load_runs_csv
    from lmscale.store import Store
    from lmscale.store.io import export

    db = tmp_path / "s.db"
    demo = write_store(db, failed=1)
    with Store(db) as st:
        export(st, tmp_path / "exp", study="demo")
    data = load_runs_csv(tmp_path / "exp" / "runs.csv", tmp_path / "exp" / "curves.csv")
    assert sorted(data.runs["run"]) == sorted(demo["runs"]["run"])
    assert list(data.failed["run"]) == ["crashed0"]
    assert data.curves["run"].nunique() == len(demo["runs"])
    np.testing.assert_allclose(np.sort(data.runs["C"]), np.sort(demo["runs"]["C"]), rtol=1e-9)


def test_unknown_study_and_store(tmp_path):
    db = tmp_path / "s.db"
    write_store(db, failed=0)
    with pytest.raises(InputError, match="no such study.*studies: demo"):
        load_study("nope", db)
    with pytest.raises(InputError, match="no such store file"):
        load_study("demo", tmp_path / "missing.db")


def test_fit_cli_reads_a_study_in_its_conventions(tmp_path, capsys):
    """`lmscale fit --study` records what N and C count; --n total reads the store's total N."""
    import json

    from lmscale.cli.main import main

    def fit_json(*args: str) -> dict:
        try:
            main(["fit", "--study", "demo", "--store", str(db), "--bootstrap", "0", "--json", *args])
        except SystemExit as exc:
            assert not exc.code, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    def fit_error(*args: str) -> str:
        with pytest.raises(SystemExit) as exc:
            main(["fit", "--study", "demo", "--store", str(db), "--bootstrap", "0", *args])
        assert exc.value.code == 2
        return capsys.readouterr().err

    db = tmp_path / "s.db"
    demo = write_store(db, failed=1)
    default = fit_json()
    assert default["conventions"]["n"] == "non-embedding" and default["conventions"]["c"] == "6ND"
    assert default["n_points"] == len(demo["runs"])
    total = fit_json("--n", "total")
    assert total["conventions"]["n"] == "total"
    # N_total = 1.2·N in this store: the same losses over 1.2x larger N scale A by 1.2^alpha.
    assert total["params"]["alpha"] == pytest.approx(default["params"]["alpha"], rel=1e-3)
    frontier = fit_json("--form", "frontier")
    assert frontier["kind"] == "frontier" and frontier["conventions"]["c"] == "6ND"
    assert "C_c" in frontier["params"] and "source" in frontier
    err = fit_error("--c", "exact")
    assert len(err.strip().splitlines()) == 1 and "has no C_exact in the store" in err
    err = fit_error("--n", "unknown")
    assert "counts N both ways" in err


# ---- edge cases -------------------------------------------------------------------------------------
def test_one_model_size_still_renders(tmp_path):
    d = np.geomspace(1e7, 1e9, 6)
    runs = pd.DataFrame({"N": 1e6, "D": d, "loss": 2.0 + 50 / d**0.3})
    res = build_report(runs, out=tmp_path / "one.html", bootstrap=5)
    html = (tmp_path / "one.html").read_text()
    check_well_formed_and_self_contained(html)
    assert res.analysis.main is None
    assert "single model size" in res.analysis.skipped["L(N, D) fit"]
    assert "No L(N, D) law could be fitted" in html
    assert "L(N, D)" in res.skipped and "Backtest" in res.skipped


def test_batch_sweep_gives_critical_batch_figure(tmp_path):
    d = batch_sweep()
    res = build_report(d["runs"], d["curves"], tmp_path / "b.html", bootstrap=10)
    check_well_formed_and_self_contained((tmp_path / "b.html").read_text())
    assert "critical_batch" in res.figures and "learning_curves" in res.figures
    assert "runs resampled" in (tmp_path / "b.html").read_text()  # α_B's interval in the caption
    fit = res.analysis.batch.fit_bcrit(bootstrap=0)
    assert fit.B_star == pytest.approx(B_STAR, rel=0.01)
    assert fit.alpha_B == pytest.approx(ALPHA_B, rel=0.01)
    assert "single model size" in res.analysis.skipped["L(N, D) fit"]  # one size: no L(N, D), but no crash


def test_shape_study(tmp_path):
    d = demo_study(shape=True)
    res = build_report(d["runs"], out=tmp_path / "s", bootstrap=0, fmt="png")
    assert "shape" in res.figures
    data = pd.read_csv(tmp_path / "s" / "shape.csv")
    assert set(data["run"]) == {"shape-L2", "shape-L4", "shape-L8", "shape-L16"}
    ours = data[data["run"].str.startswith("shape-")]
    assert ours["D"].nunique() == 1
    best = ours.loc[ours["loss"].idxmin(), "aspect"]
    assert 25 < best < 100  # the synthetic penalty is smallest near d_model/n_layer = 50


def test_no_completed_runs_still_renders(tmp_path):
    runs = pd.DataFrame(
        {"N": [1e6, 2e6], "D": [1e8, 1e8], "loss": [np.nan, 3.0], "status": ["failed", "diverged"]}
    )
    res = build_report(runs, out=tmp_path / "none.html", bootstrap=5)
    html = (tmp_path / "none.html").read_text()
    check_well_formed_and_self_contained(html)
    assert res.figures == {}
    assert "no completed run" in html and "Runs left out (2)" in html


@pytest.mark.slow
def test_png_format_writes_figures_and_data(tmp_path):
    d = demo_study()
    res = build_report(d["runs"], out=tmp_path / "figs", bootstrap=0, fmt="png")
    assert res.html is None
    for key, path in res.figures.items():
        w, h = png_size(path.read_bytes())
        assert w > 300 and h > 200
        assert (tmp_path / "figs" / f"{key}.csv").is_file()
    assert "isoflop" in res.figures and "learning_curves" not in res.figures


def test_bad_arguments(tmp_path):
    runs = demo_study()["runs"]
    with pytest.raises(InputError, match="unknown law 'chinchilla'"):
        build_report(runs, out=tmp_path / "x.html", overlays=("chinchilla",))
    with pytest.raises(InputError, match="--target-flops"):
        build_report(runs, out=tmp_path / "x.html", target_flops=-1)
    with pytest.raises(InputError, match="missing column.*loss"):
        build_report(runs.drop(columns="loss"), out=tmp_path / "x.html")
    with pytest.raises(InputError, match="column 'N' data row 2: 'abc' is not a number"):
        build_report(runs.assign(N=["1e6", "abc", *runs["N"].iloc[2:]]), out=tmp_path / "x.html")
    with pytest.raises(InputError, match="is a folder"):
        build_report(runs, out=tmp_path, bootstrap=0)


# ---- small pieces ----------------------------------------------------------------------------------
def test_envelope_matches_a_brute_force_count():
    rng = np.random.default_rng(3)
    runs = pd.DataFrame(
        {
            "run": [f"r{i}" for i in range(40)],
            "N": rng.integers(1, 12, 40) * 1e6,
            "loss": rng.uniform(2, 4, 40),
        }
    )
    env = envelope(runs, "N")
    expect = [
        n
        for n in sorted(runs["N"].unique())
        if runs.loc[runs["N"] == n, "loss"].min()
        < np.min(runs.loc[runs["N"] < n, "loss"].to_numpy(), initial=np.inf)
    ]
    assert list(env["N"]) == expect
    assert np.all(np.diff(env["loss"]) < 0)


def test_prepare_runs_accounting_and_failures():
    df = pd.DataFrame(
        {
            "N": [1e6, 2e6, 3e6],
            "D": [1e8, 2e8, 3e8],
            "loss": [3.0, 2.9, None],
            "status": ["completed", "Diverged", "completed"],
        }
    )
    with pytest.raises(InputError, match="column 'loss' data row 3: missing or NaN"):  # as fit says
        prepare_runs(df)
    ok, failed, notes = prepare_runs(df.iloc[:2])
    assert list(ok["C"]) == [6e14]
    assert list(failed["reason"]) == ["status Diverged"]  # a failed run's numbers are not checked
    assert "6·N·D" in notes[0]
    ok, _, notes = prepare_runs(pd.DataFrame({"N": [1e6], "C": [1.2e15], "loss": [3.0]}))
    assert ok["D"].iloc[0] == pytest.approx(2e8) and "C/(6·N)" in notes[0]


def test_fmt():
    assert fmt(5.76e23) == "5.76e23"
    assert fmt(12800.0) == "12,800"
    assert fmt(0.123456) == "0.123"
    assert fmt(2.5e-4) == "2.50e-4"
    assert fmt(math.nan) == "n/a"


def test_report_never_imports_torch():
    code = (
        "import sys, lmscale.report, lmscale.cli.report, lmscale.report.figures\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
