"""Token store: exact counts, the by-document split, batch order (prefixes, epochs), atomic builds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import lmscale.data.tokens as tokens_mod
from lmscale.data import load_corpus, load_token_store, unigram_entropy
from lmscale.data.tokens import HELDOUT_MIN_FRACTION, TokenStore, heldout_mask
from lmscale.errors import InputError


def _documents_of(arr: np.ndarray) -> list[str]:
    """Split a byte-tokenizer split back into documents at the NUL separators."""
    data = np.asarray(arr, dtype=np.uint8).tobytes()
    assert data.endswith(b"\x00")
    return [d.decode("utf-8") for d in data[:-1].split(b"\x00")]


def test_byte_store_exact_counts_and_disjoint_split(fresh_home: Path) -> None:
    corpus = load_corpus("tiny")
    store = load_token_store("tiny", "byte")
    train_docs, held_docs = _documents_of(store.train), _documents_of(store.heldout)
    # every document lands on exactly one side, unchanged
    assert sorted(train_docs + held_docs) == sorted(corpus.documents)
    assert not set(train_docs) & set(held_docs)
    total = corpus.n_bytes + len(corpus.documents)
    assert len(store.train) + len(store.heldout) == total
    assert len(store.heldout) >= HELDOUT_MIN_FRACTION * total
    assert store.bytes_per_token == 1.0
    m = store.manifest["splits"]
    assert m["heldout"]["tokens"] == len(store.heldout) and m["train"]["tokens"] == len(store.train)
    assert m["heldout"]["documents"] == len(held_docs)
    assert m["heldout"]["text_bytes"] == sum(len(d.encode()) for d in held_docs)
    assert store.train.dtype == np.uint16 and store.vocab_size == 256


def test_split_is_deterministic_and_tokenizer_independent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSCALE_HOME", str(tmp_path / "h1"))
    a = load_token_store("tiny", "byte")
    a_train, a_held = np.array(a.train), np.array(a.heldout)
    monkeypatch.setenv("LMSCALE_HOME", str(tmp_path / "h2"))
    b = load_token_store("tiny", "byte")
    assert a.id == b.id
    assert np.array_equal(a_train, b.train) and np.array_equal(a_held, b.heldout)
    g = load_token_store("tiny", "gpt2")
    assert g.manifest["splits"]["heldout"]["text_bytes"] == a.manifest["splits"]["heldout"]["text_bytes"]
    assert len(g.heldout) >= HELDOUT_MIN_FRACTION * (len(g.train) + len(g.heldout))


def test_heldout_mask_rules() -> None:
    docs = [f"doc {i} " + "x" * (i % 50) for i in range(2000)]
    mask = heldout_mask(docs)
    held = sum(len(d.encode()) + 1 for d, m in zip(docs, mask, strict=True) if m)
    total = sum(len(d.encode()) + 1 for d in docs)
    assert 0.10 * total <= held < 0.10 * total + 60  # small corpus: 10%, overshooting by < one document
    assert np.array_equal(mask, heldout_mask(list(docs)))
    # token criterion: one long document held out in bytes terms but tiny in tokens forces more
    tokens = np.ones(len(docs), dtype=np.int64)
    tokens[~mask] = 10_000
    mask2 = heldout_mask(docs, tokens)
    assert tokens[mask2].sum() >= HELDOUT_MIN_FRACTION * tokens.sum()
    assert mask2[mask].all()  # a superset: more of the same fixed order
    # duplicates stay on one side of the split
    dup = [f"d{i % 37}" for i in range(3700)]
    dmask = heldout_mask(dup)
    assert not {d for d, m in zip(dup, dmask, strict=True) if m} & {
        d for d, m in zip(dup, dmask, strict=True) if not m
    }
    assert dmask.any() and not dmask.all()
    with pytest.raises(InputError, match="1 document"):
        heldout_mask(["only one"])


def test_heldout_mirrors_sources() -> None:
    # source "big": 20 documents of 50 kB; source "small": 4000 documents of ~60 bytes
    docs = [f"big {i} " + "y" * 50_000 for i in range(20)] + [f"small {i} " + "z" * 50 for i in range(4000)]
    groups = ["big"] * 20 + ["small"] * 4000
    mask = heldout_mask(docs, groups=groups)
    total = sum(len(d) + 1 for d in docs)
    share = max(HELDOUT_MIN_FRACTION, min(512 * 1024 / total, 0.10))  # = 10% here
    for label in ("big", "small"):
        idx = [i for i, g in enumerate(groups) if g == label]
        held = sum(len(docs[i]) + 1 for i in idx if mask[i])
        whole = sum(len(docs[i]) + 1 for i in idx)
        assert held >= share * whole, label
        assert not all(mask[i] for i in idx)


def test_old_store_version_is_rebuilt(fresh_home: Path) -> None:
    store = load_token_store("tiny", "byte")
    path = store.path / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["version"] = 0
    path.write_text(json.dumps(manifest))
    again = load_token_store("tiny", "byte")
    assert again.manifest["version"] == tokens_mod.STORE_VERSION
    assert np.array_equal(again.train, store.train)


def _store(n_tokens: int = 10_001) -> TokenStore:
    arr = np.arange(n_tokens, dtype=np.int64) % 50_000
    return TokenStore(
        id="t", train=arr, heldout=arr[:500], vocab_size=50_000, eot_id=None, bytes_per_token=None
    )


def test_train_batch_windows_and_prefixes() -> None:
    store, n_ctx = _store(), 10
    w = store.n_windows(n_ctx)
    assert w == 1000
    batch = store.train_batch(3, 4, n_ctx, seed=1)
    assert batch.shape == (4, 11) and batch.dtype == np.int64
    starts = batch[:, 0]
    assert np.all(starts % n_ctx == 0)  # windows at stride n_ctx
    assert np.array_equal(batch, starts[:, None] + np.arange(11)[None, :])  # contiguous n_ctx+1 tokens
    # sequence i = step*batch + b, whatever the batch size
    assert np.array_equal(store.train_batch(1, 4, n_ctx)[0], store.train_batch(0, 8, n_ctx)[4])
    # D-budgets are prefixes of one fixed order
    small, large = store.budget_windows(1_234, n_ctx), store.budget_windows(5_000, n_ctx)
    assert len(small) == math.ceil(1_234 / n_ctx) and np.array_equal(large[: len(small)], small)
    rows = np.concatenate([store.train_batch(s, 5, n_ctx)[:, 0] // n_ctx for s in range(100)])
    assert np.array_equal(rows, store.budget_windows(5_000, n_ctx))
    # a seed changes the order; the same seed reproduces it in a fresh store
    assert not np.array_equal(
        store.budget_windows(500, n_ctx, seed=1), store.budget_windows(500, n_ctx, seed=2)
    )
    assert np.array_equal(
        store.budget_windows(500, n_ctx, seed=1), _store().budget_windows(500, n_ctx, seed=1)
    )


def test_epoch_wrap_around() -> None:
    store, n_ctx = _store(), 10
    order = store.window_indices(0, 3000, n_ctx, seed=0)
    epochs = order.reshape(3, 1000)
    for e in epochs:
        assert np.array_equal(np.sort(e), np.arange(1000))  # each epoch visits every window once
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    # a batch straddling the boundary takes the tail of epoch 0 and the head of epoch 1
    batch = store.train_batch(99, 12, n_ctx)  # sequences 1188..1199 with batch 12 → crosses at step 83
    assert np.array_equal(batch[:, 0] // n_ctx, order[1188:1200])
    straddle = store.window_indices(995, 10, n_ctx)
    assert np.array_equal(straddle, np.concatenate([epochs[0][995:], epochs[1][:5]]))
    assert store.epochs(10_000, n_ctx) == pytest.approx(1.0)
    assert store.epochs(25_000, n_ctx) == pytest.approx(2.5)
    store.train_batch(0, 4, n_ctx)
    store.train_batch(1, 4, n_ctx)
    assert store._perm.cache_info().hits >= 1  # the permutation is computed once per (n_ctx, seed, epoch)


def test_unique_token_cap_repeats_a_nested_subset() -> None:
    store, n_ctx = _store(), 10
    full = store.window_indices(0, 1000, n_ctx, seed=3)
    limit = store.unique_windows(n_ctx, 1_234)
    assert limit == 124  # ceil(1234 / 10) windows hold the cap
    capped = store.window_indices(0, 3 * limit, n_ctx, seed=3, limit=limit).reshape(3, limit)
    # epoch 0 is the uncapped order's first windows: a capped run matches an uncapped one until the cap
    assert np.array_equal(capped[0], full[:limit])
    for e in capped:  # every later epoch visits the same windows once, in a fresh order
        assert np.array_equal(np.sort(e), np.sort(full[:limit]))
    assert not np.array_equal(capped[1], capped[0]) and not np.array_equal(capped[1], capped[2])
    # smaller caps are subsets of larger ones
    small = store.window_indices(0, 50, n_ctx, seed=3, limit=50)
    assert set(small) <= set(full[:limit])
    # train_batch takes the cap in tokens, and the epoch count follows it
    batch = store.train_batch(40, 5, n_ctx, seed=3, unique_tokens=1_234)
    assert np.array_equal(batch[:, 0] // n_ctx, capped.ravel()[200:205])
    assert store.epochs(12_400, n_ctx, unique_tokens=1_234) == pytest.approx(10.0)
    assert store.unique_windows(n_ctx, None) is None
    with pytest.raises(InputError, match="unique_tokens=10,001 is more than the training split holds"):
        store.train_batch(0, 4, n_ctx, unique_tokens=10_001)


def test_heldout_batches_fixed() -> None:
    store = _store()
    batches = list(store.heldout_batches(batch_size=4, n_ctx=10, max_tokens=95))
    assert [len(b) for b in batches] == [4, 4, 2]  # ceil(95/10) = 10 windows
    flat = np.concatenate(batches)
    assert np.array_equal(flat[:, 0], np.arange(10) * 10)
    again = np.concatenate(list(store.heldout_batches(4, 10, 95)))
    assert np.array_equal(flat, again)
    capped = list(store.heldout_batches(100, 10, 10**9))
    assert sum(len(b) for b in capped) == store.n_windows(10, "heldout") == 49


def test_bad_batch_arguments() -> None:
    store = _store(50)
    with pytest.raises(InputError, match="fewer than n_ctx"):
        store.train_batch(0, 2, 64)
    with pytest.raises(InputError):
        store.train_batch(-1, 2, 8)
    with pytest.raises(InputError):
        store.train_batch(0, 2, 8, seed=-3)


def test_unigram_entropy() -> None:
    assert unigram_entropy(np.arange(64)) == pytest.approx(math.log(64))
    assert unigram_entropy([7, 7, 7]) == pytest.approx(0.0)
    p = np.array([0.5, 0.25, 0.25])
    assert unigram_entropy([0, 0, 1, 2]) == pytest.approx(-(p * np.log(p)).sum())
    with pytest.raises(InputError):
        unigram_entropy([])


def test_bpe_store_cached_and_consistent(fresh_home: Path) -> None:
    store = load_token_store("tiny", "bpe-1024")
    assert store.vocab_size == 1024 and store.train.dtype == np.uint16
    m = json.loads((store.path / "manifest.json").read_text())
    held = m["splits"]["heldout"]
    assert store.bytes_per_token == pytest.approx(held["bytes"] / held["tokens"])
    assert 2.0 < store.bytes_per_token < 6.0
    assert int(np.max(store.train)) < 1024
    # separators: one end-of-text per document
    assert int((np.asarray(store.train) == store.eot_id).sum()) == m["splits"]["train"]["documents"]
    mtime = (store.path / "train.bin").stat().st_mtime_ns
    again = load_token_store("tiny", "bpe-1024")
    assert again.id == store.id and (again.path / "train.bin").stat().st_mtime_ns == mtime
    # a tokenizer trained on a mixture is a different tokenizer, hence a different store
    mixed = load_token_store("tiny", "bpe-1024", tokenizer_corpora=["tiny", str(_write_code(fresh_home))])
    assert mixed.id != store.id and mixed.id.split("-")[0] == store.id.split("-")[0]


def _write_code(home: Path) -> Path:
    path = home / "code.py"
    path.write_text("".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(2000)))
    return path


def test_interrupted_build_leaves_no_cache(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = tokens_mod._write_split
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the user hit Ctrl-C mid-prepare
        return real(*args, **kwargs)

    monkeypatch.setattr(tokens_mod, "_write_split", failing)
    with pytest.raises(KeyboardInterrupt):
        load_token_store("tiny", "byte")
    assert [p for p in (fresh_home / "tokens").iterdir() if p.is_dir()] == []  # no store, no temp folder
    monkeypatch.setattr(tokens_mod, "_write_split", real)
    store = load_token_store("tiny", "byte")
    assert len(store.train) > 0 and (store.path / "manifest.json").is_file()


@pytest.mark.slow
def test_english_default_tokenizer(fresh_home: Path) -> None:
    store = load_token_store("english")
    m = store.manifest
    total_tokens = len(store.train) + len(store.heldout)
    assert len(store.heldout) >= max(100_000, HELDOUT_MIN_FRACTION * total_tokens)
    assert store.vocab_size == 4096
    assert 3.0 < store.bytes_per_token < 4.0
    corpus = load_corpus("english")
    mask = heldout_mask(corpus.documents, groups=corpus.groups())
    for source in ("wikipedia-summaries", "kjv-bible", "shakespeare"):  # held-out mirrors the mixture
        idx = [i for i, g in enumerate(corpus.groups()) if g == source]
        share = sum(len(corpus.documents[i].encode()) for i in idx if mask[i]) / sum(
            len(corpus.documents[i].encode()) for i in idx
        )
        assert 0.02 < share < 0.08, (source, share)
    assert (
        m["splits"]["train"]["bytes"] + m["splits"]["heldout"]["bytes"]
        == m["corpus"]["bytes"] + m["corpus"]["documents"]
    )
