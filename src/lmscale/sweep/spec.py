"""Sweep spec files (TOML, or YAML when PyYAML is present), validated with pydantic.

A spec names a design and its axes; `lmscale.sweep.expand` turns it into RunSpecs. Errors name
the file, the key path and what is wrong: `demo.toml: sizes[2].n_layer: must be ≥ 1`.

Layout (every section optional except `sizes`):

    name = "demo"               # default study name
    design = "isoflop"          # grid | isoflop | curves | batch-size
    sizes = [1e3, 3e3, {n_layer = 2, d_model = 32}]   # target non-embedding N, or explicit shapes
    [model]   family, n_ctx, vocab_size, tied_embeddings, aspect_ratio, head_dim  (shape defaults / rule)
    [train]   any RunSpec field (corpus, tokenizer, eval_sets, batch_size, lr_rule, schedule, ...)
    [axes]    lists crossed in the design: tokens | tokens_per_param, batch_size, lr, lr_scale, seed, data_seed,
              corpus, schedule, unique_tokens, pretrain_tokens (0 = from scratch; others fine-tune a model
              pretrained on that many tokens of train.pretrain_corpus, whose runs join the sweep)
    [isoflop] budgets (FLOPs), flops ("6N" | "exact"), tokens_per_param_range, points, spread
    [curves]  eval_points (log-spaced evaluations of the one long run per size)
    branches = true             # cooldown branches: runs differing only in tokens share one
                                # constant-rate trunk (needs train.schedule = "wsd"; Hägele et al. 2024)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lmscale.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib

Design = Literal["grid", "isoflop", "curves", "batch-size"]
PosInt = Annotated[int, Field(ge=1)]
PosFloat = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShapeSpec(_Strict):
    """An explicit shape (n_layer + d_model) or a target non-embedding N (`N`)."""

    n_layer: PosInt | None = None
    d_model: PosInt | None = None
    n_head: PosInt | None = None
    d_ff: PosInt | None = None
    N: PosFloat | None = None
    aspect_ratio: PosFloat | None = None
    family: Literal["gpt", "lstm"] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ShapeSpec:
        explicit = self.n_layer is not None or self.d_model is not None
        if explicit and self.N is not None:
            raise ValueError("give either N (a target size) or n_layer and d_model, not both")
        if not explicit and self.N is None:
            raise ValueError("needs N (target non-embedding parameters) or n_layer and d_model")
        if explicit and (self.n_layer is None or self.d_model is None):
            raise ValueError("an explicit shape needs both n_layer and d_model")
        return self


class ModelSection(_Strict):
    family: Literal["gpt", "lstm"] = "gpt"
    n_ctx: PosInt = 64
    vocab_size: PosInt | None = None  # None = the tokenizer's size (byte: 256, bpe-V: V)
    tied_embeddings: bool = True
    aspect_ratio: PosFloat = 16.0  # d_model / n_layer for target sizes (Kaplan §3.1: 20–200 is flat)
    head_dim: PosInt = 16


class AxesSection(_Strict):
    tokens: list[PosFloat] | None = None
    tokens_per_param: list[PosFloat] | None = None
    batch_size: list[PosInt] | None = None
    lr: list[PosFloat] | None = None
    lr_scale: list[PosFloat] | None = None  # the LR rule's factor: a per-size LR sweep
    seed: list[Annotated[int, Field(ge=0)]] | None = None  # model initialisation
    data_seed: list[Annotated[int, Field(ge=0)]] | None = None  # order of the training windows
    corpus: list[str] | None = None
    schedule: list[Literal["cosine", "constant", "wsd"]] | None = None
    unique_tokens: list[PosFloat] | None = None  # distinct-token caps (repeated data)
    pretrain_tokens: list[Annotated[float, Field(ge=0)]] | None = None  # 0 = from scratch (transfer)

    @model_validator(mode="after")
    def _one_budget(self) -> AxesSection:
        if self.tokens is not None and self.tokens_per_param is not None:
            raise ValueError("give tokens or tokens_per_param, not both")
        for name, value in self:
            if value is not None and len(value) == 0:
                raise ValueError(f"{name} is an empty list")
        return self


class IsoflopSection(_Strict):
    budgets: list[PosFloat] = Field(min_length=1)
    flops: Literal["6N", "exact"] = "6N"
    tokens_per_param_range: tuple[PosFloat, PosFloat] = (1.0, 1000.0)
    points: PosInt = 5  # sizes per budget when `sizes` is empty: log-spaced around the 20 tok/param optimum
    spread: Annotated[float, Field(gt=1)] = 8.0  # those sizes span N_opt/spread .. N_opt*spread

    @field_validator("tokens_per_param_range")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] >= v[1]:
            raise ValueError("must be [low, high] with low < high")
        return v


class CurvesSection(_Strict):
    eval_points: PosInt = 30


class SweepSpec(_Strict):
    name: str = Field(default="sweep", min_length=1)
    description: str = ""
    design: Design = "grid"
    sizes: list[PosFloat | ShapeSpec] = Field(default_factory=list)
    model: ModelSection = Field(default_factory=ModelSection)
    train: dict[str, Any] = Field(default_factory=dict)
    axes: AxesSection = Field(default_factory=AxesSection)
    isoflop: IsoflopSection | None = None
    curves: CurvesSection = Field(default_factory=CurvesSection)
    branches: bool = False

    @field_validator("train")
    @classmethod
    def _train_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import fields

        from lmscale.train.spec import RunSpec

        known = {f.name for f in fields(RunSpec)} - {"shape", "tokens", "tags"}
        for key in v:
            if key not in known:
                raise ValueError(f"unknown run setting {key!r} (see lmscale.train.RunSpec)")
        return v

    @model_validator(mode="after")
    def _design_needs(self) -> SweepSpec:
        if self.design == "isoflop":
            if self.isoflop is None:
                raise ValueError("design 'isoflop' needs an [isoflop] section with budgets")
            if self.axes.tokens is not None or self.axes.tokens_per_param is not None:
                raise ValueError("design 'isoflop' sets tokens from the budgets; drop axes.tokens")
        else:
            if not self.sizes:
                raise ValueError(f"design {self.design!r} needs sizes")
            if self.axes.tokens is None and self.axes.tokens_per_param is None:
                raise ValueError(f"design {self.design!r} needs axes.tokens or axes.tokens_per_param")
        if self.design == "curves" and (
            len(self.axes.tokens or []) > 1 or len(self.axes.tokens_per_param or []) > 1
        ):
            raise ValueError("design 'curves' trains one long run per size: give one token budget")
        if self.design == "batch-size" and len(self.axes.batch_size or []) < 2:
            raise ValueError("design 'batch-size' needs at least two axes.batch_size values")
        if self.axes.pretrain_tokens is not None and not self.train.get("pretrain_corpus"):
            raise ValueError("axes.pretrain_tokens needs train.pretrain_corpus (the corpus to pretrain on)")
        if self.branches and (self.train.get("schedule") != "wsd" or self.axes.schedule is not None):
            raise ValueError('branches = true needs train.schedule = "wsd" (and no axes.schedule)')
        return self


# -- loading ---------------------------------------------------------------------------------------
_MESSAGES = {
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be ≤ {le}",
    "missing": "is required",
    "extra_forbidden": "unknown key",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "too_short": "needs at least {min_length} item(s)",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("float", "constrained-float") or "ShapeSpec" in str(part):
            continue  # union member names pydantic inserts into the location
        else:
            out += ("." if out else "") + str(part)
    return out


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line: `<source>: <key path>: <what is wrong>` for the most specific error."""
    errors = exc.errors(include_url=False)

    def is_shape(e: Any) -> bool:
        return any("ShapeSpec" in str(p) for p in e["loc"])

    # A union (number | table) reports one error per member; for a table the table member's error
    # is the informative one, for anything else "must be a number or a table" is.
    err = max(errors, key=lambda e: (len(e["loc"]), is_shape(e) and e["type"] != "model_type"))
    template = _MESSAGES.get(err["type"])
    ctx = err.get("ctx") or {}
    msg = template.format(**ctx) if template else err["msg"].removeprefix("Value error, ")
    union = err["type"] in ("float_type", "float_parsing", "model_type") and any(
        is_shape(e) for e in errors if e["loc"][:-1] == err["loc"][:-1]
    )
    if union:
        msg = "must be a number (target N) or a table (explicit shape)"
    where = _path(tuple(err["loc"]))
    # Other errors, leaving out the union alternatives reported at a parent of this key.
    others = {_path(tuple(e["loc"])) for e in errors} - {where}
    others = {o for o in others if not where.startswith(o)}
    more = f" (and {len(others)} more)" if others else ""
    return f"{source}: {where + ': ' if where else ''}{msg}{more}"


def parse_spec(data: dict[str, Any], source: str = "spec") -> SweepSpec:
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(source, exc)) from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML (or YAML) sweep spec file."""
    path = Path(path)
    name = path.name
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such sweep spec file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read sweep spec ({exc})") from None
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InputError(f"{name}: YAML specs need PyYAML (pip install pyyaml), or use TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{name}: not valid YAML ({' '.join(str(exc).split())})") from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{name}: not valid TOML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{name}: a sweep spec must be a table of keys")
    return parse_spec(data, name)
