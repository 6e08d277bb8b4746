"""`lmscale compare`: two studies as a compute multiplier. A study B that needs exactly k times A's
compute for every loss gives k back, with an interval that holds it; the exponents test as shared;
a B on another exponent is told apart; bad input is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.frontier import fit_frontier
from lmscale.fit.law import Law
from lmscale.plan.multiplier import compare_frontiers

AN, AD, NC, DC = 0.076, 0.103, 6.4e13, 1.8e13
K = 4.0  # B needs four times A's compute for any loss


def curves(tokens_factor: float = 1.0, exponent: float = AD, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Kaplan's L(N, D) curves (tests/fit/test_frontier.py); B trains each run on `tokens_factor`
    times the tokens for the same losses, so its frontier is A's at 1/tokens_factor of the compute."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, n in enumerate(np.geomspace(1e5, 1e9, 17)):
        d = np.geomspace(1e7, 1e12, 40)
        loss = ((NC / n) ** (AN / exponent) + DC / d) ** exponent * np.exp(rng.normal(0, noise)) * np.exp(rng.normal(0, noise / 5, len(d)))
        rows += [{"run": f"r{i}", "N": n, "tokens": t * tokens_factor, "loss": v} for t, v in zip(d, loss, strict=True)]
    return pd.DataFrame(rows)


def test_exact_multiplier_is_recovered_at_every_loss() -> None:
    a = fit_frontier(curves(), bootstrap=0, name="A")
    b = fit_frontier(curves(K), bootstrap=0, name="B")
    out = compare_frontiers(a, b, target_loss=3.0, compute=1e20, grid=np.geomspace(1e18, 1e22, 5))
    assert out.multiplier.value == pytest.approx(K, rel=1e-3)
    assert out.table["k"].to_numpy() == pytest.approx(K, rel=1e-3)
    assert out.exponent_gap.value == pytest.approx(0.0, abs=1e-6)
    # at matched compute B is worse by A's loss at C/K minus A's loss at C
    want = float(a.predict(C=1e20 / K) - a.predict(C=1e20))
    assert out.loss_gap.value == pytest.approx(want, rel=1e-3)
    assert out.shared_exponent is None and out.draws == 0  # no draws: nothing tested
    assert out.multiplier_decades is None


def test_noisy_multiplier_interval_holds_the_truth_and_exponents_test_shared() -> None:
    a = fit_frontier(curves(noise=0.01, seed=1), bootstrap=200, seed=1, name="A")
    b = fit_frontier(curves(K, noise=0.01, seed=2), bootstrap=200, seed=2, name="B")
    out = compare_frontiers(a, b, target_loss=3.0, compute=1e20)
    assert out.multiplier.low <= K <= out.multiplier.high
    assert out.multiplier.value == pytest.approx(K, rel=0.3)
    assert out.shared_exponent is True and out.draws == 200
    assert out.multiplier_decades == pytest.approx(np.log10(out.multiplier.high / out.multiplier.low))
    assert out.multiplier_decades < 1  # pinned within a decade: a number to act on
    d = out.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["multiplier"]["interval"] == [out.multiplier.low, out.multiplier.high]


def test_a_steeper_frontier_is_told_apart() -> None:
    a = fit_frontier(curves(noise=0.005, seed=3), bootstrap=200, seed=3, name="A")
    b = fit_frontier(curves(exponent=0.2, noise=0.005, seed=4), bootstrap=200, seed=4, name="B")
    out = compare_frontiers(a, b, target_loss=3.0, compute=1e20, grid=np.geomspace(1e18, 1e22, 3))
    assert out.shared_exponent is False
    assert out.exponent_gap.high < 0  # B's exponent is the larger
    k = out.table["k"].to_numpy()
    assert not np.allclose(k, k[0], rtol=0.05)  # the multiplier changes with scale


def test_bad_input_is_refused() -> None:
    a = fit_frontier(curves(), bootstrap=0)
    with pytest.raises(InputError, match="not a law of compute alone"):
        compare_frontiers(a, Law("chinchilla", {"E": 1.7, "A": 400, "B": 410, "alpha": 0.34, "beta": 0.28}), 3.0, 1e20)
    with pytest.raises(InputError, match="one form"):
        compare_frontiers(a, Law("power-e", {"E": 1.0, "A": 400.0, "alpha": 0.05}, x="C"), 3.0, 1e20)
    with pytest.raises(InputError, match="never reaches"):
        compare_frontiers(a, fit_frontier(curves(K), bootstrap=0), 1e-3, 1e20)


def test_cli_on_two_stored_studies(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    cli = [sys.executable, "-m", "lmscale"]
    for study, factor in (("english", 1.0), ("code", K)):
        table = curves(factor).rename(columns={"tokens": "D"})
        table["step"] = table.groupby("run").cumcount() + 1
        path = tmp_path / f"{study}.csv"
        table.to_csv(path, index=False)
        done = subprocess.run([*cli, "runs", "import", str(path), "--study", study, "--store", str(store)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*cli, "compare", "english", "code", "--store", str(store), "--bootstrap", "50", "--json", "-o", str(tmp_path / "c.json")],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["multiplier"]["value"] == pytest.approx(K, rel=0.02)
    assert out["a"] == "english" and len(out["table"]) == 12 and (tmp_path / "c.json").exists()
    page = tmp_path / "c.html"
    human = subprocess.run(
        [*cli, "compare", "english", "code", "--store", str(store), "--bootstrap", "20", "--html", str(page)],
        capture_output=True, text=True,
    )
    assert human.returncode == 0 and "k = C_B/C_A" in human.stdout and "k pinned down?" in human.stdout
    text = page.read_text()
    assert "data:image/png;base64," in text and "http" not in text.replace("http-equiv", "")  # self-contained
    bad = subprocess.run([*cli, "compare", "english", "nothing", "--store", str(store)], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such study" in bad.stderr
    # the same comparison as a section of the study's report
    report = tmp_path / "r.html"
    done = subprocess.run(
        [*cli, "report", "--study", "english", "--compare", "code", "--store", str(store), "--bootstrap", "10", "-o", str(report)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert 'id="comparison"' in report.read_text() and "needs 4" in report.read_text()
    alone = subprocess.run([*cli, "report", "--runs", str(tmp_path / "code.csv"), "--compare", "code", "-o", str(report)], capture_output=True, text=True)
    assert alone.returncode == 2 and "--compare goes with --study" in alone.stderr


def _store_study(store: Path, study: str, table: pd.DataFrame, bytes_per_token: float) -> None:
    """Record curves as lmscale runs whose primary eval set logs loss per token and bits per byte."""
    from lmscale.store import RunRecord, Store

    with Store(store) as st:
        for run, g in table.groupby("run"):
            n, steps = float(g["N"].iloc[0]), np.arange(1, len(g) + 1)
            per_token = g["loss"].to_numpy() * bytes_per_token  # the same text, cut into fewer tokens
            curve = pd.DataFrame({"step": steps, "tokens": g["tokens"].to_numpy(), "flops_6n": 6 * n * g["tokens"].to_numpy()})
            evals = pd.DataFrame({"step": steps, "eval_set": "text", "loss": per_token, "bpb": g["loss"].to_numpy() / np.log(2)})
            st.record_run(study, RunRecord(
                id=f"{study}-{run}", spec={"tokens": float(g["tokens"].max())}, status="completed", N=n,
                D=float(g["tokens"].max()), C_6ND=6 * n * float(g["tokens"].max()), loss=float(per_token[-1]),
                final={"primary_eval": "text"}, curve=curve, curve_evals=evals,
            ))


def test_bits_per_byte_compare_studies_with_different_tokenizers(tmp_path: Path) -> None:
    """B's tokenizer packs 4 bytes per token: per token its losses are 4x A's and its steps cover 4x the
    text, so in loss per token the two differ; in bits per byte B at k x A's compute is A's curve."""
    store = tmp_path / "s.db"
    _store_study(store, "bytes", curves(), 1.0)
    _store_study(store, "bpe", curves(K), 4.0)
    cli = [sys.executable, "-m", "lmscale", "compare", "bytes", "bpe", "--store", str(store), "--bootstrap", "20", "--json"]
    done = subprocess.run([*cli, "--unit", "bpb"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["unit"] == "bits per byte" and out["multiplier"]["value"] == pytest.approx(K, rel=0.02)
    per_token = json.loads(subprocess.run(cli, capture_output=True, text=True, check=True).stdout)
    assert per_token["unit"].startswith("loss") and per_token["loss_gap"]["value"] > 1.0  # nats per token: not comparable
    saved = tmp_path / "f.json"
    saved.write_text("{}")
    bad = subprocess.run([*cli[:4], str(saved), "bpe", "--store", str(store), "--unit", "bpb"], capture_output=True, text=True)
    assert bad.returncode == 2 and "keeps the unit it was fitted in" in bad.stderr and bad.stderr.count("\n") == 1
