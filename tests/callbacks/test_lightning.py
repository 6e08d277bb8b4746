"""The Lightning callback writes lmscale's metrics file from a real Lightning run on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

L = pytest.importorskip("lightning")
import torch  # noqa: E402
from torch import nn  # noqa: E402

from lmscale.callbacks.lightning import LmscaleCallback  # noqa: E402
from lmscale.errors import InputError  # noqa: E402
from lmscale.metrics import read_metrics  # noqa: E402

VOCAB, SEQ, BATCH = 16, 8, 4


class Bigram(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 8)
        self.head = nn.Linear(8, VOCAB)

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.embed(ids[:, :-1]))
        return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))

    def training_step(self, batch, batch_idx):
        return self.loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self.loss(batch))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=3e-2)


def counting(n: int, seed: int) -> torch.utils.data.DataLoader:
    start = torch.randint(0, VOCAB, (n, 1), generator=torch.Generator().manual_seed(seed))
    return torch.utils.data.DataLoader((start + torch.arange(SEQ)) % VOCAB, batch_size=BATCH)


def test_a_lightning_run_writes_the_curve_with_counts(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "metrics.jsonl"
    model = Bigram()
    trainer = L.Trainer(
        max_steps=12, val_check_interval=6, log_every_n_steps=3, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[LmscaleCallback(tokens_per_step=BATCH * SEQ, path=path)],
    )
    trainer.fit(model, counting(48, 0), counting(8, 1))
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [3, 6, 9, 12]
    assert all(r["tokens"] == r["step"] * BATCH * SEQ for r in rows)
    assert all("train_loss" in r and r["lr"] == pytest.approx(3e-2) for r in rows)
    evals = [r for r in rows if "eval_loss" in r]
    assert [r["step"] for r in evals] == [6, 12] and evals[1]["eval_loss"] < evals[0]["eval_loss"]
    assert rows[0]["params_total"] == VOCAB * 8 + 8 * VOCAB + VOCAB
    assert rows[0]["params_non_embedding"] == 8 * VOCAB + VOCAB


def test_tokens_per_step_is_required() -> None:
    with pytest.raises(InputError, match="tokens_per_step"):
        LmscaleCallback(tokens_per_step=0)
