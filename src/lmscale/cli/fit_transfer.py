"""`lmscale fit-transfer`: effective data transferred by pretraining (Hernandez et al. 2021, eq. 1.1),
D_T = k·D_F^α·N^β, from a study of fine-tuned and from-scratch runs on one target corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from lmscale.cli.app import app, json_out
from lmscale.cli.options import JsonOpt, StoreOpt, choice, output_option

FormChoice = choice("ScratchForm", ("kaplan-nd", "chinchilla"))
HERNANDEZ = "hernandez2021-text-python"  # the published law drawn on the --html figure
TransferOutput = output_option("Write the fit, its intervals and the per-run table as JSON.")


def study_transfer(study: str, store: Path | None, form: str, bootstrap: int, seed: int) -> tuple[Any, Any]:
    """(the transfer fit, the from-scratch table) of a stored study's completed runs."""
    from lmscale.fit.transfer import fit_transfer, transfer_tables
    from lmscale.store.tables import load_study

    st = load_study(study, store)  # its final points are the completed runs only
    scratch, tuned = transfer_tables(st.finals, st.curves, where=f"--study {study}")
    return fit_transfer(scratch, tuned, form=form, bootstrap=bootstrap, seed=seed), scratch


@app.command("fit-transfer")
def fit_transfer_command(
    study: Annotated[
        str, typer.Option("--study", help="Study with fine-tuned and from-scratch runs on one corpus.")
    ],
    store: StoreOpt = None,
    form: Annotated[
        FormChoice, typer.Option("--form", help="Law fitted to the from-scratch runs, inverted for D_E.")
    ] = FormChoice("kaplan-nd"),
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap draws for the intervals.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the bootstrap.")] = 0,
    as_json: JsonOpt = False,
    output: TransferOutput = None,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="PATH", help="Also write a self-contained HTML page with the figure.")
    ] = None,
) -> None:
    """Fit D_T = k·D_F^α·N^β (Hernandez et al. 2021, eq. 1.1): the target data a from-scratch model of
    the same size would need beyond D_F to reach each fine-tuned run's early-stopped loss."""
    from lmscale.reference.published import load_transfer_fits

    fit, scratch = study_transfer(study, store, form.value, bootstrap, seed)
    published = load_transfer_fits()
    if html is not None:
        from lmscale.report.transfer import transfer_html

        html.write_text(transfer_html(study, fit, scratch, published.get(HERNANDEZ)))
    out = {"study": study, **fit.to_dict(), "published": published}
    if json_out(out, output, as_json):
        return
    console = Console() if Console().is_terminal else Console(width=160)
    table = Table(
        "run", "N", "D_F", "loss", "D_E", "D_T", "D_T/D_E", "fitted", box=None, title="Fine-tuned runs"
    )
    for r in out["rows"]:
        fitted = "yes" if r["used"] else "no"
        fitted += " (D_E extrapolated)" if r["used"] and r["beyond_data"] else ""
        table.add_row(
            str(r["run"]), f"{r['N']:.3g}", f"{r['D_F']:.3g}", f"{r['loss']:.4f}", f"{r['D_E']:.3g}",
            f"{r['D_T']:.3g}", f"{r['fraction']:.2f}" if np.isfinite(r["fraction"]) else "", fitted,
        )  # fmt: skip
    console.print(table)
    level = f"{out['level']:.0%}"
    scratch = out["scratch"]
    console.print(
        f"From-scratch law ({scratch['form']}): "
        + ", ".join(f"{k} = {v:.4g}" for k, v in scratch["params"].items())
    )
    if out["fitted"]:
        draws = f"{level} intervals over {out['n_draws']} draws, {out['n_failed']} failed"
        console.print(f"\nD_T = k·D_F^α·N^β  ({draws})")
        for name, symbol in (("k", "k"), ("alpha", "α"), ("beta", "β")):
            lo, hi = out["ci"][name]
            console.print(f"  {symbol} = {out['params'][name]:.4g}  ({lo:.4g} – {hi:.4g})")
        console.print(f"  rms residual of log D_T: {out['rms_log']:.3f}")
    else:
        console.print("\nD_T = k·D_F^α·N^β: not fitted (the first warning says why)")
    for name, pub in out["published"].items():
        console.print(
            f"Published, {pub['pair']} ({name}): k = {pub['k']:.3g}, α = {pub['alpha']}, β = {pub['beta']} "
            f"[{pub['citation'].split(':')[0]}; checked: {pub['checked']}]"
        )
    for w in out["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
