"""One training run: `run(spec) -> RunResult`.

Curve columns (one row per evaluation step, log-spaced plus the final step):
    step, tokens            updates done, training tokens seen (step * batch_size * n_ctx)
    flops_kaplan, flops_6n, flops_exact
                            training compute so far in the three conventions of
                            `lmscale.model.accounting` (counted at the training context)
    train_loss              mean training loss (nats/token) over the steps since the previous row
    eval_loss[:<set>]       held-out loss (nats/token) of the training corpus [and each eval set]
    bpb[:<set>]             bits per UTF-8 byte (NaN where the corpus has no byte count)
    lr                      learning rate of the last update
    grad_norm               mean pre-clipping gradient norm over the steps since the previous row
    noise_scale             B_simple in tokens (EMA estimate, McCandlish et al. 2018), NaN if off
    wall_time               seconds since the run started (all sessions of a resumed run)
    tokens_per_s            training throughput since the previous row (evaluation excluded)
    eval_tokens, eval_loss_se
                            held-out tokens scored, and the standard error of eval_loss
Every column except wall_time and tokens_per_s is reproducible to the bit on CPU, including across
a kill and resume: data order comes from `store.train_batch(step, ...)`, so a checkpoint needs only
the model, optimizer, RNG and bookkeeping state.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lmscale.data.atomic import build_lock
from lmscale.errors import InputError
from lmscale.paths import home
from lmscale.train import branch, distributed, transfer
from lmscale.train import device as dev
from lmscale.train.checkpoint import CHECKPOINT_FILE, atomic_write_json, load_checkpoint, save_checkpoint
from lmscale.train.distributed import World
from lmscale.train.divergence import DivergenceMonitor
from lmscale.train.evaluate import EvalResult, evaluate
from lmscale.train.loss import make_loss_fn
from lmscale.train.memory import check_fits
from lmscale.train.noise import NoiseScaleEMA
from lmscale.train.result import RunResult
from lmscale.train.schedule import run_lr
from lmscale.train.spec import RunSpec
from lmscale.train.step import accumulate_gradients

SPEC_FILE = "spec.json"
WALL_COLUMNS = ("wall_time", "tokens_per_s")
FLOP_COLUMNS = ("flops_kaplan", "flops_6n", "flops_exact")
# The host reads the per-step loss buffer (divergence checks, progress events) every _SYNC_EVERY
# steps or _SYNC_SECONDS, whichever comes first. Reading changes no number, only when we look.
_SYNC_EVERY = 25
_SYNC_SECONDS = 2.0
_CHECKPOINT_VERSION = 1

Event = dict[str, Any]


@dataclass(frozen=True)
class TrainData:
    """The training corpus's token store and one store per extra eval set (same tokenizer)."""

    train: Any
    evals: dict[str, Any]

    def eval_stores(self) -> dict[str, Any]:
        """Column suffix → store; "" is the training corpus's own held-out split."""
        return {"": self.train, **{f":{name}": store for name, store in self.evals.items()}}


def open_data(spec: RunSpec) -> TrainData:
    """Load (building on first use) the token stores a spec needs."""
    from lmscale.data import load_token_store

    corpora = spec.resolved_tokenizer_corpora
    train = load_token_store(spec.corpus, spec.tokenizer, tokenizer_corpora=corpora)
    evals = {
        name: load_token_store(name, spec.tokenizer, tokenizer_corpora=corpora) for name in spec.eval_sets
    }
    return TrainData(train, evals)


def check_data(spec: RunSpec, data: TrainData) -> None:
    """The model's vocabulary must cover every store's ids (a larger one is padding, allowed)."""
    for name, store in {spec.corpus: data.train, **data.evals}.items():
        if store.vocab_size > spec.shape.vocab_size:
            raise InputError(
                f"run spec: shape.vocab_size={spec.shape.vocab_size} is smaller than the vocabulary of "
                f"tokenizer {spec.tokenizer!r} on corpus {name!r} ({store.vocab_size})"
            )


def run(
    spec: RunSpec,
    run_dir: Path | str | None = None,
    on_event: Callable[[Event], None] | None = None,
    data: TrainData | None = None,
) -> RunResult:
    """Train `spec` to its budget (or until it diverges) and return its curve and final metrics.

    run_dir (default home()/runs/<spec.id>) keeps spec.json, checkpoint.pt, curve.csv and, when
    done, result.json. Calling run() again with the same run_dir resumes from the checkpoint, or
    returns the stored result of a finished run. `data` overrides the token stores (tests, or a
    caller that already holds them). on_event receives small dicts: start, progress, eval, end.
    """
    device = dev.resolve_device(spec.device)
    world = distributed.current(device.type)  # several processes under torchrun
    if world.size > 1 and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    run_dir = Path(run_dir) if run_dir is not None else home() / "runs" / spec.id
    # One process trains a folder at a time: a fine-tuning run that trains its missing pretraining
    # run waits here while a sweep worker trains it, then finds it finished. Under torchrun every
    # process trains the same folder together, so no lock there.
    with build_lock(run_dir) if world.size == 1 else contextlib.nullcontext():
        return _run(spec, run_dir, on_event, data, device, world)


def _run(
    spec: RunSpec,
    run_dir: Path,
    on_event: Callable[[Event], None] | None,
    data: TrainData | None,
    device: torch.device,
    world: World,
) -> RunResult:
    if _owner(run_dir, spec) is not None:
        finished = RunResult.load(run_dir)
        if finished is not None:
            return finished
    # Before any tensor exists: a run that cannot fit is refused in one line, not grown until the
    # allocator (or the OOM killer) stops it. $LMSCALE_MAX_MEMORY (--max-memory) overrides.
    check_fits(spec, free=dev.free_memory(device))
    data = data if data is not None else open_data(spec)
    check_data(spec, data)
    if _owner(run_dir, spec) is None and world.main:  # once the inputs are known good: no litter
        atomic_write_json(run_dir / SPEC_FILE, {"id": spec.id, **spec.to_dict()})
    init = None
    if spec.pretrain_corpus is not None and not (run_dir / CHECKPOINT_FILE).exists():
        init = transfer.pretrained_weights(spec, run_dir, _pretrainer(world, on_event))
    with dev.threads(spec.threads):
        return _Trainer(spec, data, device, run_dir, on_event, world, init).train()


def _pretrainer(
    world: World, on_event: Callable[[Event], None] | None
) -> Callable[[RunSpec, Path], RunResult]:
    """How a fine-tuning run trains its missing pretraining run: in this process, reporting to the
    same events; under torchrun the processes would race for it, so it must be trained first."""

    def train(spec: RunSpec, run_dir: Path) -> RunResult:
        if world.size > 1:
            raise InputError(
                f"pretraining run {spec.id} is not trained: train it before fine-tuning under torchrun"
            )
        return run(spec, run_dir, on_event)

    return train


def _owner(run_dir: Path, spec: RunSpec) -> str | None:
    """The run id recorded in run_dir (None for a new folder); InputError when it is another run's:
    a stale or foreign folder must never be resumed into a different run."""
    path = run_dir / SPEC_FILE
    if not path.exists():
        return None
    try:
        other = json.loads(path.read_text()).get("id")
    except (OSError, ValueError):
        other = None
    if other != spec.id:
        raise InputError(f"run dir {run_dir} belongs to run {other!r}, not {spec.id!r}")
    return other


class _Trainer:
    def __init__(
        self,
        spec: RunSpec,
        data: TrainData,
        device: torch.device,
        run_dir: Path,
        on_event: Callable[[Event], None] | None,
        world: World = World(),
        init_weights: dict[str, Any] | None = None,
    ) -> None:
        from lmscale.model import build_model, parameter_groups
        from lmscale.model.accounting import account

        self.spec, self.data, self.device, self.run_dir = spec, data, device, run_dir
        self.world = world
        self.on_event = on_event if on_event is not None and world.main else (lambda event: None)
        self.steps, self.n_ctx, self.batch = spec.steps, spec.context, spec.batch_size
        self.account = account(spec.train_shape)
        self.flops_per_token = {
            "flops_kaplan": float(self.account.flops_per_token_kaplan),
            "flops_6n": float(self.account.flops_per_token_6n),
            "flops_exact": float(self.account.flops_per_token_exact),
        }
        dev.configure(device)
        torch.manual_seed(spec.seed)
        self.model = build_model(spec.shape).to(device)
        self.init_weights = init_weights  # a fine-tuning run's pretrained model (lmscale.train.transfer)
        self.model.train()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.peak_lr = spec.peak_lr(int(self.account.params_non_embedding))
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.model, spec.weight_decay),
            lr=self.peak_lr,
            betas=(spec.beta1, spec.beta2),
            eps=spec.eps,
            **dev.adamw_kwargs(device),
        )
        self.loss_fn = make_loss_fn(self.model, spec.dtype, compile_=spec.compile)
        self.eval_steps = set(branch.eval_steps(spec))
        self.micro_sizes, self.noise_sizes = _micro_batches(spec, world.local_batch(self.batch))
        # Per-step values stay on the device; the host reads them every _SYNC_EVERY steps.
        nan = float("nan")
        self.losses = torch.full((self.steps,), nan, device=device)
        self.grad_norms = torch.full((self.steps,), nan, device=device)
        self.g_small_sq = torch.full((self.steps,), nan, device=device)
        self.g_big_sq = torch.full((self.steps,), nan, device=device)
        self.monitor = DivergenceMonitor(spec.divergence_factor, spec.warmup_steps)
        self.noise = NoiseScaleEMA()
        self.rows: list[dict[str, Any]] = []
        self.synced = 0  # steps whose losses the monitor and noise EMA have consumed
        self.row_step = 0  # step of the latest curve row
        self.start_step = 0
        self.trunk_state_step = 0  # a branch: the step of the shared trunk state it started from
        self.wall_before = 0.0  # wall time of earlier sessions of this run
        self.position: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------------------- main loop
    def train(self) -> RunResult:
        self._resume()
        self.t0 = time.perf_counter()
        self.t_row = self.t0
        self.excluded = 0.0  # evaluation/checkpoint seconds since the last row
        self.on_event(
            {"type": "start", "run_id": self.spec.id, "steps": self.steps, "start_step": self.start_step}
        )
        reason: str | None = None
        t_sync = self.t0
        seq = self._fetch(self.start_step) if self.start_step < self.steps else None
        for step in range(self.start_step, self.steps):
            self._step(step, seq)
            done = step + 1
            if done < self.steps:
                seq = self._fetch(done)  # queued after this step's kernels: overlaps on CUDA
            is_eval = done in self.eval_steps
            is_ckpt = self.spec.checkpoint_every > 0 and done % self.spec.checkpoint_every == 0
            is_branch_point = done == self.spec.branch_step
            now = time.perf_counter()
            if (
                is_eval
                or is_ckpt
                or is_branch_point
                or done % _SYNC_EVERY == 0
                or done == self.steps
                or now - t_sync > _SYNC_SECONDS
            ):
                t_sync = now
                reason = self._sync(done)
                if reason is not None:
                    break
            if is_eval:
                self._add_row(done)
            if is_ckpt and done < self.steps:
                t = time.perf_counter()
                self._save_checkpoint(done)
                self.excluded += time.perf_counter() - t
            if is_branch_point and self.world.main:  # the trunk's state, for the other branches
                t = time.perf_counter()
                branch.save_state(self.spec, self.run_dir, self._state(done))
                self.excluded += time.perf_counter() - t
        result = self._result("diverged" if reason else "completed", reason)
        if reason is None and self.start_step < self.steps:  # before the result: a finished run's
            self._save_checkpoint(self.steps)  # checkpoint is final (fine-tuning starts from it)
        if self.world.main:
            result.save(self.run_dir)
        self.on_event({"type": "end", "run_id": self.spec.id, "status": result.status, "reason": reason})
        return result

    def _fetch(self, step: int) -> torch.Tensor:
        # The cap is passed only when set: token stores of other kinds need not know about it.
        cap = {"unique_tokens": self.spec.unique_tokens} if self.spec.unique_tokens is not None else {}
        batch = self.data.train.train_batch(step, self.batch, self.n_ctx, seed=self.spec.data_seed, **cap)
        rows = self.world.shard(torch.from_numpy(np.asarray(batch, dtype=np.int64)))
        return dev.to_device(rows, self.device)

    def _step(self, step: int, seq: torch.Tensor) -> None:
        spec = self.spec
        lr = run_lr(spec, step, self.peak_lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        noisy = self.noise_sizes is not None and step % spec.noise_every == 0
        sizes = self.noise_sizes if noisy else self.micro_sizes
        loss, norm, small_sq = accumulate_gradients(
            self.loss_fn, self.params, seq, sizes, self.device, spec.dtype, measure_small=noisy
        )
        if self.world.size > 1:  # the global batch's mean gradient, loss and small-batch norm
            terms = [loss] + ([small_sq] if small_sq is not None else [])
            self.world.average([p.grad for p in self.params] + terms)
            norm = torch.nn.utils.get_total_norm([p.grad for p in self.params], foreach=True)
        if spec.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(self.params, spec.grad_clip, norm, foreach=True)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.losses[step] = loss
        self.grad_norms[step] = norm
        if small_sq is not None:
            self.g_small_sq[step] = small_sq
            self.g_big_sq[step] = norm**2

    # ----------------------------------------------------------------------- bookkeeping
    def _sync(self, done: int) -> str | None:
        """Read the per-step values up to `done`: divergence check, noise-scale EMA, progress."""
        lo = self.synced
        if done <= lo:
            return None
        losses = self.losses[lo:done].tolist()
        for i, value in enumerate(losses):
            reason = self.monitor.check(lo + i, value)
            if reason is not None:
                self.synced = done
                self.diverged_step = lo + i + 1
                return reason
        if self.noise_sizes is not None:
            b_small = self.noise_sizes[0] * self.n_ctx
            b_big = self.batch * self.n_ctx
            small = self.g_small_sq[lo:done].tolist()
            big = self.g_big_sq[lo:done].tolist()
            for s, b in zip(small, big, strict=True):
                if not math.isnan(s):
                    self.noise.update(s, b, b_small, b_big)
        self.synced = done
        elapsed = time.perf_counter() - self.t_row - self.excluded
        since = done - max(self.row_step, self.start_step)
        self.on_event(
            {
                "type": "progress",
                "step": done,
                "steps": self.steps,
                "train_loss": losses[-1],
                "tokens_per_s": since * self.batch * self.n_ctx / elapsed if elapsed > 0 else math.nan,
            }
        )
        return None

    def _add_row(self, done: int) -> None:
        spec = self.spec
        now = time.perf_counter()
        train_seconds = now - self.t_row - self.excluded
        trained_here = done - max(self.row_step, self.start_step)
        losses = self.losses[self.row_step : done].tolist()
        norms = self.grad_norms[self.row_step : done].tolist()
        tokens = done * self.batch * self.n_ctx
        row: dict[str, Any] = {"step": done, "tokens": tokens}
        row.update({k: tokens * v for k, v in self.flops_per_token.items()})
        row["train_loss"] = math.fsum(losses) / len(losses)
        evals: dict[str, EvalResult] = {}
        for suffix, store in self.data.eval_stores().items():
            evals[suffix] = evaluate(
                self.model, store, self.batch, self.n_ctx, spec.eval_tokens, self.device, spec.dtype
            )
            row[f"eval_loss{suffix}"] = evals[suffix].loss
        for suffix, store in self.data.eval_stores().items():
            bpt = getattr(store, "bytes_per_token", None)
            row[f"bpb{suffix}"] = evals[suffix].loss / math.log(2) / bpt if bpt else math.nan
        row["lr"] = run_lr(spec, done - 1, self.peak_lr)
        row["grad_norm"] = math.fsum(norms) / len(norms)
        row["noise_scale"] = self.noise.value if self.noise_sizes is not None else math.nan
        row["wall_time"] = self.wall_before + (time.perf_counter() - self.t0)
        row["tokens_per_s"] = (
            trained_here * self.batch * self.n_ctx / train_seconds if train_seconds > 0 else math.nan
        )
        row["eval_tokens"] = evals[""].tokens
        row["eval_loss_se"] = evals[""].stderr
        self.rows.append(row)
        self.position = {suffix: e.position_loss for suffix, e in evals.items()}
        self.row_step = done
        self.t_row = time.perf_counter()
        self.excluded = 0.0
        event = {"type": "eval", "run_id": spec.id, "step": done, "steps": self.steps}
        event.update({k: row[k] for k in ("tokens", "train_loss", "eval_loss", "lr", "tokens_per_s")})
        self.on_event(event)

    # ------------------------------------------------------------------------ checkpoints
    def _save_checkpoint(self, done: int) -> None:
        if self.world.main:  # the others hold the same state
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, self._state(done))

    def _state(self, done: int) -> dict[str, Any]:
        """Everything training needs to continue from step `done` exactly as if never stopped."""
        return {
            "version": _CHECKPOINT_VERSION,
            "run_id": self.spec.id,
            "step": done,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "losses": self.losses[:done].cpu(),
            "grad_norms": self.grad_norms[:done].cpu(),
            "g_small_sq": self.g_small_sq[:done].cpu(),
            "g_big_sq": self.g_big_sq[:done].cpu(),
            "rows": self.rows,
            "row_step": self.row_step,
            "monitor": self.monitor.state_dict(),
            "noise": self.noise.state_dict(),
            "wall_time": self.wall_before + (time.perf_counter() - self.t0),
            "trunk_state_step": self.trunk_state_step,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
        }

    def _resume(self) -> None:
        """Continue from this run's checkpoint or, for a branch, from its trunk's latest saved state
        when that is further along (a new branch has only the latter)."""
        state = load_checkpoint(self.run_dir / CHECKPOINT_FILE)
        if state is not None and (
            state.get("version") != _CHECKPOINT_VERSION or state.get("run_id") != self.spec.id
        ):
            raise InputError(
                f"checkpoint {self.run_dir / CHECKPOINT_FILE} is not a checkpoint of run {self.spec.id}"
            )
        trunk = self._trunk_state()
        if trunk is not None and (state is None or int(trunk["step"]) > int(state["step"])):
            self._load(trunk)
            self.trunk_state_step = self.start_step
            # the saved rows are the trunk's grid plus the branch points of shorter branches: keep
            # this run's own grid, so its curve is the one training it alone would give
            self.rows = [r for r in self.rows if r["step"] in self.eval_steps]
            self.row_step = self.rows[-1]["step"] if self.rows else 0
        elif state is not None:
            self._load(state)
            self.trunk_state_step = int(state.get("trunk_state_step", 0))
        elif self.init_weights is not None:
            self.model.load_state_dict(self.init_weights)

    def _trunk_state(self) -> dict[str, Any] | None:
        """The trunk's latest saved state for a branch; None for other runs and under torchrun
        (every process must start from the same state, and a sibling may add one meanwhile)."""
        if self.spec.trunk_tokens is None or self.world.size > 1:
            return None
        state = branch.latest_state(self.spec, self.run_dir)
        if state is not None and state.get("version") != _CHECKPOINT_VERSION:
            raise InputError(
                f"a saved trunk state of run {self.spec.id} is from another lmscale version; delete it"
            )
        return state

    def _load(self, state: dict[str, Any]) -> None:
        done = int(state["step"])
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name in ("losses", "grad_norms", "g_small_sq", "g_big_sq"):
            getattr(self, name)[:done] = state[name].to(self.device)
        self.rows = list(state["rows"])
        self.row_step = int(state["row_step"])
        self.monitor.load_state_dict(state["monitor"])
        self.noise.load_state_dict(state["noise"])
        self.wall_before = float(state["wall_time"])
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state["rng_cuda"]:
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.synced = self.start_step = done

    # ----------------------------------------------------------------------------- result
    def _result(self, status: str, reason: str | None) -> RunResult:
        curve = pd.DataFrame(self.rows)
        if curve.empty:
            curve = pd.DataFrame(columns=["step", "tokens", *FLOP_COLUMNS, "train_loss", "eval_loss"])
        position = pd.DataFrame({"position": np.arange(self.n_ctx)})
        for suffix, values in self.position.items():
            position[f"loss{suffix}"] = values
        final: dict[str, Any] = {
            "run_id": self.spec.id,
            "status": status,
            "steps": self.steps,
            "steps_done": self.rows[-1]["step"] if self.rows else 0,
            "peak_lr": self.peak_lr,
            "params_total": int(self.account.params_total),
            "params_non_embedding": int(self.account.params_non_embedding),
            "tokens_per_step": self.batch * self.n_ctx,
            "epochs": _epochs(
                self.data.train, self.steps * self.batch * self.n_ctx, self.n_ctx, self.spec.unique_tokens
            ),
        }
        final.update(branch.lineage(self.spec, self.trunk_state_step))
        final.update(transfer.lineage(self.spec))
        if status == "diverged":
            final["diverged_step"] = getattr(self, "diverged_step", None)
        if self.rows:
            last = self.rows[-1]
            final.update({k: v for k, v in last.items() if k not in ("step",)})
        wall = self.wall_before + (time.perf_counter() - self.t0)
        final["wall_time"] = wall
        return RunResult(self.spec, status, reason, curve, final, position, wall, self.run_dir)


def _micro_batches(spec: RunSpec, b: int) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Micro-batch sizes of an ordinary step on this process's b rows, and of a noise-measuring
    step (None = no noise estimate: a batch of one sequence cannot be split)."""
    mb = min(spec.micro_batch_size or b, b)
    if b % mb:
        raise InputError(f"micro_batch_size {mb} does not divide the {b} rows each process trains on")
    normal = (mb,) * (b // mb)
    if not spec.noise_scale or b < 2:
        return normal, None
    noise = normal if len(normal) >= 2 else (b // 2, b - b // 2)
    return normal, noise


def _epochs(store: Any, tokens: int, n_ctx: int, unique_tokens: int | None = None) -> float:
    """Passes over the training split (or the unique-token cap) that the budget takes (NaN for
    stores that cannot tell)."""
    epochs = getattr(store, "epochs", None)
    if epochs is None:
        return math.nan
    return float(epochs(tokens, n_ctx, unique_tokens) if unique_tokens is not None else epochs(tokens, n_ctx))
