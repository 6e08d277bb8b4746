"""Replication framework and the scaling / compute / chinchilla analyses on synthetic runs with known truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.replicate import Finding, StudyResult
from lmscale.replicate.chinchilla import analyse_chinchilla
from lmscale.replicate.compute import analyse_compute
from lmscale.replicate.context import Context
from lmscale.replicate.scaling import analyse_scaling

ALPHA_N, N_C = 0.08, 1e13  # truth for L(N) = (N_c/N)^α_N
ALPHA_S, S_C = 0.3, 2e3  # plus a data/steps term for learning curves


class FakeContext(Context):
    """A Context whose studies are in-memory frames (no store, no training)."""

    def __init__(self, runs: dict[str, pd.DataFrame], curves: dict[str, pd.DataFrame], bootstrap: int = 40):
        super().__init__(Path("/nonexistent.db"), bootstrap=bootstrap)
        self._runs, self._curves = runs, curves

    def runs(self, study: str, min_runs: int = 1) -> pd.DataFrame:
        if study not in self._runs or len(self._runs[study]) < min_runs:
            raise InputError(f"study {study!r} has too few runs")
        return self._runs[study]

    def curves(self, study: str) -> pd.DataFrame:
        if study not in self._curves:
            raise InputError(f"study {study!r} has no learning curves")
        return self._curves[study]


def _kaplan_study(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Eight sizes, 1e7 tokens each; L(N, tokens) = (N_c/N)^α_N + (S_c/steps)^α_S, 0.3% noise."""
    rng = np.random.default_rng(seed)
    sizes = np.geomspace(3e2, 1e6, 8)
    batch = 4096
    runs, curves = [], []
    for i, n in enumerate(sizes):
        d_model = max(4, int(round((n / 12) ** 0.5)))
        emb = 384 * d_model
        tokens = np.geomspace(batch * 10, 1e7, 30)
        loss = (N_C / n) ** ALPHA_N + (S_C / (tokens / batch)) ** ALPHA_S
        loss = loss * (1 + 0.003 * rng.standard_normal(loss.size))
        run = f"r{i}"
        curves.append(
            pd.DataFrame(
                {
                    "run": run,
                    "N": n,
                    "tokens": tokens,
                    "step": tokens / batch,
                    "loss": loss,
                    "flops_6n": 6 * n * tokens,
                    "flops_exact": 6 * (n + emb) * tokens,
                    "C": 6 * n * tokens,
                    "lr": 1e-3,
                }
            )
        )
        runs.append(
            {
                "run": run,
                "N": n,
                "N_total": n + emb,
                "D": 1e7,
                "C": 6 * n * 1e7,
                "C_exact": 6 * (n + emb) * 1e7,
                "loss": (N_C / n) ** ALPHA_N * (1 + 0.003 * rng.standard_normal()),
                "n_layer": 1 + i // 3,
                "d_model": d_model,
            }
        )
    return pd.DataFrame(runs), pd.concat(curves, ignore_index=True)


def test_finding_needs_a_known_verdict() -> None:
    with pytest.raises(ValueError, match="verdict must be one of"):
        Finding("k", "p", "o", "maybe", "c")  # type: ignore[arg-type]
    Finding("k", "p", "o", "inconclusive", "c")


def test_study_result_writes_json_markdown_tables(tmp_path: Path) -> None:
    res = StudyResult("s", "Title", numbers={"x": np.float64(1.5), "nan": float("nan")})
    res.findings.append(Finding("k", "paper says | 1", "we see 2", "partly", "crit", why="reason"))
    res.tables["t"] = pd.DataFrame({"a": [1.0, 2.0]})
    files = res.write(tmp_path / "s", {"runs": 3, "compute_6nd": 1e12, "wall_seconds": 5})
    names = {p.name for p in files}
    assert names == {"t.csv", "results.json", "findings.md"}
    data = json.loads((tmp_path / "s" / "results.json").read_text())
    assert data["numbers"] == {"x": 1.5, "nan": None} and data["findings"][0]["verdict"] == "partly"
    md = (tmp_path / "s" / "findings.md").read_text()
    assert "paper says \\| 1" in md and "**partly**" in md and "Why: reason" in md


def test_scaling_recovers_alpha_n_and_sample_efficiency() -> None:
    runs, curves = _kaplan_study()
    res = analyse_scaling(FakeContext({"kaplan-cpu": runs}, {"kaplan-cpu": curves}))
    alpha, lo, hi = res.numbers["L_N"]["alpha_N"]
    assert lo <= alpha <= hi and hi - lo < 0.02 and abs(alpha - ALPHA_N) < 0.003
    verdicts = {f.key: f.verdict for f in res.findings}
    assert verdicts["L(N) is a power law"] == "reproduced"
    assert verdicts["Sample efficiency"] == "reproduced"
    assert all(s["slope"] < 0 for s in res.numbers["sample_efficiency"]["slopes"])
    assert set(res.figures) == {"l_of_n", "embedding", "sample_efficiency"}


def test_scaling_refuses_a_narrow_range() -> None:
    runs, curves = _kaplan_study()
    narrow = runs.iloc[2:6]  # four sizes over 1.5 decades
    with pytest.raises(InputError, match="decades"):
        analyse_scaling(FakeContext({"kaplan-cpu": narrow}, {"kaplan-cpu": curves}))


def test_compute_frontier_and_allocation_exponent() -> None:
    runs, curves = _kaplan_study()
    res = analyse_compute(FakeContext({"kaplan-cpu": runs}, {"kaplan-cpu": curves}))
    # Minimising (N_c/N)^p + (S_c·6NB/C)^q over N gives N ∝ C^(q/(p+q)).
    a_true = ALPHA_S / (ALPHA_N + ALPHA_S)
    a6 = res.numbers["allocation"]["6ND"]["a"]
    assert abs(a6 - a_true) < 0.15, a6  # eight discrete sizes: the envelope is coarse
    keys = {f.key for f in res.findings}
    assert {"L(C_min) is a power law", "α_C value", "Compute-efficient N ∝ C^a"} < keys
    # the synthetic N_total adds 384·d_model to small models most: counting it lowers a
    assert res.numbers["allocation"]["exact_total"]["a"] < a6


def _chinchilla_study(seed: int = 0, embedding: float = 2e4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IsoFLOP runs and learning curves from L = E + A/N^α + B/D^β with α = β (so a = 0.5) in
    non-embedding N; every model also has `embedding` parameters, counted in N_total and C_exact."""
    rng = np.random.default_rng(seed)
    E, A, B, al = 1.0, 30.0, 40.0, 0.3

    def law(n: np.ndarray, d: np.ndarray) -> np.ndarray:
        return E + A / n**al + B / d**al

    rows = []
    for budget in (1e11, 3e11, 1e12, 3e12, 1e13):
        n_opt = (budget / 6) ** 0.5 * (A / B) ** (1 / (2 * al))
        for k in np.linspace(-1, 1, 7):
            n = n_opt * 4.0**k
            d = budget / (6 * n)
            rows.append(
                {
                    "run": f"b{budget:.0e}k{k:.2f}",
                    "N": n,
                    "N_total": n + embedding,
                    "D": d,
                    "C": budget,
                    "C_exact": 6 * (n + embedding) * d,
                    "budget": budget,
                    "loss": law(n, d) * (1 + 0.001 * rng.standard_normal()),
                }
            )
    curves = []
    for i, n in enumerate(np.geomspace(1e3, 1e6, 10)):
        tokens = np.geomspace(1e5, 1e8, 40)
        curves.append(
            pd.DataFrame(
                {
                    "run": f"c{i}",
                    "N": n,
                    "tokens": tokens,
                    "C": 6 * n * tokens,
                    "loss": law(n, tokens),
                    "lr": 1e-3,
                }
            )
        )
    return pd.DataFrame(rows), pd.concat(curves, ignore_index=True)


def test_chinchilla_three_approaches_agree_on_half() -> None:
    iso, curves = _chinchilla_study()
    res = analyse_chinchilla(FakeContext({"isoflop-cpu": iso}, {"kaplan-cpu": curves}))
    a = res.numbers["approaches"]["a"]
    for k in ("1", "2", "3"):
        assert abs(a[k][0] - 0.5) < 0.05, (k, a[k])
    verdicts = {f.key: f.verdict for f in res.findings}
    assert verdicts["The three approaches agree"] == "reproduced"
    assert verdicts["Backtest: approach 3 (loss)"] == "reproduced"


def test_chinchilla_conventions_shift_a_only_when_the_embedding_counts() -> None:
    # Optima of 2e4-3e5 parameters: 2e4 embedding parameters swell the small end of every profile,
    # so N_opt in total parameters grows more slowly with C (a falls), in both approaches.
    big = analyse_chinchilla(
        FakeContext({"isoflop-cpu": _chinchilla_study()[0]}, {"kaplan-cpu": _chinchilla_study()[1]})
    )
    conv = big.numbers["conventions"]
    # each IsoFLOP group sits at its runs' exact FLOPs, above the nominal 6ND budget
    assert all(
        c > b for c, b in zip(conv["approach2"]["budgets_exact"], (1e11, 3e11, 1e12, 3e12, 1e13), strict=True)
    )
    for approach in ("approach2", "approach3"):
        shift, lo, hi = conv[approach]["shift"]
        assert hi < -0.01 and lo <= shift <= hi, (approach, conv[approach])
    verdicts = {f.key: f.verdict for f in big.findings}
    assert verdicts["Porian et al.'s convention moves approach 2"] == "reproduced"
    assert verdicts["Pearce and Song's convention moves approach 3"] == "reproduced"
    iso, curves = _chinchilla_study(embedding=1.0)  # one parameter: no shift to find
    tiny = analyse_chinchilla(FakeContext({"isoflop-cpu": iso}, {"kaplan-cpu": curves}))
    assert abs(tiny.numbers["conventions"]["approach3"]["shift"][0]) < 1e-3
    verdicts = {f.key: f.verdict for f in tiny.findings}
    assert verdicts["Pearce and Song's convention moves approach 3"] == "not reproduced"


def test_cli_rejects_unknown_study_and_missing_store(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "lmscale", "replicate"]
    bad = subprocess.run([*cmd, "nosuch", "--no-train"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "unknown study 'nosuch'" in bad.stderr
    missing = subprocess.run(
        [*cmd, "scaling", "--no-train", "--store", str(tmp_path / "none.db"), "-o", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "no such store file" in missing.stderr
    assert not (tmp_path / "out").exists()


def test_replicate_writes_every_file_from_a_store(tmp_path: Path) -> None:
    """replicate() on a store of finished (synthetic) runs: no training, findings, index, export."""
    from lmscale.replicate.run import replicate
    from lmscale.store import RunRecord, Store

    runs, curves = _kaplan_study()
    records = []
    for r in runs.itertuples(index=False):
        cur = curves[curves["run"] == r.run]
        curve = pd.DataFrame(
            {
                "step": cur["step"].round().astype(int),
                "tokens": cur["tokens"],
                "flops_6n": cur["flops_6n"],
                "flops_exact": cur["flops_exact"],
                "train_loss": cur["loss"],
                "lr": cur["lr"],
            }
        )
        evals = pd.DataFrame({"step": curve["step"], "eval_set": "english", "loss": cur["loss"].to_numpy()})
        spec = {
            "shape": {"n_layer": int(r.n_layer), "d_model": int(r.d_model)},
            "batch_size": 32,
            "n_ctx": 128,
        }
        records.append(
            RunRecord(
                id=r.run,
                spec=spec,
                status="completed",
                N=r.N,
                N_total=r.N_total,
                D=r.D,
                C_6ND=r.C,
                C_exact=r.C_exact,
                loss=r.loss,
                wall_time=10.0,
                final={"primary_eval": "english"},
                curve=curve,
                curve_evals=evals,
            )
        )
    db = tmp_path / "s.db"
    with Store(db) as st:
        st.record_runs("kaplan-cpu", records)
    out = tmp_path / "out"
    outcomes = replicate(["scaling", "compute"], db, out, bootstrap=20, do_train=False)
    assert [o.study for o in outcomes] == ["scaling", "compute"]
    assert outcomes[0].verdicts["L(N) is a power law"] == "reproduced"
    meta = json.loads((out / "scaling" / "results.json").read_text())["meta"]
    assert meta["runs"] == 8 and meta["run_hours"] == pytest.approx(80 / 3600) and "cores" in meta["machine"]
    assert (out / "scaling" / "l_of_n.png").stat().st_size > 10_000
    index = (out / "README.md").read_text()
    assert "| [compute](compute/findings.md) | Compute-efficient N ∝ C^a |" in index
    assert "## Kaplan's main laws (" in index and "Not judged by today's criteria" not in index
    assert len(pd.read_csv(out / "store-export" / "kaplan-cpu" / "runs.csv")) == 8
    check = [sys.executable, "-m", "lmscale", "replicate", "--check", "-o", str(out)]
    assert subprocess.run(check, capture_output=True, text=True).returncode == 0
    path = out / "compute" / "results.json"
    data = json.loads(path.read_text())
    data["findings"][1]["criterion_sha"] = "0" * 16  # judged by an older version of the criterion
    path.write_text(json.dumps(data))
    stale = subprocess.run(check, capture_output=True, text=True)
    assert stale.returncode == 1 and "compute/α_C value: criterion changed" in stale.stdout


def test_replicate_help_lists_every_study() -> None:
    import inspect

    from lmscale.cli.replicate import replicate_command
    from lmscale.replicate.studies import STUDIES

    text = inspect.signature(replicate_command).parameters["studies"].default.help
    assert [name for name in STUDIES if name not in text] == []
