"""`LmscaleCallback` for a Lightning `Trainer` (install the `lightning` extra).

    trainer = L.Trainer(..., callbacks=[LmscaleCallback(tokens_per_step=batch_size * seq_len)])

Lightning does not count tokens, so ``tokens_per_step`` (tokens per optimizer step, over every
device) is required. The training loss is written every `log_every_n_steps` steps; after each
validation, the metrics the module logged under ``eval_keys`` (default ``val_loss`` → eval_loss;
``{"val_wiki_loss": "eval_loss:wiki"}`` for more sets). Only the global-zero process writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback

from lmscale.callbacks import Tracker
from lmscale.errors import InputError


class LmscaleCallback(Callback):
    """Writes a Lightning run's losses to lmscale's metrics file (``path``, else $LMSCALE_METRICS)."""

    def __init__(
        self,
        tokens_per_step: int,
        path: str | Path | None = None,
        eval_keys: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(tokens_per_step, int) or tokens_per_step < 1:
            raise InputError(f"tokens_per_step must be a whole number ≥ 1, got {tokens_per_step!r}")
        self.tracker = Tracker(path)
        self.tokens_per_step = tokens_per_step
        self.eval_keys = dict(eval_keys or {"val_loss": "eval_loss"})

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.tracker.start(pl_module)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        step = trainer.global_step
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not trainer.is_global_zero or loss is None or step % max(1, trainer.log_every_n_steps):
            return
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        extra = {} if lr is None else {"lr": float(lr)}
        self.tracker.write(step, step * self.tokens_per_step, train_loss=float(loss), **extra)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        values = {name: float(metrics[key]) for key, name in self.eval_keys.items() if key in metrics}
        if values:
            step = trainer.global_step
            self.tracker.write(step, step * self.tokens_per_step, **values)
