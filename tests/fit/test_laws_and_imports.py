"""Published laws shipped as package data; lmscale.fit imports without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lmscale.errors import InputError
from lmscale.fit import CriticalBatchLaw, Law, get_law, law_names
from lmscale.reference import load_published_laws


def test_import_fit_does_not_import_torch():
    code = "import sys, lmscale.fit, lmscale.cli.fit, lmscale.reference; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_hoffmann_prediction_and_allocation():
    law = get_law("hoffmann2022")
    N, D = 70e9, 1.4e12
    assert law.predict(N=N, D=D) == pytest.approx(1.69 + 406.4 / N**0.34 + 410.7 / D**0.28, rel=1e-12)
    d = law.derived
    assert d["a"] == pytest.approx(0.28 / 0.62) and d["b"] == pytest.approx(0.34 / 0.62)
    # N_opt = G (C/6)^a is the minimiser of L along C = 6ND: check against a dense scan.
    C = 5.76e23
    n_opt, d_opt = law.optimal(C)
    grid = np.logspace(9, 12, 20001)
    scan = grid[np.argmin(law.predict(N=grid, D=C / (6 * grid)))]
    assert n_opt == pytest.approx(scan, rel=1e-3) and n_opt * d_opt * 6 == pytest.approx(C)
    assert "arXiv 2203.15556" in law.citation


def test_epoch_law_and_its_notes():
    law = get_law("epoch2024")
    assert law.params == {"E": 1.817, "A": 482.0, "B": 2085.0, "alpha": 0.348, "beta": 0.366}
    assert law.derived["a"] == pytest.approx(0.366 / 0.714)
    assert law.notes["standard_errors"]["a"] == 0.020


def test_kaplan_laws():
    nd = get_law("kaplan2020")
    N, D = 1e9, 1e10
    expected = ((6.4e13 / N) ** (0.076 / 0.103) + 1.8e13 / D) ** 0.103
    assert nd.predict(N=N, D=D) == pytest.approx(expected, rel=1e-12)
    assert get_law("kaplan2020-n").predict(N=N) == pytest.approx((8.8e13 / N) ** 0.076)
    assert get_law("kaplan2020-d").predict(D=D) == pytest.approx((5.4e13 / D) ** 0.095)
    # L(C_min) with C in FLOPs equals Kaplan's PF-day form.
    c = 1e21
    assert get_law("kaplan2020-c").predict(C=c) == pytest.approx((3.1e8 / (c / 8.64e19)) ** 0.050)
    bcrit = get_law("kaplan2020-bcrit")
    assert isinstance(bcrit, CriticalBatchLaw)
    assert bcrit.predict(loss=3.0) == pytest.approx(2e8 / 3.0 ** (1 / 0.21))


def test_every_published_law_predicts_a_plausible_loss():
    for name, spec in load_published_laws().items():
        law = get_law(name)
        cols = {
            v: 1e9 if v == "N" else 1e10 if v == "D" else 1e4 if v == "S" else 6e19
            for v in law.form.variables
        }
        value = float(law.predict(**cols))
        assert 1.5 < value < 6.0, (name, value)
        assert spec["citation"]


def test_law_json_round_trip(tmp_path):
    path = tmp_path / "law.json"
    get_law("hoffmann2022").to_json(path)
    loaded = get_law(str(path))
    assert isinstance(loaded, Law) and loaded.params == get_law("hoffmann2022").params
    assert json.loads(path.read_text())["form"] == "chinchilla"


def test_unknown_law_and_bad_predict_inputs():
    with pytest.raises(InputError, match="unknown law 'hoffman2022'"):
        get_law("hoffman2022")
    assert "hoffmann2022" in law_names() and "kaplan2020-bcrit" in law_names()
    with pytest.raises(InputError, match="needs D"):
        get_law("hoffmann2022").predict(N=1e9)
    with pytest.raises(InputError, match="must be positive"):
        get_law("hoffmann2022").predict(N=-1.0, D=1e9)


def test_a_term_the_fit_drove_to_zero_is_a_zero_term():
    # A fit whose N term vanished (N_c underflowed to 0, as on transfer runs limited by data at
    # every size) is Kaplan's L(D) alone: it predicts and inverts instead of raising.
    law = Law("kaplan-nd", {"N_c": 0.0, "D_c": 5.4e13, "alpha_N": 10.0, "alpha_D": 0.095})
    assert law.theta()[0, law.form.index("N_c")] == -np.inf
    assert law.predict(N=1e4, D=1e9) == pytest.approx((5.4e13 / 1e9) ** 0.095, rel=1e-9)
    d = law.data_for_loss_of(law.theta(), 1e4, (5.4e13 / 1e9) ** 0.095)
    assert d[0, 0] == pytest.approx(1e9, rel=1e-6)
    with pytest.raises(InputError, match="N_c must be positive, got -1"):
        Law("kaplan-nd", {"N_c": -1.0, "D_c": 5.4e13, "alpha_N": 0.07, "alpha_D": 0.095}).theta()
