"""A training run's peak memory, estimated from its spec before anything is allocated.

`lmscale train` and `lmscale sweep plan|run` refuse, in one line, a run whose estimate does not fit
in the memory available, instead of growing for minutes (or ending in an allocator traceback).
Pure Python: no torch import, so refusing a 2.4e9-parameter model takes well under a second.

Terms, in bytes (fp32 = 4 bytes; P = all parameters, N = non-embedding parameters). Resuming
adds nothing: checkpoints are loaded memory-mapped (lmscale.train.checkpoint).
- model state 16·P: weights, gradients and AdamW's two moments.
- backward buffers: a gradient of the blocks before it is accumulated (N for GPT, 2.5·N for the
  LSTM kernel) and the logits layer's gradient kept by the fused loss (1.5·V·d, plus V·d more
  when the logits are tied to the embedding and the two gradients are summed).
- activations kept for the backward pass, per token of one forward (micro-batch × context):
  GPT (18·d + 2.2·d_ff) per block + 2·d, attention by SDPA without a T×T matrix; LSTM
  8·d per layer + 30·d (its CPU kernel's gate and cell buffers).
- the logits: chunks of 4 MB on CPU (256 MB on CUDA) on the fused float32 path; the whole
  [tokens, V] logits and their gradients under bfloat16 autocast.
- per-step logs: four floats per optimizer step.
The coefficients were measured with RSS on CPU (torch 2.13) over GPT and LSTM shapes of 1e6-3e7
parameters and 32-8192 tokens per step; they came out 1.0-1.25x the measured peak, and
tests/train/test_memory.py holds a few shapes within 0.8-1.6x. `RUNTIME_BYTES` (the Python/torch process itself) comes on top.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lmscale.errors import InputError
from lmscale.model.accounting import param_counts
from lmscale.train.spec import RunSpec

F32 = 4
RUNTIME_BYTES = 400 * 10**6  # RSS of a training process before its model exists: ~300 MB measured
_CHUNK_BYTES = {"cuda": 256 << 20}  # the fused loss's logits chunk (lmscale.train.loss)
_CPU_CHUNK = 4 << 20
_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak bytes of one training run by term (see the module doc); `total` adds the process."""

    params: int
    model_state: int
    backward: int
    activations: int
    logits: int
    logs: int

    @property
    def tensors(self) -> int:
        return self.model_state + self.backward + self.activations + self.logits + self.logs

    @property
    def total(self) -> int:
        return self.tensors + RUNTIME_BYTES

    def describe(self) -> str:
        return (
            f"{format_bytes(self.total)}: {self.params:.3g} parameters with gradients and AdamW state "
            f"{format_bytes(self.model_state + self.backward)}, activations {format_bytes(self.activations)}, "
            f"logits {format_bytes(self.logits)}"
        )


def estimate(spec: RunSpec) -> MemoryEstimate:
    """Peak memory of training `spec` on its device (host RAM for cpu, device memory for cuda)."""
    shape = spec.shape
    counts = param_counts(shape)  # the model is built at shape.n_ctx (its position table)
    p, n = counts.total, counts.non_embedding
    d, v, layers = shape.d_model, shape.vocab_size, shape.n_layer
    tokens = (spec.micro_batch_size or spec.batch_size) * spec.context
    if shape.family == "lstm":
        per_token = 8 * d * layers + 30 * d
        backward = 2.5 * n
    else:
        per_token = layers * (18 * d + 2.2 * shape.d_ff) + 2 * d
        backward = float(n)
    backward += (1.5 + (1 if shape.tied_embeddings else 0)) * v * d
    # bf16 takes the plain path: whole bf16 logits, their fp32 softmax and its gradient
    chunk = _CHUNK_BYTES.get(spec.device.split(":")[0], _CPU_CHUNK)
    logits = tokens * v * 10 if spec.dtype == "bfloat16" else 2 * chunk
    return MemoryEstimate(
        params=p,
        model_state=16 * p,
        backward=int(F32 * backward),
        activations=int(F32 * tokens * per_token),
        logits=int(logits),
        logs=16 * spec.steps,
    )


def parse_bytes(text: str, flag: str = "--max-memory") -> int:
    """'8GB', '512 MiB', '1.5e9' (bytes) → bytes. KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB
    of 1024, as in their standards."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if not m or m.group(2) not in _UNITS:
        raise InputError(f"{flag}: expected a size like 8GB, 512MiB or 2e9 (bytes), got {text!r}")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value < 1:
        raise InputError(f"{flag}: expected a positive size, got {text!r}")
    return int(value)


def format_bytes(n: float) -> str:
    for unit, size in (("EB", 1e18), ("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                out[key] = int(fields[0]) * 1024
    except OSError:
        pass
    return out


def _cgroup_room() -> int | None:
    """Bytes this process's cgroup (a container's limit) still allows, where one is set."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # "max" or a huge number: no limit
            return max(0, int(limit) - usage)
    return None


def available_bytes() -> int:
    """Memory a new run can use now: MemAvailable (Linux), else physical memory; capped by the
    cgroup limit of a container."""
    info = _meminfo()
    room = info.get("MemAvailable")
    if room is None:
        try:
            room = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            room = 0
    cgroup = _cgroup_room()
    return min(room, cgroup) if cgroup is not None and room else (cgroup or room)


#: Where a user's memory cap comes from when no --max-memory is given (sweep workers inherit it).
MAX_MEMORY_ENV = "LMSCALE_MAX_MEMORY"


def budget(max_memory: int | None = None, free: int | None = None) -> tuple[int, str]:
    """(bytes, what the figure is): --max-memory, $LMSCALE_MAX_MEMORY, or the memory free now
    (`free`, e.g. a GPU's, else this machine's)."""
    if max_memory is not None:
        return max_memory, "the --max-memory limit"
    env = os.environ.get(MAX_MEMORY_ENV)
    if env:
        return parse_bytes(env, MAX_MEMORY_ENV), f"the {MAX_MEMORY_ENV} limit"
    room = available_bytes() if free is None else free
    return room, "available"


def refusal(est: MemoryEstimate, room: int, source: str, what: str = "the run") -> str:
    return (
        f"{what} needs about {est.describe()}, but {format_bytes(room)} is {source}; use a smaller "
        "model or batch (or --micro-batch-size), or --max-memory to override"
    )


def check_fits(
    spec: RunSpec, max_memory: int | None = None, what: str = "the run", free: int | None = None
) -> MemoryEstimate:
    """The run's estimate, or InputError (one line) when it cannot fit in the budget.

    An unknown budget (0: no /proc/meminfo nor sysconf) lets every run through."""
    est = estimate(spec)
    room, source = budget(max_memory, free)
    if room > 0 and est.total > room:
        raise InputError(refusal(est, room, source, what))
    return est
