"""Published scaling-study data sets beyond Chinchilla's, shipped with their licences (see data/README.md).

- Muennighoff et al. 2023's 182 data-constrained runs (Apache-2.0, huggingface/datablations);
- Porian et al. 2024's 15 IsoFLOP configurations with their published exponents (MIT,
  formll/resolving-scaling-law-discrepancies).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

MUENNIGHOFF2023_CITATION = (
    "Muennighoff et al., 'Scaling Data-Constrained Language Models', arXiv 2305.16264 (NeurIPS 2023); "
    "data: huggingface/datablations utils/parametric_fit.ipynb (commit 13701315), Apache-2.0"
)
PORIAN2024_CITATION = (
    "Porian, Wortsman, Jitsev, Schmidt, Carmon, 'Resolving Discrepancies in Compute-Optimal Scaling of "
    "Language Models', arXiv 2406.19146 (NeurIPS 2024); data: formll/resolving-scaling-law-discrepancies "
    "(commit 0dc60d91), MIT"
)
#: The columns that name one of Porian et al.'s configurations.
PORIAN_CONFIG = ("source_file", "dataset", "hparams", "warmup", "decay", "param_count", "val")


def _read(*parts: str) -> pd.DataFrame:
    with resources.files("lmscale.reference").joinpath("data", *parts).open("r") as fh:
        return pd.read_csv(fh)


def load_muennighoff2023() -> pd.DataFrame:
    """The 182 runs of the paper's data-constrained fit: N (total parameters), D (tokens trained),
    U (unique tokens), loss (final C4 validation loss, nats/token), run (the paper's name)."""
    raw = _read("muennighoff2023", "datablations_fit_points.csv")
    return pd.DataFrame(
        {
            "run": raw["name"].astype(str),
            "N": raw["N_params"].astype(float),
            "D": raw["D_tokens"].astype(float),
            "U": raw["U_unique_tokens"].astype(float),
            "loss": raw["val_loss"].astype(float),
        }
    )


def load_porian2024() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(points, published exponents, published per-budget optima) of the 15 configurations.

    points: the configuration columns plus C (the budget, FLOPs), N (parameters in that row's
    ``param_count`` convention), D (tokens), loss. exponents: per configuration, the published
    a (N_opt ∝ C^a) with its 95% bootstrap interval ``a_lo``–``a_hi``. optima: the per-budget
    N_opt, D_opt and loss the paper found.
    """
    pts = _read("porian2024", "porian_isoflop_points.csv").rename(
        columns={"flops": "C", "n": "N", "t": "D"}
    )
    fits = _read("porian2024", "porian_fit_results.csv").rename(
        columns={"a_n_exponent_bs_median_weighted": "a", "a_CI95_lo": "a_lo", "a_CI95_hi": "a_hi"}
    )
    optima = _read("porian2024", "porian_optimal_pairs.csv").rename(columns={"flops": "C"})
    return pts, fits, optima
