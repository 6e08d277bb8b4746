"""Token store: documents → ids in memory-mapped arrays, a by-document held-out split, batches.

Layout: home()/tokens/<corpus-sha256[:16]>-<tokenizer-id>/{train.bin, heldout.bin, manifest.json}.
Each split is the documents' ids, each followed by the end-of-text id, as raw little-endian
uint16 (vocab ≤ 65535) or uint32. Built in a temp folder and renamed: never half-written.

Byte accounting: a split's `bytes` = UTF-8 bytes of its documents + 1 per document boundary (the
separator stands in for the newline a flat file would have), so tokens/bytes counts both sides
the same way and the byte tokenizer gives bytes_per_token = 1 exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from lmscale import paths
from lmscale.data.atomic import atomic_dir, build_lock
from lmscale.data.corpus import Corpus, load_corpus
from lmscale.data.tokenizer import DEFAULT_TOKENIZER, ByteTokenizer, Tokenizer, get_tokenizer, vocab_of_spec
from lmscale.errors import InputError

STORE_VERSION = 2  # bump when layout or split rule changes: older stores are rebuilt
SPLIT_SEED = "lmscale-heldout-v1"
HELDOUT_MIN_FRACTION = 0.005  # of tokens (and of bytes)
HELDOUT_TARGET_BYTES = 512 * 1024  # ≈ 120k-150k BPE tokens: a stable held-out loss
HELDOUT_MAX_FRACTION = 0.10  # small corpora: never give more than this to held-out
BIN_HELDOUT_TOKENS = 100_000
_ENCODE_BATCH = 512


def id_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 65535 else np.dtype("<u4")


# --- split -------------------------------------------------------------------------------------


def _split_keys(documents: Sequence[str]) -> list[bytes]:
    return [hashlib.sha256(SPLIT_SEED.encode() + d.encode("utf-8")).digest()[:8] for d in documents]


def split_order(documents: Sequence[str]) -> np.ndarray:
    """Documents sorted by a seeded content hash: a fixed, tokenizer-independent order.

    Content (not position) is hashed so duplicate documents are adjacent in the order and the
    split never puts one copy in train and another in held-out.
    """
    return _order(_split_keys(documents))


def _order(keys: list[bytes]) -> np.ndarray:
    return np.array(sorted(range(len(keys)), key=lambda i: (keys[i], i)), dtype=np.int64)


def heldout_mask(
    documents: Sequence[str], doc_tokens: np.ndarray | None = None, groups: Sequence[str] | None = None
) -> np.ndarray:
    """Which documents are held out: hash-order prefixes large enough on every criterion.

    Target: ≥ 0.5% of bytes, ≥ 512 KiB when that is ≤ 10% of the corpus (otherwise 10%), and —
    when `doc_tokens` is given — ≥ 0.5% of tokens. With `groups` (a corpus's sources), each group
    gives the same byte fraction, so the held-out set mirrors the mixture (e.g. English: Wikipedia,
    Bible, Shakespeare). Copies of a held-out document are held out too. At least one document
    is held out and at least one is kept for training.
    """
    n = len(documents)
    if n < 2:
        raise InputError(
            f"corpus has {n} document(s); the held-out split is by document: give more text or more documents"
        )
    nbytes = np.array([len(d.encode("utf-8")) + 1 for d in documents], dtype=np.int64)
    total = int(nbytes.sum())
    fraction = max(HELDOUT_MIN_FRACTION, min(HELDOUT_TARGET_BYTES / total, HELDOUT_MAX_FRACTION))
    keys = _split_keys(documents)
    order = _order(keys)  # global hash order; a group's order is its subsequence
    labels = np.asarray(groups if groups is not None else [""] * n)
    mask = np.zeros(n, dtype=bool)
    for label in dict.fromkeys(labels.tolist()):
        members = order[labels[order] == label]
        cum = np.cumsum(nbytes[members])
        k = int(np.searchsorted(cum, fraction * cum[-1])) + 1  # smallest prefix reaching the share
        mask[members[: min(k, len(members) - 1)]] = True
    if doc_tokens is not None:  # token criterion: extend along the global order
        tokens = np.asarray(doc_tokens, dtype=np.int64)
        held, need = int(tokens[mask].sum()), HELDOUT_MIN_FRACTION * int(tokens.sum())
        for i in order:
            if held >= need:
                break
            if not mask[i]:
                mask[i] = True
                held += int(tokens[i])
    held_keys = {keys[i] for i in np.flatnonzero(mask)}
    mask |= np.array([k in held_keys for k in keys])
    if not mask.any():
        mask[order[0]] = True
    # All held out, or most of the text: one document dwarfs the rest (training on the crumbs
    # that remain would be no run at all).
    if mask.all() or nbytes[mask].sum() > 0.5 * total:
        raise InputError(_no_split_reason(documents, keys, nbytes))
    return mask


def _no_split_reason(documents: Sequence[str], keys: list[bytes], nbytes: np.ndarray) -> str:
    """Why no document is left for training: copies of one text, or one document that dwarfs the
    rest (the held-out share cannot be met without it)."""
    if len(set(keys)) == 1:
        return "corpus: cannot split into train and held-out: every document is a copy of another"
    big = int(np.argmax(nbytes))
    share = nbytes[big] / nbytes.sum()
    return (
        f"corpus: cannot split into train and held-out by document: one document holds {share:.1%} of "
        f"the text ({int(nbytes[big]):,} bytes of {int(nbytes.sum()):,}); split it into smaller documents "
        "(lmscale cuts text files at blank lines or line ends, JSONL records are kept whole)"
    )


# --- the store ---------------------------------------------------------------------------------


@dataclass(eq=False)
class TokenStore:
    """Train/held-out id arrays plus the batching rules every trainer and sweep relies on.

    train_batch: the training split is cut into windows of n_ctx+1 tokens at stride n_ctx. Global
    sequence i = step·batch_size + b is window perm_e[i mod W] with e = i // W (W windows) and
    perm_e a permutation seeded by (seed, e). So a D-token budget is the first ⌈D/n_ctx⌉ windows
    of one fixed order, and runs with different D see the same data up to the shorter budget.
    """

    id: str
    train: np.ndarray
    heldout: np.ndarray
    vocab_size: int
    eot_id: int | None
    bytes_per_token: float | None
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self) -> None:
        self._perm = lru_cache(maxsize=4)(self._permutation)
        self._capped = lru_cache(maxsize=4)(self._capped_permutation)

    # windows ---------------------------------------------------------------------------------
    def n_windows(self, n_ctx: int, split: str = "train") -> int:
        if n_ctx < 1:
            raise InputError(f"n_ctx must be >= 1, got {n_ctx}")
        arr = self.train if split == "train" else self.heldout
        return max(0, (len(arr) - 1) // n_ctx)

    def _train_windows(self, n_ctx: int) -> int:
        w = self.n_windows(n_ctx)
        if w == 0:
            raise InputError(
                f"token store {self.id}: training split has {len(self.train)} tokens, fewer than n_ctx+1 = {n_ctx + 1}"
            )
        return w

    def _permutation(self, n_ctx: int, seed: int, epoch: int) -> np.ndarray:
        w = self._train_windows(n_ctx)
        rng = np.random.default_rng([seed, epoch])
        return rng.permutation(w).astype(np.int32 if w < 2**31 else np.int64)

    def unique_windows(self, n_ctx: int, unique_tokens: int | None) -> int | None:
        """Windows a cap of `unique_tokens` distinct tokens allows; None = no cap (the whole split)."""
        if unique_tokens is None:
            return None
        w = self._train_windows(n_ctx)
        if unique_tokens > w * n_ctx:
            raise InputError(
                f"token store {self.id}: unique_tokens={unique_tokens:,} is more than the training split "
                f"holds ({w * n_ctx:,} tokens in {n_ctx}-token windows)"
            )
        return max(1, math.ceil(unique_tokens / n_ctx))

    def _capped_permutation(self, n_ctx: int, seed: int, epoch: int, limit: int) -> np.ndarray:
        """Epoch order over the first `limit` windows of the uncapped order (epoch 0 keeps that order)."""
        subset = self._perm(n_ctx, seed, 0)[:limit]
        if epoch == 0:
            return subset
        rng = np.random.default_rng([seed, epoch, limit])
        return subset[rng.permutation(limit)]

    def window_indices(
        self, start: int, count: int, n_ctx: int, seed: int = 0, limit: int | None = None
    ) -> np.ndarray:
        """Window numbers of global sequences start .. start+count-1 (crossing epochs as needed);
        `limit` (from `unique_windows`) cycles over that many windows instead of the whole split."""
        if seed < 0 or start < 0 or count < 0:
            raise InputError(f"seed, start and count must be >= 0 (got {seed}, {start}, {count})")
        w = self._train_windows(n_ctx)
        capped = limit is not None and limit < w
        if capped:
            w = int(limit)  # type: ignore[arg-type]
        out = np.empty(count, dtype=np.int64)
        i, filled = start, 0
        while filled < count:
            epoch, j = divmod(i, w)
            take = min(count - filled, w - j)
            order = self._capped(n_ctx, seed, epoch, w) if capped else self._perm(n_ctx, seed, epoch)
            out[filled : filled + take] = order[j : j + take]
            filled += take
            i += take
        return out

    def _gather(self, arr: np.ndarray, windows: np.ndarray, n_ctx: int) -> np.ndarray:
        idx = windows[:, None] * n_ctx + np.arange(n_ctx + 1)[None, :]
        return np.asarray(arr[idx], dtype=np.int64)

    def train_batch(
        self, step: int, batch_size: int, n_ctx: int, seed: int = 0, unique_tokens: int | None = None
    ) -> np.ndarray:
        """int64 [batch_size, n_ctx+1]: sequences step·batch_size … step·batch_size+batch_size-1."""
        if step < 0 or batch_size < 1:
            raise InputError(f"step must be >= 0 and batch_size >= 1 (got {step}, {batch_size})")
        limit = self.unique_windows(n_ctx, unique_tokens)
        windows = self.window_indices(step * batch_size, batch_size, n_ctx, seed, limit)
        return self._gather(self.train, windows, n_ctx)

    def budget_windows(self, tokens: int, n_ctx: int, seed: int = 0) -> np.ndarray:
        """The windows a D-token budget trains on: the first ⌈D/n_ctx⌉ of the fixed order."""
        return self.window_indices(0, math.ceil(tokens / n_ctx), n_ctx, seed)

    def epochs(self, tokens: int, n_ctx: int, unique_tokens: int | None = None) -> float:
        """Passes over the training split (or over the `unique_tokens` cap) that `tokens` takes."""
        limit = self.unique_windows(n_ctx, unique_tokens)
        return tokens / ((limit or self._train_windows(n_ctx)) * n_ctx)

    def heldout_batches(self, batch_size: int, n_ctx: int, max_tokens: int) -> Iterator[np.ndarray]:
        """Held-out windows in file order (stride n_ctx), up to ⌈max_tokens/n_ctx⌉ windows; fixed."""
        if batch_size < 1 or max_tokens < 1:
            raise InputError(f"batch_size and max_tokens must be >= 1 (got {batch_size}, {max_tokens})")
        w = self.n_windows(n_ctx, "heldout")
        if w == 0:
            raise InputError(
                f"token store {self.id}: held-out split has {len(self.heldout)} tokens, fewer than n_ctx+1 = {n_ctx + 1}"
            )
        n = min(w, math.ceil(max_tokens / n_ctx))
        for lo in range(0, n, batch_size):
            yield self._gather(self.heldout, np.arange(lo, min(n, lo + batch_size)), n_ctx)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vocab_size": self.vocab_size,
            "train_tokens": int(len(self.train)),
            "heldout_tokens": int(len(self.heldout)),
            "bytes_per_token": self.bytes_per_token,
            "path": str(self.path) if self.path else None,
            **{
                k: self.manifest[k]
                for k in ("corpus", "tokenizer", "splits", "timings")
                if k in self.manifest
            },
        }


def unigram_entropy(tokens: np.ndarray | Sequence[int]) -> float:
    """Entropy (nats) of the empirical unigram distribution: the loss of the best context-free model."""
    arr = np.asarray(tokens).ravel()
    if arr.size == 0:
        raise InputError("unigram_entropy: no tokens")
    counts = np.bincount(arr.astype(np.int64))
    p = counts[counts > 0] / arr.size
    return float(-(p * np.log(p)).sum())


# --- building ------------------------------------------------------------------------------------


def _encode_documents(tok: Tokenizer, documents: Sequence[str], dtype: np.dtype) -> list[np.ndarray]:
    if isinstance(tok, ByteTokenizer):
        return [tok.encode_array(d) for d in documents]
    out: list[np.ndarray] = []
    for lo in range(0, len(documents), _ENCODE_BATCH):
        out.extend(
            np.asarray(ids, dtype=dtype) for ids in tok.encode_batch(documents[lo : lo + _ENCODE_BATCH])
        )
    return out


def _split_stats(docs: Sequence[str], ids: Sequence[np.ndarray]) -> dict[str, Any]:
    text_bytes = sum(len(d.encode("utf-8")) for d in docs)
    tokens = sum(len(a) for a in ids) + len(ids)  # + one separator per document
    nbytes = text_bytes + len(docs)
    return {
        "documents": len(docs),
        "tokens": tokens,
        "bytes": nbytes,
        "text_bytes": text_bytes,
        "bytes_per_token": nbytes / tokens if tokens else None,
    }


def _write_split(path: Path, ids: Sequence[np.ndarray], eot: int, dtype: np.dtype) -> None:
    sep = np.array([eot], dtype=dtype)
    with open(path, "wb") as f:
        for a in ids:
            f.write(np.ascontiguousarray(a, dtype=dtype).tobytes())
            f.write(sep.tobytes())


def _open_split(path: Path, dtype: str) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=np.dtype(dtype), mode="r")


def _open_store(folder: Path) -> TokenStore:
    m = json.loads((folder / "manifest.json").read_text())
    return TokenStore(
        id=m["id"],
        train=_open_split(folder / "train.bin", m["dtype"]),
        heldout=_open_split(folder / "heldout.bin", m["dtype"]),
        vocab_size=m["vocab_size"],
        eot_id=m["eot_id"],
        bytes_per_token=m["splits"]["heldout"]["bytes_per_token"],
        manifest=m,
        path=folder,
    )


def _store_current(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text()).get("version") == STORE_VERSION
    except (OSError, json.JSONDecodeError):
        return False


def _build_text_store(
    corpus: Corpus, tok: Tokenizer, folder: Path, corpus_seconds: float, tokenizer_seconds: float
) -> None:
    """Encode, split, write. Timings: corpus = materialise or read; tokenizer = train or load."""
    t0 = time.perf_counter()
    dtype = id_dtype(tok.vocab_size)
    ids = _encode_documents(tok, corpus.documents, dtype)
    encode_seconds = time.perf_counter() - t0
    mask = heldout_mask(corpus.documents, np.array([len(a) + 1 for a in ids]), corpus.groups())
    parts = {"train": np.flatnonzero(~mask), "heldout": np.flatnonzero(mask)}  # corpus order within a split
    manifest: dict[str, Any] = {
        "version": STORE_VERSION,
        "id": folder.name,
        "corpus": {
            k: corpus.manifest.get(k) for k in ("name", "sha256", "bytes", "documents", "licence", "source")
        },
        "tokenizer": tok.id,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": dtype.str,
        "split_rule": f"by document: sha256('{SPLIT_SEED}' + text) order, per source a held-out prefix of >= max(0.5%, min(512 KiB, 10%)) of bytes; >= 0.5% of tokens",
        "splits": {},
    }
    with atomic_dir(folder, replace=True) as tmp:
        for name, index in parts.items():
            docs = [corpus.documents[i] for i in index]
            split_ids = [ids[i] for i in index]
            _write_split(tmp / f"{name}.bin", split_ids, tok.eot_id, dtype)
            manifest["splits"][name] = _split_stats(docs, split_ids)
        manifest["timings"] = {
            "corpus_seconds": round(corpus_seconds, 3),
            "tokenizer_seconds": round(tokenizer_seconds, 3),
            "encode_seconds": round(encode_seconds, 3),
            "prepare_seconds": round(time.perf_counter() - t0 + tokenizer_seconds + corpus_seconds, 3),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))


def _bin_store(corpus: Corpus, tokenizer: str) -> TokenStore:
    """A pre-tokenised corpus: checked against the declared vocab, split by val.bin or a tail."""
    vocab = corpus.vocab_size or vocab_of_spec(tokenizer)
    if vocab is None:
        raise InputError(
            f"{corpus.name}: pre-tokenised corpus needs a vocab size: a sidecar {{'vocab_size': V}} or --tokenizer gpt2/byte/bpe-<V>"
        )
    ids = corpus.token_ids
    assert ids is not None
    parts = [("", ids)] if corpus.heldout_ids is None else [("", ids), ("val.bin ", corpus.heldout_ids)]
    for label, arr in parts:
        top = int(arr.max())
        if top >= vocab:
            pos = int(np.flatnonzero(np.asarray(arr) >= vocab)[0])
            where = corpus.manifest.get("heldout_file") if label else corpus.name
            raise InputError(f"{where}: token id {int(arr[pos])} at position {pos} is >= vocab size {vocab}")
    if corpus.heldout_ids is not None:
        train, heldout = ids, corpus.heldout_ids
    else:
        n = len(ids)
        n_held = max(
            math.ceil(HELDOUT_MIN_FRACTION * n), min(BIN_HELDOUT_TOKENS, int(HELDOUT_MAX_FRACTION * n))
        )
        if n - n_held < 2:
            raise InputError(f"{corpus.name}: only {n} tokens; too few to split into train and held-out")
        train, heldout = ids[: n - n_held], ids[n - n_held :]
    store_id = f"{corpus.sha256[:16]}-ids{vocab}"
    manifest = {
        "id": store_id,
        "corpus": corpus.manifest,
        "tokenizer": f"pretokenised (vocab {vocab})",
        "vocab_size": vocab,
        "split_rule": "val.bin"
        if corpus.heldout_ids is not None
        else "held-out = last max(0.5%, min(100k, 10%)) tokens",
        "splits": {"train": {"tokens": len(train)}, "heldout": {"tokens": len(heldout)}},
    }
    return TokenStore(
        id=store_id,
        train=train,
        heldout=heldout,
        vocab_size=vocab,
        eot_id=None,
        bytes_per_token=None,
        manifest=manifest,
    )


def load_token_store(
    corpus: str,
    tokenizer: str = DEFAULT_TOKENIZER,
    tokenizer_corpora: Sequence[str] | None = None,
    *,
    text_field: str = "text",
    bin_dtype: str | None = None,
) -> TokenStore:
    """The token store of `corpus` under `tokenizer`, built on first use and cached.

    `tokenizer_corpora`: the corpora a `bpe-<V>` tokenizer is trained on (the experiment's mixture,
    e.g. ["english", "python-code"] for a transfer study); default: the corpus itself.
    """
    t0 = time.perf_counter()
    c = load_corpus(corpus, text_field=text_field, bin_dtype=bin_dtype)
    corpus_seconds = time.perf_counter() - t0
    if c.kind == "tokens":
        return _bin_store(c, tokenizer)
    t0 = time.perf_counter()
    tok = get_tokenizer(tokenizer, list(tokenizer_corpora) if tokenizer_corpora else [c])
    tokenizer_seconds = time.perf_counter() - t0
    folder = paths.home() / "tokens" / f"{c.sha256[:16]}-{tok.id}"
    if not _store_current(folder):
        with build_lock(folder):
            if not _store_current(folder):
                _build_text_store(c, tok, folder, corpus_seconds, tokenizer_seconds)
    return _open_store(folder)
