"""A self-contained GPT trainer, to show how your own training script runs under lmscale.

Nothing here comes from lmscale except the one logging call, `lmscale.track`: swap in your model,
data and loop, keep the call. lmscale's command executor starts this script once per run of a sweep
(examples/external_sweep.toml), passing the run's shape and budget on the command line, and reads
what `track` writes to $LMSCALE_METRICS.

    python examples/train_gpt.py --n-layer 2 --d-model 32 --n-head 2 --n-ctx 32 \\
        --tokens 20000 --batch-size 8 --lr 3e-3 --out runs/a [--data corpus.txt]

The data is a UTF-8 text file read as bytes (vocabulary 256); without --data, a fixed synthetic
text (a random order-2 Markov chain) stands in. A killed run resumes from <out>/ckpt.pt.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import lmscale

VOCAB = 256


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_head, d // self.n_head).transpose(1, 3).unbind(2)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, n_layer: int, d_model: int, n_head: int, n_ctx: int) -> None:
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, d_model), nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_head) for _ in range(n_layer))
        self.ln = nn.LayerNorm(d_model)
        for emb in (self.tok, self.pos):  # small embeddings: tied logits start near uniform
            nn.init.normal_(emb.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.ln(x) @ self.tok.weight.T  # tied embeddings

    def non_embedding_params(self) -> int:
        return sum(p.numel() for name, p in self.named_parameters() if not name.startswith(("tok.", "pos.")))


def synthetic_text(n: int = 400_000, seed: int = 1234) -> np.ndarray:
    """Bytes from a random order-2 Markov chain over 48 symbols: structure a bigger model learns.
    64 stretches of the chain are drawn side by side (fast in numpy), then joined."""
    rng = np.random.default_rng(seed)
    k, chains = 48, 64
    table = rng.dirichlet(np.full(k, 0.1), size=(k, k)).cumsum(axis=2)
    out = np.zeros((n // chains, chains), dtype=np.int64)
    for i in range(2, len(out)):
        u = rng.random(chains)[:, None]
        out[i] = np.minimum((table[out[i - 2], out[i - 1]] < u).sum(axis=1), k - 1)
    return out.T.ravel() + 32


def load_data(path: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.frombuffer(Path(path).read_bytes(), dtype=np.uint8).astype(np.int64) if path else synthetic_text()
    cut = int(0.9 * len(data))
    return torch.from_numpy(data[:cut]), torch.from_numpy(data[cut:])


def batch(data: torch.Tensor, n_ctx: int, size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    start = torch.randint(0, len(data) - n_ctx - 1, (size,), generator=gen)
    x = torch.stack([data[s : s + n_ctx + 1] for s in start.tolist()])
    return x[:, :-1], x[:, 1:]


@torch.no_grad()
def evaluate(model: GPT, val: torch.Tensor, n_ctx: int) -> float:
    model.eval()
    gen = torch.Generator().manual_seed(0)  # the same held-out windows at every evaluation
    losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in (batch(val, n_ctx, 16, gen) for _ in range(8))]
    model.train()
    return float(np.mean(losses))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, kind in [("n-layer", int), ("d-model", int), ("n-head", int), ("n-ctx", int), ("tokens", int),
                       ("batch-size", int), ("lr", float)]:  # fmt: skip
        p.add_argument(f"--{name}", type=kind, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evals", type=int, default=6, help="log-spaced evaluations, the last at the end")
    p.add_argument("--data", default=None)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    train, val = load_data(a.data)
    model = GPT(a.n_layer, a.d_model, a.n_head, a.n_ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.1)
    steps = math.ceil(a.tokens / (a.batch_size * a.n_ctx))
    evals = sorted({max(1, round(steps ** (i / a.evals))) for i in range(1, a.evals + 1)} | {steps})
    Path(a.out).mkdir(parents=True, exist_ok=True)
    ckpt, start = Path(a.out) / "ckpt.pt", 0
    if ckpt.exists():  # resume where a killed session stopped
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["step"]
    n = model.non_embedding_params()
    for step in range(start, steps):
        lr = a.lr * min(1.0, (step + 1) / max(1, steps // 20)) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        x, y = batch(train, a.n_ctx, a.batch_size, torch.Generator().manual_seed(a.seed * 1_000_003 + step))
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        done = step + 1
        if done in evals:
            tokens = done * a.batch_size * a.n_ctx
            lmscale.track(step=done, tokens=tokens, train_loss=loss.item(), eval_loss=evaluate(model, val, a.n_ctx),
                          lr=lr, params_non_embedding=n)  # fmt: skip
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": done}, ckpt)


if __name__ == "__main__":
    main()
