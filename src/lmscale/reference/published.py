"""Published scaling-law fits (reference/data/published_laws.json): values and citations."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def _section(key: str) -> dict[str, dict[str, Any]]:
    """One top-level section of the shipped published_laws.json."""
    with resources.files("lmscale.reference").joinpath("data", "published_laws.json").open("r") as fh:
        return json.load(fh)[key]


def load_published_laws() -> dict[str, dict[str, Any]]:
    """name → {form, x, params, citation, notes} exactly as shipped."""
    return _section("laws")


def load_critical_batch() -> dict[str, dict[str, Any]]:
    """name → {B_star, alpha_B, citation}: published critical-batch-size laws."""
    return _section("critical_batch")


def load_allocation_rules() -> dict[str, dict[str, Any]]:
    """name → {N_e, p_N, D_e, p_D, C_unit, loss_law, citation, caveat}: published allocation rules
    that are not the optimum of a loss law (Kaplan et al.'s compute-efficient N ∝ C_min^0.73)."""
    return _section("allocation_rules")


def load_transfer_fits() -> dict[str, dict[str, Any]]:
    """name → {k, alpha, beta, pair, citation, checked}: published fits of effective data transferred,
    D_T = k·D_F^α·N^β (Hernandez et al. 2021, eq. 1.1)."""
    return _section("transfer")


def load_allocation_exponents() -> dict[str, dict[str, Any]]:
    """name → {approachK: {a, a_p10_p90, b, b_p10_p90}, citation, interval, checked}: published exponents
    of N_opt ∝ C^a and D_opt ∝ C^b by method (Hoffmann et al. 2022, Table 2)."""
    return _section("allocation_exponents")
