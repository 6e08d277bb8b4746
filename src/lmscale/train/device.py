"""Device selection and per-device speed settings (threads, TF32, autocast, fused AdamW)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from lmscale.errors import InputError


def resolve_device(name: str) -> torch.device:
    """A torch.device for "cpu", "cuda", "cuda:N" or "mps"; InputError when it is not there."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device: unknown device {name!r} (use cpu, cuda, cuda:N or mps)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device: {name!r} requested but no CUDA GPU is available on this machine")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise InputError(
                f"device: {name!r} requested but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise InputError(f"device: {name!r} requested but MPS is not available on this machine")
        return device
    raise InputError(f"device: unsupported device {name!r} (use cpu, cuda, cuda:N or mps)")


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device; None for the host's memory (cpu, and mps: unified memory)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    return None


def configure(device: torch.device) -> None:
    """Process-wide speed settings: TF32 matmuls on CUDA (fp32 runs lose ~nothing at LM scale)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.cuda.set_device(device)


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked for (weights and optimizer stay fp32); otherwise a no-op."""
    if dtype == "bfloat16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def adamw_kwargs(device: torch.device) -> dict[str, bool]:
    """Fused AdamW where torch has a fused kernel for the device (CUDA, CPU, MPS in torch >= 2.4)."""
    return {"fused": True} if device.type in ("cuda", "cpu", "mps") else {"foreach": True}


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Run with `n` intra-op CPU threads, restoring the previous setting afterwards."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host → device copy: pinned + non_blocking on CUDA so the copy overlaps compute."""
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    if device.type == "cpu":
        return batch
    return batch.to(device)
