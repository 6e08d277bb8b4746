"""A corpus: an ordered list of text documents (or pre-tokenised ids) with a content hash.

Every corpus, built-in or user-supplied, ends up as a `Corpus`. The sha256 is computed over the
documents' content (not paths or mtimes), so the same text always maps to the same caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmscale.errors import InputError


def documents_sha256(documents: Iterable[str]) -> str:
    """sha256 over length-prefixed UTF-8 documents: boundaries matter, paths do not."""
    h = hashlib.sha256()
    for doc in documents:
        data = doc.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@dataclass
class Corpus:
    """Text documents (kind "text") or a pre-tokenised id array (kind "tokens").

    `documents` is empty for kind "tokens"; `token_ids`/`heldout_ids` are None for kind "text".
    `manifest` carries bytes, documents, sha256, licence, source and any per-source breakdown.
    """

    name: str
    kind: str
    sha256: str
    documents: list[str] = field(default_factory=list)
    token_ids: np.ndarray | None = None
    heldout_ids: np.ndarray | None = None  # a nanoGPT val.bin next to train.bin, when given
    vocab_size: int | None = None  # declared id space of a .bin corpus, when a sidecar gives it
    manifest: dict[str, Any] = field(default_factory=dict)

    def groups(self) -> list[str] | None:
        """Source label per document, when the manifest lists sources in document order."""
        sources = self.manifest.get("sources")
        if not sources or sum(s["documents"] for s in sources) != len(self.documents):
            return None
        return [s["source"] for s in sources for _ in range(s["documents"])]

    @property
    def n_bytes(self) -> int:
        return sum(len(d.encode("utf-8")) for d in self.documents)


def check_text(data: bytes, where: str) -> str:
    """Decode user text, refusing binary files with a line that names the file."""
    if b"\x00" in data:
        raise InputError(f"{where}: looks like a binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{where}: not valid UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "a binary file given as text?"
        ) from None


def nonempty(documents: list[str], where: str) -> list[str]:
    """Drop whitespace-only documents; an empty result is an error, not a silent empty corpus."""
    kept = [d for d in documents if d.strip()]
    if not kept:
        raise InputError(f"{where}: empty corpus (no non-blank text)")
    return kept


def load_corpus(spec: str, text_field: str = "text", bin_dtype: str | None = None) -> Corpus:
    """A built-in name (english, french, python-code, tiny) or a path: text file, folder, .jsonl, .bin."""
    from lmscale.data.builtin import RECIPES, load_builtin
    from lmscale.data.userfiles import read_user_corpus

    if spec in RECIPES:
        return load_builtin(spec)
    return read_user_corpus(spec, text_field=text_field, bin_dtype=bin_dtype)
