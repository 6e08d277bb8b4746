"""Muennighoff et al. 2023's own 182 runs: the published fit, its two basins, and the profile."""

from __future__ import annotations

import numpy as np
import pytest

from lmscale.fit import fit, get_law
from lmscale.reference import load_muennighoff2023

BASE = {k: get_law("muennighoff2023").params[k] for k in ("E", "A", "B", "alpha", "beta")}
PUBLISHED_OBJECTIVE = 0.0158259  # summed Huber(δ = 1e-3) at R_D* = 15.39, R_N* = 5.31
LOWER_OBJECTIVE = 0.0158047  # the same objective near R_D* = 95


@pytest.fixture(scope="module")
def free():
    return fit(load_muennighoff2023(), "data-constrained", base=BASE, bootstrap=0)


def test_bounded_fit_reproduces_the_published_r_star() -> None:
    res = fit(load_muennighoff2023(), "data-constrained", base=BASE, bootstrap=0, bounds={"R_D_star": (1e-3, 20)})
    assert res.params["R_D_star"] == pytest.approx(15.387756, abs=0.1)
    assert res.params["R_N_star"] == pytest.approx(5.309743, abs=0.1)
    assert res.starts["best_objective"] == pytest.approx(PUBLISHED_OBJECTIVE, rel=1e-5)


def test_free_fit_finds_the_lower_basin_and_says_so(free) -> None:
    assert free.params["R_D_star"] == pytest.approx(95, rel=0.05)
    assert free.starts["best_objective"] == pytest.approx(LOWER_OBJECTIVE, rel=1e-5)
    basins = [v for v, _ in free.profiles["R_D_star"].basins]
    assert any(12 < v < 20 for v in basins) and any(60 < v < 150 for v in basins)
    assert "R_D_star" in free.unidentified
    said = " ".join(free.warnings)
    assert "R_D_star: the objective has" in said and "basins" in said
    assert "R_D_star is not identified" in said


def test_profile_is_saved_with_the_fit(free, tmp_path) -> None:
    path = tmp_path / "fit.json"
    free.to_json(path)
    back = get_law(str(path))
    assert back.profiles["R_D_star"].basins == free.profiles["R_D_star"].basins  # floats survive JSON exactly
    assert back.unidentified == free.unidentified


def test_all_seven_parameters_free_flag_an_unbounded_r_n_star() -> None:
    """With the base law refitted too, R_N* lands near 2400 and its profile stays within the
    95% profile-likelihood tolerance out to the grid's end (5000): no upper limit, so flagged."""
    res = fit(load_muennighoff2023(), "data-constrained", bootstrap=0)
    prof = res.profiles["R_N_star"]
    assert res.params["R_N_star"] > 500 and "above" in prof.open_ends()
    assert "R_N_star" in res.unidentified
    assert any("R_N_star is not bounded above" in w for w in res.warnings)


def test_an_interior_minimum_has_no_open_end() -> None:
    from lmscale.fit.diagnostics import profile_warnings
    from lmscale.fit.profile import Profile

    values = np.geomspace(1, 1000, 13)
    sharp = Profile("R_D_star", values, 1 + (np.log(values) - np.log(30)) ** 2, 1.0, ((30.0, 1.0),), 182)
    assert sharp.open_ends() == ()
    assert profile_warnings({"R_D_star": sharp}) == ([], [])
    flat = Profile("R_D_star", values, np.r_[np.linspace(2, 1.02, 10), np.ones(3)], 1.0, ((1000.0, 1.0),), 182)
    said, names = profile_warnings({"R_D_star": flat})
    assert flat.open_ends() == ("above",) and names == ["R_D_star"] and len(said) == 1
    assert said[0].startswith("R_D_star is not bounded above")
    wide = Profile("R_D_star", values, np.r_[np.linspace(2, 1.02, 6), np.ones(7)], 1.0, ((1000.0, 1.0),), 182)
    said, _ = profile_warnings({"R_D_star": wide})  # flat over 1.5 decades: "not identified" says it all
    assert len(said) == 1 and said[0].startswith("R_D_star is not identified")
