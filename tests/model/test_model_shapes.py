"""shape_for_params / shape_ladder: closest count at the aspect ratio, checked by brute force."""

from __future__ import annotations

import math

import pytest

from lmscale.errors import InputError
from lmscale.model import account, shape_for_params, shape_ladder
from lmscale.model.sizing import parse_targets


def _gpt_non_embedding(n_layer: int, d: int) -> int:
    """By hand, d_ff = 4d: per layer QKV 3d²+3d, proj d²+d, MLP 8d²+5d, two LayerNorms 4d; final LN 2d."""
    return n_layer * (12 * d * d + 13 * d) + 2 * d


def _brute_force(target: float, aspect: float, tolerance: float, d_head: int = 16) -> tuple[float, float]:
    """Exhaustive search, same rule: per depth the closest-count width over *all* allowed widths;
    returns (best |log N err| among in-band depths, smallest aspect error among those within 1%)."""
    widths = [d for d in range(2, 6000) if d < 2 * d_head or d % 8 == 0]
    per_depth = []
    for n_layer in range(1, 120):
        d = min(widths, key=lambda d: abs(math.log(_gpt_non_embedding(n_layer, d) / target)))
        n_err = abs(math.log(_gpt_non_embedding(n_layer, d) / target))
        per_depth.append((n_err, abs(math.log(d / n_layer / aspect))))
    inside = [c for c in per_depth if c[1] <= math.log(tolerance) + 1e-12]
    best = min(c[0] for c in inside)
    return best, min(c[1] for c in inside if c[0] <= best + math.log1p(0.01) + 1e-12)


@pytest.mark.parametrize("target", [3e4, 2e5, 1e6, 5e7])
def test_choice_matches_an_exhaustive_search(target: float) -> None:
    shape = shape_for_params(target, aspect_ratio=32, d_head=16)
    n = account(shape).params_non_embedding
    assert n == _gpt_non_embedding(shape.n_layer, shape.d_model)
    best_err, best_aspect = _brute_force(target, 32, 1.5)
    assert abs(math.log(n / target)) <= best_err + math.log1p(0.01) + 1e-12
    assert abs(math.log(shape.aspect_ratio / 32)) == pytest.approx(best_aspect)
    assert shape.d_model % shape.n_head == 0 and shape.d_ff == 4 * shape.d_model


@pytest.mark.parametrize("target", [1e3, 3e3, 1e4])
def test_tiny_targets_give_one_layer_models(target: float) -> None:
    shape = shape_for_params(target)
    n = account(shape).params_non_embedding
    assert shape.n_layer == 1 and 4 <= shape.d_model <= 32
    # One layer has N(d) = 12d² + 15d; below 2·d_head every width is allowed: the closest in log space wins.
    assert n == 12 * shape.d_model**2 + 15 * shape.d_model
    closest = min(range(2, 32), key=lambda d: abs(math.log((12 * d * d + 15 * d) / target)))
    assert shape.d_model == closest


def test_aspect_ratio_is_honoured_for_large_models() -> None:
    for aspect in (16, 32, 64, 128):
        shape = shape_for_params(1e8, aspect_ratio=aspect, d_head=64)
        assert abs(math.log(shape.aspect_ratio / aspect)) <= math.log(1.5)
        assert account(shape).params_non_embedding == pytest.approx(1e8, rel=0.02)
        assert shape.d_model // shape.n_head == pytest.approx(64, rel=0.5)


def test_lstm_family_and_passthrough_fields() -> None:
    shape = shape_for_params(1e5, family="lstm", n_ctx=64, vocab_size=300, tied_embeddings=False)
    assert shape.family == "lstm" and shape.n_head == 1
    assert (shape.n_ctx, shape.vocab_size, shape.tied_embeddings) == (64, 300, False)
    assert account(shape).params_non_embedding == pytest.approx(1e5, rel=0.05)


def test_ladder_is_ordered_and_grows() -> None:
    rows = shape_ladder([1e4, 1e5, 1e6, 1e7])
    assert [r.target for r in rows] == [1e4, 1e5, 1e6, 1e7]
    counts = [account(r.shape).params_non_embedding for r in rows]
    assert counts == sorted(counts) and len(set(counts)) == 4
    for r, n in zip(rows, counts, strict=True):
        assert n == pytest.approx(r.target, rel=0.3)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"target_non_embedding": 0}, "target_non_embedding must be positive"),
        ({"target_non_embedding": float("inf")}, "finite"),
        ({"target_non_embedding": 1e5, "aspect_ratio": -1}, "aspect_ratio must be positive"),
        ({"target_non_embedding": 1e5, "d_head": 0}, "d_head"),
        ({"target_non_embedding": 1e5, "family": "rnn"}, "family"),
        ({"target_non_embedding": 1e5, "aspect_tolerance": 0.5}, "aspect_tolerance"),
    ],
)
def test_bad_inputs_are_one_line_input_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        shape_for_params(**kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_parse_targets() -> None:
    assert parse_targets("1e3, 2e4,5") == [1e3, 2e4, 5.0]
    for bad in ("1e3,x", "1e3,,2", "-1", "nan"):
        with pytest.raises(InputError, match="--ladder"):
            parse_targets(bad)
