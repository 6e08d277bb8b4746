"""The metrics format an external trainer writes, and `track`, the call that writes it (stdlib only).

One JSON object per line (JSONL), appended as training goes:

    {"step": 200, "tokens": 1638400, "train_loss": 3.91, "eval_loss": 3.95}

Keys:
    step              optimizer updates done (integer ≥ 0); required
    tokens            training tokens seen so far (integer ≥ 0); required
    eval_loss         held-out loss of the training corpus, nats per token
    eval_loss:<set>   held-out loss of another evaluation set
    train_loss        training loss, nats per token
    lr, wall_time     learning rate; seconds since the run started (all sessions of a resumed run)
    params_non_embedding, params_total, flops
                      the trainer's own parameter counts and training FLOPs so far (optional;
                      lmscale records them beside its own count of the declared shape)
A row with an eval loss is a point of the learning curve; rows with only a training loss are
progress. Rows of the same step merge, a later value of a key replacing an earlier one: a trainer
may log its training and eval losses separately, and a command that restarted rewrites its steps. lmscale sets
$LMSCALE_METRICS to the file each run writes; `track` appends there.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

METRICS_ENV = "LMSCALE_METRICS"
INTEGER_KEYS = ("step", "tokens", "params_non_embedding", "params_total")
NUMBER_KEYS = ("train_loss", "eval_loss", "lr", "wall_time", "flops")
EVAL_PREFIX = "eval_loss:"


class MetricsError(ValueError):
    """A metrics file breaks the format; the message names the line and the key."""


def track(step: int, tokens: int, path: str | Path | None = None, **values: float) -> bool:
    """Append one metrics row (keys above; `eval_loss:<set>` via ``**{"eval_loss:wiki": 3.1}``).

    Writes to `path`, else to $LMSCALE_METRICS (set by lmscale for each run of a command sweep).
    With neither, does nothing and returns False, so a trainer can call it unconditionally."""
    target = path if path is not None else os.environ.get(METRICS_ENV)
    if not target:
        return False
    row = check_row({"step": step, "tokens": tokens, **values}, where="track()")
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, allow_nan=False) + "\n")
        fh.flush()
    return True


def _known(key: str) -> bool:
    return (
        key in INTEGER_KEYS
        or key in NUMBER_KEYS
        or (key.startswith(EVAL_PREFIX) and len(key) > len(EVAL_PREFIX))
    )


def check_row(row: Any, where: str) -> dict[str, Any]:
    """The row, checked: a JSON object of known keys with integer counts and finite numbers."""
    if not isinstance(row, dict):
        raise MetricsError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    for key in ("step", "tokens"):
        if key not in row:
            raise MetricsError(f"{where}: missing '{key}'")
    for key, value in row.items():
        if not _known(key):
            raise MetricsError(
                f"{where}: unknown key {key!r} (known: {', '.join(INTEGER_KEYS + NUMBER_KEYS)}, eval_loss:<set>)"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MetricsError(f"{where}: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise MetricsError(f"{where}: {key} must be a finite number, got {value!r}")
        if key in INTEGER_KEYS and (value < 0 or value != int(value)):
            raise MetricsError(f"{where}: {key} must be a whole number ≥ 0, got {value!r}")
    return {k: int(v) if k in INTEGER_KEYS else float(v) for k, v in row.items()}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a metrics file in step order, the rows of one step merged (later values win). Raises
    MetricsError naming the line of the first malformed row; a missing file reads as no rows."""
    path = Path(path)
    if not path.exists():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MetricsError(f"{where}: not JSON ({exc.msg})") from None
            row = check_row(raw, where)
            by_step.setdefault(row["step"], {}).update(row)
    return [by_step[s] for s in sorted(by_step)]
