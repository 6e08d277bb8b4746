"""Figure of the noise study: L(N) fitted on each seed or data order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lmscale.fit import FitResult
from lmscale.report.figures import loglog_axes
from lmscale.report.style import (
    FIT_COLOR,
    new_figure,
)
from lmscale.report.wording import param_ci


def noise(runs: dict[str, pd.DataFrame], fits: dict[str, dict[int, FitResult]]) -> Any:
    fig, axes = new_figure(2)
    markers = ["o", "s", "^"]
    for column, style in (("seed", "-"), ("data_seed", ":")):
        for i, (v, g) in enumerate(runs[column].sort_values("N").groupby(column)):
            if column == "data_seed" and v == 0:
                continue  # the same run as seed 0
            label = "seed 0, data_seed 0 (kaplan-cpu)" if column == "seed" and v == 0 else f"{column} {v}"
            axes[0].plot(g["N"], g["loss"], marker=markers[i % 3], ls=style, lw=0.6, label=label)
    loglog_axes(axes[0], "non-embedding parameters N", "final held-out loss (nats/byte)")
    axes[0].set_title("final loss per replicate")
    axes[0].legend(fontsize=8)
    labels = []
    for column in ("seed", "data_seed"):
        for v, f in sorted(fits[column].items()):
            if column == "data_seed" and v == 0:
                continue
            a, lo, hi = param_ci(f, "alpha_N")
            err = [[a - lo], [hi - a]] if np.isfinite(lo) else None
            color = FIT_COLOR if v == 0 else "k"
            axes[1].errorbar([len(labels)], [a], yerr=err, fmt="o", color=color, capsize=4)
            labels.append("both 0" if v == 0 else f"{column} {v}")
    axes[1].set_xticks(range(len(labels)), labels, fontsize=7)
    axes[1].set_ylabel("α_N with its 95% bootstrap interval")
    axes[1].set_title("α_N of L(N) per replicate")
    return fig
