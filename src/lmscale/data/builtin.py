"""Built-in corpora: recipes that turn installed files into documents, materialised once in the cache.

home()/corpora/<name>/ holds documents.jsonl (one JSON string per document) and manifest.json
(bytes, documents, sha256, licence, source, per-source breakdown). A recipe version or interpreter
change invalidates the folder; it is rebuilt atomically (temp folder, then rename).
"""

from __future__ import annotations

import functools
import json
import os
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmscale import paths
from lmscale.data import sources
from lmscale.data.atomic import atomic_dir, build_lock
from lmscale.data.corpus import Corpus, documents_sha256

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Part:
    """One source of a built-in corpus."""

    source: str
    licence: str
    read: Callable[[], list[str]]
    package: sources.Package | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    parts: tuple[Part, ...]

    @property
    def packages(self) -> list[sources.Package]:
        return [p.package for p in self.parts if p.package is not None]

    def installed(self) -> bool:
        return all(sources.installed(p) for p in self.packages)


# --- python-code -------------------------------------------------------------------------------

# Directories that are test suites, third-party installs or caches: not "the standard library".
_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "_bundled"}


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_documents() -> list[str]:
    """One document per *.py file of the running interpreter's stdlib (sorted paths, UTF-8 only)."""
    root = stdlib_root()
    docs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for fname in sorted(filenames):
            if not fname.endswith(".py"):
                continue
            try:
                text = (Path(dirpath) / fname).read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue  # a handful of legacy-encoded files are not worth a code path
            if text.strip():
                docs.append(text.replace("\r\n", "\n"))
    return docs


def pydoc_topics_documents() -> list[str]:
    """One document per pydoc topic (Python reference-manual prose), sorted by topic name."""
    from pydoc_data.topics import topics  # stdlib: no install needed

    return [f"{name}\n\n{topics[name].strip()}\n" for name in sorted(topics) if topics[name].strip()]


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "english",
            "English prose: Wikipedia lead sections + King James Bible (chapters) + Shakespeare (plays), ~14 MB",
            (
                Part("wikipedia-summaries", sources.WIKI.licence, sources.wikipedia_documents, sources.WIKI),
                Part("kjv-bible", sources.KJV.licence, sources.bible_documents, sources.KJV),
                Part(
                    "shakespeare",
                    sources.SHAKESPEARE.licence,
                    sources.shakespeare_documents,
                    sources.SHAKESPEARE,
                ),
            ),
        ),
        Recipe(
            "french",
            "French prose: Wikipedia lead sections (~3.7 MB), from the same package as english's",
            (
                Part(
                    "wikipedia-summaries-fr",
                    sources.WIKI.licence,
                    functools.partial(sources.wikipedia_documents, "fr-fr", "french"),
                    sources.WIKI,
                ),
            ),
        ),
        Recipe(
            "python-code",
            "Python standard-library sources of this interpreter, one file per document (~12 MB of code)",
            (Part("python-stdlib", "PSF License (Python standard library)", stdlib_documents),),
        ),
        Recipe(
            "tiny",
            "pydoc topics of this interpreter (~0.5 MB English; for tests)",
            (Part("pydoc-topics", "PSF License (Python documentation)", pydoc_topics_documents),),
        ),
    )
}


def _signature(recipe: Recipe) -> dict[str, Any]:
    """What the materialised files depend on: rebuild when any of it changes."""
    sig: dict[str, Any] = {"recipe_version": RECIPE_VERSION}
    sig["packages"] = {p.name: _installed_version(p) for p in recipe.packages}
    if recipe.name in ("python-code", "tiny"):
        sig["python"] = sysconfig.get_python_version()
        sig["stdlib"] = str(stdlib_root())
    return sig


def _installed_version(pkg: sources.Package) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg.name)
    except metadata.PackageNotFoundError:
        return None


def corpus_dir(name: str) -> Path:
    return paths.home() / "corpora" / name


def read_manifest(name: str) -> dict[str, Any] | None:
    """The manifest of a materialised built-in corpus, or None if not prepared (or stale)."""
    path = corpus_dir(name) / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("signature") != _signature(RECIPES[name]):
        return None
    return manifest


def materialise(name: str) -> dict[str, Any]:
    """Build home()/corpora/<name>/ if missing or stale; return its manifest."""
    manifest = read_manifest(name)
    if manifest is not None:
        return manifest
    with build_lock(corpus_dir(name)):
        return read_manifest(name) or _build(name)


def _build(name: str) -> dict[str, Any]:
    recipe = RECIPES[name]
    parts: list[dict[str, Any]] = []
    documents: list[str] = []
    for part in recipe.parts:
        docs = part.read()  # raises the one-line install hint when a package is missing
        parts.append(
            {
                "source": part.source,
                "licence": part.licence,
                "package": f"{part.package.name}=={_installed_version(part.package)}"
                if part.package
                else None,
                "documents": len(docs),
                "bytes": sum(len(d.encode("utf-8")) for d in docs),
            }
        )
        documents.extend(docs)
    manifest = {
        "name": name,
        "description": recipe.description,
        "documents": len(documents),
        "bytes": sum(p["bytes"] for p in parts),
        "sha256": documents_sha256(documents),
        "licence": "; ".join(p["licence"] for p in parts),
        "source": ", ".join(p["source"] for p in parts),
        "sources": parts,
        "signature": _signature(recipe),
    }
    target = corpus_dir(name)
    with atomic_dir(target, replace=True) as tmp:
        with open(tmp / "documents.jsonl", "w", encoding="utf-8") as f:
            for doc in documents:
                f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def load_builtin(name: str) -> Corpus:
    manifest = materialise(name)
    with open(corpus_dir(name) / "documents.jsonl", encoding="utf-8") as f:
        documents = [json.loads(line) for line in f]
    return Corpus(name=name, kind="text", sha256=manifest["sha256"], documents=documents, manifest=manifest)
