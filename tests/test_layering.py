"""The folder layout is the pipeline: imports between lmscale's packages run one way.

data ← model ← train ← sweep; store stands alone; fit sits on reference and store; plan on fit;
report on fit, plan and store; replicate and demo are applications on top; cli on everything;
nothing imports cli. fit and plan never import torch, model, train or sweep.
The checker reads import statements (also the ones inside functions), so a lazy import counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lmscale"

#: Utility modules at the top of the package: anyone may import them; they import no package.
UTILITIES = {"errors", "jsonsafe", "metrics", "paths", "processes"}
#: package → the lmscale packages it may import (besides UTILITIES). "torch" is the third-party one.
ALLOWED: dict[str, set[str]] = {
    "reference": set(),
    "data": set(),
    "model": {"data", "torch"},
    "train": {"data", "model", "torch"},
    "store": set(),
    "sweep": {"data", "model", "train", "store", "torch"},
    "fit": {"reference", "store"},
    "plan": {"fit", "reference"},
    "report": {"fit", "plan", "store", "reference"},
    "demo": {"data", "model", "train", "store", "sweep", "fit", "plan", "report", "reference", "torch"},
    "replicate": {"data", "model", "train", "store", "sweep", "fit", "plan", "report", "reference", "torch"},
    "cli": {
        "data", "model", "train", "store", "sweep", "fit", "plan", "report", "reference", "demo",
        "replicate", "torch",
    },
    "callbacks": set(),  # adapters for other trainers; they import only UTILITIES (metrics)
    "__main__": {"cli"},
    "__init__": set(),
}


def package_of(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_packages(path: Path) -> set[str]:
    """lmscale packages (and 'torch') a module imports, at any depth of the module."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "lmscale":
            names = [f"lmscale.{a.name}" for a in node.names if not a.name.startswith("__")]  # from lmscale import fit
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "torch":
                out.add("torch")
            elif parts[0] == "lmscale" and len(parts) > 1:
                out.add(parts[1])
    return out


def violations(root: Path) -> list[str]:
    """One line per import that breaks a direction: 'pkg/module.py imports X'."""
    found = []
    for path in sorted(root.rglob("*.py")):
        pkg = package_of(path, root)
        if pkg in UTILITIES:
            allowed: set[str] = set()
        elif pkg not in ALLOWED:
            found.append(f"{path.relative_to(root)}: package {pkg!r} has no place in the layering table")
            continue
        else:
            allowed = ALLOWED[pkg]
        for target in sorted(imported_packages(path) - {pkg} - UTILITIES - allowed):
            found.append(f"{path.relative_to(root)} imports {target}")
    return found


def test_lmscale_imports_run_one_way() -> None:
    assert violations(SRC) == []


@pytest.mark.parametrize(
    "package, line, target",
    [
        ("fit", "import torch", "torch"),
        ("fit", "from lmscale.model.sizing import shape_for_params", "model"),
        ("plan", "from lmscale.sweep import run_sweep", "sweep"),
        ("fit", "from lmscale.plan import optimal", "plan"),  # plan may import fit, never the reverse
        ("store", "from lmscale.fit import fit", "fit"),
        ("report", "from lmscale.cli.app import app", "cli"),  # nothing imports cli
        ("data", "import lmscale.model.accounting", "model"),
        ("plan", "from lmscale import sweep", "sweep"),
    ],
)
def test_a_deliberate_violation_is_caught(tmp_path: Path, package: str, line: str, target: str) -> None:
    pkg = tmp_path / "lmscale" / package
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text(f"def f():\n    {line}\n")  # inside a function: lazy imports count too
    assert violations(tmp_path / "lmscale") == [f"{package}/bad.py imports {target}"]


def drawing_modules(root: Path) -> list[str]:
    """replicate/ modules that import matplotlib: the studies declare what to draw, report/replication
    draws it. result.py may, for the Figure type of the figures it saves."""
    found = []
    for path in sorted((root / "replicate").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if any(n.split(".")[0] == "matplotlib" for n in names) and path.name != "result.py":
                found.append(f"{path.relative_to(root)} imports matplotlib")
    return found


def test_the_replication_studies_draw_no_figures_of_their_own(tmp_path: Path) -> None:
    assert drawing_modules(SRC) == []
    bad = tmp_path / "lmscale" / "replicate"
    bad.mkdir(parents=True)
    (bad / "study.py").write_text("from matplotlib.figure import Figure\n")
    assert drawing_modules(tmp_path / "lmscale") == ["replicate/study.py imports matplotlib"]
