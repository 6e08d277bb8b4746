"""What-if tables, model shapes for a planned N, and the published-laws comparison."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lmscale.model.sizing import model_shape
from lmscale.plan import compare_laws, hardware, optimal, what_if


def test_what_if_tables(hoffmann):
    hw = hardware("h100", 1024, mfu=0.4, price=2.5)
    w = what_if(hoffmann, 1e23, hardware=hw)
    c = w.compute
    assert list(c["compute_x"]) == [1, 2, 10, 100]
    assert np.all(np.diff(c["loss"]) < 0)
    assert c.loc[2, "loss"] == pytest.approx(optimal(hoffmann, 1e24).loss.value)
    assert c.loc[1, "cost"] == pytest.approx(2e23 * hw.price_per_flop)
    a = w.allocation.set_index("change")
    # spending 10x compute at the optimum beats putting it all into N or all into D
    best = a.loc["10x compute at the optimum", "loss_drop"]
    assert a.loc["10x params, same data", "loss_drop"] < best
    assert a.loc["10x data, same params", "loss_drop"] < best
    assert a.loc["10x params, same data", "flops"] == pytest.approx(1e24)
    m = w.marginal
    assert np.all(np.diff(m["loss_drop_per_flop"]) < 0)  # diminishing returns
    assert np.allclose(m["loss_drop_per_dollar"], m["loss_drop_per_flop"] / hw.price_per_flop)
    # per-FLOP marginal ~ finite difference of the optimal loss
    fd = (optimal(hoffmann, 1e23 * 0.999).loss.value - optimal(hoffmann, 1e23 * 1.001).loss.value) / (
        0.002e23
    )
    assert m.loc[0, "loss_drop_per_flop"] == pytest.approx(fd, rel=1e-3)


def test_shape_for_planned_n():
    s = model_shape(1e6, aspect_ratio=32, d_head=16, n_ctx=128, vocab_size=4096)
    assert abs(s.account["params_non_embedding"] / 1e6 - 1) < 0.05
    assert s.shape.d_model / s.shape.n_layer == pytest.approx(32, rel=0.5)
    assert s.account["flops_per_token_6n"] == 6 * s.account["params_non_embedding"]
    total = model_shape(5e6, aspect_ratio=32, d_head=16, n_ctx=128, vocab_size=4096, n_is_total=True)
    assert abs(total.account["params_total"] / 5e6 - 1) < 0.05
    assert total.relative_error == pytest.approx(total.account["params_total"] / 5e6 - 1)


def test_compare_published_laws():
    df = compare_laws()
    assert len(df) == 12
    piv = df.pivot(index="flops", columns="law", values="tokens_per_param")
    # Kaplan's L(N,D) puts compute into parameters; Chinchilla-style laws into data
    assert (piv["kaplan2020"] < 5).all() and (piv["epoch2024"] > 10).all()
    assert (piv["kaplan2020"] < piv["epoch2024"]).all()
    # Epoch's re-fit is close to the 20 tokens/param rule at these budgets
    assert piv.loc[1e23, "epoch2024"] == pytest.approx(20, rel=0.3)


def test_compare_offers_kaplans_compute_efficient_rule():
    """Kaplan et al. Table 6: N_opt = 1.3e9 C_min^0.73, D_opt = 2e10 C_min^0.27, C_min in PF-days."""
    pf_day = 8.64e19
    rows = compare_laws(laws=(), budgets=(pf_day, 1e4 * pf_day)).set_index("flops")
    assert set(rows["law"]) == {"kaplan2020-efficient"}
    assert rows.loc[pf_day, "N_opt"] == pytest.approx(1.3e9)
    assert rows.loc[pf_day, "D_opt"] == pytest.approx(2e10)
    assert rows.loc[1e4 * pf_day, "N_opt"] / rows.loc[pf_day, "N_opt"] == pytest.approx(1e4**0.73)
    # its loss is Kaplan's L(C_min) = (C_c / C_min)^0.05 with C_c = 3.1e8 PF-days
    assert rows.loc[pf_day, "loss"] == pytest.approx(3.1e8**0.05, rel=1e-3)
    assert (rows["N_is"] == "non-embedding").all()


def test_plan_does_not_import_torch():
    code = "import sys, lmscale.plan, lmscale.cli.plan; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_what_if_carries_loss_intervals_from_draws():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from plan_helpers import law_with_draws

    c = what_if(law_with_draws(0.05), 1e22).compute
    assert (c["loss_low"] < c["loss"]).all() and (c["loss"] < c["loss_high"]).all()
