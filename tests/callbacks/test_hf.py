"""The Hugging Face callback writes lmscale's metrics file from a real Trainer run (tiny GPT-2 built
from a config: nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments  # noqa: E402

from lmscale.callbacks.hf import LmscaleCallback, losses  # noqa: E402
from lmscale.errors import InputError  # noqa: E402
from lmscale.metrics import METRICS_ENV, read_metrics  # noqa: E402

SEQ, BATCH = 16, 4


class Tokens(torch.utils.data.Dataset):
    """Sequences counting up modulo the vocabulary: learnable, so the loss falls."""

    def __init__(self, n: int, vocab: int, seed: int) -> None:
        start = torch.randint(0, vocab, (n, 1), generator=torch.Generator().manual_seed(seed))
        self.ids = (start + torch.arange(SEQ)) % vocab

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def trainer(tmp_path: Path, callback: LmscaleCallback, steps: int = 12, **args) -> Trainer:
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=32, n_positions=SEQ, n_embd=16, n_layer=2, n_head=2))
    arguments = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, learning_rate=3e-3, logging_steps=3, eval_strategy="steps",
        eval_steps=6, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, **args,
    )
    evals = {"main": Tokens(8, 32, 1), "other": Tokens(8, 32, 2)}
    return Trainer(model=model, args=arguments, train_dataset=Tokens(64, 32, 0), eval_dataset=evals,
                   callbacks=[callback])


def test_a_trainer_run_writes_the_curve_with_counts(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    t = trainer(tmp_path, LmscaleCallback(path), include_num_input_tokens_seen=True)
    t.train()
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [3, 6, 9, 12]
    assert all(r["tokens"] == r["step"] * BATCH * SEQ for r in rows)
    evals = [r for r in rows if "eval_loss:main" in r]
    assert [r["step"] for r in evals] == [6, 12] and all("eval_loss:other" in r for r in evals)
    assert all("train_loss" in r and r["lr"] > 0 for r in rows if r["step"] in (3, 9))
    assert rows[-1]["eval_loss:main"] < rows[1]["eval_loss:main"]  # it learned
    total = sum(p.numel() for p in t.model.parameters())  # the tied head counts once
    embeddings = 32 * 16 + SEQ * 16  # token and position tables
    assert rows[0]["params_total"] == total and rows[0]["params_non_embedding"] == total - embeddings
    assert all(b["wall_time"] >= a["wall_time"] for a, b in zip(rows[:-1], rows[1:], strict=True))


def test_it_writes_where_lmscale_points_and_nowhere_otherwise(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "from_env.jsonl"
    monkeypatch.setenv(METRICS_ENV, str(target))
    trainer(tmp_path, LmscaleCallback(tokens_per_step=BATCH * SEQ), steps=6).train()
    assert [r["step"] for r in read_metrics(target)] == [3, 6]
    assert read_metrics(target)[-1]["tokens"] == 6 * BATCH * SEQ
    monkeypatch.delenv(METRICS_ENV)
    trainer(tmp_path, LmscaleCallback(tokens_per_step=BATCH * SEQ), steps=3).train()  # no file: no-op
    assert not (tmp_path / "metrics.jsonl").exists()


def test_without_a_token_count_it_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="include_num_input_tokens_seen=True"):
        trainer(tmp_path, LmscaleCallback(tmp_path / "m.jsonl"), steps=3).train()


def test_log_keys_map_to_the_metrics_format() -> None:
    assert losses({"loss": 2.5, "learning_rate": 1e-3, "grad_norm": 1.0, "epoch": 0.1}) == {
        "train_loss": 2.5, "lr": 1e-3,
    }
    assert losses({"eval_loss": 3.0, "eval_wiki_loss": 3.5, "eval_runtime": 1.0}) == {
        "eval_loss": 3.0, "eval_loss:wiki": 3.5,
    }
    assert losses({"train_runtime": 9.0, "train_loss": 2.0}) == {}  # the end-of-training summary
