"""FitResult: a fitted law plus its uncertainty, diagnostics and the settings that produced it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lmscale.errors import InputError
from lmscale.fit.law import Law
from lmscale.fit.profile import Profile
from lmscale.jsonsafe import plain


@dataclass(frozen=True, eq=False)
class FitResult(Law):
    """A fitted law, built once by lmscale.fit.fit: ``ci`` holds percentile bootstrap intervals
    (lmscale.fit.intervals) of the parameters and derived quantities, the rest diagnoses the fit."""

    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    residuals: pd.DataFrame | None = None
    r2_log: float = float("nan")
    n_points: int = 0
    starts: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    n_bootstrap_failed: int = 0
    profiles: dict[str, Profile] = field(default_factory=dict)
    unidentified: tuple[str, ...] = ()  # quantities the diagnostics flag: never print them as a headline

    def backtest(self, df: pd.DataFrame, cutoff: float, by: str = "C", **overrides: Any):
        """Refit with this fit's settings on runs with ``by`` ≤ cutoff; score the held-out rest."""
        from lmscale.fit.backtest import backtest

        kwargs = {**self.fit_kwargs(), **overrides}
        return backtest(df, cutoff=cutoff, by=by, **kwargs)

    def fit_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of lmscale.fit.fit that reproduce this fit's settings."""
        s = self.settings
        keep = (
            "bootstrap",
            "seed",
            "huber_delta",
            "fixed",
            "bounds",
            "priors",
            "tie_exponents",
            "starts",
            "bcrit",
        )
        kw = {k: s[k] for k in keep if k in s}
        if kw.get("starts") == "explicit":  # explicit start arrays are not saved; use the default
            kw["starts"] = None
        kw["form"] = self.form_name
        kw["x"] = self.x
        kw["budgets"] = tuple(self.budgets)
        if "priors" in kw:
            kw["priors"] = {k: tuple(v) for k, v in kw["priors"].items()}
        if kw.get("bcrit") is not None:
            kw["bcrit"] = tuple(kw["bcrit"])
        if "bounds" in kw:
            kw["bounds"] = {k: tuple(v) for k, v in kw["bounds"].items()}
        return kw

    # ---- serialisation ------------------------------------------------------------------------------
    def to_dict(self, include_draws: bool = True) -> dict[str, Any]:
        d = super().to_dict(include_draws=include_draws)
        d["kind"] = "fit"
        d["ci"] = {k: list(v) for k, v in self.ci.items()}
        d["n_points"] = self.n_points
        d["r2_log"] = self.r2_log
        d["starts"] = self.starts
        d["warnings"] = list(self.warnings)
        d["settings"] = self.settings
        d["n_bootstrap_failed"] = self.n_bootstrap_failed
        d["profiles"] = {k: p.to_dict() for k, p in self.profiles.items()}
        d["unidentified"] = list(self.unidentified)
        if self.residuals is not None:
            d["residuals"] = self.residuals.to_dict(orient="list")
        return plain(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitResult:
        ci_key = "ci" if "ci" in d else next((k for k in d if k.startswith("ci") and k[2:].isdigit()), None)
        res = d.get("residuals")
        return cls(
            **Law.fields_from_dict(d),
            ci={k: (_f(v[0]), _f(v[1])) for k, v in (d.get(ci_key) or {}).items()} if ci_key else {},
            residuals=None if res is None else pd.DataFrame(res),
            r2_log=_f(d.get("r2_log")),
            n_points=int(d.get("n_points", 0)),
            starts=d.get("starts", {}),
            warnings=tuple(d.get("warnings", [])),
            settings=d.get("settings", {}),
            n_bootstrap_failed=int(d.get("n_bootstrap_failed", 0)),
            profiles={k: Profile.from_dict(p) for k, p in (d.get("profiles") or {}).items()},
            unidentified=tuple(d.get("unidentified", ())),
        )

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> FitResult:
        """Load from a JSON string or a file path."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            path = Path(text)
            if not path.is_file():
                raise InputError(f"{path}: no such fit JSON file")
            text = path.read_text()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a fit JSON document: {exc}") from None
        if not isinstance(d, dict) or "form" not in d or "params" not in d:
            raise InputError("not a fit JSON document: needs keys 'form' and 'params'")
        return cls.from_dict(d)


def _f(v: Any) -> float:
    return float("nan") if v is None else float(v)
