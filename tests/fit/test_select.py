"""--form auto: every method backtested on the largest budget, the best one fitted on all the data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lmscale.cli.main import main
from lmscale.errors import InputError
from lmscale.fit.select import METHODS, _indistinguishable, compare_methods

TRUE = {"E": 1.7, "A": 120.0, "B": 400.0, "alpha": 0.34, "beta": 0.30}
BUDGETS = (1e15, 3e15, 1e16, 3e16, 1e17, 3e17)


def law(n, d):
    return TRUE["E"] + TRUE["A"] / n ** TRUE["alpha"] + TRUE["B"] / d ** TRUE["beta"]


def true_n_opt(c: float) -> float:
    a = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    g = (TRUE["alpha"] * TRUE["A"] / (TRUE["beta"] * TRUE["B"])) ** (1 / (TRUE["alpha"] + TRUE["beta"]))
    return g * (c / 6) ** a


def study(seed: int = 0, sizes: int = 7, noise: float = 0.003) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An IsoFLOP design around the true optimum of each budget, with learning curves."""
    rng = np.random.default_rng(seed)
    runs, curves = [], []
    for c in BUDGETS:
        for j, n in enumerate(true_n_opt(c) * np.geomspace(1 / 4, 4, sizes)):
            d = c / (6 * n)
            tokens = np.geomspace(d / 30, d, 12)
            loss = law(n, tokens) * np.exp(rng.normal(0, noise, tokens.size))
            run = f"c{c:.0e}-n{j}"
            curves.append(pd.DataFrame({"run": run, "N": n, "tokens": tokens, "C": 6 * n * tokens, "loss": loss}))
            runs.append({"run": run, "N": n, "D": d, "C": c, "loss": float(loss[-1])})
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


@pytest.fixture(scope="module")
def selection():
    runs, curves = study()
    return compare_methods(runs, curves, holdout=1, bootstrap=50)


def test_every_method_is_scored_against_the_held_out_budget(selection) -> None:
    t = selection.table.set_index("method")
    assert list(t.index) == list(METHODS)
    assert selection.truth["C"].tolist() == pytest.approx([3e17])
    assert selection.n_train == 5 * 7 and selection.train_max_C == pytest.approx(1e17)
    # The held-out budget's own minimum is near the true optimum, so it is a fair yardstick.
    assert abs(np.log10(selection.truth["N_opt"].iloc[0] / true_n_opt(3e17))) < 0.05
    for m in ("approach1", "approach2", "approach3"):
        assert t.loc[m, "N_opt_error_dex"] < 0.12, m
    assert t.loc["approach3", "loss_opt_error"] < 0.01
    assert 0 <= t.loc["approach3", "runs_coverage"] <= 1
    assert np.isfinite(t.loc["frontier", "loss_opt_error"])
    assert t.loc["data-constrained", "note"].startswith("not applicable: needs a column U")
    assert selection.best == t["N_opt_error_dex"].astype(float).idxmin()


def test_without_curves_the_curve_methods_say_why() -> None:
    runs, _ = study(seed=1)
    sel = compare_methods(runs, None, bootstrap=0)
    notes = sel.table.set_index("method")["note"]
    assert "needs learning curves" in notes["approach1"] and "needs learning curves" in notes["frontier"]
    assert sel.best in ("approach2", "approach3")


def test_too_few_budgets_for_the_holdout() -> None:
    runs, _ = study()
    with pytest.raises(InputError, match="holding out 5 needs at least 7"):
        compare_methods(runs, holdout=5, bootstrap=0)


def test_a_tie_within_the_truths_own_uncertainty_is_said() -> None:
    table = pd.DataFrame({"method": ["approach2", "approach3"], "N_opt_error_dex": [0.05, 0.08]})
    truth = pd.DataFrame({"N_opt_low": [1e9], "N_opt_high": [1e9 * 10**0.1]})  # ±0.05 decades
    assert "approach3 predicted N_opt within that of approach2" in _indistinguishable(table, truth, "approach2")
    narrow = truth.assign(N_opt_high=1e9 * 10**0.02)
    assert _indistinguishable(table, narrow, "approach2") == ""


def test_cli_auto_fits_the_chosen_method(tmp_path, capsys) -> None:
    runs, curves = study()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    curves.to_csv(tmp_path / "curves.csv", index=False)
    out = tmp_path / "auto.json"
    args = ["fit", str(tmp_path / "runs.csv"), "--curves", str(tmp_path / "curves.csv"), "--form", "auto"]
    main([*args, "--bootstrap", "50", "--json", "-o", str(out)])
    payload = json.loads(capsys.readouterr().out)
    best = payload["selection"]["best"]
    assert payload["form"] == {"approach3": "chinchilla"}.get(best, best)
    assert len(payload["selection"]["methods"]) == len(METHODS)
    assert json.loads(out.read_text())["selection"]["best"] == best
    fitted = payload["fit"]
    a = fitted["params"]["a"] if "a" in fitted["params"] else fitted["derived"]["a"]
    assert a == pytest.approx(TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"]), abs=0.05)
    main([*args, "--bootstrap", "20"])
    text = capsys.readouterr().out
    assert f"chosen: {best}" in text and "held-out minimum at C = 3e+17" in text


def test_cli_auto_bad_holdout_is_one_line_exit_2(tmp_path) -> None:
    runs, _ = study()
    runs.to_csv(tmp_path / "runs.csv", index=False)
    p = subprocess.run(
        [sys.executable, "-m", "lmscale", "fit", str(tmp_path / "runs.csv"), "--form", "auto", "--holdout", "9"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 2
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "holding out 9 needs at least 11" in lines[0], p.stderr


def test_curves_alone_with_parabola_refine(tmp_path, capsys) -> None:
    """approach1 reads only learning curves: --curves F is a source of its own."""
    _, curves = study()
    curves.to_csv(tmp_path / "curves.csv", index=False)
    cmd = ["fit", "--curves", str(tmp_path / "curves.csv"), "--form", "approach1", "--bootstrap", "0"]
    main([*cmd, "--refine", "parabola", "--json"])
    refined = json.loads(capsys.readouterr().out)
    main([*cmd, "--json"])
    plain_fit = json.loads(capsys.readouterr().out)
    true_a = TRUE["beta"] / (TRUE["alpha"] + TRUE["beta"])
    assert refined["params"]["a"] == pytest.approx(true_a, abs=0.05)
    assert refined["params"]["a"] != plain_fit["params"]["a"]
    main([*cmd, "--refine", "parabola"])  # without --json: a table, with a as fitted
    table = " ".join(capsys.readouterr().out.split())
    assert "approach 1 (envelope of learning curves) of" in table and f"a │ {refined['params']['a']:.4g}" in table


def test_approach2_table_lists_every_budget(capsys) -> None:
    """On Chinchilla's points the terminal table shows the 9 budgets, 8 used and the largest at the edge."""
    main(["fit", "--reference", "epoch2024", "--drop-outliers", "--form", "approach2", "--bootstrap", "0"])
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("│") and ("yes" in ln or "no:" in ln)]
    assert len(rows) == 9 and sum("│      yes │" in r for r in rows) == 8
    assert "2.96e21" in rows[-1] and "no: edge" in rows[-1]
    assert "8 budgets used" in " ".join(out.split())


def test_chinchilla_points_auto(capsys) -> None:
    main(["fit", "--reference", "epoch2024", "--drop-outliers", "--form", "auto", "--bootstrap", "50", "--json"])
    sel = json.loads(capsys.readouterr().out)["selection"]
    notes = {m["method"]: m["note"] for m in sel["methods"]}
    assert "needs learning curves" in notes["approach1"]
    assert sel["best"] in ("approach2", "approach3") and len(sel["held_out"]) == 1


def test_isoflop_budgets_given_on_the_command_line(capsys) -> None:
    """Hoffmann et al.'s nine nominal budgets, given as a list: every one gets a row."""
    nominal = "6e18,1e19,3e19,6e19,1e20,3e20,6e20,1e21,3e21"
    main(["fit", "--reference", "epoch2024", "--drop-outliers", "--form", "approach2", "--bootstrap", "0",
          "--isoflop-budgets", nominal, "--json"])
    d = json.loads(capsys.readouterr().out)
    assert [round(r["C"], -17) for r in d["table"]] == [float(v) for v in nominal.split(",")]
