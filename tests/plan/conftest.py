"""Fixtures for the planning tests."""

from __future__ import annotations

import pytest

from lmscale.fit import Law, loss_law


@pytest.fixture
def hoffmann() -> Law:
    return loss_law("hoffmann2022")


@pytest.fixture
def kaplan() -> Law:
    return loss_law("kaplan2020")
