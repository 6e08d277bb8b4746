"""Atomic checkpoint files: a kill at any moment leaves either the old or the new file, whole."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

from lmscale.errors import InputError

#: A run's own checkpoint in its folder; a finished run's holds its final state.
CHECKPOINT_FILE = "checkpoint.pt"


def atomic_write_bytes(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write via a temp file in the same folder, fsync, then os.replace (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(path: Path, obj: Any) -> None:
    # allow_nan: curve rows carry NaN (no eval yet, no noise estimate); Python's json reads it back.
    atomic_write_text(path, json.dumps(obj, indent=1, allow_nan=True))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write_bytes(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at `path`, or None when there is none. Only plain containers and tensors are
    stored, so the safe `weights_only` loader reads it. Memory-mapped: the tensors are read from
    the file's pages as they are copied into the model, so resuming needs no second copy of the
    model and optimizer state in memory (lmscale.train.memory counts none)."""
    if not path.exists():
        return None
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except (RuntimeError, OSError):  # a file system without mmap: read it whole
            return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:  # truncated, foreign
        raise InputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to restart the run"
        ) from None
