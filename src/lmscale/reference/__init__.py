"""Published data sets and published fits, shipped as package data with their citations.

No dependency on the rest of lmscale: ``lmscale.fit.registry`` turns the published fits into Law objects.
"""

from lmscale.reference.datasets import (
    MUENNIGHOFF2023_CITATION,
    PORIAN2024_CITATION,
    PORIAN_CONFIG,
    load_muennighoff2023,
    load_porian2024,
)
from lmscale.reference.epoch import EPOCH2024_CITATION, load_epoch2024
from lmscale.reference.published import (
    load_allocation_exponents,
    load_allocation_rules,
    load_critical_batch,
    load_published_laws,
)

__all__ = [
    "EPOCH2024_CITATION",
    "MUENNIGHOFF2023_CITATION",
    "PORIAN2024_CITATION",
    "PORIAN_CONFIG",
    "load_allocation_exponents",
    "load_allocation_rules",
    "load_critical_batch",
    "load_epoch2024",
    "load_muennighoff2023",
    "load_porian2024",
    "load_published_laws",
]
