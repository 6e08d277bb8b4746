"""Fine-tuning runs (transfer, Hernandez et al. 2021, arXiv 2102.01293): start from a pretrained model.

A run with `pretrain_corpus` set starts from the final weights of `spec.pretrain()`, an ordinary run
kept in its own folder beside this one (named by its id, as any run's). The first fine-tuning run
that needs it trains it there; `lmscale.train.run` locks a run's folder, so fine-tuning runs of one
model started together, or a sweep worker training the pretraining run itself, wait for one
pretraining instead of each training its own. Only the weights carry over: the optimizer, the schedule and the data order are
the fine-tuning run's own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmscale.errors import InputError
from lmscale.train.checkpoint import CHECKPOINT_FILE, load_checkpoint
from lmscale.train.result import RunResult
from lmscale.train.spec import RunSpec


def pretrain_dir(run_dir: Path, spec: RunSpec) -> Path:
    """The folder of `spec`'s pretraining run: a sibling of run_dir, named by its id."""
    return Path(run_dir).parent / str(spec.pretrain_id)


def pretrained_weights(
    spec: RunSpec, run_dir: Path, train: Callable[[RunSpec, Path], RunResult]
) -> dict[str, Any]:
    """The model state_dict at the end of `spec`'s pretraining run, training that run first (with
    `train(pretrain_spec, its_dir)`) when it has not finished. InputError when it diverged."""
    pre = spec.pretrain()
    folder = pretrain_dir(run_dir, spec)
    result = RunResult.load(folder)
    if result is None:  # run() takes the folder's lock: a worker training it meanwhile is waited for
        result = train(pre, folder)
    if result.status != "completed":
        raise InputError(
            f"pretraining run {pre.id} ({spec.pretrain_corpus}, {spec.pretrain_tokens} tokens) {result.status}"
            f" ({result.reason}); fine-tuning run {spec.id} has no model to start from"
        )
    state = load_checkpoint(folder / CHECKPOINT_FILE)
    if state is None or state.get("run_id") != pre.id or int(state["step"]) != pre.steps:
        raise InputError(
            f"{folder / CHECKPOINT_FILE} is not the final state of pretraining run {pre.id}; "
            f"delete {folder} to pretrain again"
        )
    return state["model"]


def lineage(spec: RunSpec) -> dict[str, Any]:
    """The final-metrics fields that record what a fine-tuning run started from."""
    if spec.pretrain_corpus is None:
        return {}
    return {
        "pretrain_id": spec.pretrain_id,
        "pretrain_corpus": spec.pretrain_corpus,
        "pretrain_tokens": spec.pretrain_tokens,
    }
