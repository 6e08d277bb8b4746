"""Curve tables: warmup exclusion rule, final points, log-log resampling, input validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lmscale.errors import InputError
from lmscale.fit.curves import (
    C_FROM_6ND,
    C_GIVEN,
    at_first_reach,
    exclude_warmup,
    final_points,
    interp_loglog,
    parabola_vertex,
    resample_curves,
    validate_curves,
)
from lmscale.jsonsafe import plain


def _two_runs() -> pd.DataFrame:
    """Run 'a' (N=1e5): tokens 10..100 step 10; run 'b' (N=4e5): tokens 20..200 step 20; 10 points each."""
    rows = []
    for run, n, step in (("a", 1e5, 10.0), ("b", 4e5, 20.0)):
        for k in range(1, 11):
            t = step * k
            rows.append({"run": run, "N": n, "tokens": t, "loss": 5.0 * t**-0.1})
    return pd.DataFrame(rows)


def test_fraction_rule_drops_exact_counts_per_run() -> None:
    df = _two_runs()
    res = exclude_warmup(df, min_fraction=0.25)
    # Independent count: points with tokens < 0.25 * last tokens of the run.
    expected = {r: int((g["tokens"] < 0.25 * g["tokens"].max()).sum()) for r, g in df.groupby("run")}
    assert expected == {"a": 2, "b": 2}
    per_run = res.dropped.set_index("run")
    assert per_run["n_dropped"].to_dict() == expected
    assert per_run["by_fraction"].to_dict() == expected
    assert res.n_dropped == 4
    assert len(res.kept) == len(df) - 4
    assert res.kept.groupby("run")["tokens"].min().to_dict() == {"a": 30.0, "b": 60.0}
    assert res.lr_rule == "none"
    json.dumps(res.to_dict(), allow_nan=False)


def test_lr_trace_drops_points_before_the_peak() -> None:
    df = _two_runs()
    # Run a: LR rises over its first 4 evals, peaks at the 5th, then decays; run b is constant.
    lr_a = [0.1, 0.2, 0.3, 0.4, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5]
    df["lr"] = lr_a + [1.0] * 10
    res = exclude_warmup(df.sample(frac=1.0, random_state=0), min_fraction=0.0)  # order must not matter
    per_run = res.dropped.set_index("run")
    assert per_run.loc["a", "by_lr"] == 4 and per_run.loc["b", "by_lr"] == 0
    assert res.lr_rule == "lr"
    assert res.kept[res.kept["run"] == "a"]["tokens"].min() == 50.0


def test_explicit_flags_take_precedence_and_overlap_is_counted_once() -> None:
    df = _two_runs()
    df["step"] = df.groupby("run").cumcount() + 1
    df["warmup_steps"] = 3
    res = exclude_warmup(df, min_fraction=0.25)
    per_run = res.dropped.set_index("run")
    # Steps 1, 2 are before warmup ends (step < 3) and also below 25%: counted under the fraction rule.
    assert res.lr_rule == "warmup_steps"
    assert per_run["n_dropped"].to_dict() == {"a": 2, "b": 2}
    assert per_run["by_lr"].to_dict() == {"a": 0, "b": 0}
    df["is_warmup"] = df["step"] <= 5
    res = exclude_warmup(df, min_fraction=0.25)
    assert res.lr_rule == "is_warmup"
    assert res.dropped.set_index("run")["n_dropped"].to_dict() == {"a": 5, "b": 5}
    assert exclude_warmup(df, min_fraction=0.0, use_lr=False).n_dropped == 0


def test_warmup_rule_errors() -> None:
    df = _two_runs()
    with pytest.raises(InputError, match="min_fraction"):
        exclude_warmup(df, min_fraction=1.5)
    df["is_warmup"] = True
    with pytest.raises(InputError, match="drops every point of run 'a'"):
        exclude_warmup(df)


def test_final_points_is_last_row_per_run() -> None:
    df = _two_runs().sample(frac=1.0, random_state=1)
    fin = final_points(df).set_index("run")
    assert fin["D"].to_dict() == {"a": 100.0, "b": 200.0}
    assert fin.loc["b", "C"] == pytest.approx(6 * 4e5 * 200.0)
    assert set(fin["C_convention"]) == {C_FROM_6ND}


def test_interp_loglog_is_exact_for_power_laws_and_never_extrapolates() -> None:
    x = np.array([1e3, 1e4, 1e6])
    y = 3.0 * x**-0.3
    grid = np.array([5e2, 1e3, 3e3, 2e5, 1e6, 2e6])
    out = interp_loglog(x, y, grid)
    assert np.isnan(out[0]) and np.isnan(out[-1])
    np.testing.assert_allclose(out[1:-1], 3.0 * grid[1:-1] ** -0.3, rtol=1e-12)


def test_resample_curves_grid_and_coverage() -> None:
    df = _two_runs()
    df["C"] = 6.0 * df["N"] * df["tokens"] * 1.05  # an exact counter's C, 5% above 6ND
    g = resample_curves(df, n_grid=7)
    assert g.C_convention == C_GIVEN
    assert list(g.runs) == ["a", "b"] and list(g.N) == [1e5, 4e5]
    assert g.C[0] == pytest.approx(df["C"].min()) and g.C[-1] == pytest.approx(df["C"].max())
    # Run a covers C up to 6.3e7; run b starts at 5.04e7: coverage must follow each run's own range.
    cov_a = (g.C >= 6.3e6 * (1 - 1e-9)) & (g.C <= 6.3e7 * (1 + 1e-9))
    assert np.array_equal(np.isfinite(g.loss[0]), cov_a)
    # tokens interpolate back to C / (1.05 * 6 N) exactly (a straight line in log-log)
    ok = np.isfinite(g.tokens[1])
    np.testing.assert_allclose(g.tokens[1][ok], g.C[ok] / (1.05 * 6 * 4e5), rtol=1e-10)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["loss"]), r"missing column\(s\) 'loss'; columns present: run, N, tokens"),
        (
            lambda d: d.assign(loss=d["loss"].where(d.index != 2, np.nan)),
            "column 'loss' .* data row 3 \\(run 'a'\\)",
        ),
        (lambda d: d.assign(N=d["N"].where(d.index != 12, -1.0)), "column 'N' .* data row 13 \\(run 'b'\\)"),
        (lambda d: d.assign(tokens=d["tokens"].astype(object).where(d.index != 0, "x")), "column 'tokens'"),
        (lambda d: pd.concat([d, d.iloc[[4]]]), "duplicate \\(run, tokens\\) point at data row 21"),
        (
            lambda d: d.assign(N=np.where(d.index == 3, 2e5, d["N"])),
            "run 'a' has more than one value in column 'N'",
        ),
        (lambda d: d.assign(run=d["run"].where(d.index != 5, None)), "column 'run' has a missing value"),
        (lambda d: d.iloc[0:0], "no rows"),
    ],
)
def test_validation_names_column_and_row(mutate, message) -> None:
    with pytest.raises(InputError, match=message) as exc:
        validate_curves(mutate(_two_runs()))
    assert "\n" not in str(exc.value)


def test_non_increasing_compute_is_rejected() -> None:
    df = _two_runs()
    df["C"] = 1e9  # constant C along a run: not a learning curve in compute
    with pytest.raises(
        InputError,
        match="'C' must increase with tokens within a run; it does not at data row 2 \\(run 'a'\\)",
    ):
        resample_curves(df)


def test_plain_json_types() -> None:
    out = plain({"a": np.float64(np.nan), "b": (np.int64(3), np.array([1.5])), "c": pd.DataFrame({"x": [1]})})
    assert out == {"a": None, "b": [3, [1.5]], "c": [{"x": 1}]}
    json.dumps(out)


def test_parabola_vertex() -> None:
    x = np.log([1e3, 3e3, 1e4])
    y = 2.0 + 0.5 * (x - np.log(2e3)) ** 2
    assert parabola_vertex(x, y) == pytest.approx(np.log(2e3), rel=1e-12)
    assert np.isnan(parabola_vertex(x, -y))  # opens downward: no minimum
    assert np.isnan(parabola_vertex([1.0, 1.0, 2.0], [3.0, 2.0, 1.0]))  # repeated x (seeds)
    assert parabola_vertex([0.0, 1.0, 2.0], [1.0, 0.5, 0.05]) == 2.0  # vertex beyond the points: clipped


def test_at_first_reach_is_exact_on_a_power_law_and_uses_the_running_best() -> None:
    # L = 10·S^-0.5: between any two evaluations log L is linear in log S, so the crossing is exact.
    steps = np.array([1.0, 10.0, 100.0, 1000.0])
    loss = 10.0 * steps**-0.5
    assert at_first_reach(steps, loss, 10.0 * 50.0**-0.5) == pytest.approx(50.0, rel=1e-12)
    # A bump after the crossing changes nothing; a bump before it is bridged by the running best.
    bumped = np.array([5.0, 4.0, 4.5, 2.0])
    w = np.log(4.0 / 3.0) / np.log(4.0 / 2.0)
    assert at_first_reach(np.array([1.0, 2.0, 3.0, 4.0]), bumped, 3.0) == pytest.approx(3.0 ** (1 - w) * 4.0**w)
    # Never reached, or reached at the first evaluation (not bracketed): NaN.
    assert np.isnan(at_first_reach(steps, loss, 0.1))
    assert np.isnan(at_first_reach(steps, loss, 11.0))
    # A bracketing value that is not positive: the value at the crossing's evaluation.
    assert at_first_reach(np.array([0.0, 7.0, 9.0, 11.0]), loss, 5.0) == 7.0
