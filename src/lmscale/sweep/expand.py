"""Expand a SweepSpec into RunSpecs with stable ids (RunSpec.id), one per point of the design.

Designs:
- grid: sizes × token budgets × batch sizes × LRs (or LR-rule factors) × seeds × data seeds × corpora × schedules.
- isoflop: for each compute budget C and each size, D = C / (training FLOPs per token) — the
  IsoFLOP profiles of Hoffmann et al. 2022 (approach 2). Sizes whose D/N falls outside
  `tokens_per_param_range` are left out (they only waste compute far from the valley).
- curves: one long run per size with many log-spaced evaluations (Kaplan et al. 2020 fit L(N) and
  L(C_min) from such curves).
- batch-size: a grid over batch sizes at fixed tokens (steps and tokens to reach a loss give the
  critical batch size, Kaplan §5.1); gradient-noise-scale estimates are on.
With `branches = true` (any design, schedule "wsd"), runs that differ only in their token budget
are cooldown branches of one constant-rate trunk (lmscale.train.branch): the trunk is trained once.
With `axes.pretrain_tokens`, runs fine-tune pretrained models (lmscale.train.transfer); each
pretraining run joins the sweep once, queued first, and its FLOPs are counted once.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from lmscale.errors import InputError
from lmscale.model.accounting import account
from lmscale.model.shape import ModelShape
from lmscale.model.sizing import shape_for_params
from lmscale.sweep.spec import ShapeSpec, SweepSpec
from lmscale.train.branch import own_steps
from lmscale.train.spec import RunSpec, SpecError

#: The Chinchilla rule of thumb (Hoffmann et al. 2022): ~20 tokens per parameter at the optimum.
CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep and what it costs: N (non-embedding), D (tokens), FLOPs in two conventions.

    own_steps: the steps this run trains itself, when a cooldown branch shares its trunk with other
    runs of the sweep (None = all of them); `spent_6n` and `spent_exact` are its FLOPs on that
    count, and sum to what the sweep costs."""

    spec: RunSpec
    N: int
    N_total: int
    D: int
    flops_6n: float
    flops_exact: float
    coords: dict[str, Any] = field(default_factory=dict)
    own_steps: int | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def own_fraction(self) -> float:
        return 1.0 if self.own_steps is None else self.own_steps / self.steps

    @property
    def spent_6n(self) -> float:
        return self.flops_6n * self.own_fraction

    @property
    def spent_exact(self) -> float:
        return self.flops_exact * self.own_fraction

    @property
    def steps(self) -> int:
        return self.spec.steps

    @property
    def pretraining(self) -> bool:
        """A transfer study's pretraining run, which its fine-tuning runs start from: queued first."""
        return bool(self.coords.get("pretrain"))


def _vocab(spec: SweepSpec, source: str) -> int:
    if spec.model.vocab_size is not None:
        return spec.model.vocab_size
    from lmscale.data.tokenizer import vocab_of_spec

    tokenizer = spec.train.get("tokenizer", RunSpec.__dataclass_fields__["tokenizer"].default)
    vocab = vocab_of_spec(str(tokenizer))
    if vocab is None:
        raise InputError(f"{source}: model.vocab_size: needed for tokenizer {tokenizer!r}")
    return vocab


def resolve_shape(entry: float | ShapeSpec, spec: SweepSpec, vocab: int, where: str) -> ModelShape:
    """A size entry (target N or explicit shape) as a ModelShape."""
    m = spec.model
    if not isinstance(entry, ShapeSpec):
        entry = ShapeSpec(N=float(entry))
    family = entry.family or m.family
    try:
        if entry.N is not None:
            return shape_for_params(
                entry.N,
                aspect_ratio=entry.aspect_ratio or m.aspect_ratio,
                d_head=m.head_dim,
                n_ctx=m.n_ctx,
                vocab_size=vocab,
                family=family,
                tied_embeddings=m.tied_embeddings,
            )
        d_model = int(entry.d_model or 0)
        n_head = entry.n_head
        if n_head is None:  # heads of head_dim where the width allows, else one head
            n_head = d_model // m.head_dim if family == "gpt" and d_model % m.head_dim == 0 else 1
        return ModelShape(
            n_layer=int(entry.n_layer or 0),
            d_model=d_model,
            n_head=n_head,
            d_ff=entry.d_ff or 0,
            n_ctx=m.n_ctx,
            vocab_size=vocab,
            tied_embeddings=m.tied_embeddings,
            family=family,
        )
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _whole_steps(tokens: float, tokens_per_step: int) -> int:
    """Round a token budget to whole optimizer steps (at least one): D is then exactly what is seen."""
    return max(1, round(tokens / tokens_per_step)) * tokens_per_step


def _key_path(key: str, base: dict[str, Any], axes: dict[str, Any], where: str) -> str:
    """Where in the spec file a RunSpec field was set: an axis, the [train] table, or the size."""
    if key in axes:
        return f"axes.{key}"
    if key in base:
        return f"train.{key}"
    return where


def _make(
    base: dict[str, Any], shape: ModelShape, tokens: float, source: str, where: str, **kw: Any
) -> RunSpec:
    fields = {**base, **kw, "shape": shape}
    if kw.get("pretrain_tokens") == 0:  # the from-scratch point of a transfer study
        if not fields.get("tokenizer_corpora") and str(fields.get("tokenizer", "")).startswith("bpe"):
            # the tokenizer of its fine-tuned neighbours (trained on both corpora): one token unit
            evals = fields.get("eval_sets") or ()
            fields["tokenizer_corpora"] = sorted({fields["corpus"], *evals, fields["pretrain_corpus"]})
        fields["pretrain_tokens"] = fields["pretrain_corpus"] = None
    batch = fields.get("batch_size", RunSpec.__dataclass_fields__["batch_size"].default)
    ctx = fields.get("n_ctx") or shape.n_ctx
    for key, value in (("batch_size", batch), ("n_ctx", ctx)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            path = _key_path(key, base, kw, where)
            raise InputError(f"{source}: {path}: must be a positive integer, got {value!r}")
    fields["tokens"] = _whole_steps(tokens, batch * ctx)
    if fields.get("pretrain_tokens"):
        fields["pretrain_tokens"] = _whole_steps(fields["pretrain_tokens"], batch * ctx)
    try:
        return RunSpec.from_dict(fields)
    except SpecError as exc:  # name the key of the spec file that set the bad value
        path = _key_path(exc.key, base, {k: v for k, v in kw.items() if k != "tags"}, where)
        what = exc.what if path != where else f"{exc.key} {exc.what}"
        raise InputError(f"{source}: {path}: {what}") from None
    except InputError as exc:
        raise InputError(f"{source}: {where}: {str(exc).removeprefix('run spec: ')}") from None


def planned_run(spec: RunSpec, coords: dict[str, Any] | None = None) -> PlannedRun:
    """A RunSpec with its size and cost."""
    acc = account(spec.train_shape)
    return PlannedRun(
        spec=spec,
        N=acc.params_non_embedding,
        N_total=acc.params_total,
        D=spec.tokens,
        flops_6n=acc.flops_per_token_6n * spec.tokens,
        flops_exact=acc.flops_per_token_exact * spec.tokens,
        coords=coords or {},
    )


def expand(spec: SweepSpec, source: str = "spec") -> list[PlannedRun]:
    """All runs of the sweep, deduplicated by id, in a stable order (small and cheap first)."""
    vocab = _vocab(spec, source)
    base = dict(spec.train)
    if spec.design == "curves":
        base.setdefault("eval_points", spec.curves.eval_points)
    if spec.design == "batch-size":
        base.setdefault("noise_scale", True)
    ax = spec.axes
    extra_axes = {
        name: values
        for name, values in (
            ("batch_size", ax.batch_size),
            ("lr", ax.lr),
            ("lr_scale", ax.lr_scale),
            ("seed", ax.seed),
            ("data_seed", ax.data_seed),
            ("corpus", ax.corpus),
            ("schedule", ax.schedule),
            ("unique_tokens", [round(u) for u in ax.unique_tokens] if ax.unique_tokens else None),
            ("pretrain_tokens", [round(p) for p in ax.pretrain_tokens] if ax.pretrain_tokens else None),
        )
        if values is not None
    }
    combos = [
        dict(zip(extra_axes, values, strict=True)) for values in itertools.product(*extra_axes.values())
    ]
    shapes = [
        (f"sizes[{i}]", resolve_shape(e, spec, vocab, f"{source}: sizes[{i}]"))
        for i, e in enumerate(spec.sizes)
    ]

    runs: list[PlannedRun] = []
    if spec.design == "isoflop":
        assert spec.isoflop is not None
        iso = spec.isoflop
        lo, hi = iso.tokens_per_param_range
        for b, budget in enumerate(iso.budgets):
            candidates = shapes
            if not candidates:
                n_opt = math.sqrt(budget / (6.0 * CHINCHILLA_TOKENS_PER_PARAM))
                targets = [
                    n_opt * iso.spread ** (2 * k / (iso.points - 1) - 1) if iso.points > 1 else n_opt
                    for k in range(iso.points)
                ]
                candidates = [
                    (
                        f"isoflop.budgets[{b}] N={t:.3g}",
                        resolve_shape(t, spec, vocab, f"{source}: isoflop.budgets[{b}]"),
                    )
                    for t in targets
                ]
            kept = 0
            for where, shape in candidates:
                for combo in combos:
                    ctx = base.get("n_ctx") or shape.n_ctx
                    acc = account(shape if ctx == shape.n_ctx else shape.with_(n_ctx=ctx))
                    per_token = acc.flops_per_token_6n if iso.flops == "6N" else acc.flops_per_token_exact
                    tokens = budget / per_token
                    if not lo <= tokens / acc.params_non_embedding <= hi:
                        continue
                    run = _make(
                        base, shape, tokens, source, where, tags=[["budget", f"{budget:.4g}"]], **combo
                    )
                    runs.append(planned_run(run, {"budget": budget, **combo}))
                    kept += 1
            if kept == 0:
                raise InputError(
                    f"{source}: isoflop.budgets[{b}]: no size gives tokens per parameter in [{lo:g}, {hi:g}] "
                    f"at C={budget:.3g}; add sizes or widen isoflop.tokens_per_param_range"
                )
    else:
        budgets: list[tuple[str, float]] = (
            [("tokens", t) for t in ax.tokens]
            if ax.tokens is not None
            else [("tokens_per_param", r) for r in ax.tokens_per_param or []]
        )
        for where, shape in shapes:
            n = account(shape).params_non_embedding
            for kind, value in budgets:
                tokens = value if kind == "tokens" else value * n
                for combo in combos:
                    run = _make(base, shape, tokens, source, where, **combo)
                    runs.append(planned_run(run, {kind: value, **combo}))
    if spec.branches:
        runs = _as_branches(runs, source)
    pretraining = [planned_run(r.spec.pretrain(), {"pretrain": True}) for r in runs if r.spec.pretrain_corpus]
    unique: dict[str, PlannedRun] = {}
    for r in pretraining + runs:
        unique.setdefault(r.id, r)
    return _queue(list(unique.values()), spec.branches)


def _queue(runs: list[PlannedRun], branches: bool) -> list[PlannedRun]:
    """Pretraining runs first, then small and cheap runs; with branches, each trunk's in order of
    length, trunks interleaved, and every run's own steps (a shared trunk counted once)."""
    if not branches:
        return sorted(runs, key=lambda r: (not r.pretraining, r.flops_exact, r.N, r.id))
    own = own_steps(r.spec for r in runs)
    planned = [dataclasses.replace(r, own_steps=own[r.id]) for r in runs]
    rank = branch_rank(planned)
    return sorted(planned, key=lambda r: (not r.pretraining, rank[r.id], r.flops_exact, r.N, r.id))


def branch_rank(runs: list[PlannedRun]) -> dict[str, int]:
    """Each run's place among the branches of its trunk, shortest first (0 for a plain run). Queued
    in this order, with trunks interleaved, each branch finds the state of the shorter one saved and
    two workers seldom run branches of one trunk at once."""
    trunk = {r.id: r.spec.trunk_id for r in runs if r.spec.trunk_tokens is not None}
    lengths: dict[str, list[int]] = {}
    for r in runs:
        if r.id in trunk:
            lengths.setdefault(trunk[r.id], []).append(r.D)
    return {r.id: sum(d < r.D for d in lengths[trunk[r.id]]) if r.id in trunk else 0 for r in runs}


def _as_branches(runs: list[PlannedRun], source: str) -> list[PlannedRun]:
    """Runs that differ only in their token budget become cooldown branches of one trunk as long as
    the longest of them (`branches = true`, Hägele et al. 2024), except runs too short to leave the
    trunk's warmup before their decay."""

    def key(r: PlannedRun) -> str:
        same = {k: v for k, v in r.spec.identity().items() if k not in ("tokens", "tags")}
        return json.dumps(same, sort_keys=True)

    keys = {r.id: key(r) for r in runs}
    longest: dict[str, int] = {}
    for r in runs:
        longest[keys[r.id]] = max(longest.get(keys[r.id], 0), r.spec.tokens)
    out = []
    for r in runs:
        try:
            spec = r.spec.with_(trunk_tokens=longest[keys[r.id]])
        except InputError as exc:
            raise InputError(f"{source}: branches = true: {str(exc).removeprefix('run spec: ')}") from None
        # A run so short that its decay would start inside the trunk's warmup trains alone (with its
        # own warmup): as a branch it would never reach the peak rate.
        out.append(planned_run(spec, r.coords) if spec.branch_step >= spec.warmup_steps else r)
    return out
