"""Data parallelism for the built-in trainer under torchrun: one run, several processes.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK. Every process draws the same global batch of a step
(the data order is a function of the step and the seed) and trains on its own slice of the rows;
the gradients, the loss and the noise-scale term are then averaged over processes, which is the
gradient of the global batch's mean loss: the same step as one process would take, up to the order
of floating-point sums. Every process evaluates the same replicated model; only the first writes
files and reports events. CPU processes talk over gloo, CUDA ones over NCCL, one GPU each.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lmscale.errors import InputError


@dataclass(frozen=True)
class World:
    """This process's place among the processes of one run (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def local_batch(self, batch: int) -> int:
        """The rows of each global batch that this process trains on."""
        if batch % self.size:
            raise InputError(f"a batch of {batch} sequences does not split evenly over {self.size} processes")
        return batch // self.size

    def shard(self, seq: torch.Tensor) -> torch.Tensor:
        rows = seq.shape[0] // self.size
        return seq[self.rank * rows : (self.rank + 1) * rows]

    def average(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replace each tensor, in place, by its mean over processes (one all-reduce for all)."""
        if self.size == 1 or not tensors:
            return
        flat = torch.cat([t.reshape(-1) for t in tensors])
        dist.all_reduce(flat)
        flat /= self.size
        offset = 0
        for t in tensors:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def current(device_type: str) -> World:
    """The world torchrun started this process in, its process group initialised on first use."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))
