"""Laws shared by the planning tests (a uniquely named module: several test folders have a conftest)."""

from __future__ import annotations

import numpy as np

from lmscale.fit import Law

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
KAPLAN = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}


def law_with_draws(scale: float, n: int = 400, seed: int = 0) -> Law:
    """Hoffmann's law with log-normal parameter draws of relative spread `scale` (exponents: /4)."""
    rng = np.random.default_rng(seed)
    names = ("E", "A", "B", "alpha", "beta")
    spread = np.array([scale / 4, scale, scale, scale / 4, scale / 4])
    point = np.array([HOFFMANN[k] for k in names])
    draws = point * np.exp(rng.normal(size=(n, 5)) * spread)
    return Law("chinchilla", dict(HOFFMANN), name="synthetic", draws=draws)
