"""Where lmscale keeps its cache (corpora, tokenizers, token arrays) and default store."""

from __future__ import annotations

import os
from pathlib import Path

from lmscale.errors import InputError


def home() -> Path:
    """$LMSCALE_HOME, or ~/.cache/lmscale. Created on first use."""
    root = Path(os.environ.get("LMSCALE_HOME") or Path.home() / ".cache" / "lmscale").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # LMSCALE_HOME names a file, or a folder we may not write
        raise InputError(f"LMSCALE_HOME {root}: cannot use it as lmscale's folder ({exc.strerror or exc})") from None
    return root
