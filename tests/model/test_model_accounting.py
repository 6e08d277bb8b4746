"""Exact parameter counts against the built torch module, and the FLOP conventions by hand."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lmscale.errors import InputError  # noqa: E402
from lmscale.model import ModelShape, account, build_model, run_flops  # noqa: E402
from lmscale.model.accounting import PF_DAY, forward_flops_breakdown, param_counts  # noqa: E402

SHAPES = [
    ModelShape(n_layer=1, d_model=8, n_head=1, n_ctx=4, vocab_size=11),
    ModelShape(n_layer=1, d_model=8, n_head=2, n_ctx=4, vocab_size=11, tied_embeddings=False),
    ModelShape(n_layer=3, d_model=24, n_head=3, n_ctx=17, vocab_size=101, d_ff=37),
    ModelShape(n_layer=2, d_model=48, n_head=4, n_ctx=64, vocab_size=257, d_ff=100, tied_embeddings=False),
    ModelShape(n_layer=5, d_model=20, n_head=5, n_ctx=9, vocab_size=3),
    ModelShape(n_layer=1, d_model=9, n_ctx=3, vocab_size=7, family="lstm"),
    ModelShape(n_layer=3, d_model=16, n_ctx=3, vocab_size=50, family="lstm", tied_embeddings=False),
]


def _numel_by_role(model: torch.nn.Module) -> dict[str, int]:
    """Independent split of the module's parameters by name (the layout build_model produces)."""
    roles = {"token": 0, "position": 0, "logits": 0, "rest": 0}
    for name, p in model.named_parameters():
        role = {"wte.weight": "token", "wpe.weight": "position", "lm_head.weight": "logits"}.get(name, "rest")
        roles[role] += p.numel()
    return roles


@pytest.mark.parametrize(
    "shape", SHAPES, ids=lambda s: f"{s.family}-L{s.n_layer}-d{s.d_model}-tied{s.tied_embeddings}"
)
def test_param_counts_equal_the_built_module(shape: ModelShape) -> None:
    model = build_model(shape)
    roles = _numel_by_role(model)
    acc = account(shape)
    assert acc.params_total == sum(p.numel() for p in model.parameters())
    assert acc.params_non_embedding == roles["rest"]
    assert acc.params_embedding == roles["token"] + roles["position"] + roles["logits"]
    assert roles["logits"] == (0 if shape.tied_embeddings else shape.d_model * shape.vocab_size)
    assert acc.tied_embeddings == shape.tied_embeddings


def test_gpt2_small_total_is_124_439_808() -> None:
    shape = ModelShape(n_layer=12, d_model=768, n_head=12, n_ctx=1024, vocab_size=50257)
    acc = account(shape)
    assert acc.params_total == 124_439_808
    # Embeddings: 50257·768 tokens + 1024·768 positions; non-embedding = the rest.
    assert acc.params_embedding == 50257 * 768 + 1024 * 768
    assert acc.params_non_embedding == 124_439_808 - acc.params_embedding
    assert acc.params_kaplan == 12 * 12 * 768**2  # 2·d·L·(2d + 4d) = 12·L·d²


@pytest.mark.slow
def test_gpt2_small_built_module_has_124_439_808_parameters() -> None:
    model = build_model(ModelShape(n_layer=12, d_model=768, n_head=12, n_ctx=1024, vocab_size=50257))
    assert sum(p.numel() for p in model.parameters()) == 124_439_808


def test_flop_conventions_by_hand() -> None:
    shape = ModelShape(n_layer=2, d_model=16, n_head=4, n_ctx=10, vocab_size=100, d_ff=40)
    d, L, S, V, f, h = 16, 2, 10, 100, 40, 4
    n = L * (3 * d * d + 3 * d + d * d + d + d * f + f + f * d + d + 4 * d) + 2 * d
    acc = account(shape)
    assert acc.params_non_embedding == n
    assert acc.flops_per_token_6n == 6 * n
    assert acc.flops_per_token_6n_total == 6 * (n + V * d + S * d)
    assert acc.flops_per_token_kaplan == 6 * n + 6 * L * S * d
    per_layer = 6 * d * d + 2 * S * d + 3 * h * S + 2 * S * d + 2 * d * d + 4 * d * f
    assert acc.flops_per_token_exact == 3 * (2 * V * d + L * per_layer + 2 * d * V)
    c = (S + 1) / 2  # mean attended positions under a causal mask
    per_layer_causal = 6 * d * d + 2 * c * d + 3 * h * c + 2 * c * d + 2 * d * d + 4 * d * f
    assert acc.flops_per_token_exact_causal == pytest.approx(
        3 * (2 * V * d + L * per_layer_causal + 2 * d * V)
    )


def test_lstm_flops_and_kaplan_params() -> None:
    shape = ModelShape(n_layer=3, d_model=16, n_ctx=8, vocab_size=50, family="lstm")
    acc = account(shape)
    assert acc.params_non_embedding == 3 * (8 * 16 * 16 + 8 * 16)
    assert acc.params_kaplan == 3 * 8 * 16 * 16
    assert acc.flops_per_token_kaplan == acc.flops_per_token_6n == 6 * acc.params_non_embedding
    assert acc.flops_per_token_exact == acc.flops_per_token_exact_causal
    assert acc.flops_per_token_exact == 3 * (2 * 50 * 16 + 3 * 16 * 16 * 16 + 2 * 16 * 50)


def test_causal_halving_approaches_half_of_the_context_terms() -> None:
    shape = ModelShape(n_layer=4, d_model=64, n_head=4, n_ctx=2048, vocab_size=256)
    full = forward_flops_breakdown(shape)
    causal = forward_flops_breakdown(shape, causal=True)
    for key in ("attn_logits", "attn_softmax", "attn_values"):
        assert causal[key] / full[key] == pytest.approx((2048 + 1) / (2 * 2048))
    for key in ("embeddings", "qkv", "attn_proj", "mlp", "logits"):
        assert causal[key] == full[key]


def test_run_flops_scales_with_tokens_and_rejects_bad_tokens() -> None:
    shape = ModelShape(n_layer=2, d_model=32, n_head=2, n_ctx=16, vocab_size=64)
    acc = account(shape)
    run = run_flops(shape, 1e6)
    assert run["flops_6n"] == acc.flops_per_token_6n * 1e6
    assert run["flops_exact_causal"] == acc.flops_per_token_exact_causal * 1e6
    assert run["flops_kaplan"] == acc.flops_per_token_kaplan * 1e6
    assert run["pf_days_6n"] == pytest.approx(run["flops_6n"] / 8.64e19)
    assert PF_DAY == 8.64e19
    for bad in (0, -5, float("nan"), float("inf"), "1e6", True):
        with pytest.raises(InputError) as err:
            run_flops(shape, bad)  # type: ignore[arg-type]
        assert "\n" not in str(err.value) and "tokens" in str(err.value)


def test_to_dict_is_flat_and_json_ready() -> None:
    d = account(ModelShape(n_layer=1, d_model=8, n_head=2)).to_dict()
    assert d["n_layer"] == 1 and d["d_ff"] == 32 and "shape" not in d
    assert param_counts(ModelShape(n_layer=1, d_model=8, n_head=2)).total == d["params_total"]


def test_shape_and_accounting_import_without_torch() -> None:
    code = (
        "import sys; import lmscale.model, lmscale.model.accounting, lmscale.model.sizing; "
        "lmscale.model.shape_for_params(1e5); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=30, deadline=None)
@given(
    family=st.sampled_from(["gpt", "lstm"]),
    n_layer=st.integers(1, 3),
    d_head=st.integers(1, 8),
    n_head=st.integers(1, 4),
    n_ctx=st.integers(1, 40),
    vocab=st.integers(2, 300),
    d_ff=st.integers(0, 70),
    tied=st.booleans(),
)
def test_param_counts_equal_the_module_for_random_shapes(
    family: str, n_layer: int, d_head: int, n_head: int, n_ctx: int, vocab: int, d_ff: int, tied: bool
) -> None:
    shape = ModelShape(
        n_layer=n_layer,
        d_model=d_head * n_head,
        n_head=n_head if family == "gpt" else 1,
        n_ctx=n_ctx,
        vocab_size=vocab,
        d_ff=d_ff,
        tied_embeddings=tied,
        family=family,  # type: ignore[arg-type]
    )
    model = build_model(shape)
    roles = _numel_by_role(model)
    acc = account(shape)
    assert acc.params_total == sum(p.numel() for p in model.parameters())
    assert acc.params_non_embedding == roles["rest"]
