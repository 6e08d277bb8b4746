"""Cooldown branches (Hägele et al. 2024, arXiv 2405.18392): one constant-rate trunk, many budgets.

A "wsd" run with `trunk_tokens` set is a branch. Every branch of one trunk trains the same steps
(same warmup, counted in the trunk's steps; same data order; same seed) until its own decay
starts at `spec.branch_step`. The first branch to reach a step saves the full training state there
into the trunk's folder (a sibling of the run folders, named by `spec.trunk_id`); a later branch
starts from the latest saved state at or before its own branch step instead of from scratch.
Nothing is approximated: a branch ends exactly where training it alone would end.

The trunk's steps are trained once per study however many budgets branch off it, which is what
`own_steps` counts: the study's compute is the longest trunk prefix plus every branch's decay.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lmscale.errors import InputError
from lmscale.train.schedule import log_spaced_steps
from lmscale.train.spec import RunSpec

_SNAPSHOT = re.compile(r"^state-(\d+)\.pt$")


def trunk_dir(run_dir: Path, spec: RunSpec) -> Path:
    """The folder of the states shared by every branch of `spec`'s trunk (beside run_dir)."""
    return Path(run_dir).parent / str(spec.trunk_id)


def latest_state(spec: RunSpec, run_dir: Path) -> dict[str, Any] | None:
    """The trunk's saved training state at the latest step <= spec.branch_step, or None when no
    branch has saved one yet (the branch then trains its trunk part itself)."""
    folder = trunk_dir(run_dir, spec)
    steps = [int(m.group(1)) for p in folder.glob("state-*.pt") if (m := _SNAPSHOT.match(p.name))]
    usable = [s for s in steps if s <= (spec.branch_step or 0)]
    if not usable:
        return None
    from lmscale.train.checkpoint import load_checkpoint  # torch: planning a sweep must not need it

    path = folder / f"state-{max(usable)}.pt"
    state = load_checkpoint(path)
    if state is None or state.get("run_id") != spec.trunk_id:
        raise InputError(f"{path} is not a saved state of trunk {spec.trunk_id}; delete it to retrain the trunk")
    return state


def save_state(spec: RunSpec, run_dir: Path, state: dict[str, Any]) -> None:
    """Save the trunk's state at the branch step (the first branch to get there writes it; the
    write is atomic, so two branches writing at once leave one whole file of the same training
    state; only bookkeeping such as wall time differs between them)."""
    from lmscale.train.checkpoint import atomic_write_json, save_checkpoint

    folder = trunk_dir(run_dir, spec)
    trunk = spec.trunk()
    path = folder / f"state-{state['step']}.pt"
    if path.exists():
        return
    if not (folder / "spec.json").exists():
        atomic_write_json(folder / "spec.json", {"id": trunk.id, **trunk.to_dict()})
    save_checkpoint(path, {**state, "run_id": trunk.id})


#: Evaluations spread evenly over a branch's own decay (its first step and its last included).
DECAY_EVALS = 5


def eval_steps(spec: RunSpec) -> list[int]:
    """Steps after which a run evaluates: log-spaced over its steps; for a branch, log-spaced over
    its trunk up to the branch point (every branch of a trunk then shares, and inherits, the same
    trunk curve) plus `DECAY_EVALS` steps across its decay, which schedule-aware fits need."""
    if spec.trunk_tokens is None:
        return log_spaced_steps(spec.steps, spec.eval_points)
    point = spec.branch_step or 0
    trunk_steps = spec.trunk().steps
    trunk = [s for s in log_spaced_steps(trunk_steps, spec.eval_points) if s <= point]
    decay = [round(point + (spec.steps - point) * k / (DECAY_EVALS - 1)) for k in range(DECAY_EVALS)]
    return sorted({*trunk, *(s for s in decay if s >= 1)})


def own_steps(specs: Iterable[RunSpec]) -> dict[str, int]:
    """Steps each run trains that no other run of `specs` has trained, by run id: all of them for a
    plain run; for branches of one trunk (in order of branch step), the trunk steps since the
    previous branch point plus the branch's own decay. The values sum to the study's real cost."""
    out: dict[str, int] = {}
    trunks: dict[str, list[RunSpec]] = defaultdict(list)
    for spec in specs:
        if spec.trunk_tokens is None:
            out[spec.id] = spec.steps
        else:
            trunks[str(spec.trunk_id)].append(spec)
    for branches in trunks.values():
        shared = 0
        for spec in sorted(branches, key=lambda s: (s.branch_step, s.steps, s.id)):
            point = spec.branch_step or 0
            out[spec.id] = max(0, point - shared) + spec.steps - point
            shared = max(shared, point)
    return out


def lineage(spec: RunSpec, resumed_from: int) -> dict[str, Any]:
    """The final-metrics fields that record where a branch came from."""
    if spec.trunk_tokens is None:
        return {}
    return {
        "trunk_id": spec.trunk_id,
        "trunk_tokens": spec.trunk_tokens,
        "branch_step": spec.branch_step,
        "branch_tokens": (spec.branch_step or 0) * spec.tokens_per_step,
        "trunk_state_step": resumed_from,
    }
