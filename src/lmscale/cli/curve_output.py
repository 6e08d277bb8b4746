"""Terminal tables for approaches 1 and 2 and the L(C) frontier (`lmscale fit --form approach2` ...).

The full result, with every budget's parabola and the bootstrap draws, goes to --json and -o; the
terminal gets what a reader decides on: the exponents with their intervals, each budget's minimum
and whether it was used, the prediction at --budget, and the warnings.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

TITLES = {"approach1": "approach 1 (envelope of learning curves)", "approach2": "approach 2 (IsoFLOP profiles)",
          "frontier": "L(C_min) frontier of learning curves"}


def fmt(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def short(v: Any, digits: int = 3) -> str:
    """Compact for narrow columns: 1.77e8 rather than 1.77e+08."""
    return fmt(v, digits).replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")


def _interval(ci: Any, digits: int = 4) -> str:
    return f"[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]" if ci else "-"


def _estimates(d: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col, justify in (("quantity", "left"), ("estimate", "right"), (f"{round(100 * d['level'])}% CI", "right")):
        table.add_column(col, justify=justify)
    ci = d.get("ci") or {}
    for name, value in {**d["params"], **(d.get("derived") or {})}.items():
        table.add_row(name, fmt(float(value)), _interval(ci.get(name)))
    target = d.get("target")
    if target:
        for name in ("N_opt", "D_opt", "tokens_per_param"):
            table.add_row(f"{name}@C={target['C']:.3g}", fmt(float(target[name])), _interval(target["ci"].get(name)))
    return table


def _budgets(rows: list[dict[str, Any]]) -> Table:
    """approach 2: one row per IsoFLOP budget, its minimum and why it was or was not used."""
    table = Table(title="IsoFLOP budgets: each one's parabola minimum")
    for col in ("C", "runs", "N sampled", "N_opt", "95% CI", "D/N", "used"):
        table.add_column(col, justify="right")
    for r in rows:
        found = r["N_opt"] is not None and r["N_opt"] == r["N_opt"]
        table.add_row(
            short(r["C"]), str(r["n_runs"]), f"{short(r['N_min'], 2)}–{short(r['N_max'], 2)}", short(r["N_opt"]),
            f"{short(r.get('N_opt_low'))}–{short(r.get('N_opt_high'))}" if found else "-",
            short(r["tokens_per_param"]), "yes" if r["used"] else f"no: {r['status']}",
        )
    return table


def print_curve_fit(d: dict[str, Any], source: str) -> None:
    """A curve form's result (its to_dict) as tables and warnings."""
    console = Console()
    kind = d["kind"]
    unit = "budgets used" if kind == "approach2" else "compute points"
    console.print(_estimates(d, f"{TITLES.get(kind, kind)} of {source}: {d['n_runs']} runs, {d['n_points']} {unit}"))
    if kind == "approach2" and d.get("table"):
        console.print(_budgets(d["table"]))
    if kind != "frontier":
        console.print("N_opt = N_coef·C^a and D_opt = D_coef·C^b (C in FLOPs); the full table is in --json / -o.")
    boot = d.get("bootstrap", 0)
    console.print(f"bootstrap: {boot} resamples over runs, {d.get('n_bootstrap_failed', 0)} failed")
    for w in d.get("warnings", ()):
        console.print(f"[yellow]warning:[/yellow] {w}")
