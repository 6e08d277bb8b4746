"""Subprocess entry for the memory-estimate test: train the spec in argv[1] (JSON) for a few steps
on random tokens and print, as JSON, the RSS before training and the process's peak RSS after.

Run with MALLOC_MMAP_THRESHOLD_ set low, so that freed tensors go back to the OS and the peak RSS
follows the peak of live tensors."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from synthetic import ArrayStore  # noqa: E402

from lmscale.train import RunSpec, run  # noqa: E402
from lmscale.train.loop import TrainData  # noqa: E402


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    """This process's high-water RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that over
    from the parent across fork and exec, so a probe started by a 1.2 GB pytest worker reported 1.2 GB."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


if __name__ == "__main__":
    spec = RunSpec.from_dict(json.loads(sys.argv[1]))
    torch.set_num_threads(1)
    vocab = spec.shape.vocab_size
    tokens = np.random.default_rng(0).integers(0, vocab, size=max(200_000, 4 * spec.tokens))
    data = TrainData(ArrayStore(tokens, tokens[:20_000], vocab), {})
    before = rss()
    with tempfile.TemporaryDirectory() as folder:
        run(spec, folder, data=data)
    peak = peak_rss()
    print(json.dumps({"before": before, "peak": peak}))
