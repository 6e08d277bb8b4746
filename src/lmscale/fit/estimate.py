"""Robust estimation: Huber loss on log-space residuals, multi-start L-BFGS-B with analytic gradients.

The objective is Σᵢ wᵢ·Huber_δ(log L̂ᵢ − log Lᵢ) (Hoffmann et al. 2022, App. D.2), with integer
weights wᵢ so that a bootstrap resample is a weight vector rather than a copied table. Internally we
minimise it divided by δ (≈ Σ|r|, order one) so that L-BFGS-B's tolerances mean the same thing for
every δ; reported objective values are the plain sum, comparable with Epoch's 0.0010183.

Starting points come either from an explicit grid (Hoffmann's 4,500 for Chinchilla) or from
variable projection: for each exponent combination on a grid, the linear coefficients (E, A, B) are
solved exactly by weighted least squares in relative error, the resulting seeds are scored with the
true Huber objective in batched evaluations, and only the best few are refined. See
docs/fitting.md for the measured comparison. Batched evaluations run in (seeds × rows) blocks of
bounded size (``blocks``), so a fit's memory grows with the rows, not with seeds × rows. Tables of
more than ``SAMPLE_ROWS`` rows are searched on a fixed random sample of rows, and only the sample's
best optima are refitted on every row (``Search``), so a fit's time grows with the rows only once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from lmscale.errors import InputError
from lmscale.fit.forms import Array, Form

# Starts whose objective is within this relative distance of the best count as "reached the best".
REACHED_RTOL = 1e-4

# Working-set budget of a batched evaluation over (seeds × rows). Seeding fits every one of 1,600
# exponent combinations to every row; done in one piece that is (1,600 × rows × K) floats several
# times over, 24 GB at 1M rows (issue 20). In blocks it stays below this whatever the rows; 64 MB
# rather than more because each bootstrap worker has its own, and blocks of 4-256 MB ran equally
# fast (and beat one big batch: ~2 s vs 17.6 s seeding 1,600 combinations on 40k rows).
BLOCK_BYTES = 64 * 2**20
# Peak bytes of temporaries per (seed, row) cell, measured with tracemalloc (92 B for varpro on
# chinchilla's three-term basis, 143 B scoring the data-constrained form, the widest), plus margin.
VARPRO_CELL_BYTES = 128
SCORE_CELL_BYTES = 192

# A fit runs dozens of multi-starts (the profile of E refits at ~18 values), each seeding 1,600
# exponent combinations and refining 8 of them over every row: 12.5 minutes for `lmscale fit` at 100k
# rows, far past an hour at 1M (issue 20). Above SAMPLE_ROWS rows the starts are seeded and refined
# on a fixed random sample of that many rows, whose optimum lies within sampling noise of the full
# one, and only the sample's distinct best optima (up to POLISH, plus any given starts) are refitted
# on every row, where L-BFGS-B starts next to the optimum.
SAMPLE_ROWS = 10_000
POLISH = 2
# Two sample optima closer than this in every free internal coordinate are one basin: refit it once.
SAME_BASIN = 1e-3


def blocks(
    n_seeds: int, n_rows: int, cell_bytes: int, budget: int = BLOCK_BYTES
) -> Iterator[tuple[slice, slice]]:
    """(seed slice, row slice) pairs that cover an (n_seeds × n_rows) evaluation within ``budget``.

    Rows are kept whole while one seed over every row fits, so a seed's sum over rows does not
    depend on the block size (the same bits as one batched evaluation); only beyond that (one seed
    over all rows exceeds the budget) are rows split and their sums accumulated (equal to rounding).
    """
    cells = max(1, budget // cell_bytes)
    rows = max(1, min(n_rows, cells))
    seeds = max(1, min(n_seeds, cells // rows))
    for s in range(0, n_seeds, seeds):
        for r in range(0, n_rows, rows):
            yield slice(s, s + seeds), slice(r, r + rows)


def row_slice(cols: dict[str, Array], rows: slice | Array) -> dict[str, Array]:
    """The columns restricted to a block of rows (views for a slice, copies for an index array)."""
    return {k: v[rows] for k, v in cols.items()}


@dataclass(frozen=True)
class Prior:
    """Gaussian prior on a public parameter value (e.g. E ~ N(1.69, 0.05))."""

    mean: float
    sd: float


@dataclass
class Problem:
    """A form, its data and the constraints: maps free coordinates z to the full internal θ."""

    form: Form
    cols: dict[str, Array]
    log_loss: Array
    delta: float = 1e-3
    fixed: dict[str, float] = field(default_factory=dict)  # public values
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # public bounds
    priors: dict[str, Prior] = field(default_factory=dict)
    tie_exponents: bool = False
    prior_scale: float = 1.0  # residual scale b that puts priors on the Huber/δ scale (see set_prior_scale)

    def __post_init__(self) -> None:
        form = self.form
        self.cols = {k: np.asarray(v, dtype=float) for k, v in self.cols.items()}
        self.log_loss = np.asarray(self.log_loss, dtype=float)
        P = len(form.params)
        self.base = np.zeros(P)
        for name, value in self.fixed.items():
            self.base[form.index(name)] = form.params[form.index(name)].to_internal(value)
        self.tied: dict[int, int] = {}
        if self.tie_exponents:
            if form.tie is None:
                raise InputError(f"form {form.name} has no pair of exponents to tie")
            i, j = (form.index(n) for n in form.tie)
            if form.tie[1] in self.fixed and form.tie[0] not in self.fixed:
                i, j = j, i
            self.tied[j] = i
        fixed_idx = {form.index(n) for n in self.fixed}
        self.free = [k for k in range(P) if k not in fixed_idx and k not in self.tied]
        if not self.free:
            raise InputError("every parameter is fixed: nothing left to fit")
        for j, i in self.tied.items():
            if i not in self.free:  # tied to a fixed exponent: it is fixed too
                self.base[j] = self.base[i]
        for name in list(self.bounds) + list(self.priors):
            form.index(name)  # raises InputError for unknown names
        self.lower, self.upper = self._internal_bounds()
        self.prior_idx = [(form.index(n), p) for n, p in self.priors.items()]

    def _internal_bounds(self) -> tuple[Array, Array]:
        lo, hi = [], []
        for k in self.free:
            p = self.form.params[k]
            a, b = self.bounds.get(p.name, (p.lower, p.upper))
            if a >= b:
                raise InputError(f"bounds for {p.name}: lower {a} must be below upper {b}")
            if p.log:
                a = np.log(a) if a > 0 else -np.inf
                b = np.log(b) if b > 0 else -np.inf
                if b == -np.inf:
                    raise InputError(f"bounds for {p.name}: upper bound must be positive")
            lo.append(a)
            hi.append(b)
        return np.array(lo, dtype=float), np.array(hi, dtype=float)

    # ---- coordinates ------------------------------------------------------------------------------
    def expand(self, z: Array) -> Array:
        """Full internal θ (S, P) from free coordinates z (S, F)."""
        z = np.atleast_2d(z)
        theta = np.broadcast_to(self.base, (z.shape[0], self.base.size)).copy()
        for col, k in enumerate(self.free):
            theta[:, k] = z[:, col]
        for j, i in self.tied.items():
            if i in self.free:
                theta[:, j] = theta[:, i]
        return theta

    def reduce(self, theta: Array) -> Array:
        """Free coordinates of θ (S, P) (tied values are taken from their leading exponent)."""
        return np.atleast_2d(theta)[:, self.free]

    def clip(self, z: Array) -> Array:
        return np.clip(z, self.lower, self.upper)

    # ---- objective --------------------------------------------------------------------------------
    def residuals(self, theta: Array) -> Array:
        pred, _ = self.form.log_predict(np.atleast_2d(theta), self.cols)
        return pred - self.log_loss[None, :]

    def huber_sum(self, theta: Array, weights: Array | None = None, budget: int = BLOCK_BYTES) -> Array:
        """Σ w·Huber_δ(r) for each row of θ (S,): the value users see.

        Evaluated in (seeds × rows) blocks (see ``blocks``): scoring 1,600 seeds at once would hold
        (1,600 × rows) residuals and log-sum-exp terms.
        """
        theta = np.atleast_2d(theta)
        out = np.zeros(theta.shape[0])
        for s, r in blocks(theta.shape[0], self.log_loss.size, SCORE_CELL_BYTES, budget):
            pred, _ = self.form.log_predict(theta[s], row_slice(self.cols, r))
            h = huber(pred - self.log_loss[None, r], self.delta)
            out[s] += h.sum(axis=1) if weights is None else (h * weights[r]).sum(axis=1)
        return out

    def value_grad(self, z: Array, weights: Array) -> tuple[Array, Array]:
        """Objective/δ (+ priors) and its gradient in free coordinates, for a batch z (S, F)."""
        theta = self.expand(z)
        pred, g = self.form.log_predict(theta, self.cols, grad=True)
        r = pred - self.log_loss[None, :]
        d = self.delta
        a = np.abs(r)
        small = a <= d
        # Elementwise products and sums, not `@`: BLAS calls here spawn OpenBLAS threads that spin
        # and slow the bootstrap >10x on a loaded machine (measured; see docs/fitting.md).
        f = (np.where(small, 0.5 * r * r / d, a - 0.5 * d) * weights).sum(axis=1)
        psi = np.clip(r / d, -1.0, 1.0) * weights[None, :]
        gt = np.einsum("sn,snp->sp", psi, g)
        for k, prior in self.prior_idx:
            p = self.form.params[k]
            val = p.to_public(theta[:, k])
            dev = (val - prior.mean) / prior.sd
            f = f + self.prior_scale * 0.5 * dev**2
            dval = val if p.log else 1.0
            gt[:, k] += self.prior_scale * dev / prior.sd * dval
        gz = gt[:, self.free]
        for j, i in self.tied.items():
            if i in self.free:
                gz[:, self.free.index(i)] += gt[:, j]
        return f, gz

    def set_prior_scale(self, theta: Array) -> None:
        """Priors enter as b·(p−μ)²/(2σ²), b = mean |residual| at an unpenalised fit.

        Σ Huber/δ ≈ Σ|r| is b times a Laplace negative log-likelihood with scale b, so this weights the
        prior like a Gaussian log-prior against that likelihood.
        """
        self.prior_scale = float(np.mean(np.abs(self.residuals(theta)))) or 1.0


def huber(r: Array, delta: float) -> Array:
    """scipy.special.huber's definition: r²/2 inside ±δ, δ(|r| − δ/2) outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


# --------------------------------------------------------------------------------------------------
# Starting points
# --------------------------------------------------------------------------------------------------


def varpro_applicable(problem: Problem) -> bool:
    """Variable projection needs a linear structure whose coefficients are free (or directly pinned)."""
    lin = problem.form.linear
    if lin is None:
        return False
    constrained = set(problem.fixed) | set(problem.priors) | set(problem.bounds)
    return lin.direct or not (constrained & set(lin.coef))


def _varpro_exponents(problem: Problem, grid: Array) -> Array:
    """The grid's distinct exponent combinations, with pinned exponents set and tied ones copied."""
    form, lin = problem.form, problem.form.linear
    assert lin is not None
    expo_names = list(lin.exponents)
    expo = np.array(grid, dtype=float)
    for c, name in enumerate(expo_names):
        if name in problem.fixed:
            expo[:, c] = problem.fixed[name]
    for j, i in problem.tied.items():
        nj, ni = form.names[j], form.names[i]
        if nj in expo_names and ni in expo_names:
            expo[:, expo_names.index(nj)] = expo[:, expo_names.index(ni)]
    return np.unique(expo, axis=0)


def _normal_equations(
    problem: Problem, expo: Array, rows: slice, weights: Array, loss: Array, free_k: list[int]
) -> tuple[Array, Array]:
    """XᵀX (G, F, F) and Xᵀy (G, F) of the relative-error least squares, over one block of rows.

    X = φ_free·√w/L, y = (L − Σ_fixed c_k φ_k)·√w/L. Sums over rows, so blocks of rows add up.
    """
    lin = problem.form.linear
    assert lin is not None
    phi = problem.form.basis(expo, row_slice(problem.cols, rows))  # (G, m, K)
    target = np.broadcast_to(loss[rows], phi.shape[:2]).copy()
    for k, name in enumerate(lin.coef):
        if name in problem.fixed:
            target -= problem.fixed[name] * phi[:, :, k]
    sw = np.sqrt(weights[rows]) / loss[rows]
    X = phi[:, :, free_k] * sw[None, :, None]
    y = target * sw[None, :]
    return np.einsum("gnk,gnl->gkl", X, X), np.einsum("gnk,gn->gk", X, y)


def varpro_seeds(
    problem: Problem, weights: Array, grid: Array | None = None, budget: int = BLOCK_BYTES
) -> Array:
    """One internal θ per exponent combination, linear coefficients solved exactly.

    For exponents fixed, the (weighted) least-squares problem min Σ w ((Φc − L)/L)² in the
    coefficients c is solved in closed form for every grid row at once; relative error is the
    first-order expansion of the log residual. Negative coefficients are clipped to a tiny positive
    value (L-BFGS-B takes it from there). The normal equations are accumulated over (grid × rows)
    blocks (see ``blocks``), so memory stays within ``budget`` whatever the number of rows.
    """
    form, lin = problem.form, problem.form.linear
    assert lin is not None
    expo = _varpro_exponents(problem, form.exponent_grid() if grid is None else grid)
    loss = np.exp(problem.log_loss)
    free_k = [k for k, name in enumerate(lin.coef) if name not in problem.fixed]
    coef = np.zeros((expo.shape[0], len(lin.coef)))
    for k, name in enumerate(lin.coef):
        if name in problem.fixed:
            coef[:, k] = problem.fixed[name]
    if free_k:
        gram = np.zeros((expo.shape[0], len(free_k), len(free_k)))
        rhs = np.zeros((expo.shape[0], len(free_k)))
        for g, r in blocks(expo.shape[0], loss.size, VARPRO_CELL_BYTES, budget):
            xtx, xty = _normal_equations(problem, expo[g], r, weights, loss, free_k)
            gram[g] += xtx
            rhs[g] += xty
        # Columns scaled to unit norm (the diagonal of XᵀX is their squared norm) before solving:
        # the basis spans many orders of magnitude (1 next to N^-α).
        scale = np.sqrt(np.einsum("gkk->gk", gram))
        scale[scale == 0] = 1.0
        gram = gram / (scale[:, :, None] * scale[:, None, :]) + 1e-12 * np.eye(len(free_k))[None]
        coef[:, free_k] = np.linalg.solve(gram, (rhs / scale)[..., None])[..., 0] / scale
    coef = np.maximum(coef, 1e-12 * float(np.max(loss)))
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = form.coef_to_theta(coef, expo)  # type: ignore[attr-defined]
    return theta[np.all(np.isfinite(theta), axis=1)]


def grid_starts(problem: Problem, grid: Array) -> Array:
    """An explicit internal grid, reduced to the free coordinates (duplicates dropped)."""
    z = problem.reduce(np.asarray(grid, dtype=float))
    return np.unique(problem.clip(z), axis=0)


# --------------------------------------------------------------------------------------------------
# Multi-start optimisation
# --------------------------------------------------------------------------------------------------


@dataclass
class StartReport:
    """What the multi-start search did: how many starts, how many reached the best value."""

    method: str
    n_starts: int
    n_reached_best: int  # on the rows searched (the sample, when there is one)
    best_objective: float  # Σ w·Huber (+ prior penalty·δ) over every row, not divided by δ
    objectives: list[float] = field(default_factory=list)  # each start's, on the rows searched
    sample_rows: int | None = None  # the rows the starts were seeded and refined on, if a sample

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "n_starts": self.n_starts,
            "n_reached_best": self.n_reached_best,
            "best_objective": self.best_objective,
            "sample_rows": self.sample_rows,
        }


@dataclass(frozen=True)
class Search:
    """Where starts are seeded and refined: the problem itself, or the same problem on a sample of
    rows (a fixed random choice among those with positive weight) when it has over SAMPLE_ROWS."""

    problem: Problem
    weights: Array
    sampled: bool

    @classmethod
    def of(cls, problem: Problem, weights: Array, seed: int = 0) -> Search:
        rows = np.flatnonzero(weights > 0)
        if rows.size <= SAMPLE_ROWS:
            return cls(problem, weights, False)
        pick = np.sort(np.random.default_rng(seed).choice(rows, SAMPLE_ROWS, replace=False))
        sub = dataclasses.replace(problem, cols=row_slice(problem.cols, pick), log_loss=problem.log_loss[pick])
        return cls(sub, weights[pick], True)


def single_threaded_blas() -> threadpool_limits:
    """One BLAS thread: scipy's L-BFGS-B makes many tiny BLAS calls, and OpenBLAS threads spin on them.

    Measured on Epoch's data on a loaded 2-core machine: 0.16 s CPU per L-BFGS-B run with the default
    2 threads, 0.006 s with one (docs/fitting.md).
    """
    return threadpool_limits(limits=1, user_api="blas")


def lbfgs(problem: Problem, z0: Array, weights: Array, maxiter: int = 2000) -> tuple[float, Array]:
    """One L-BFGS-B run from z0 with the analytic gradient; returns (objective/δ, z)."""

    def fun(z: Array) -> tuple[float, Array]:
        f, g = problem.value_grad(z[None, :], weights)
        return float(f[0]), g[0]

    bounds = list(zip(problem.lower, problem.upper, strict=True))
    bounds = [(None if np.isinf(a) else a, None if np.isinf(b) else b) for a, b in bounds]
    res = minimize(
        fun,
        problem.clip(z0),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-13, "gtol": 1e-9, "maxcor": 20},
    )
    return float(res.fun), np.asarray(res.x)


def select_seeds(problem: Problem, theta: Array, weights: Array, k: int) -> Array:
    """The k seeds (free coordinates) with the lowest objective, scored in blocks (Problem.huber_sum)."""
    z = np.unique(problem.clip(problem.reduce(theta)), axis=0)
    f = problem.huber_sum(problem.expand(z), weights)
    f = np.where(np.isfinite(f), f, np.inf)
    order = np.argsort(f)[: max(1, k)]
    return z[order]


def _starting_points(
    problem: Problem, starts: str | int | Sequence | Array, w: Array, refine: int, seed: int, grid_points: int
) -> tuple[Array, str]:
    """The free-coordinate starts that ``starts`` names, and the method's name for the report."""
    if isinstance(starts, str):
        if starts == "varpro":
            if not varpro_applicable(problem):
                raise InputError(f"variable projection does not apply to form {problem.form.name} here")
            grid = problem.form.exponent_grid(grid_points)
            return select_seeds(problem, varpro_seeds(problem, w, grid), w, refine), starts
        if starts in ("grid", "hoffmann"):
            return grid_starts(problem, problem.form.default_grid(problem.cols, problem.log_loss)), starts
        raise InputError(f"--starts must be varpro, grid or a number, got {starts!r}")
    if isinstance(starts, (int, np.integer)):
        if starts < 1:
            raise InputError(f"--starts must be at least 1, got {starts}")
        rng = np.random.default_rng(seed)
        if varpro_applicable(problem):
            base = select_seeds(problem, varpro_seeds(problem, w), w, 1)
        else:
            base = grid_starts(problem, problem.form.default_grid(problem.cols, problem.log_loss))
        pick = base[rng.integers(0, len(base), starts)]
        z0 = pick + rng.normal(0.0, 0.5, pick.shape) * np.maximum(1.0, np.abs(pick)) * 0.2
        z0[0] = base[0]
        return z0, f"random({starts})"
    z0 = grid_starts(problem, np.atleast_2d(np.asarray(starts, dtype=float)))
    return z0, f"explicit({len(z0)})"


def refine_starts(
    problem: Problem, search: Search, z0: Array, weights: Array, polish_also: Array | None = None
) -> tuple[Array, float, Array]:
    """L-BFGS-B from every start on the searched rows; with a sample, the best result of each of up to
    POLISH basins, and ``polish_also``, are then refitted on every row. Returns (each start's objective/δ on the searched
    rows, the best objective/δ on every row, its free coordinates)."""
    with single_threaded_blas():
        results = [lbfgs(search.problem, z, search.weights) for z in z0]
        fs = np.array([r[0] for r in results])
        fs = np.where(np.isfinite(fs), fs, np.inf)
        if not search.sampled:
            best = int(np.argmin(fs))
            return fs, float(fs[best]), results[best][1]
        candidates: list[Array] = []
        for i in np.argsort(fs):
            if len(candidates) == POLISH:
                break
            if all(np.max(np.abs(results[i][1] - c)) > SAME_BASIN for c in candidates):
                candidates.append(results[i][1])
        if polish_also is not None:
            candidates += list(np.atleast_2d(polish_also))
        polished = [lbfgs(problem, z, weights) for z in candidates]
    pf = np.array([f if np.isfinite(f) else np.inf for f, _ in polished])
    best = int(np.argmin(pf))
    return fs, float(pf[best]), polished[best][1]


def multistart(
    problem: Problem,
    starts: str | int | Sequence | Array | None = None,
    weights: Array | None = None,
    extra: Array | None = None,
    refine: int = 8,
    seed: int = 0,
    grid_points: int = 40,
) -> tuple[Array, StartReport]:
    """Best θ over all starts, and the report.

    ``starts``: "varpro" (default where it applies), "grid" (the form's default grid; Hoffmann's
    4,500 for Chinchilla), an int (that many random starts drawn around the varpro/grid seeds), or an
    explicit array of internal starting points (S, P). ``extra``: more free-coordinate starts (the
    full-data optimum, for bootstrap resamples). ``refine``: how many varpro seeds get L-BFGS-B.
    Over SAMPLE_ROWS rows, the search runs on a sample (``Search``) and ``extra`` is also refitted
    on every row, so the result is never worse than the starts given.
    """
    n = problem.log_loss.size
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if starts is None:
        starts = "varpro" if varpro_applicable(problem) else "grid"
    search = Search.of(problem, w, seed)
    z0, method = _starting_points(search.problem, starts, search.weights, refine, seed, grid_points)
    if extra is not None:
        z0 = np.vstack([np.atleast_2d(extra), z0])
    fs, fbest, zbest = refine_starts(problem, search, z0, w, polish_also=extra)
    f_searched = float(np.min(fs))
    reached = int(np.sum(fs <= f_searched + REACHED_RTOL * abs(f_searched) + 1e-12))
    report = StartReport(
        method=method,
        n_starts=len(z0),
        n_reached_best=reached,
        best_objective=float(fbest * problem.delta),
        objectives=(fs * problem.delta).tolist(),
        sample_rows=int(search.weights.size) if search.sampled else None,
    )
    return problem.expand(zbest)[0], report


def resample_starts(
    problem: Problem, weights: Array, z_hat: Array, refine: int = 2, grid_points: int = 16
) -> Array:
    """Starts for one bootstrap resample: the full-data optimum plus the best few fresh seeds.

    The fresh seeds (coarse varpro, or the form's grid) guard against the resample's optimum lying in
    a different basin than the full-data one. They are chosen on the searched rows (``Search``).
    """
    search = Search.of(problem, weights)
    p, w = search.problem, search.weights
    if varpro_applicable(p):
        seeds = varpro_seeds(p, w, p.form.exponent_grid(grid_points))
    else:
        seeds = p.form.default_grid(p.cols, p.log_loss)
    return np.vstack([np.atleast_2d(z_hat), select_seeds(p, seeds, w, refine)])


def best_of(problem: Problem, z0: Array, weights: Array) -> tuple[float, Array]:
    """Best (objective/δ, θ) over L-BFGS-B runs from each row of z0 (the first, the full-data optimum
    of a resample, is always refitted on every row)."""
    _, f, z = refine_starts(problem, Search.of(problem, weights), z0, weights, polish_also=z0[:1])
    return f, problem.expand(z)[0]
