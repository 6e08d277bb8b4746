"""Where fit, plan and predict meet, they compute the same numbers (issue 13's seams, one test each)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from lmscale.cli.main import main
from lmscale.errors import InputError
from lmscale.fit import Conventions, Law, fit, get_law
from lmscale.fit.data_constrained import unique_params
from lmscale.plan import data_limited, optimal

BASE = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def lmscale(capsys, *args: str) -> dict:
    try:
        main([*args, "--json"])
    except SystemExit as exc:
        assert not exc.code, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# ---- 1. U_N comes from the unique tokens seen, min(U, D) ----------------------------------------


@pytest.mark.parametrize(
    "n, d, u, published",
    [(6.34e9, 242e9, 25e9, 2.22564), (8.67e9, 178e9, 25e9, 2.22696), (8.67e9, 50e9, 500e9, 2.2917)],
)
def test_muennighoff_law_gives_the_papers_numbers(capsys, n, d, u, published) -> None:
    """Worked examples of huggingface/datablations' README; the last one has a pool larger than D."""
    law = get_law("muennighoff2023")
    assert float(law.predict(N=n, D=d, U=u)) == pytest.approx(
        published, abs=5e-6 if published != 2.2917 else 5e-4
    )
    out = lmscale(capsys, "predict", "--law", "muennighoff2023", "--n", str(n), "--d", str(d), "--u", str(u))
    assert out["loss"] == pytest.approx(float(law.predict(N=n, D=d, U=u)), rel=1e-12)
    assert out["N_is"] == "total"


def _constrained_runs() -> pd.DataFrame:
    """Runs of a known data-constrained law, some with a pool larger than their tokens (U > D)."""
    truth = Law("data-constrained", {**BASE, "R_D_star": 15.4, "R_N_star": 5.3})
    n, d, ratio = np.meshgrid(np.logspace(7, 9.5, 6), np.logspace(8.5, 11, 6), [4.0, 1.0, 0.25, 0.05])
    df = pd.DataFrame({"N": n.ravel(), "D": d.ravel(), "U": (d * ratio).ravel()})
    df["loss"] = truth.predict(N=df["N"].to_numpy(), D=df["D"].to_numpy(), U=df["U"].to_numpy())
    return df


def test_fit_recovers_r_star_when_the_pool_exceeds_the_tokens() -> None:
    """U_N from the whole pool U (the old seam) biased R_D* to 15.46 on these runs."""
    df = _constrained_runs()
    res = fit(df, "data-constrained", base=BASE, bootstrap=0)
    assert res.params["R_D_star"] == pytest.approx(15.4, rel=1e-6)
    assert res.params["R_N_star"] == pytest.approx(5.3, rel=1e-6)
    pool = df.assign(U_N=unique_params(BASE, df["N"], df["U"], np.full(len(df), np.inf)))
    assert fit(pool, "data-constrained", base=BASE, bootstrap=0).params["R_D_star"] > 15.45


# ---- 2. a data-limited plan keeps each draw's R* -------------------------------------------------


def test_data_limited_interval_carries_r_star_draws() -> None:
    """Draws that differ only in R_D* must spread the plan; the point R* for every draw would not."""
    rng = np.random.default_rng(0)
    point = {**BASE, "R_D_star": 15.4, "R_N_star": 5.3}
    draws = np.tile(list(point.values()), (200, 1))
    draws[:, 5] = 15.4 * np.exp(rng.normal(0.0, 0.5, 200))
    law = Law("data-constrained", point, draws=draws)
    plan = data_limited(law, 1e22, 2e10)
    assert plan.epochs.high / plan.epochs.low > 1.2
    assert plan.loss.low < plan.loss.value < plan.loss.high
    fixed = data_limited(law, 1e22, 2e10, r_d_star=15.4)  # an override pins R_D* in every draw
    assert fixed.epochs.high == pytest.approx(fixed.epochs.low)


# ---- 3. the N convention travels with a saved fit ------------------------------------------------


@pytest.mark.parametrize(
    "n, label", [("total", "total parameters"), ("non-embedding", "non-embedding parameters")]
)
def test_saved_fit_keeps_its_n_convention_into_plan_shape(capsys, tmp_path, n, label) -> None:
    from lmscale.reference import load_epoch2024

    res = fit(load_epoch2024(drop_outliers=True), "chinchilla", bootstrap=0, conventions=Conventions(n=n))
    path = tmp_path / "fit.json"
    res.to_json(path)
    out = lmscale(capsys, "plan", "optimal", "--law", str(path), "--flops", "1e20", "--shape")
    assert out["assumptions"]["N_is"] == n
    assert out["shape"]["n_convention"] == label
    counted = out["shape"]["params_total" if n == "total" else "params_non_embedding"]
    assert counted / out["N_opt"] == pytest.approx(1.0, abs=0.05)


def test_published_laws_declare_their_n() -> None:
    assert get_law("epoch2024").conventions.n == "total"
    assert get_law("hoffmann2022").conventions.n == "total"
    assert get_law("kaplan2020").conventions.n == "non-embedding"
    assert get_law("muennighoff2023").conventions.n == "total"


# ---- 4. one percentile definition ----------------------------------------------------------------


def test_fit_and_plan_give_the_same_interval_from_the_same_draws() -> None:
    """On 40 draws the fit said [8.0, 32.5] tokens/param and the planner [4.9, 32.4] (issue 13)."""
    from lmscale.reference import load_epoch2024

    c = 1e22
    res = fit(load_epoch2024(drop_outliers=True), "chinchilla", bootstrap=40, budgets=(c,), n_jobs=1)
    plan = optimal(res, c)
    for quantity, key in (("tokens_per_param", "tokens_per_param@C=1e+22"), ("N_opt", "N_opt@C=1e+22")):
        est = getattr(plan, quantity)
        assert (est.low, est.high) == pytest.approx(res.ci[key], rel=1e-12)


# ---- 5. prediction intervals compute U_N per draw ------------------------------------------------


def test_each_draw_predicts_with_its_own_u_n() -> None:
    rng = np.random.default_rng(1)
    point = {**BASE, "R_D_star": 15.4, "R_N_star": 5.3}
    draws = np.array(list(point.values())) * np.exp(rng.normal(0.0, 0.05, (30, 7)))
    law = Law("data-constrained", point, draws=draws)
    at = {"N": 3e10, "D": 4e11, "U": 5e10}  # N beyond what 5e10 unique tokens can use: U_N < N
    names = law.form.names
    one_by_one = [
        float(Law("data-constrained", dict(zip(names, row, strict=True))).predict(**at)) for row in draws
    ]
    assert law.predict_draws(**at) == pytest.approx(one_by_one, rel=1e-12)


# ---- 6. --fix of every base parameter is the base law ---------------------------------------------


def test_fixing_every_base_parameter_uses_them_as_the_base() -> None:
    df = _constrained_runs()
    pinned = fit(df, "data-constrained", fixed=BASE, bootstrap=0)
    given = fit(df, "data-constrained", base=BASE, bootstrap=0)
    assert pinned.params == pytest.approx(given.params, rel=1e-9)
    assert pinned.params["R_D_star"] == pytest.approx(15.4, rel=1e-6)
    assert "base law given" in pinned.settings["notes"]


# ---- the Law round-trips through JSON with its draws and conventions --------------------------------


def test_law_json_round_trip(tmp_path) -> None:
    law = Law(
        "chinchilla",
        BASE,
        name="x",
        conventions=Conventions(n="total", c="exact", data="here"),
        draws=np.tile(list(BASE.values()), (3, 1)),
        budgets=(1e21,),
    )
    path = tmp_path / "law.json"
    law.to_json(path)
    back = get_law(str(path))
    assert back.params == law.params and back.conventions == law.conventions
    assert np.array_equal(back.draws, law.draws) and back.budgets == (1e21,)
    assert replace(back, name="y").label == "y"


def test_data_for_a_two_percent_penalty_is_kaplans_eq_4_4() -> None:
    """Under Kaplan's L(N, D) (eq. 1.5) the D at which the loss comes within 2% of L(N, ∞) has the
    closed form (N/N_c)^(α_N/α_D)·D_c/((1.02)^(1/α_D) − 1); his eq. 4.4 rounds it to 5e3·N^0.74."""
    law = get_law("kaplan2020")
    p, n = law.params, np.array([1e6, 1e8, 1e9])
    d = law.data_for_penalty_of(law.theta(), n, 0.02)[0]
    closed = (
        (n / p["N_c"]) ** (p["alpha_N"] / p["alpha_D"]) * p["D_c"] / np.expm1(np.log1p(0.02) / p["alpha_D"])
    )
    assert d == pytest.approx(closed, rel=1e-10)
    assert d / (5e3 * n**0.74) == pytest.approx([1.072, 1.061, 1.056], abs=0.001)
    unlimited = law.unlimited_data_loss_of(law.theta(), n)[0]
    assert unlimited == pytest.approx((p["N_c"] / n) ** p["alpha_N"])
    assert law.predict(N=n, D=d) == pytest.approx(1.02 * unlimited)
    # Chinchilla's form: L(N, ∞) = E + A/N^α, and the same inversion
    hoff = get_law("hoffmann2022")
    d_h = hoff.data_for_penalty_of(hoff.theta(), 1e9, 0.05)[0, 0]
    assert hoff.predict(N=1e9, D=d_h) == pytest.approx(
        1.05 * hoff.unlimited_data_loss_of(hoff.theta(), 1e9)[0, 0]
    )
    with pytest.raises(InputError, match="not a law of N and D alone"):
        get_law("kaplan2020-n").data_for_penalty_of(get_law("kaplan2020-n").theta(), 1e9, 0.02)


def test_predict_penalty_gives_the_data_a_size_needs(capsys, tmp_path) -> None:
    out = lmscale(capsys, "predict", "--law", "kaplan2020", "--n", "1e9", "--penalty", "0.02")
    law = get_law("kaplan2020")
    assert out["tokens"] == pytest.approx(
        float(law.data_for_penalty_of(law.theta(), 1e9, 0.02)[0, 0]), rel=1e-12
    )
    assert out["tokens_per_param"] == pytest.approx(out["tokens"] / 1e9)
    assert "tokens_interval" not in out  # a published law without draws
    rng = np.random.default_rng(0)
    draws = np.array(list(BASE.values())) * rng.lognormal(0.0, 0.02, size=(200, 5))
    saved = Law("chinchilla", BASE, name="x", draws=draws)
    saved.to_json(tmp_path / "law.json")
    out = lmscale(capsys, "predict", "--law", str(tmp_path / "law.json"), "--n", "1e8", "--penalty", "0.1")
    lo, hi = out["tokens_interval"]
    assert lo < out["tokens"] < hi
    unlimited = BASE["E"] + BASE["A"] / 1e8 ** BASE["alpha"]
    assert out["tokens"] == pytest.approx((BASE["B"] / (0.1 * unlimited)) ** (1 / BASE["beta"]), rel=1e-9)
