"""One scaling law, used by every layer: a form, point parameters, bootstrap draws, conventions.

`lmscale.fit.fit` produces it (a FitResult adds diagnostics); `plan`, `report`, `replicate` and
`demo` consume it; published laws (lmscale.fit.registry) are Laws without draws. A Law predicts the
loss, finds the compute-optimal allocation, inverts it (the compute for a loss) and gives every
one of these per bootstrap draw, so intervals of derived quantities come from the same draws.

The methods that take ``theta`` work on any stack of internal parameter vectors (S, P): the point
estimate (S = 1) or the draws; planners use them to run one code path for both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmscale.errors import InputError
from lmscale.fit.forms import Array, Form, get_form, optimal_allocation
from lmscale.fit.intervals import percentile_interval
from lmscale.jsonsafe import plain

N_CONVENTIONS = ("total", "non-embedding", "unknown")
C_CONVENTIONS = ("6ND", "exact", "unknown")
# Bracket of the compute-for-a-loss search, in FLOPs: far beyond any training run either way.
C_SEARCH = (1e3, 1e45)
D_SEARCH = (1.0, 1e30)  # tokens: where data_for_loss_of looks


def _log_bisect(
    loss: Callable[[Array], Array], target: Array | float, bracket: tuple[float, float], shape: tuple[int, ...]
) -> tuple[Array, Array]:
    """Where a loss that falls monotonically in x reaches ``target``, by bisection in log x over
    ``bracket``, elementwise over ``shape``: (x, reached), reached False where even the bracket's top
    falls short (x is then the top)."""
    lo = np.full(shape, np.log(bracket[0]))
    hi = np.full(shape, np.log(bracket[1]))
    reach = loss(np.exp(hi)) <= target
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        above = loss(np.exp(mid)) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return np.exp(hi), reach


@dataclass(frozen=True)
class Conventions:
    """What the law's inputs count: N (total or non-embedding parameters), C, the loss, the data."""

    n: str = "unknown"
    c: str = "6ND"
    loss: str = "nats per token"
    data: str = ""

    def __post_init__(self) -> None:
        if self.n not in N_CONVENTIONS:
            raise InputError(f"N convention must be one of {', '.join(N_CONVENTIONS)}, got {self.n!r}")
        if self.c not in C_CONVENTIONS:
            raise InputError(f"C convention must be one of {', '.join(C_CONVENTIONS)}, got {self.c!r}")

    def to_dict(self) -> dict[str, str]:
        return {"n": self.n, "c": self.c, "loss": self.loss, "data": self.data}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Conventions:
        d = dict(d or {})
        return cls(**{k: str(d[k]) for k in ("n", "c", "loss", "data") if k in d})


def budget_key(quantity: str, budget: float) -> str:
    """Stable name of a derived quantity at a budget, e.g. ``N_opt@C=5.76e+23``."""
    return f"{quantity}@C={budget:.3g}"


@dataclass(frozen=True, eq=False)
class Law:
    """A named law: form, public parameters, optional bootstrap draws (S, P) and conventions."""

    form_name: str
    params: Mapping[str, float]
    x: str = "N"
    name: str = ""
    citation: str = ""
    conventions: Conventions = field(default_factory=Conventions)
    draws: Array | None = None
    level: float = 0.95
    budgets: tuple[float, ...] = ()
    residual_log: Array | None = None  # log residuals (pred − obs) of the fit: prediction intervals
    notes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        form = get_form(self.form_name, self.x)
        object.__setattr__(self, "_form", form)
        missing = [k for k in form.names if k not in self.params]
        if missing:
            raise InputError(
                f"law {self.label}: missing parameter(s) {', '.join(missing)} of form {form.name}"
            )
        params = {k: float(self.params[k]) for k in form.names}
        bad = [k for k, v in params.items() if not np.isfinite(v)]
        if bad:
            raise InputError(f"law {self.label}: parameter {bad[0]} is not a finite number")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "budgets", tuple(float(c) for c in self.budgets))
        if self.draws is not None:
            d = np.asarray(self.draws, dtype=float)
            if d.ndim != 2 or d.shape[1] != len(form.names):
                raise InputError(
                    f"law {self.label}: draws must be a matrix with {len(form.names)} columns "
                    f"({', '.join(form.names)}), got shape {d.shape}"
                )
            d = d[np.all(np.isfinite(d), axis=1)]
            object.__setattr__(self, "draws", d if len(d) else None)

    # ---- identity --------------------------------------------------------------------------------
    @property
    def form(self) -> Form:
        return self._form  # type: ignore[attr-defined]

    @property
    def label(self) -> str:
        return self.name or self.form_name

    @property
    def has_draws(self) -> bool:
        return self.draws is not None and len(self.draws) > 1

    # ---- parameter stacks --------------------------------------------------------------------------
    def theta(self) -> Array:
        """The point estimate as internal parameters (1, P). As in a draw, a log parameter the fit
        drove to exactly 0 (exp underflowed: the data show no such term) is log 0 = −inf."""
        zeros = [p.name for p in self.form.params if p.log and self.params[p.name] == 0.0]
        values = {**self.params, **dict.fromkeys(zeros, 1.0)}
        theta = self.form.to_internal(values)
        theta[[self.form.index(name) for name in zeros]] = -np.inf
        return theta[None, :]

    def theta_draws(self) -> Array:
        """The bootstrap draws as internal parameters (S, P); a draw whose E underflowed gives log 0 = −inf,
        which the log-sum-exp forms read as a zero term."""
        if self.draws is None:
            raise InputError(
                f"law {self.label} has no bootstrap draws (fit with bootstrap > 0 for intervals)"
            )
        theta = self.draws.copy()
        with np.errstate(divide="ignore"):
            for i, p in enumerate(self.form.params):
                if p.log:
                    theta[:, i] = np.log(self.draws[:, i])
        return theta

    def thetas(self, draws: bool) -> Array:
        return self.theta_draws() if draws else self.theta()

    def public(self, theta: Array) -> dict[str, Array]:
        """Public parameter columns (S, 1) of a stack θ, ready to broadcast against (S, k) inputs."""
        pub = self.form.to_public(theta)
        return {name: pub[:, i : i + 1] for i, name in enumerate(self.form.names)}

    # ---- prediction --------------------------------------------------------------------------------
    def _columns(self, columns: Mapping[str, Any]) -> dict[str, Array]:
        given = {k: np.asarray(v, dtype=float) for k, v in columns.items() if v is not None}
        form = self.form
        if form.name == "data-constrained":
            given.setdefault("U", given.get("D"))  # no pool given: every token is unique
        need = [v for v in form.variables if v not in given and v != "U_N"]
        if need:
            raise InputError(f"law {self.label} needs {', '.join(need)} to predict")
        unknown = [k for k in given if k not in form.variables]
        if unknown:
            raise InputError(f"law {self.label} takes {', '.join(form.variables)}, not {', '.join(unknown)}")
        for v, a in given.items():
            if np.any(~np.isfinite(a)) or np.any(a <= 0):
                raise InputError(f"{v} must be positive and finite to predict")
        return given

    def evaluate(self, theta: Array, **columns: Any) -> Array:
        """Loss for each parameter vector of θ (S, P) at its own inputs: arrays whose leading axis is S
        (or 1, or scalars), giving (S, ...)."""
        cols = self._columns(columns)
        s = len(theta)
        arrays = np.broadcast_arrays(*cols.values())
        shape = arrays[0].shape or (1,)
        if shape[0] not in (1, s):
            raise ValueError(f"inputs of leading size {shape[0]} do not pair with {s} parameter vectors")
        full = (s, *shape[1:])
        flat = {
            k: np.broadcast_to(a.reshape(shape), full).reshape(s, -1)
            for k, a in zip(cols, arrays, strict=True)
        }
        with np.errstate(over="ignore"):
            out, _ = self.form.log_predict(theta, flat)
        return np.exp(out).reshape(full)

    def predict(self, **columns: Any) -> Array:
        """Point prediction of the loss (nats) at N, D, C, S, U, broadcasting like numpy."""
        cols = self._columns(columns)
        arrays = np.broadcast_arrays(*cols.values())
        out, _ = self.form.log_predict(
            self.theta(), {k: a.ravel() for k, a in zip(cols, arrays, strict=True)}
        )
        return np.exp(out[0]).reshape(arrays[0].shape)

    def predict_draws(self, **columns: Any) -> Array:
        """Every draw's prediction at the same inputs: (S, *shape)."""
        cols = self._columns(columns)
        arrays = np.broadcast_arrays(*cols.values())
        theta = self.theta_draws()
        with np.errstate(over="ignore"):
            out, _ = self.form.log_predict(theta, {k: a.ravel() for k, a in zip(cols, arrays, strict=True)})
        return np.exp(out).reshape((len(theta), *arrays[0].shape))

    def interval(
        self, kind: str = "confidence", level: float | None = None, seed: int = 0, **columns: Any
    ) -> tuple[Array, Array]:
        """(low, high) loss at the given inputs, over the bootstrap draws.

        ``confidence``: where the *law* lies. ``prediction``: where a *new run* would land: each draw's
        prediction plus a log residual drawn from the fit's residuals (run-to-run noise).
        """
        level = self.level if level is None else level
        logp = np.log(self.predict_draws(**columns))
        if kind == "prediction":
            if self.residual_log is None or len(self.residual_log) == 0:
                raise InputError(f"law {self.label} has no residuals to build prediction intervals from")
            rng = np.random.default_rng(seed)
            # residual_log is pred − obs, so a new run lands at pred − residual
            logp = logp - rng.choice(np.asarray(self.residual_log), size=logp.shape)
        elif kind != "confidence":
            raise InputError(f"interval kind must be 'confidence' or 'prediction', got {kind!r}")
        lo, hi = percentile_interval(logp, level)
        return np.exp(lo), np.exp(hi)

    # ---- derived quantities and the allocation -------------------------------------------------------
    def derived_of(self, theta: Array) -> dict[str, Array]:
        """The form's derived quantities (a, b, G for two-variable laws) for each row of θ, shape (S,)."""
        pub = self.form.to_public(theta)
        with np.errstate(all="ignore"):
            d = self.form.derived({name: pub[:, i] for i, name in enumerate(self.form.names)})
        out = {k: np.asarray(v, dtype=float) for k, v in d.items()}
        if "G" in out:
            for c in self.budgets:
                n_opt, d_opt = optimal_allocation(out, c)
                out[budget_key("N_opt", c)] = n_opt
                out[budget_key("D_opt", c)] = d_opt
                out[budget_key("tokens_per_param", c)] = d_opt / n_opt
        return out

    @property
    def derived(self) -> dict[str, float]:
        """a, b, G (two-variable laws) and N_opt/D_opt/tokens per parameter at each of ``budgets``."""
        d = {k: float(v[0]) for k, v in self.derived_of(self.theta()).items()}
        d.update(self.notes.get("derived", {}))
        return d

    def optimal_of(self, theta: Array, budget: Array | float) -> tuple[Array, Array]:
        """(N_opt, D_opt) under C = 6ND for each row of θ at its own budget: budgets whose leading axis
        is S (or 1, or a scalar), giving arrays (S, ...)."""
        d = self.derived_of(theta)
        if "G" not in d:
            raise InputError(f"law {self.label} (form {self.form_name}) has no compute-optimal allocation")
        c = np.asarray(budget, dtype=float)
        c = c.reshape(1) if c.ndim == 0 else c
        column = (slice(None),) + (None,) * (c.ndim - 1)
        return optimal_allocation({k: d[k][column] for k in ("G", "a", "b")}, c)

    def optimal(self, budget: Array | float) -> tuple[Array, Array]:
        """Point (N_opt, D_opt) at compute budget(s) C in FLOPs, shaped like ``budget``."""
        n, d = self.optimal_of(self.theta(), np.asarray(budget, dtype=float)[None, ...])
        return n[0], d[0]

    def optimal_loss_of(self, theta: Array, budget: Array | float) -> Array:
        """The compute-optimal loss at C for each row of θ (S, *budget shape)."""
        if self.x == "C":  # a law of compute alone (a frontier L(C)): its loss is already the optimum
            c = np.asarray(budget, dtype=float)
            return self.evaluate(theta, C=c.reshape(1) if c.ndim == 0 else c)
        n, d = self.optimal_of(theta, budget)
        return self.evaluate(theta, N=n, D=d)

    def floor_of(self, theta: Array) -> Array:
        """The irreducible loss for each row of θ (S,)."""
        pub = self.form.to_public(theta)
        return np.asarray(self.form.floor({name: pub[:, i] for i, name in enumerate(self.form.names)}), float)

    def compute_for_loss_of(self, theta: Array, target: float | Array) -> Array:
        """Training FLOPs at which the compute-optimal loss reaches ``target`` (one for all rows, or
        one per row: (S,)), per row of θ (S,).

        The optimal loss falls monotonically with C, so bisection in log C brackets it; a row whose
        floor is at or above the target, or that needs more than 1e45 FLOPs, gets +inf.
        """
        def loss(c: Array) -> Array:
            return self.optimal_loss_of(theta, c[:, None])[:, 0]

        found, reach = _log_bisect(loss, target, C_SEARCH, (len(theta),))
        return np.where(reach & (self.floor_of(theta) < target), found, np.inf)

    def _require_n_and_d(self) -> None:
        if set(self.form.variables) != {"N", "D"}:
            raise InputError(f"law {self.label} (form {self.form_name}) is not a law of N and D alone")

    def data_for_loss_of(self, theta: Array, n: Array | float, target: Array | float) -> Array:
        """Tokens D at which L(N, D) reaches ``target`` at model size N, for each row of θ (S,) and
        each (N, target) pair (k,), giving (S, k); +inf where even D = 1e30 falls short (the target
        is below what N reaches on unlimited data). Transfer's effective data (Hernandez et al.
        2021, §1.1) is this inversion of the from-scratch law.

        L falls monotonically with D, so bisection in log D brackets it (`_log_bisect`).
        """
        self._require_n_and_d()
        n = np.atleast_1d(np.asarray(n, dtype=float))[None, :]
        goal = np.atleast_1d(np.asarray(target, dtype=float))
        goal = goal if goal.ndim == 2 else goal[None, :]
        shape = (len(theta), np.broadcast_shapes(n.shape, goal.shape)[1])
        found, reach = _log_bisect(lambda d: self.evaluate(theta, N=n, D=d), goal, D_SEARCH, shape)
        return np.where(reach, found, np.inf)

    def unlimited_data_loss_of(self, theta: Array, n: Array | float) -> Array:
        """L(N, D → ∞) per row of θ (S,) and size (k,), giving (S, k): what size N reaches on unlimited
        data, the reference of an overfitting penalty (Kaplan et al. 2020, eq. 4.2)."""
        self._require_n_and_d()
        n = np.atleast_1d(np.asarray(n, dtype=float))
        shape = (len(theta), n.size)
        with np.errstate(all="ignore"):  # D = ∞ zeroes the data term of every (N, D) form
            cols = {"N": np.broadcast_to(n, shape), "D": np.full(shape, np.inf)}
            log_loss, _ = self.form.log_predict(theta, cols)
        return np.exp(log_loss)

    def data_for_penalty_of(self, theta: Array, n: Array | float, penalty: float) -> Array:
        """Tokens D at which L(N, D) comes within ``penalty`` (a fraction: 0.02 is 2%) of L(N, ∞), per row
        of θ (S,) and size (k,), giving (S, k), from the form's closed form. Under Kaplan et al.'s
        L(N, D) (eq. 1.5) a 2% penalty is their eq. 4.4 rule, D ≳ 5×10³·N^0.74 with rounded constants."""
        n = np.atleast_1d(np.asarray(n, dtype=float))[None, :]
        with np.errstate(all="ignore"):
            d = self.form.data_for_penalty(self.public(theta), n, penalty)
        return np.broadcast_to(d, (len(theta), n.shape[1])).astype(float)

    # ---- serialisation -----------------------------------------------------------------------------
    def to_dict(self, include_draws: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": "law",
            "name": self.name,
            "form": self.form_name,
            "x": self.x,
            "params": dict(self.params),
            "derived": self.derived,
            "conventions": self.conventions.to_dict(),
            "citation": self.citation,
            "budgets": list(self.budgets),
            "level": self.level,
            "notes": dict(self.notes),
            "n_draws": 0 if self.draws is None else len(self.draws),
        }
        if include_draws and self.draws is not None:
            d["draws"] = self.draws.tolist()
        if self.residual_log is not None:
            d["residual_log"] = np.asarray(self.residual_log).tolist()
        return plain(d)

    def to_json(self, path: str | Path | None = None, include_draws: bool = True) -> str:
        text = json.dumps(self.to_dict(include_draws=include_draws), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text

    @staticmethod
    def fields_from_dict(d: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments common to Law and FitResult from a saved document."""
        draws = d.get("draws", d.get("samples"))  # "samples": fits saved before lmscale 0.2
        res = d.get("residual_log")
        return {
            "form_name": d["form"],
            "params": {k: float(v) for k, v in d["params"].items()},
            "x": d.get("x", "N"),
            "name": d.get("name", ""),
            "citation": d.get("citation", ""),
            "conventions": Conventions.from_dict(d.get("conventions")),
            "draws": None if draws is None else np.array(draws, dtype=float),
            "level": float(d.get("level", 0.95)),
            "budgets": tuple(float(c) for c in d.get("budgets", ())),
            "residual_log": None if res is None else np.array(res, dtype=float),
            "notes": d.get("notes", {}) or {},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Law:
        return cls(**cls.fields_from_dict(d))
