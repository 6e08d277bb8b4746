"""One JSON sanitiser for the whole package: numpy/pandas values in, plain JSON types out."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A JSON-safe copy: numpy scalars/arrays → Python, DataFrames → records, Paths → str,
    NaN/inf → None (JSON has no non-finite numbers)."""
    # No pandas object exists unless pandas is loaded; importing it here would add half a second to
    # every command's start-up (the CLI's app imports this module).
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return [plain(r) for r in value.to_dict(orient="records")]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)) or (pd is not None and isinstance(value, pd.Series)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, Path):
        return str(value)
    return value
