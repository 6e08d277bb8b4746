"""Fixtures of the sweep tests (the specs themselves: sweep_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import six_spec


@pytest.fixture
def six(tmp_path: Path) -> Path:
    return six_spec(tmp_path)
