"""Where lmscale keeps its cache (corpora, tokenizers, token arrays) and default store."""

from __future__ import annotations

import os
from pathlib import Path

from lmscale.errors import InputError


def home() -> Path:
    """$LMSCALE_HOME, or ~/.cache/lmscale. Created on first use."""
    root = Path(os.environ.get("LMSCALE_HOME") or Path.home() / ".cache" / "lmscale").expanduser()
    if root.exists() and not root.is_dir():
        raise InputError(f"LMSCALE_HOME={root} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a folder we may not create or write
        raise InputError(f"LMSCALE_HOME={root}: cannot create it ({exc.strerror or exc})") from None
    return root
