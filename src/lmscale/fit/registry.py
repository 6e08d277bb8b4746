"""The one registry of named laws: the published fits shipped in lmscale.reference, and saved JSON files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.batch import critical_batch
from lmscale.fit.forms import Array
from lmscale.fit.law import Conventions, Law
from lmscale.fit.result import FitResult
from lmscale.reference import load_critical_batch, load_published_laws


@dataclass(frozen=True)
class CriticalBatchLaw:
    """B_crit(L) = B*/L^(1/α_B) (Kaplan et al. 2020, eq. 5.3), B in tokens, L in nats."""

    B_star: float
    alpha_B: float
    name: str = ""
    citation: str = ""

    def predict(self, loss: float | Array) -> Array:
        loss = np.asarray(loss, dtype=float)
        if np.any(~np.isfinite(loss)) or np.any(loss <= 0):
            raise InputError("loss must be positive and finite to predict B_crit")
        return critical_batch(loss, self.B_star, self.alpha_B)


def law_names(loss_laws_only: bool = False) -> list[str]:
    """Published law names; with ``loss_laws_only`` the L(N, D)-type ones a plan can allocate with."""
    published = load_published_laws()
    if loss_laws_only:
        return sorted(k for k, v in published.items() if v["form"] in ("chinchilla", "kaplan-nd", "data-constrained"))
    return sorted(published) + sorted(load_critical_batch())


def _published(name: str, spec: dict[str, Any]) -> Law:
    return Law(
        spec["form"],
        {k: float(v) for k, v in spec["params"].items()},
        x=spec.get("x", "N"),
        name=name,
        citation=spec["citation"],
        conventions=Conventions.from_dict(spec.get("conventions")),
        notes=spec.get("notes", {}),
    )


def get_law(name: str | Path) -> Law | CriticalBatchLaw:
    """A published law by name (``law_names()``) or a saved fit/law JSON file path."""
    text = str(name)
    published = load_published_laws()
    if text in published:
        return _published(text, published[text])
    batch = load_critical_batch()
    if text in batch:
        spec = batch[text]
        return CriticalBatchLaw(float(spec["B_star"]), float(spec["alpha_B"]), text, spec["citation"])
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        return load_law(path)
    raise InputError(f"unknown law {text!r} (choose from: {', '.join(law_names())}, or a fit JSON file)")


def loss_law(spec: Any) -> Law:
    """A loss law from a name, a JSON path or a Law (what plan, predict and report accept)."""
    law = spec if isinstance(spec, Law) else get_law(spec)
    if not isinstance(law, Law):
        raise InputError(f"law {spec!r} is not a loss law; use one of {', '.join(law_names(True))}")
    return law


def load_law(path: str | Path) -> Law:
    """A saved fit (FitResult JSON) or law JSON, as a Law usable for prediction and planning."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such law/fit JSON file")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON document ({type(exc).__name__})") from None
    if not isinstance(d, dict) or "form" not in d or "params" not in d:
        raise InputError(f"{path}: not a law/fit JSON document (needs 'form' and 'params')")
    if not d.get("name"):
        d = {**d, "name": path.stem}
    try:
        return FitResult.from_dict(d) if d.get("kind") == "fit" else Law.from_dict(d)
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: malformed law/fit JSON ({exc})") from None
