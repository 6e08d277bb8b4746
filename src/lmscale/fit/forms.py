"""Functional forms of scaling laws, evaluated in log space with analytic gradients.

Every form works on an *internal* parameter vector θ: scale parameters (E, A, N_c, ...) are stored as
their logarithm, exponents as themselves. Writing each law as a log-sum-exp of terms (Hoffmann et al.
2022, App. D.2; Besiroglu et al. 2024) keeps the optimiser away from overflow and makes the gradient
of log L with respect to θ a softmax-weighted sum, which is cheap to compute exactly.

All evaluation is vectorised over a batch of parameter vectors (shape ``(S, P)``: starts, or
bootstrap draws): each parameter enters as a column (S, 1) and broadcasts against the data. Data
of shape ``(n,)`` gives every start at every point (S, n), so one call scores every start at once;
data of shape ``(S, k)`` gives each draw at its own points (a plan's per-draw optimum).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from lmscale.errors import InputError

Array = np.ndarray
Columns = Mapping[str, Array]


@dataclass(frozen=True)
class Param:
    """One public parameter: its name, whether θ holds its log, and its default public bounds."""

    name: str
    log: bool
    lower: float = -np.inf
    upper: float = np.inf

    def to_internal(self, value: float) -> float:
        if self.log:
            if value <= 0:
                raise InputError(f"parameter {self.name} must be positive, got {value}")
            return float(np.log(value))
        return float(value)

    def to_public(self, theta: Array | float) -> Array | float:
        return np.exp(theta) if self.log else theta


@dataclass(frozen=True)
class LinearPart:
    """How a form splits into linear coefficients × basis functions of its exponents (for VarPro).

    ``L = Σ_k c_k φ_k(x; exponents)`` with c_k ≥ 0; ``coef`` names the parameters that are the c_k
    (None for a constant basis 1 whose coefficient is a parameter too), ``exponents`` the exponents.
    """

    coef: tuple[str, ...]
    exponents: tuple[str, ...]
    direct: bool = True  # the coefficients are the parameters themselves (else e.g. c = X_c^α)


@dataclass(frozen=True)
class Form:
    """Base class: subclasses implement ``log_predict`` and optionally ``derived`` and ``hoffmann_grid``."""

    name: str = ""
    variables: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    tie: tuple[str, str] | None = None  # the two exponents `tie_exponents=True` sets equal
    linear: LinearPart | None = None
    description: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(
                f"form {self.name} has no parameter {name!r} (parameters: {', '.join(self.names)})"
            ) from None

    def log_predict(self, theta: Array, cols: Columns, grad: bool = False) -> tuple[Array, Array | None]:
        """log L for every row of θ (S, P) and data point (n): returns (S, n) and optionally (S, n, P)."""
        raise NotImplementedError

    def to_public(self, theta: Array) -> Array:
        """Public values for θ of shape (..., P)."""
        theta = np.asarray(theta, dtype=float)
        out = theta.copy()
        # A degenerate bootstrap draw can push a log-parameter past e^709: inf, which callers treat as a
        # failed draw (they keep finite rows only), so the overflow is expected, not worth a warning.
        with np.errstate(over="ignore"):
            for i, p in enumerate(self.params):
                if p.log:
                    out[..., i] = np.exp(theta[..., i])
        return out

    def to_internal(self, values: Mapping[str, float]) -> Array:
        return np.array([p.to_internal(values[p.name]) for p in self.params])

    def derived(self, pub: Mapping[str, Array]) -> dict[str, Array]:
        """Quantities computed from the parameters (vectorised over bootstrap draws).

        Two-variable laws give G, a, b of their compute-optimal allocation (see optimal_allocation).
        """
        return {}

    def floor(self, pub: Mapping[str, Array]) -> Array:
        """The loss no amount of N, D or C gets below (E, or 0 for pure power laws)."""
        return np.asarray(pub["E"], dtype=float) if "E" in self.names else np.zeros(np.shape(pub[self.names[0]]))

    def data_for_penalty(self, pub: Mapping[str, Array], n: Array, penalty: float) -> Array:
        """The D at which L(N, D) = (1 + penalty)·L(N, ∞): how much data size N needs to come within
        ``penalty`` of its unlimited-data loss (vectorised over draws like ``derived``)."""
        raise InputError(f"law form {self.name} is not a law of N and D alone")

    def iso_loss(self, pub: Mapping[str, Array], target: Array, share: Array) -> tuple[Array, Array]:
        """The (N, D) with loss ``target`` whose N term carries the fraction ``share`` of the loss above
        the floor: one point of the iso-loss curve per share, for constrained plans."""
        raise InputError(f"form {self.name} has no iso-loss curve in (N, D)")

    def basis(self, expo: Array, cols: Columns) -> Array:
        """Basis functions φ_k (G, n, K) for a batch of exponent vectors (G, len(exponents))."""
        raise NotImplementedError

    def default_grid(self, cols: Columns, log_loss: Array) -> Array:
        """A modest grid of internal starting points (used when VarPro does not apply)."""
        raise NotImplementedError

    def exponent_grid(self, points: int = 40) -> Array:
        """Exponent combinations tried by variable projection (G, len(exponents)).

        ``points`` values per exponent on [0.05, 2]: Hoffmann's start range for α and β, without 0 where
        the power term is a second constant.
        """
        axes = [np.linspace(0.05, 2.0, points)] * len(self.linear.exponents)  # type: ignore[union-attr]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)


def _lse_terms(terms: Array) -> tuple[Array, Array]:
    """log Σ exp(terms) over the last axis and the softmax weights of each term.

    Written out (max-shifted) rather than via scipy.special.logsumexp + softmax: one exp instead of
    two, which matters because the optimiser calls this tens of thousands of times per bootstrap.
    """
    m = terms.max(axis=-1, keepdims=True)
    ex = np.exp(terms - m)
    total = ex.sum(axis=-1, keepdims=True)
    return (m + np.log(total))[..., 0], ex / total


def _powers(x: Array, expo: Array) -> Array:
    """x^-α for every α in expo (G,) and x (n,) → (G, n); each distinct α is computed once."""
    uniq, inv = np.unique(expo, return_inverse=True)
    table = np.exp(-np.outer(uniq, np.log(x)))
    return table[inv.ravel()]


# --------------------------------------------------------------------------------------------------
# Single-variable laws
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerLaw(Form):
    """L(X) = (X_c / X)^α  (Kaplan et al. 2020, eqs. 1.1-1.3).  θ = (log X_c, α)."""

    def log_predict(self, theta, cols, grad=False):
        lx = np.log(cols[self.variables[0]])
        lxc, alpha = theta[:, 0:1], theta[:, 1:2]
        out = alpha * (lxc - lx)
        if not grad:
            return out, None
        g = np.empty(np.shape(out) + (2,))
        g[..., 0] = alpha
        g[..., 1] = lxc - lx
        return out, g

    def basis(self, expo, cols):
        return _powers(cols[self.variables[0]], expo[:, 0])[..., None]

    def coef_to_theta(self, coef: Array, expo: Array) -> Array:
        # c·X^-α = (X_c/X)^α  ⇒  log X_c = log(c)/α
        return np.stack([np.log(coef[:, 0]) / expo[:, 0], expo[:, 0]], axis=1)


@dataclass(frozen=True)
class PowerLawE(Form):
    """L(X) = E + A / X^α.  θ = (log E, log A, α)."""

    def log_predict(self, theta, cols, grad=False):
        lx = np.log(cols[self.variables[0]])
        e, a, alpha = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
        t = np.stack(np.broadcast_arrays(e, a - alpha * lx), axis=-1)
        out, w = _lse_terms(t)
        if not grad:
            return out, None
        g = np.empty(np.shape(out) + (3,))
        g[..., 0] = w[..., 0]
        g[..., 1] = w[..., 1]
        g[..., 2] = -w[..., 1] * lx
        return out, g

    def basis(self, expo, cols):
        phi = _powers(cols[self.variables[0]], expo[:, 0])
        return np.stack([np.ones_like(phi), phi], axis=-1)

    def coef_to_theta(self, coef, expo):
        return np.stack([np.log(coef[:, 0]), np.log(coef[:, 1]), expo[:, 0]], axis=1)


# --------------------------------------------------------------------------------------------------
# Two-variable laws
# --------------------------------------------------------------------------------------------------


def _chinchilla_terms(theta: Array, ln: Array, ld: Array) -> Array:
    e, a, b, alpha, beta = (theta[:, i : i + 1] for i in range(5))
    return np.stack(np.broadcast_arrays(e, a - alpha * ln, b - beta * ld), axis=-1)


def _chinchilla_derived(pub: Mapping[str, Array]) -> dict[str, Array]:
    """Compute-optimal allocation under C = 6ND (Hoffmann et al. 2022, eq. 4):
    N_opt = G·(C/6)^a, D_opt = G⁻¹·(C/6)^b with G = (αA/(βB))^(1/(α+β)), a = β/(α+β), b = α/(α+β)."""
    A, B, alpha, beta = (np.asarray(pub[k], dtype=float) for k in ("A", "B", "alpha", "beta"))
    s = alpha + beta
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        G = (alpha * A / (beta * B)) ** (1.0 / s)
    return {"a": beta / s, "b": alpha / s, "G": G}


def optimal_allocation(derived: Mapping[str, Array], budget: Array | float) -> tuple[Array, Array]:
    """(N_opt, D_opt) at training compute C under C = 6ND: N_opt = G·(C/6)^a, D_opt = G⁻¹·(C/6)^b."""
    c6 = np.asarray(budget, dtype=float) / 6.0
    G, a, b = (np.asarray(derived[k], dtype=float) for k in ("G", "a", "b"))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return G * c6**a, c6**b / G


def params_for_data(derived: Mapping[str, Array], tokens: Array | float) -> Array:
    """The compute-optimal N whose optimal data is ``tokens``: D_opt = G⁻¹(C/6)^b ⇒ N = G·(G·D)^(a/b).

    Muennighoff et al. 2023 (eq. 6) cap the parameters that unique data can use at this size, U_N.
    """
    G, a, b = (np.asarray(derived[k], dtype=float) for k in ("G", "a", "b"))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return G * (G * np.asarray(tokens, dtype=float)) ** (a / b)


def _discounted(total: Array, unique: Array, log_rstar: Array) -> tuple[Array, Array]:
    """log of U + U·R*·(1 − e^(−R/R*)) with R = total/U − 1 repetitions, and its d/d log R*.

    Muennighoff et al. 2023, eqs. 5 (data) and 6 (parameters). U is capped at ``total``: a run that
    does not exhaust its pool has seen only ``total`` unique items, none repeated.
    """
    unique = np.minimum(unique, total)
    rstar = np.exp(log_rstar)
    x = np.maximum(total / unique - 1.0, 0.0) / rstar
    gain = -np.expm1(-x)
    eff = unique * (1.0 + rstar * gain)
    return np.log(eff), rstar * unique * (gain - x * np.exp(-x)) / eff


def effective_amount(total: Array | float, unique: Array | float, r_star: Array | float) -> Array:
    """Effective data D' (or parameters N') of Muennighoff et al. 2023, eqs. 5-6."""
    log_eff, _ = _discounted(np.asarray(total, float), np.asarray(unique, float), np.log(r_star))
    return np.exp(log_eff)


@dataclass(frozen=True)
class Chinchilla(Form):
    """L(N, D) = E + A/N^α + B/D^β  (Hoffmann et al. 2022, eq. 2).  θ = (log E, log A, log B, α, β)."""

    def log_predict(self, theta, cols, grad=False):
        ln, ld = np.log(cols["N"]), np.log(cols["D"])
        out, w = _lse_terms(_chinchilla_terms(theta, ln, ld))
        if not grad:
            return out, None
        g = np.empty(np.shape(out) + (5,))
        g[..., 0], g[..., 1], g[..., 2] = w[..., 0], w[..., 1], w[..., 2]
        g[..., 3] = -w[..., 1] * ln
        g[..., 4] = -w[..., 2] * ld
        return out, g

    def derived(self, pub):
        return _chinchilla_derived(pub)

    def data_for_penalty(self, pub, n, penalty):
        """E + A/N^α + B/D^β = (1 + p)(E + A/N^α) at D = (B/(p·(E + A/N^α)))^(1/β)."""
        unlimited = pub["E"] + pub["A"] / n ** pub["alpha"]
        return (pub["B"] / (penalty * unlimited)) ** (1.0 / pub["beta"])

    def iso_loss(self, pub, target, share):
        gap = np.asarray(target, float) - pub["E"]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return (pub["A"] / (share * gap)) ** (1.0 / pub["alpha"]), (pub["B"] / ((1.0 - share) * gap)) ** (
                1.0 / pub["beta"]
            )

    def basis(self, expo, cols):
        pn, pd = _powers(cols["N"], expo[:, 0]), _powers(cols["D"], expo[:, 1])
        return np.stack([np.ones_like(pn), pn, pd], axis=-1)

    def coef_to_theta(self, coef, expo):
        return np.column_stack([np.log(coef), expo])

    def hoffmann_grid(self) -> Array:
        """Hoffmann et al. 2022 App. D.2 (also Besiroglu et al. 2024): 4,500 starts.

        α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25} (e, a, b are logs).
        """
        e = np.arange(-1.0, 1.01, 0.5)
        ab = np.arange(0.0, 25.1, 5.0)
        ex = np.arange(0.0, 2.01, 0.5)
        mesh = np.meshgrid(e, ab, ab, ex, ex, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def default_grid(self, cols, log_loss):
        return self.hoffmann_grid()


@dataclass(frozen=True)
class KaplanND(Form):
    """L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D  (Kaplan et al. 2020, eq. 1.5).

    θ = (log N_c, log D_c, α_N, α_D).  With u₁ = (α_N/α_D)(log N_c − log N), u₂ = log D_c − log D
    and s = logsumexp(u₁, u₂): log L = α_D · s.
    """

    def log_predict(self, theta, cols, grad=False):
        ln, ld = np.log(cols["N"]), np.log(cols["D"])
        lnc, ldc, an, ad = (theta[:, i : i + 1] for i in range(4))
        u1 = (an / ad) * (lnc - ln)
        u2 = np.broadcast_to(ldc - ld, u1.shape)
        s, w = _lse_terms(np.stack([u1, u2], axis=-1))
        out = ad * s
        if not grad:
            return out, None
        g = np.empty(np.shape(out) + (4,))
        g[..., 0] = an * w[..., 0]
        g[..., 1] = ad * w[..., 1]
        g[..., 2] = w[..., 0] * (lnc - ln)
        g[..., 3] = s - w[..., 0] * u1
        return out, g

    def derived(self, pub):
        """Minimising (N_c/N)^r + D_c·N/(C/6) with r = α_N/α_D gives N_opt = G·(C/6)^a with
        a = 1/(1+r) = α_D/(α_N+α_D) and G = (r·N_c^r/D_c)^a (0.575 with Kaplan's values; his own
        compute-efficient rule, N ∝ C^0.73, comes from L(N, S_min) and is another law)."""
        nc, dc, an, ad = (np.asarray(pub[k], dtype=float) for k in ("N_c", "D_c", "alpha_N", "alpha_D"))
        r = an / ad
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            G = np.exp((np.log(r) + r * np.log(nc) - np.log(dc)) / (1.0 + r))
        return {"a": 1.0 / (1.0 + r), "b": r / (1.0 + r), "G": G}

    def data_for_penalty(self, pub, n, penalty):
        """L(N, D)/L(N, ∞) = [1 + (D_c/D)·(N/N_c)^(α_N/α_D)]^α_D, so the penalty p is reached at
        D = D_c·(N/N_c)^(α_N/α_D)/((1 + p)^(1/α_D) − 1); eq. 4.4 is this at p = 0.02, rounded."""
        r = pub["alpha_N"] / pub["alpha_D"]
        return (n / pub["N_c"]) ** r * pub["D_c"] / np.expm1(np.log1p(penalty) / pub["alpha_D"])

    def iso_loss(self, pub, target, share):
        total = np.asarray(target, float) ** (1.0 / pub["alpha_D"])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n = pub["N_c"] / (share * total) ** (pub["alpha_D"] / pub["alpha_N"])
            return n, pub["D_c"] / ((1.0 - share) * total)

    def default_grid(self, cols, log_loss):
        # Exponents around Kaplan's (0.076, 0.103) and beyond; scales chosen so that each term alone
        # reproduces the mean loss at the data's median N (resp. D): log X_c = log X̃ + mean log L / α.
        ln, ld = np.log(cols["N"]), np.log(cols["D"])
        mean_ll = float(np.mean(log_loss))
        rows = []
        for an in (0.03, 0.076, 0.2, 0.5, 1.0):
            for ad in (0.03, 0.103, 0.2, 0.5, 1.0):
                for shift in (-2.0, 0.0, 2.0):
                    lnc = np.median(ln) + mean_ll / an + shift
                    ldc = np.median(ld) + mean_ll / ad + shift
                    rows.append((lnc, ldc, an, ad))
        return np.array(rows)


@dataclass(frozen=True)
class KaplanNS(Form):
    """L(N, S) = (N_c/N)^α_N + (S_c/S)^α_S  (Kaplan et al. 2020, eq. 1.6; S = S_min when B_crit is known).

    θ = (log N_c, log S_c, α_N, α_S).
    """

    def log_predict(self, theta, cols, grad=False):
        ln, ls = np.log(cols["N"]), np.log(cols["S"])
        lnc, lsc, an, as_ = (theta[:, i : i + 1] for i in range(4))
        out, w = _lse_terms(np.stack(np.broadcast_arrays(an * (lnc - ln), as_ * (lsc - ls)), axis=-1))
        if not grad:
            return out, None
        g = np.empty(np.shape(out) + (4,))
        g[..., 0] = w[..., 0] * an
        g[..., 1] = w[..., 1] * as_
        g[..., 2] = w[..., 0] * (lnc - ln)
        g[..., 3] = w[..., 1] * (lsc - ls)
        return out, g

    def basis(self, expo, cols):
        pn, ps = _powers(cols["N"], expo[:, 0]), _powers(cols["S"], expo[:, 1])
        return np.stack([pn, ps], axis=-1)

    def coef_to_theta(self, coef, expo):
        return np.column_stack(
            [np.log(coef[:, 0]) / expo[:, 0], np.log(coef[:, 1]) / expo[:, 1], expo[:, 0], expo[:, 1]]
        )


@dataclass(frozen=True)
class DataConstrained(Form):
    """Muennighoff et al. 2023 (eqs. 5-7): Chinchilla's law in effective data D' and parameters N'.

    D' = U_D + U_D·R_D*·(1 − exp(−R_D/R_D*)), R_D = D/U_D − 1, U_D = min(U, D) unique tokens seen;
    N' = U_N + U_N·R_N*·(1 − exp(−R_N/R_N*)), R_N = N/U_N − 1, U_N = min(N, N_opt(U_D)) from the
    base law (the first five parameters). θ = (log E, log A, log B, α, β, log R_D*, log R_N*).
    Columns: N, D, U (unique tokens available) and optionally U_N. A fit passes U_N computed once
    from its base law (held fixed, so gradients stay exact); otherwise each parameter vector
    computes its own, which is what a bootstrap draw's prediction needs.
    """

    def unique_params(self, theta: Array, cols: Columns) -> Array:
        """U_N for every row of θ: the column when given, else from that row's base law."""
        if "U_N" in cols:
            return cols["U_N"]
        pub = {"A": np.exp(theta[:, 1:2]), "B": np.exp(theta[:, 2:3]), "alpha": theta[:, 3:4], "beta": theta[:, 4:5]}
        seen = np.minimum(cols["U"], cols["D"])
        return np.minimum(cols["N"], params_for_data(_chinchilla_derived(pub), seen))

    def effective(self, theta: Array, cols: Columns) -> tuple[Array, Array, Array, Array]:
        """log N', log D' (S, n) and d log N'/d log R_N*, d log D'/d log R_D*."""
        ld, dld = _discounted(cols["D"], cols["U"], theta[:, 5:6])
        ln, dln = _discounted(cols["N"], self.unique_params(theta, cols), theta[:, 6:7])
        return ln, ld, dln, dld

    def log_predict(self, theta, cols, grad=False):
        ln, ld, dln, dld = self.effective(theta, cols)
        out, w = _lse_terms(_chinchilla_terms(theta, ln, ld))
        if not grad:
            return out, None
        alpha, beta = theta[:, 3:4], theta[:, 4:5]
        g = np.empty(np.shape(out) + (7,))
        g[..., 0], g[..., 1], g[..., 2] = w[..., 0], w[..., 1], w[..., 2]
        g[..., 3] = -w[..., 1] * ln
        g[..., 4] = -w[..., 2] * ld
        g[..., 5] = -beta * w[..., 2] * dld
        g[..., 6] = -alpha * w[..., 1] * dln
        return out, g

    def derived(self, pub):
        return _chinchilla_derived(pub)

    def iso_loss(self, pub, target, share):
        raise InputError("the data-constrained form has no iso-loss curve: plan with its base law")

    def default_grid(self, cols, log_loss):
        rd = np.log([1.0, 5.0, 15.0, 50.0, 200.0])
        rn = np.log([1.0, 5.0, 15.0, 50.0])
        mesh = np.meshgrid(rd, rn, indexing="ij")
        tail = np.stack([m.ravel() for m in mesh], axis=1)
        # The base-law columns start at the base law's values (set by fit() in extra["base_theta"]).
        base = np.asarray(self.extra.get("base_theta", np.zeros(5)), dtype=float)
        return np.column_stack([np.broadcast_to(base, (len(tail), 5)), tail])


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

_EXPO = (0.0, 10.0)  # exponents beyond 10 are numerically meaningless for these laws
FORM_NAMES = ("power", "power-e", "chinchilla", "kaplan-nd", "kaplan-ns", "data-constrained")
_CHINCHILLA_PARAMS = (
    Param("E", True),
    Param("A", True),
    Param("B", True),
    Param("alpha", False, *_EXPO),
    Param("beta", False, *_EXPO),
)  # also the data-constrained form's base law


def get_form(name: str, x: str = "N") -> Form:
    """The form called ``name``; single-variable forms take their variable from ``x`` (N, D or C)."""
    if name in ("power", "power-e") and x not in ("N", "D", "C"):
        raise InputError(f"--x must be N, D or C for form {name}, got {x!r}")
    if name == "power":
        return PowerLaw(
            name="power",
            variables=(x,),
            params=(Param(f"{x}_c", True), Param(f"alpha_{x}", False, *_EXPO)),
            linear=LinearPart(coef=(f"{x}_c",), exponents=(f"alpha_{x}",), direct=False),
            description=f"L = ({x}_c/{x})^alpha_{x}",
        )
    if name == "power-e":
        return PowerLawE(
            name="power-e",
            variables=(x,),
            params=(Param("E", True), Param("A", True), Param("alpha", False, *_EXPO)),
            linear=LinearPart(coef=("E", "A"), exponents=("alpha",)),
            description=f"L = E + A/{x}^alpha",
        )
    if name == "chinchilla":
        return Chinchilla(
            name="chinchilla",
            variables=("N", "D"),
            params=_CHINCHILLA_PARAMS,
            tie=("alpha", "beta"),
            linear=LinearPart(coef=("E", "A", "B"), exponents=("alpha", "beta")),
            description="L = E + A/N^alpha + B/D^beta",
        )
    if name == "kaplan-nd":
        return KaplanND(
            name="kaplan-nd",
            variables=("N", "D"),
            params=(
                Param("N_c", True),
                Param("D_c", True),
                Param("alpha_N", False, 1e-4, 10.0),
                Param("alpha_D", False, 1e-4, 10.0),
            ),
            tie=("alpha_N", "alpha_D"),
            description="L = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D",
        )
    if name == "kaplan-ns":
        return KaplanNS(
            name="kaplan-ns",
            variables=("N", "S"),
            params=(
                Param("N_c", True),
                Param("S_c", True),
                Param("alpha_N", False, *_EXPO),
                Param("alpha_S", False, *_EXPO),
            ),
            tie=("alpha_N", "alpha_S"),
            linear=LinearPart(coef=("N_c", "S_c"), exponents=("alpha_N", "alpha_S"), direct=False),
            description="L = (N_c/N)^alpha_N + (S_c/S)^alpha_S",
        )
    if name == "data-constrained":
        return DataConstrained(
            name="data-constrained",
            variables=("N", "D", "U", "U_N"),
            params=(*_CHINCHILLA_PARAMS, Param("R_D_star", True, 1e-3, 1e6), Param("R_N_star", True, 1e-3, 1e6)),
            tie=("alpha", "beta"),
            description="L = E + A/N'^alpha + B/D'^beta with repetition-discounted N', D'",
        )
    raise InputError(f"unknown form {name!r} (choose from: {', '.join(FORM_NAMES)})")
