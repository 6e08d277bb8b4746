"""Tiny sweep specs for the sweep tests: tiny corpus, byte tokenizer, models of ~1e3-1e4 params.
(A module of its own, not conftest: `from conftest import` finds whichever conftest another test
folder put on the path first.)"""

from __future__ import annotations

from pathlib import Path

SIX = """
name = "six"
design = "grid"
sizes = [{{n_layer = 1, d_model = 8}}, {{n_layer = 1, d_model = 16}}, {{n_layer = 2, d_model = 16}}]
[model]
n_ctx = 16
[train]
corpus = "tiny"
tokenizer = "byte"
batch_size = 4
eval_points = 3
eval_tokens = 512
checkpoint_every = {checkpoint_every}
noise_scale = false
[axes]
tokens = [{tokens}]
seed = {seeds}
"""


def six_spec(
    tmp_path: Path,
    tokens: int = 2048,
    seeds: str = "[0, 1]",
    checkpoint_every: int = 5,
    name: str = "six.toml",
) -> Path:
    path = tmp_path / name
    path.write_text(SIX.format(tokens=tokens, seeds=seeds, checkpoint_every=checkpoint_every))
    return path
