"""Pick model shapes for a target non-embedding parameter count at a given aspect ratio.

Kaplan et al. 2020 (§3.1, Figure 5) find loss depends only weakly on the aspect ratio
d_model/n_layer over a wide range (about 20 to 200 costs little), and their sweeps sit around
d_model/n_layer ≈ 40-ish at the sizes they train. We therefore fix the ratio (configurable) and
search depth and width for the exact count closest to the target.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from lmscale.errors import InputError
from lmscale.model.accounting import account, param_counts
from lmscale.model.shape import Family, ModelShape

_MAX_LAYERS = 512


def _heads(d_model: int, d_head: int) -> int:
    """The divisor of d_model closest to d_model / d_head (more heads on a tie): heads of about d_head."""
    want = d_model / d_head
    divisors = [n for n in range(1, d_model + 1) if d_model % n == 0]
    return min(divisors, key=lambda n: (abs(n - want), -n))


def _widths(d_head: int, width_multiple: int) -> Callable[[int], int]:
    """k -> the k-th allowed width: every integer 2..2·d_head-1, then multiples of width_multiple."""
    small = list(range(2, 2 * d_head))
    first = -(-2 * d_head // width_multiple) * width_multiple  # smallest multiple >= 2·d_head

    def width(k: int) -> int:
        return small[k] if k < len(small) else first + (k - len(small)) * width_multiple

    return width


def shape_for_params(
    target_non_embedding: float,
    aspect_ratio: float = 32.0,
    d_head: int = 16,
    n_ctx: int = 128,
    vocab_size: int = 4096,
    family: Family = "gpt",
    tied_embeddings: bool = True,
    aspect_tolerance: float = 1.5,
    width_multiple: int = 8,
    count_tolerance: float = 0.01,
) -> ModelShape:
    """The shape whose exact non-embedding count is closest to the target, at about the aspect ratio.

    Widths: any integer below 2·``d_head``, so 1e3-parameter models (d_model ≈ 9, one layer)
    work; from there on, multiples of ``width_multiple``. n_head is the divisor of d_model closest
    to d_model/d_head (heads of about d_head; one head below d_head). Each depth gets the width
    whose count is closest to the target (in log space). Among depths whose d_model/n_layer then
    lies within a factor ``aspect_tolerance`` of ``aspect_ratio``, those whose count is within
    ``count_tolerance`` (relative) of the best of them compete on aspect ratio. When no depth
    fits the band (tiny targets force one layer), the depth closest to the aspect ratio wins.
    d_ff is 4·d_model.
    LSTMs: same search, n_head = 1.
    """
    for name, value in (("target_non_embedding", target_non_embedding), ("aspect_ratio", aspect_ratio)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"shape_for_params: {name} must be a finite number, got {value!r}")
        if value <= 0:
            raise InputError(f"shape_for_params: {name} must be positive, got {value!r}")
    if not isinstance(d_head, int) or isinstance(d_head, bool) or d_head < 1:
        raise InputError(f"shape_for_params: d_head must be a positive integer, got {d_head!r}")
    if not aspect_tolerance >= 1.0:
        raise InputError(f"shape_for_params: aspect_tolerance must be >= 1, got {aspect_tolerance!r}")
    if not isinstance(width_multiple, int) or isinstance(width_multiple, bool) or width_multiple < 1:
        raise InputError(
            f"shape_for_params: width_multiple must be a positive integer, got {width_multiple!r}"
        )
    if family not in ("gpt", "lstm"):
        raise InputError(f"shape_for_params: family must be 'gpt' or 'lstm', got {family!r}")

    width = _widths(d_head, width_multiple)

    def count(n_layer: int, k: int) -> int:
        # n_head does not change the count: one head keeps the search cheap.
        shape = ModelShape(
            n_layer=n_layer, d_model=width(k), n_ctx=n_ctx, vocab_size=vocab_size, family=family
        )
        return param_counts(shape).non_embedding

    def first_k(n_layer: int) -> int:
        """Smallest width index whose count reaches the target (count grows with width)."""
        hi = 1
        while count(n_layer, hi) < target_non_embedding:
            hi *= 2
        lo = 0
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if count(n_layer, mid) >= target_non_embedding else (mid + 1, hi)
        return lo

    log_target = math.log(target_non_embedding)
    # (|log N error|, |log aspect error|, n_layer, d_model): for each depth, the closest-count width.
    candidates: list[tuple[float, float, int, int]] = []
    for n_layer in range(1, _MAX_LAYERS + 1):
        if count(n_layer, 0) > 4 * target_non_embedding and candidates:
            break  # even the narrowest width overshoots: deeper only gets worse
        k_hit = first_k(n_layer)
        k = min({max(0, k_hit - 1), k_hit}, key=lambda k: abs(math.log(count(n_layer, k)) - log_target))
        n_err = abs(math.log(count(n_layer, k)) - log_target)
        candidates.append((n_err, abs(math.log(width(k) / n_layer / aspect_ratio)), n_layer, width(k)))
    band = math.log(aspect_tolerance)
    inside = [c for c in candidates if c[1] <= band + 1e-12]
    if inside:
        closest = min(c[0] for c in inside)
        near = [c for c in inside if c[0] <= closest + math.log1p(count_tolerance) + 1e-12]
        best = min(near, key=lambda c: (c[1], c[0]))
    else:  # tiny targets: the depth closest to the aspect ratio (with its closest-count width)
        best = min(candidates, key=lambda c: (c[1], c[0]))
    n_layer, d_model = best[2], best[3]
    return ModelShape(
        n_layer=n_layer,
        d_model=d_model,
        n_head=1 if family == "lstm" else _heads(d_model, d_head),
        n_ctx=n_ctx,
        vocab_size=vocab_size,
        tied_embeddings=tied_embeddings,
        family=family,
    )


class LadderRow(NamedTuple):
    """One rung of a ladder: the requested target and the shape chosen for it."""

    target: float
    shape: ModelShape


def shape_ladder(targets: Iterable[float], **kwargs: Any) -> list[LadderRow]:
    """One shape per target (keyword arguments as for ``shape_for_params``), in the targets' order."""
    return [LadderRow(float(t), shape_for_params(t, **kwargs)) for t in targets]


def parse_targets(text: str, where: str = "--ladder") -> Sequence[float]:
    """Parse '1e3,1e4,3e5' into floats; a bad item is one InputError line naming it."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        try:
            value = float(item)
        except ValueError:
            raise InputError(f"{where}: {item!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"{where}: {item!r} must be a positive finite number")
        out.append(value)
    if not out:
        raise InputError(f"{where}: no targets given")
    return out


# ------------------------------------------------------------------------------------------
# A shape for a planned N (lmscale plan --shape), in the law's N convention
# ------------------------------------------------------------------------------------------

# Kaplan et al. 2020 §3.1: loss is nearly flat for d_model/n_layer between ~20 and ~200; the shape
# search keeps within a factor `aspect_tolerance` of the requested ratio.
DEFAULT_ASPECT_RATIO = 64.0
DEFAULT_D_HEAD = 128


@dataclass(frozen=True)
class PlannedShape:
    target_N: float
    shape: ModelShape
    account: dict[str, Any]
    relative_error: float  # (exact non-embedding N - target) / target
    n_convention: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_N": self.target_N,
            "n_convention": self.n_convention,
            "relative_error": self.relative_error,
            **self.account,
        }


def model_shape(
    N: float,
    *,
    aspect_ratio: float = DEFAULT_ASPECT_RATIO,
    d_head: int = DEFAULT_D_HEAD,
    n_ctx: int = 2048,
    vocab_size: int = 32000,
    n_is_total: bool = False,
    tied_embeddings: bool = True,
) -> PlannedShape:
    """(n_layer, d_model, n_head) whose exact parameter count is closest to N at ~aspect_ratio.

    N is non-embedding by default (Kaplan's convention); with `n_is_total` (Hoffmann's laws count
    every parameter) the embedding share d_model x (vocab + n_ctx) is taken off by fixed-point
    iteration before the search.
    """
    if not math.isfinite(float(N)) or N <= 0:
        raise InputError(f"model size N must be a positive number, got {N!r}")
    # width_multiple = d_head: d_model is a whole number of heads of exactly d_head
    kw = dict(
        aspect_ratio=aspect_ratio,
        d_head=d_head,
        n_ctx=n_ctx,
        vocab_size=vocab_size,
        tied_embeddings=tied_embeddings,
        width_multiple=d_head,
    )
    target = float(N)
    if n_is_total:
        for _ in range(8):
            acct = account(shape_for_params(target, **kw))
            embed = acct.params_total - acct.params_non_embedding
            if embed >= N:
                raise InputError(
                    f"N = {N:g} total parameters is smaller than the embeddings alone ({embed:g})"
                )
            if float(N - embed) == target:
                break  # the embedding share depends on d_model only: converges in a few steps
            target = float(N - embed)
    shape = shape_for_params(target, **kw)
    acct = account(shape)
    exact = acct.params_total if n_is_total else acct.params_non_embedding
    return PlannedShape(
        target_N=float(N),
        shape=shape,
        account=acct.to_dict(),
        relative_error=(exact - float(N)) / float(N),
        n_convention="total parameters" if n_is_total else "non-embedding parameters",
    )
