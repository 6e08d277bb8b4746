"""User corpora: a text file, a folder of text files, JSONL with a text field, a pre-tokenised .bin.

Each reader returns a `Corpus` whose documents are what the held-out split works on. A large
single text file is cut into blank-line-aligned chunks (~32 KiB) so that a by-document split
exists at all; each file of a folder is a document (chunked the same way when large).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lmscale.data.corpus import Corpus, check_text, documents_sha256, nonempty
from lmscale.errors import InputError

TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
CHUNK_BYTES = 32 * 1024
BIN_DTYPES = ("uint16", "uint32")


def chunk_text(text: str, chunk_bytes: int = CHUNK_BYTES) -> list[str]:
    """Cut a large text into documents of about `chunk_bytes`, preferring paragraph ends.

    A chunk closes at the first blank line after `chunk_bytes`, or at any line end after
    4 x `chunk_bytes` (text without paragraphs). Chunks rejoin to exactly the input.
    """
    if len(text.encode("utf-8")) <= chunk_bytes:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        current.append(line)
        size += len(line.encode("utf-8"))
        if (size >= chunk_bytes and not line.strip()) or size >= 4 * chunk_bytes:
            chunks.append("".join(current))
            current, size = [], 0
    if current:
        chunks.append("".join(current))
    return chunks


def _chunk_size(total_bytes: int) -> int:
    """~50 documents for a small file (so a by-document split exists), at most CHUNK_BYTES each."""
    return min(CHUNK_BYTES, max(256, total_bytes // 50))


def read_text_file(path: Path) -> Corpus:
    text = check_text(path.read_bytes(), str(path))
    docs = nonempty(chunk_text(text, _chunk_size(len(text.encode("utf-8")))), str(path))
    return _text_corpus(path, docs, {"source": str(path), "format": "text", "files": 1})


def read_folder(path: Path) -> Corpus:
    files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path))
    chosen = [p for p in files if p.suffix.lower() in TEXT_SUFFIXES]
    strict = bool(chosen)
    if not strict:
        chosen = files  # no *.txt/*.md/*.rst: take every file that is text, skip the binary ones
    texts: list[str] = []
    skipped = 0
    for p in chosen:
        data = p.read_bytes()
        if strict:
            text = check_text(data, str(p))
        else:
            try:
                text = check_text(data, str(p))
            except InputError:
                skipped += 1
                continue
        texts.append(text)
    used = len(texts)
    size = _chunk_size(sum(len(t.encode("utf-8")) for t in texts))
    docs = [chunk for t in texts for chunk in chunk_text(t, size)]
    docs = nonempty(docs, f"{path} (folder: {len(chosen)} candidate files, {skipped} binary skipped)")
    return _text_corpus(
        path, docs, {"source": str(path), "format": "folder", "files": used, "skipped_binary": skipped}
    )


def read_jsonl(path: Path, text_field: str = "text") -> Corpus:
    docs: list[str] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            line = check_text(raw, f"{path}:{lineno}")
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or text_field not in record:
                keys = ", ".join(map(str, record)) if isinstance(record, dict) else type(record).__name__
                raise InputError(
                    f"{path}:{lineno}: no {text_field!r} field (found: {keys}); set --text-field"
                )
            value = record[text_field]
            if not isinstance(value, str):
                raise InputError(
                    f"{path}:{lineno}: field {text_field!r} is {type(value).__name__}, not a string"
                )
            docs.append(value)
    docs = nonempty(docs, str(path))
    return _text_corpus(path, docs, {"source": str(path), "format": "jsonl", "text_field": text_field})


def _kind(path: Path) -> str:
    if path.is_char_device():
        return "a character device"
    if path.is_block_device():
        return "a block device"
    if path.is_fifo():
        return "a named pipe"
    if path.is_socket():
        return "a socket"
    return "not a file"


def _hidden(p: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in p.relative_to(root).parts)


def _text_corpus(path: Path, docs: list[str], info: dict) -> Corpus:
    sha = documents_sha256(docs)
    manifest = {
        "name": str(path),
        "documents": len(docs),
        "bytes": sum(len(d.encode("utf-8")) for d in docs),
        "sha256": sha,
        "licence": "user-supplied",
        **info,
    }
    return Corpus(name=str(path), kind="text", sha256=sha, documents=docs, manifest=manifest)


# --- pre-tokenised .bin (nanoGPT convention: raw little-endian uint16/uint32 ids) --------------


def _sidecar(path: Path) -> dict:
    """Metadata for a .bin: `<file>.json` (e.g. train.bin.json) or `meta.json` beside it."""
    for candidate in (path.with_name(path.name + ".json"), path.with_name("meta.json")):
        if candidate.is_file():
            try:
                meta = json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise InputError(f"{candidate}: unreadable sidecar ({exc})") from None
            if not isinstance(meta, dict):
                raise InputError(f"{candidate}: sidecar must be a JSON object with dtype / vocab_size")
            return {**meta, "_file": str(candidate)}
    return {}


def _read_ids(path: Path, dtype: str) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty corpus (0 bytes)")
    if size % itemsize:
        raise InputError(
            f"{path}: size {size} bytes is not a multiple of {itemsize} ({dtype}); wrong --bin-dtype?"
        )
    return np.memmap(path, dtype=np.dtype(dtype).newbyteorder("<"), mode="r")


def read_bin(path: Path, dtype: str | None = None) -> Corpus:
    """A nanoGPT-style .bin; a sibling val.bin next to train.bin becomes the held-out split."""
    meta = _sidecar(path)
    dtype = dtype or meta.get("dtype") or "uint16"
    if dtype not in BIN_DTYPES:
        raise InputError(f"{path}: dtype {dtype!r} not supported (use one of {', '.join(BIN_DTYPES)})")
    ids = _read_ids(path, dtype)
    heldout = None
    val = path.with_name("val.bin")
    if path.name == "train.bin" and val.is_file():
        heldout = _read_ids(val, dtype)
    vocab = meta.get("vocab_size")
    if vocab is not None and (not isinstance(vocab, int) or vocab < 2):
        raise InputError(f"{meta['_file']}: vocab_size must be an integer >= 2, got {vocab!r}")
    h = hashlib.sha256(f"bin:{dtype}:".encode())
    for arr in (ids, heldout):
        if arr is not None:
            h.update(len(arr).to_bytes(8, "little"))
            h.update(memoryview(np.ascontiguousarray(arr)).cast("B"))
    manifest = {
        "name": str(path),
        "format": "bin",
        "dtype": dtype,
        "tokens": int(len(ids)),
        "heldout_file": str(val) if heldout is not None else None,
        "vocab_size": vocab,
        "sha256": h.hexdigest(),
        "licence": "user-supplied",
        "source": str(path),
    }
    return Corpus(
        name=str(path),
        kind="tokens",
        sha256=h.hexdigest(),
        token_ids=ids,
        heldout_ids=heldout,
        vocab_size=vocab,
        manifest=manifest,
    )


def read_user_corpus(spec: str, text_field: str = "text", bin_dtype: str | None = None) -> Corpus:
    path = Path(spec).expanduser()
    if path.is_dir():
        if (path / "train.bin").is_file():
            return read_bin(path / "train.bin", bin_dtype)
        return read_folder(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".bin":
            return read_bin(path, bin_dtype)
        if suffix == ".jsonl":
            return read_jsonl(path, text_field)
        return read_text_file(path)
    if path.exists():  # a device (/dev/zero would be read forever), a FIFO, a socket
        raise InputError(
            f"corpus {spec!r}: not a regular file or folder ({_kind(path)}); give a text file, a folder, "
            ".jsonl or .bin"
        )
    from lmscale.data.builtin import RECIPES

    raise InputError(
        f"unknown corpus {spec!r}: not a built-in ({', '.join(RECIPES)}) and no such file or folder"
    )
