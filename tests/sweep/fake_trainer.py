"""A stand-in for a user's training command (tests of lmscale.train.external).

    python fake_trainer.py SEED TOKENS OUT

The run's seed picks what it does: 0 trains (three rows written with lmscale.track), 1 exits 3,
2 writes nothing, 3 writes a row with a misspelt key, 4 hangs (for timeouts), 5 hangs until
$FAKE_FAST is set (for kills; it writes its pid to OUT/pid first).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import lmscale


def train(tokens: int) -> None:
    for step, frac in ((1, 0.25), (2, 0.5), (4, 1.0)):
        seen = int(tokens * frac)
        lmscale.track(step=step, tokens=seen, eval_loss=2.0 + 50.0 / seen**0.3, train_loss=2.1 + 50.0 / seen**0.3)


def main() -> None:
    seed, tokens, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    (out / "pid").write_text(str(os.getpid()))
    if seed == 1:
        print("loading data\nCUDA error: out of memory", flush=True)
        sys.exit(3)
    if seed == 3:
        lmscale.track(step=1, tokens=10, eval_loss=3.0)
        with open(os.environ["LMSCALE_METRICS"], "a") as fh:
            fh.write('{"step": 2, "tokens": 20, "los": 2.5}\n')
    if seed == 4 or (seed == 5 and not os.environ.get("FAKE_FAST")):
        time.sleep(600)
    if seed in (0, 5):
        train(tokens)


if __name__ == "__main__":
    main()
