"""Replication of Kaplan et al. 2020 (and the Chinchilla approaches) at laptop scale.

Each study names the sweep presets it trains and an analysis that turns their runs into findings:
the paper's claim, our numbers with intervals, a verdict by a stated criterion, and figures. The
`lmscale replicate` command trains what is missing, analyses, and writes everything to a folder
(docs/replication/ in the repository).
"""

from lmscale.replicate.result import Finding, StudyResult
from lmscale.replicate.studies import STUDIES, Study, study_names

__all__ = ["STUDIES", "Finding", "Study", "StudyResult", "study_names"]
