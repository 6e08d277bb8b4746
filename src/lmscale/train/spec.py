"""RunSpec: the frozen description of one training run, with a deterministic id.

A sweep expands into RunSpecs; the store keys runs on `spec.id`; a run directory is named by it, so
re-running the same spec resumes the same run. The id hashes only the fields that change the
numbers a run produces (see `OPERATIONAL_FIELDS` for those that do not).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import shlex
import string
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from lmscale.errors import InputError
from lmscale.model.shape import ModelShape

Schedule = Literal["cosine", "constant", "wsd"]
LrRule = Literal["power", "kaplan"]
Dtype = Literal["float32", "bfloat16"]

# Fields that decide how fast or where a run executes, not what it computes (up to float
# reassociation): excluded from the id so that moving a run to a GPU or giving it more threads
# resumes the same run instead of starting a new one.
OPERATIONAL_FIELDS = frozenset(
    {"device", "threads", "compile", "checkpoint_every", "micro_batch_size", "command_timeout", "gpus"}
)

# What an external training command (`command`) may name in braces; filled by lmscale.train.external.
COMMAND_PLACEHOLDERS = (
    "run_dir", "metrics", "id", "n_layer", "d_model", "n_head", "d_ff", "n_ctx", "vocab_size", "N",
    "tokens", "steps", "batch_size", "lr", "seed", "data_seed", "corpus", "tokenizer", "schedule",
    "warmup", "device", "threads", "gpus", "python",
)  # fmt: skip

SPEC_VERSION = 1  # bump when a field's meaning changes; part of the id


class SpecError(InputError):
    """A RunSpec field is wrong; `key` names it, so a sweep can point at the line that set it."""

    def __init__(self, key: str, what: str) -> None:
        super().__init__(f"run spec: {key} {what}")
        self.key = key
        self.what = what


# The JSON type each field needs (checked before the values, so `lr = "abc"` names lr instead of
# failing in arithmetic); fields not listed are checked by validate() itself.
_INTS = (
    "tokens", "batch_size", "n_ctx", "seed", "data_seed", "eval_points", "eval_tokens", "noise_every",
    "unique_tokens", "trunk_tokens", "pretrain_tokens", "threads", "checkpoint_every", "micro_batch_size",
    "command_timeout", "gpus",
)  # fmt: skip
_NUMBERS = (
    "lr", "lr_scale", "lr_exponent", "warmup", "min_lr_ratio", "decay_fraction", "weight_decay", "beta1",
    "beta2", "eps", "grad_clip", "divergence_factor",
)  # fmt: skip
_BOOLS = ("noise_scale", "compile")
_STRINGS = ("corpus", "tokenizer", "lr_rule", "schedule", "dtype", "device", "command", "pretrain_corpus")
_LISTS = ("tokenizer_corpora", "eval_sets", "tags")
_OPTIONAL = (
    "n_ctx", "lr", "unique_tokens", "trunk_tokens", "pretrain_corpus", "pretrain_tokens", "threads",
    "micro_batch_size", "command", "command_timeout", "gpus",
)  # fmt: skip


def _type_problem(key: str, value: Any) -> str | None:
    """What is wrong with the type of `value` for field `key` (a message), None when it is right."""
    if value is None and key in _OPTIONAL:
        return None
    need = None
    if key in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
        need = "an integer"
    elif key in _NUMBERS and (isinstance(value, bool) or not isinstance(value, (int, float))):
        need = "a number"
    elif key in _BOOLS and not isinstance(value, bool):
        need = "true or false"
    elif key in _STRINGS and not isinstance(value, str):
        need = "a string"
    elif key in _LISTS:
        if isinstance(value, (str, bytes)):  # tuple("tiny") would be t, i, n, y
            return f"must be a list, not the string {value!r} (write [{value!r}])"
        if not isinstance(value, (list, tuple)):
            need = "a list"
        elif key != "tags" and not all(isinstance(v, str) and v for v in value):
            need = "a list of names"
    return None if need is None else f"must be {need}, got {value!r}"


@dataclass(frozen=True)
class RunSpec:
    """One training run. Units: tokens are tokens of `tokenizer`; steps are optimizer updates.

    shape: the model. Its vocab_size must be >= the tokenizer's (larger = padded logits, unused ids).
    corpus: training corpus name or path (anything `lmscale.data.load_token_store` accepts).
    tokenizer: tokenizer spec ("byte", "bpe-<V>", "gpt2").
    tokenizer_corpora: corpora the BPE tokenizer is trained on; empty = the training corpus plus
        every eval set (a transfer experiment needs one tokenizer for all distributions).
    eval_sets: extra corpora evaluated on their held-out split; the training corpus's held-out split
        is always evaluated (column `eval_loss`; others `eval_loss:<name>`).
    tokens: training-token budget D. steps = ceil(D / (batch_size * n_ctx)); tokens actually seen
        = steps * batch_size * n_ctx (reported in every curve row).
    batch_size: sequences per optimizer step. n_ctx: training context (None = shape.n_ctx; must be
        <= shape.n_ctx).
    lr: peak learning rate; None = `lr_rule` applied to N (non-embedding parameters):
        "power": lr = lr_scale * N**-lr_exponent;
        "kaplan": lr = 0.003239 - 0.0001395 * ln(N) (Kaplan et al. 2020, eq. D.1), floored at 1e-5.
    schedule: "cosine" = linear warmup, cosine decay to min_lr_ratio * lr at the last step;
        "constant" = warmup then flat; "wsd" = warmup, flat, then linear decay to min_lr_ratio * lr
        over the last decay_fraction of steps (warmup-stable-decay).
    warmup: warmup length as a FRACTION of total steps in [0, 1) (rounded up to whole steps, at
        least 1 step when > 0), so budgets of different size warm up in proportion.
    seed: model-initialisation seed. data_seed: seed of the data order (`train_batch`); kept apart so
        that seeds of the model can vary on identical data.
    eval_points: number of log-spaced evaluation steps (plus always the final step).
    eval_tokens: held-out tokens per evaluation and per eval set.
    noise_scale / noise_every: estimate the gradient noise scale B_simple every `noise_every` steps
        by splitting that step's batch into micro-batches (McCandlish et al. 2018, App. A.1).
    divergence_factor: after warmup, a training loss above factor * (lowest loss so far) stops the
        run as diverged (NaN/inf always does).
    unique_tokens: cap on distinct training tokens (None = the whole training split). The run
        cycles, in epochs of fresh order, over the first ceil(unique_tokens / n_ctx) windows of the
        data order, so a capped run sees the same data as an uncapped one until the cap is reached
        and smaller caps are subsets of larger ones (repeated-data experiments: Kaplan et al. 2020
        §4, Muennighoff et al. 2023).
    trunk_tokens: makes this "wsd" run a cooldown branch of a constant-rate trunk of that many tokens
        (Hägele et al. 2024): its warmup is counted in the trunk's steps, so every branch of one
        trunk trains identically until its own decay starts (`branch_step`), and a branch starts
        from the trunk's saved state there instead of from scratch (lmscale.train.branch). The
        result is the same, to the bit, as training the branch alone.
    pretrain_corpus / pretrain_tokens: makes this run a fine-tuning run (transfer, Hernandez et al.
        2021): its model starts from the final weights of `pretrain()`, the same run trained on
        pretrain_tokens of pretrain_corpus, with a fresh optimizer and its own schedule on `corpus`
        (lmscale.train.transfer). The pretraining run is an ordinary run of its own, trained once
        and shared by every fine-tuning run of the same model; its FLOPs are not this run's.
    command: an external training command run instead of the built-in trainer, a template whose
        braces name values of this spec (COMMAND_PLACEHOLDERS; see lmscale.train.external). Part
        of the id when set: another trainer is another run.
    Operational (not in the id): device ("cpu", "cuda", "cuda:N", "mps"), threads (CPU threads;
        None = leave torch's setting), compile (torch.compile), checkpoint_every (steps; 0 = only at
        the end), micro_batch_size (gradient accumulation; None = whole batch at once),
        command_timeout (seconds an external command may run; None = no limit), gpus (GPUs one
        command run uses, e.g. under torchrun: Ray reserves that many for it; None = one when
        device is cuda, else none).
    """

    shape: ModelShape
    tokens: int
    corpus: str = "english"
    tokenizer: str = "bpe-4096"
    tokenizer_corpora: tuple[str, ...] = ()
    eval_sets: tuple[str, ...] = ()
    batch_size: int = 32
    n_ctx: int | None = None
    lr: float | None = None
    lr_rule: LrRule = "power"
    lr_scale: float = 0.1
    lr_exponent: float = 0.25
    schedule: Schedule = "cosine"
    warmup: float = 0.05
    min_lr_ratio: float = 0.1
    decay_fraction: float = 0.2
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 0
    data_seed: int = 0
    eval_points: int = 12
    eval_tokens: int = 65536
    noise_scale: bool = True
    noise_every: int = 8
    divergence_factor: float = 3.0
    unique_tokens: int | None = None
    trunk_tokens: int | None = None
    pretrain_corpus: str | None = None
    pretrain_tokens: int | None = None
    dtype: Dtype = "float32"
    # an external trainer: a command template run instead of the built-in trainer (see
    # lmscale.train.external); None = the built-in trainer
    command: str | None = None
    # operational
    device: str = "cpu"
    threads: int | None = None
    compile: bool = False
    checkpoint_every: int = 200
    micro_batch_size: int | None = None
    command_timeout: int | None = None  # seconds an external command may run; None = no limit
    gpus: int | None = None  # GPUs a command run uses; None = 1 on cuda, else 0
    # free-form labels (e.g. sweep design coordinates); part of the id only when non-empty
    tags: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = _type_problem(f.name, getattr(self, f.name))
            if problem is not None:
                raise SpecError(f.name, problem)
        for name in _LISTS:
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(tuple(v) if name == "tags" else v for v in value))
        self.validate()

    # ----------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        def need(cond: bool, key: str, what: str) -> None:
            if not cond:
                raise SpecError(key, f"{what}, got {getattr(self, key)!r}")

        if not isinstance(self.shape, ModelShape):
            raise SpecError("shape", f"must be a ModelShape, got {type(self.shape).__name__}")
        for key in ("tokens", "batch_size", "eval_points", "eval_tokens", "noise_every"):
            v = getattr(self, key)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 1, key, "must be a positive integer")
        need(
            isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0,
            "checkpoint_every",
            "must be >= 0",
        )
        need(self.n_ctx is None or (isinstance(self.n_ctx, int) and self.n_ctx >= 1), "n_ctx", "must be >= 1")
        if self.n_ctx is not None and self.n_ctx > self.shape.n_ctx:
            raise SpecError(
                "n_ctx", f"{self.n_ctx} is longer than the model's context (shape.n_ctx={self.shape.n_ctx})"
            )
        need(self.lr is None or (math.isfinite(self.lr) and self.lr > 0), "lr", "must be a positive number")
        need(self.lr_rule in ("power", "kaplan"), "lr_rule", "must be 'power' or 'kaplan'")
        need(self.schedule in ("cosine", "constant", "wsd"), "schedule", "must be cosine, constant or wsd")
        need(0.0 <= self.warmup < 1.0, "warmup", "must be a fraction of the steps in [0, 1)")
        need(0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio", "must be in [0, 1]")
        need(0.0 < self.decay_fraction <= 1.0, "decay_fraction", "must be in (0, 1]")
        need(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        need(0.0 <= self.beta1 < 1.0, "beta1", "must be in [0, 1)")
        need(0.0 <= self.beta2 < 1.0, "beta2", "must be in [0, 1)")
        need(math.isfinite(self.eps) and self.eps > 0, "eps", "must be > 0")
        need(math.isfinite(self.lr_scale) and self.lr_scale > 0, "lr_scale", "must be a positive number")
        need(math.isfinite(self.lr_exponent), "lr_exponent", "must be a finite number")
        need(
            math.isfinite(self.grad_clip) and self.grad_clip >= 0,
            "grad_clip",
            "must be >= 0 (0 = no clipping)",
        )
        need(self.divergence_factor > 1.0, "divergence_factor", "must be > 1")
        need(
            self.unique_tokens is None
            or (
                isinstance(self.unique_tokens, int)
                and not isinstance(self.unique_tokens, bool)
                and self.unique_tokens >= self.context
            ),
            "unique_tokens",
            f"must be an integer of at least one context window ({self.context} tokens)",
        )
        self._validate_branch()
        self._validate_pretrain()
        need(self.dtype in ("float32", "bfloat16"), "dtype", "must be float32 or bfloat16")
        need(self.threads is None or self.threads >= 1, "threads", "must be >= 1")
        if self.micro_batch_size is not None:
            need(
                isinstance(self.micro_batch_size, int) and 1 <= self.micro_batch_size <= self.batch_size,
                "micro_batch_size",
                f"must be between 1 and batch_size={self.batch_size}",
            )
            need(
                self.batch_size % self.micro_batch_size == 0,
                "micro_batch_size",
                f"must divide batch_size={self.batch_size}",
            )
        self._validate_command()
        for key in ("corpus", "tokenizer", "device"):
            need(
                isinstance(getattr(self, key), str) and getattr(self, key) != "",
                key,
                "must be a non-empty string",
            )
        if self.tokens_per_step > self.tokens:
            raise SpecError(
                "tokens",
                f"{self.tokens} is smaller than one batch "
                f"(batch_size {self.batch_size} x n_ctx {self.context} = {self.tokens_per_step} tokens)",
            )

    @property
    def gpu_count(self) -> int:
        """GPUs one run of this spec occupies."""
        if self.gpus is not None:
            return self.gpus
        return 1 if self.device.startswith("cuda") else 0

    def _validate_branch(self) -> None:
        if self.trunk_tokens is None:
            return
        if self.schedule != "wsd":
            raise SpecError(
                "trunk_tokens", f"needs schedule 'wsd' (a cooldown branch), got {self.schedule!r}"
            )
        if self.command is not None:
            raise SpecError("trunk_tokens", "applies to the built-in trainer only, not to a command run")
        if self.trunk_tokens < self.tokens:
            raise SpecError(
                "trunk_tokens", f"{self.trunk_tokens} is shorter than the branch's tokens {self.tokens}"
            )

    def _validate_pretrain(self) -> None:
        if (self.pretrain_corpus is None) != (self.pretrain_tokens is None):
            key = "pretrain_tokens" if self.pretrain_tokens is None else "pretrain_corpus"
            raise SpecError(
                key, "is needed too: a fine-tuning run names both pretrain_corpus and pretrain_tokens"
            )
        if self.pretrain_tokens is None:
            return
        if self.pretrain_corpus == "":
            raise SpecError("pretrain_corpus", "must be a non-empty string")
        if self.pretrain_tokens < self.tokens_per_step:
            raise SpecError(
                "pretrain_tokens",
                f"{self.pretrain_tokens} is smaller than one batch ({self.tokens_per_step})",
            )
        for key in ("trunk_tokens", "command"):
            if getattr(self, key) is not None:
                raise SpecError(key, "cannot be combined with pretraining (pretrain_corpus)")

    def _validate_command(self) -> None:
        if self.command_timeout is not None and self.command_timeout < 1:
            raise SpecError("command_timeout", f"must be at least 1 second, got {self.command_timeout!r}")
        if self.gpus is not None and (self.gpus < 0 or self.command is None):
            what = (
                "must be ≥ 0"
                if self.gpus < 0
                else "applies to command runs only (the built-in trainer uses one)"
            )
            raise SpecError("gpus", f"{what}, got {self.gpus!r}")
        if self.command is None:
            return
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(self.command) if name is not None]
            words = shlex.split(self.command)
        except ValueError as exc:
            raise SpecError("command", f"is not a valid command template ({exc})") from None
        if not words:
            raise SpecError("command", "must name a program to run, got an empty command")
        unknown = sorted({n for n in names if n not in COMMAND_PLACEHOLDERS})
        if unknown:
            raise SpecError(
                "command",
                f"names {{{unknown[0]}}}, which lmscale does not fill; it fills "
                + ", ".join(f"{{{n}}}" for n in COMMAND_PLACEHOLDERS),
            )

    # ------------------------------------------------------------------------- derived values
    @property
    def context(self) -> int:
        """The training context length."""
        return self.n_ctx if self.n_ctx is not None else self.shape.n_ctx

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context

    @property
    def steps(self) -> int:
        return math.ceil(self.tokens / self.tokens_per_step)

    @property
    def warmup_steps(self) -> int:
        """Warmup in steps: a fraction of this run's steps, or of its trunk's for a branch."""
        steps = (
            self.steps if self.trunk_tokens is None else math.ceil(self.trunk_tokens / self.tokens_per_step)
        )
        return math.ceil(self.warmup * steps) if self.warmup > 0 else 0

    @functools.cached_property
    def branch_step(self) -> int | None:
        """For a cooldown branch (trunk_tokens set), the step its decay starts: the trunk's state
        there is where it branches off. None for any other run."""
        from lmscale.train.schedule import decay_start

        return None if self.trunk_tokens is None else decay_start(self.steps, self.decay_fraction)

    @functools.cached_property
    def trunk_id(self) -> str | None:
        """The id of this branch's trunk (the folder of its shared states); None for other runs.
        Cached: branch bookkeeping asks for it often, and the spec is frozen."""
        return None if self.trunk_tokens is None else self.trunk().id

    def trunk(self) -> RunSpec:
        """The constant-rate run every branch of this trunk shares up to its branch step; its id
        names the folder of the shared states. Only fields that change the training trajectory
        before the decay stay: the budget labels (tags) and the decay's own settings go."""
        if self.trunk_tokens is None:
            raise InputError(f"run {self.id} is not a cooldown branch (no trunk_tokens)")
        defaults = {f.name: f.default for f in fields(self)}
        return self.with_(
            tokens=self.trunk_tokens,
            trunk_tokens=None,
            schedule="constant",
            decay_fraction=defaults["decay_fraction"],
            min_lr_ratio=defaults["min_lr_ratio"],
            tags=(),
        )

    def pretrain(self) -> RunSpec:
        """The run whose final weights this fine-tuning run starts from: this spec trained on
        pretrain_tokens of pretrain_corpus, uncapped, with no labels. It evaluates this run's corpus
        and eval sets too, so both share one tokenizer (`resolved_tokenizer_corpora`)."""
        if self.pretrain_corpus is None or self.pretrain_tokens is None:
            raise InputError(f"run {self.id} is not a fine-tuning run (no pretrain_corpus)")
        evals = tuple(sorted({self.corpus, *self.eval_sets} - {self.pretrain_corpus}))
        return self.with_(
            corpus=self.pretrain_corpus,
            tokens=self.pretrain_tokens,
            eval_sets=evals,
            unique_tokens=None,
            pretrain_corpus=None,
            pretrain_tokens=None,
            tags=(),
        )

    @functools.cached_property
    def pretrain_id(self) -> str | None:
        """The id of the pretraining run (None for a run trained from scratch)."""
        return None if self.pretrain_corpus is None else self.pretrain().id

    @property
    def train_shape(self) -> ModelShape:
        """The shape as trained (context = the training context): what FLOPs are counted for."""
        return self.shape if self.context == self.shape.n_ctx else self.shape.with_(n_ctx=self.context)

    def peak_lr(self, n_non_embedding: int) -> float:
        """The peak learning rate: `lr`, or the per-size rule applied to N (non-embedding)."""
        from lmscale.train.schedule import lr_for_size

        if self.lr is not None:
            return float(self.lr)
        return lr_for_size(n_non_embedding, self.lr_rule, self.lr_scale, self.lr_exponent)

    @property
    def resolved_tokenizer_corpora(self) -> tuple[str, ...] | None:
        """Corpora the tokenizer is trained on; None = the data package's default (the corpus)."""
        if self.tokenizer_corpora:
            return self.tokenizer_corpora
        if self.eval_sets or self.pretrain_corpus is not None:
            extra = {self.pretrain_corpus} if self.pretrain_corpus is not None else set()
            return tuple(sorted({self.corpus, *self.eval_sets, *extra}))
        return None

    # -------------------------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; `RunSpec.from_dict(spec.to_dict()) == spec`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "shape":
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        if not isinstance(data, dict):
            raise InputError(f"run spec: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"id", "spec_version"})
        if unknown:
            raise InputError(f"run spec: unknown key {unknown[0]!r}")
        if "shape" not in data or "tokens" not in data:
            raise InputError("run spec: 'shape' and 'tokens' are required")
        kwargs = {k: v for k, v in data.items() if k in known}
        shape = kwargs["shape"]
        if not isinstance(shape, (ModelShape, dict)):
            raise SpecError("shape", f"must be a table of shape fields, got {shape!r}")
        kwargs["shape"] = shape if isinstance(shape, ModelShape) else ModelShape.from_dict(dict(shape))
        for key, value in kwargs.items():  # lists checked here: tuple("tiny") would split it
            if key in _LISTS and (problem := _type_problem(key, value)) is not None:
                raise SpecError(key, problem)
        for key in ("tokenizer_corpora", "eval_sets"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        for key in ("unique_tokens", "trunk_tokens", "pretrain_tokens"):  # 1e6 in a TOML/JSON file
            if isinstance(kwargs.get(key), float) and kwargs[key].is_integer():
                kwargs[key] = int(kwargs[key])
        if "tags" in kwargs:
            kwargs["tags"] = tuple(tuple(t) for t in kwargs["tags"])
        try:
            return cls(**kwargs)
        except TypeError as exc:  # wrong types that dataclass checks itself
            raise InputError(f"run spec: {exc}") from None

    def identity(self) -> dict[str, Any]:
        """The fields that determine the result: everything except OPERATIONAL_FIELDS."""
        d = {k: v for k, v in self.to_dict().items() if k not in OPERATIONAL_FIELDS}
        for optional in (
            "tags",
            "unique_tokens",
            "command",
            "trunk_tokens",
            "pretrain_corpus",
            "pretrain_tokens",
        ):  # absent when unset: older ids stay valid
            if not d[optional]:
                del d[optional]
        d["spec_version"] = SPEC_VERSION
        return d

    @property
    def id(self) -> str:
        """16 hex chars of sha256 over the canonical JSON (sorted keys) of `identity()`."""
        blob = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_(self, **changes: Any) -> RunSpec:
        return dataclasses.replace(self, **changes)
