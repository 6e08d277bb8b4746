"""Callbacks that let an existing trainer write lmscale's metrics file (lmscale.metrics).

- `lmscale.callbacks.hf.LmscaleCallback` for a Hugging Face `transformers.Trainer` (extra: hf);
- `lmscale.callbacks.lightning.LmscaleCallback` for a Lightning `Trainer` (extra: lightning).

Both append rows with `lmscale.metrics.track`: to the file given, else to $LMSCALE_METRICS, which a
command sweep sets for each run (docs/sweeps.md, "Your own trainer"); with neither they do nothing,
so a training script keeps working outside lmscale. This module holds what the two share and
imports neither library.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from lmscale.metrics import METRICS_ENV, read_metrics, track


def count_parameters(model: Any) -> dict[str, int]:
    """The model's parameters in total, and without its embedding tables (token and learned
    position embeddings: Kaplan et al.'s non-embedding N). Shared (tied) tensors count once."""
    total = sum(p.numel() for p in model.parameters())
    embedding = 0
    seen: set[int] = set()
    for module in model.modules():
        if type(module).__name__ == "Embedding":  # torch.nn.Embedding, without importing torch here
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    embedding += p.numel()
    return {"params_total": int(total), "params_non_embedding": int(total - embedding)}


class Tracker:
    """Writes rows for one run: keeps the parameter counts and the wall time across resumed sessions
    (a resumed run's clock starts from the last wall_time already in the file)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = path
        self.params: dict[str, int] = {}
        self._start = time.monotonic()
        self._offset = 0.0

    def start(self, model: Any | None) -> None:
        """At the start of training: count the model and pick up an earlier session's wall time."""
        self._start = time.monotonic()
        if model is not None:
            self.params = count_parameters(model)
        target = self.path if self.path is not None else os.environ.get(METRICS_ENV)
        rows = read_metrics(target) if target else []
        self._offset = max((r.get("wall_time", 0.0) for r in rows), default=0.0)

    def write(self, step: int, tokens: int, **values: float) -> bool:
        wall = self._offset + time.monotonic() - self._start
        return track(step, tokens, self.path, **self.params, **values, wall_time=wall)
