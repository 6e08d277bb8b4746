"""The replication studies: which presets each trains and which analysis reads them.

Section numbers refer to Kaplan et al. 2020 ("Scaling Laws for Neural Language Models",
arXiv:2001.08361) and Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models",
arXiv:2203.15556).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from lmscale.errors import InputError
from lmscale.replicate.context import Context
from lmscale.replicate.result import StudyResult


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    presets: tuple[str, ...]  # sweep presets it trains (each is also the store study it reads)
    analysis: str  # "module:function" taking a Context, returning a StudyResult

    def analyse(self, ctx: Context) -> StudyResult:
        module, func = self.analysis.split(":")
        fn: Callable[[Context], StudyResult] = getattr(importlib.import_module(module), func)
        return fn(ctx)


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study(
            "scaling",
            "1 & 6. L(N), embedding parameters, sample efficiency (Kaplan §3.1, §3.2, §6)",
            ("kaplan-cpu",),
            "lmscale.replicate.scaling:analyse_scaling",
        ),
        Study(
            "shape",
            "2. Model shape at fixed N (Kaplan §3.1, Figure 5)",
            ("shape",),
            "lmscale.replicate.shape:analyse_shape",
        ),
        Study(
            "data",
            "3. L(D) and L(N, D) with early stopping (Kaplan §4)",
            ("data-limited", "data-early-stop"),
            "lmscale.replicate.data_limited:analyse_data",
        ),
        Study(
            "compute",
            "4. L(C_min) and the compute-efficient allocation (Kaplan §6)",
            ("kaplan-cpu",),
            "lmscale.replicate.compute:analyse_compute",
        ),
        Study(
            "batch",
            "5. Critical batch size, S_min, E_min and L(N, S_min) (Kaplan §5)",
            ("batch-size", "kaplan-cpu"),
            "lmscale.replicate.batch:analyse_batch",
        ),
        Study(
            "transfer",
            "7. Transfer to another distribution (Kaplan §3.2.2)",
            ("kaplan-cpu",),
            "lmscale.replicate.transfer:analyse_transfer",
        ),
        Study(
            "lstm",
            "8. Transformers vs LSTMs (Kaplan §3.2.1, Figure 7)",
            ("lstm-vs-transformer",),
            "lmscale.replicate.lstm:analyse_lstm",
        ),
        Study(
            "chinchilla",
            "Chinchilla approaches 1, 2, 3 and backtests (Hoffmann et al. 2022 §3)",
            ("isoflop-cpu", "kaplan-cpu"),
            "lmscale.replicate.chinchilla:analyse_chinchilla",
        ),
        Study(
            "noise",
            "9. Run-to-run noise: three initialisations and three data orders at five sizes (self-checks)",
            ("seeds", "data-seeds"),
            "lmscale.replicate.noise:analyse_noise",
        ),
        Study(
            "learning-rate",
            "10. The learning-rate rule: transformers at four factors of lr = f·N^-0.25 (self-checks)",
            ("lr-sweep",),
            "lmscale.replicate.learning_rate:analyse_learning_rate",
        ),
    )
}


def study_names() -> list[str]:
    return list(STUDIES)


def get_studies(names: list[str]) -> list[Study]:
    unknown = [n for n in names if n not in STUDIES]
    if unknown:
        raise InputError(f"unknown study {unknown[0]!r} (studies: {', '.join(STUDIES)})")
    return [STUDIES[n] for n in dict.fromkeys(names)]
