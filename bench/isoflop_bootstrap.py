"""Approach 2's two bootstraps on simulated IsoFLOP studies with a known optimum: resampling runs within
each budget (the default) against redrawing the losses of a fixed design (``resample="noise"``).

Each study has 7 budgets half a decade apart and 5 sizes per budget, a factor of 2 apart, on a grid
shifted off the optimum at random by up to --offset steps (as a fixed grid of sizes falls in
practice), with log-normal loss noise, under the L(N, D) law of lmscale's `hoffmann2022` (E 1.69,
A 406.4, B 410.7, α 0.34, β 0.28). It prints, per method, how often the 95% intervals of the
exponent a and of N_opt at 10x the largest budget hold the truth (a study that approach 2
refuses counts as not held), their median width, the share of
failed resamples, and the ratios of the noise bootstrap's figures to the run bootstrap's, measured
in the same run.

    python bench/isoflop_bootstrap.py [--studies 40] [--bootstrap 200] [--sigma 0.005] [--offset 0.5]

``--design demo`` copies the geometry of `make demo`'s usable budgets instead (docs/fitting.md, the
pre-registered check): 4 budgets half a decade apart, 6 sizes a factor 1.75 apart with the optimum
near the second, and loss noise scaled so that noise over profile curvature is the demo's.

    python bench/isoflop_bootstrap.py --design demo --studies 100 --bootstrap 1000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from lmscale.errors import InputError
from lmscale.fit import approach2

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
A_TRUE = BETA / (ALPHA + BETA)
G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
BUDGETS = np.geomspace(1e18, 1e21, 7)


def n_opt(c: float) -> float:
    return G * (c / 6) ** A_TRUE


#: The demo study's usable budgets, measured on `make demo`'s runs (2026-12-08): approach 2's noise
#: pooled over budgets (relative) and the median relative curvature p2/L_opt of their parabolas in ln N.
DEMO_NOISE, DEMO_CURVATURE = 0.0165, 0.0377
DEMO_BUDGETS = np.geomspace(1e19, 10**20.5, 4)
DEMO_STEP, DEMO_STEPS = 1.75, np.arange(-1, 5)  # 6 sizes; the optimum falls between the 1st and 3rd


def loss(n: np.ndarray, c: float) -> np.ndarray:
    return E + A / n**ALPHA + B / (c / (6 * n)) ** BETA


def relative_curvature(c: float) -> float:
    """p2/L at the optimum of budget c: half the second derivative of L in ln N, over L."""
    n = n_opt(c)
    d = c / (6 * n)
    return 0.5 * (ALPHA**2 * A / n**ALPHA + BETA**2 * B / d**BETA) / float(loss(n, c))


def study(rng: np.random.Generator, sigma: float, offset: float, design: str = "grid") -> pd.DataFrame:
    rows = []
    budgets, step, steps = (
        (BUDGETS, 2.0, np.arange(-2, 3)) if design == "grid" else (DEMO_BUDGETS, DEMO_STEP, DEMO_STEPS)
    )
    for c in budgets:
        shift = step ** rng.uniform(-offset, offset)  # where the optimum falls among the grid's sizes
        n = n_opt(c) * shift * step**steps
        noisy = loss(n, c) * np.exp(rng.normal(0, sigma, n.size))
        rows += [{"N": ni, "C": c, "loss": li} for ni, li in zip(n, noisy, strict=True)]
    return pd.DataFrame(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=40)
    p.add_argument("--bootstrap", type=int, default=200)
    p.add_argument("--sigma", type=float, default=0.005)
    p.add_argument(
        "--offset",
        type=float,
        default=0.5,
        help="the grid sits up to this many size steps (factors of 2) off each budget's optimum; at 1.5 "
        "some optima fall near the grid's ends, as on the demo",
    )
    p.add_argument("--design", choices=("grid", "demo"), default="grid")
    args = p.parse_args()
    if args.design == "demo":  # the demo's noise relative to its profiles' curvature, on this law
        args.sigma = (
            DEMO_NOISE / DEMO_CURVATURE * float(np.median([relative_curvature(c) for c in DEMO_BUDGETS]))
        )
        args.offset = 0.5
    target = 10 * (BUDGETS if args.design == "grid" else DEMO_BUDGETS)[-1]
    truth_n = n_opt(target)
    out = {
        m: {"a_in": [], "n_in": [], "a_width": [], "n_decades": [], "failed": [], "refused": 0, "s": 0.0}
        for m in ("runs", "noise")
    }
    for k in range(args.studies):
        df = study(np.random.default_rng(k), args.sigma, args.offset, args.design)
        for method, o in out.items():
            t = time.time()
            try:
                res = approach2(df, bootstrap=args.bootstrap, seed=k, target_compute=target, resample=method)
            except InputError:  # refused (fewer than 2 usable budgets): the user gets no interval
                o["failed"].append(1.0)
                o["a_in"].append(False)
                o["n_in"].append(False)
                o["refused"] += 1
                continue
            lo, hi = res.ci["a"]
            n_lo, n_hi = res.target["ci"]["N_opt"]
            o["a_in"].append(lo <= A_TRUE <= hi)
            o["n_in"].append(n_lo <= truth_n <= n_hi)
            o["a_width"].append(hi - lo)
            o["n_decades"].append(math.log10(n_hi / n_lo))
            o["failed"].append(res.n_bootstrap_failed / args.bootstrap)
            o["s"] += time.time() - t
    rows = []
    for method, o in out.items():
        rows.append(
            {
                "bootstrap": method,
                "a covered": f"{sum(o['a_in'])}/{len(o['a_in'])}",
                "N_opt covered": f"{sum(o['n_in'])}/{len(o['n_in'])}",
                "a width (median)": np.median(o["a_width"]),
                "N_opt decades (median)": np.median(o["n_decades"]),
                "failed resamples (mean)": np.mean(o["failed"]),
                "refused": o["refused"],
                "seconds": o["s"],
            }
        )
    print(
        f"{args.design} design: {args.studies} studies, {args.bootstrap} resamples, noise σ = {args.sigma:.4g}, "
        f"truth a = {A_TRUE:.4f}, N_opt at {target:.3g} FLOPs = {truth_n:.4g}"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    r, n = out["runs"], out["noise"]
    print(
        "ratio noise/runs: a coverage "
        f"{np.mean(n['a_in']) / np.mean(r['a_in']):.3f}, N_opt coverage {np.mean(n['n_in']) / np.mean(r['n_in']):.3f}, "
        f"a width {np.median(n['a_width']) / np.median(r['a_width']):.3f}, time {n['s'] / r['s']:.1f}"
    )


if __name__ == "__main__":
    main()
