"""`LmscaleCallback` for a Hugging Face `transformers.Trainer` (install the `hf` extra).

    trainer = Trainer(model, args, ..., callbacks=[LmscaleCallback()])

Each logging step writes the training loss and learning rate; each evaluation writes the eval
losses (`eval_loss`, and `eval_<name>_loss` of an eval-dataset dict as `eval_loss:<name>`). Tokens
come from the Trainer's own count (`include_num_input_tokens_seen=True`) or, failing that, from
``tokens_per_step`` × optimizer steps. Only the main process writes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from lmscale.callbacks import Tracker
from lmscale.errors import InputError
from lmscale.metrics import EVAL_PREFIX

_NAMED_EVAL = re.compile(r"^eval_(.+)_loss$")


class LmscaleCallback(TrainerCallback):
    """Writes the Trainer's losses to lmscale's metrics file (``path``, else $LMSCALE_METRICS)."""

    def __init__(self, path: str | Path | None = None, tokens_per_step: int | None = None) -> None:
        self.tracker = Tracker(path)
        self.tokens_per_step = tokens_per_step

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if args.include_num_input_tokens_seen in ("no", False) and not self.tokens_per_step:
            raise InputError(
                "LmscaleCallback needs the tokens trained on: set include_num_input_tokens_seen=True "
                "in TrainingArguments, or pass tokens_per_step (global batch × sequence length)"
            )
        if state.is_world_process_zero:
            self.tracker.start(model)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        values = losses(logs or {})
        if values and state.is_world_process_zero:
            self.tracker.write(state.global_step, self._tokens(state), **values)

    def _tokens(self, state: Any) -> int:
        if state.num_input_tokens_seen:
            return int(state.num_input_tokens_seen)
        return int(state.global_step * (self.tokens_per_step or 0))


def losses(logs: dict[str, Any]) -> dict[str, float]:
    """The metrics-file values in one Trainer log: training loss and learning rate, eval losses."""
    out: dict[str, float] = {}
    if "loss" in logs:
        out["train_loss"] = float(logs["loss"])
        if "learning_rate" in logs:
            out["lr"] = float(logs["learning_rate"])
    for key, value in logs.items():
        if key == "eval_loss":
            out["eval_loss"] = float(value)
        elif (m := _NAMED_EVAL.match(key)) is not None:
            out[EVAL_PREFIX + m.group(1)] = float(value)
    return out
