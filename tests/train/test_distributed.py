"""The built-in trainer under torchrun: 2 CPU processes (gloo) take the same steps as 1 process at
the same global batch (issue 17)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lmscale.errors import InputError
from lmscale.model import ModelShape
from lmscale.train import RunSpec
from lmscale.train.distributed import World
from lmscale.train.result import RunResult

WORKER = Path(__file__).with_name("worker.py")
SPEC = RunSpec(
    shape=ModelShape(n_layer=1, d_model=16, n_head=2, n_ctx=32, vocab_size=32),
    tokens=40_960,  # 80 steps
    corpus="synthetic",
    tokenizer="byte",
    batch_size=16,
    micro_batch_size=4,
    lr=1e-2,
    eval_tokens=2048,
    threads=1,
    checkpoint_every=0,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(run_dir: Path, processes: int) -> RunResult:
    spec = json.dumps(SPEC.to_dict())
    prefix = [sys.executable]
    if processes > 1:
        prefix += ["-m", "torch.distributed.run", "--nnodes", "1", f"--nproc_per_node={processes}",
                   "--master_addr", "127.0.0.1", f"--master_port={free_port()}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([*prefix, str(WORKER), spec, str(run_dir)], capture_output=True, text=True,
                         timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    result = RunResult.load(run_dir)
    assert result is not None and result.status == "completed"
    return result


@pytest.mark.slow
def test_two_processes_take_the_same_steps_as_one(tmp_path: Path) -> None:
    one = train(tmp_path / "one", 1)
    two = train(tmp_path / "two", 2)
    assert list(two.curve["step"]) == list(one.curve["step"]) and len(one.curve) >= 5
    for column in ("train_loss", "eval_loss", "grad_norm"):
        torch.testing.assert_close(
            torch.tensor(two.curve[column].to_numpy()), torch.tensor(one.curve[column].to_numpy()),
            rtol=1e-5, atol=1e-6, msg=column,  # measured: 7e-8 relative
        )
    assert one.curve["eval_loss"].iloc[-1] < one.curve["eval_loss"].iloc[0] - 0.3  # it learned
    assert two.final["tokens"] == one.final["tokens"] == SPEC.tokens
    assert not (tmp_path / "two" / "rank1").exists()


def test_a_world_splits_the_batch_and_refuses_an_uneven_one() -> None:
    seq = torch.arange(8).reshape(4, 2)
    assert World(rank=1, size=2).shard(seq).tolist() == [[4, 5], [6, 7]]
    assert World(rank=0, size=2).local_batch(4) == 2
    with pytest.raises(InputError, match="does not split evenly over 3 processes"):
        World(rank=0, size=3).local_batch(4)
