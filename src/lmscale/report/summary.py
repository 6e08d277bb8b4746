"""The plain-language summary: every sentence is a template filled from a computed number, and a
sentence whose number is missing is left out rather than guessed.

``summarise`` returns the sentences (grouped under headings) and ``facts``, the numbers they quote,
so tests can check the text against the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmscale.report.analysis import Analysis
from lmscale.report.identify import Flags, display_name, flags, not_identified
from lmscale.report.method_choice import (
    backtest_of_methods,
    headline_by_backtest,
    horizon_sentence,
    target_phrase,
)
from lmscale.report.next_runs import next_runs, next_runs_sentence
from lmscale.report.wording import fmt, pct

#: Mean backtest error bands for the verdict sentence (fractions).
GOOD_ERROR, FAIR_ERROR = 0.01, 0.03
#: Fewer runs than this gets a caveat.
FEW_RUNS = 20
#: Fewer bootstrap resamples than this gets a caveat.
FEW_BOOTSTRAP = 200
#: N spanning fewer decades than this gets a caveat.
NARROW_DECADES = 2.0


@dataclass
class Summary:
    sections: dict[str, list[str]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, section: str, sentence: str) -> None:
        self.sections.setdefault(section, []).append(sentence)


def _scope(a: Analysis, s: Summary) -> None:
    runs, failed = a.data.runs, a.data.failed
    sec = "What was measured"
    if len(runs) == 0:
        s.add(sec, "The input has no completed run with a final loss, so nothing can be fitted.")
    else:
        n_lo, n_hi = float(runs["N"].min()), float(runs["N"].max())
        s.facts.update(n_runs=len(runs), N_min=n_lo, N_max=n_hi, C_max=float(runs["C"].max()))
        s.add(
            sec,
            f"The report uses {len(runs)} completed runs with {runs['N'].nunique()} model sizes from "
            f"{fmt(n_lo)} to {fmt(n_hi)} parameters and training compute from {fmt(float(runs['C'].min()))} "
            f"to {fmt(float(runs['C'].max()))} FLOPs.",
        )
    if len(failed):
        reasons = failed["reason"].astype(str).str.split(":").str[0].value_counts()
        what = "; ".join(f"{v} with {k}" for k, v in reasons.items())
        s.facts["n_failed"] = len(failed)
        runs_were = "1 run was" if len(failed) == 1 else f"{len(failed)} runs were"
        s.add(sec, f"{runs_were} left out: {what}.")


def _prediction(a: Analysis, s: Summary) -> None:
    sec = "Prediction at the target budget"
    res, al = a.main, a.allocation
    if res is None:
        reason = a.skipped.get("L(N, D) fit", a.skipped.get("all fits", "unknown"))
        s.add(
            sec,
            f"No L(N, D) law could be fitted ({reason}), so there is no prediction.",
        )
        return
    p = res.params
    a_ci = res.ci.get("a")
    fl = flags(res, a.target_flops)
    s.facts.update(E=p["E"], alpha=p["alpha"], beta=p["beta"], a=res.derived["a"], unidentified=fl.names)
    sent = (
        f"The fitted law is L(N, D) = {fmt(p['E'])} + {fmt(p['A'])}/N^{p['alpha']:.3f} + "
        f"{fmt(p['B'])}/D^{p['beta']:.3f}; it puts compute-optimal model size on N_opt ∝ C^{res.derived['a']:.3f}"
    )
    sent += f" (95% CI {a_ci[0]:.3f}–{a_ci[1]:.3f}; Hoffmann et al. found about 0.5)." if a_ci else "."
    s.add(sec, sent)
    for name in (n for n in fl.names if n in p):
        s.add(sec, not_identified(display_name(name), [name], fl))
    if headline_by_backtest(a, s, sec):
        return
    if al is None:
        s.add(sec, f"No plan at the target could be made ({a.skipped.get('plan at target', 'unknown')}).")
        return
    _allocation(a, s, fl)


def _allocation(a: Analysis, s: Summary, fl: Flags) -> None:
    """The headline: the optimum at the target, or, when the fit cannot pin it, why not."""
    sec = "Prediction at the target budget"
    res, al = a.main, a.allocation
    how = target_phrase(a)
    loss = al.loss
    s.facts.update(target_flops=a.target_flops, loss_target=loss.value)
    s.facts["loss_target_ci"] = (loss.low, loss.high) if loss.has_interval else None
    if fl.optimum:
        # The loss along the optimum's flat valley can be pinned while its location is not: state the
        # loss, never the allocation (issue 14: an unidentified quantity is never a headline).
        sent = (
            f"At the target budget of {fmt(a.target_flops)} FLOPs ({how}) the fit predicts a loss of "
            f"{loss.value:.3f} nats/token at its compute-optimal allocation"
        )
        where = "at the fit's optimum"
    else:
        s.facts.update(N_opt=al.N_opt.value, D_opt=al.D_opt.value)
        sent = (
            f"At the target budget of {fmt(a.target_flops)} FLOPs ({how}) the compute-optimal model has about "
            f"{fmt(al.N_opt.value)} parameters trained on {fmt(al.D_opt.value)} tokens "
            f"({fmt(al.tokens_per_param.value)} tokens per parameter) and a predicted loss of {loss.value:.3f} nats/token"
        )
        where = "of that size"
    if loss.has_interval:
        sent += f" (95% confidence interval {loss.low:.3f}–{loss.high:.3f}, from the uncertainty of the fit)."
    else:
        sent += " (no interval: the fit has no bootstrap resamples)."
    s.add(sec, sent)
    if fl.optimum:
        what = "The compute-optimal model size, data and tokens per parameter at this budget"
        s.add(sec, not_identified(what, fl.optimum, fl, verb="are"))
        s.add(sec, "So this report recommends no model size or tokens per parameter at the target.")
        horizon = horizon_sentence(a)
        if horizon:
            s.facts["horizon"] = a.horizon
            s.add(sec, horizon)
        a.next_runs = next_runs(a)  # kept on the analysis: the demo prints the same proposal
        proposal = next_runs_sentence(a.next_runs)
        if proposal:
            s.facts["next_runs"] = a.next_runs.to_dict()
            s.add(sec, proposal)
    if res.has_draws:
        lo, hi = res.interval("prediction", N=al.N_opt.value, D=al.D_opt.value)
        s.facts["loss_target_pi"] = (float(lo), float(hi))
        s.add(
            sec,
            f"A single training run {where} would land between {float(lo):.3f} and {float(hi):.3f} "
            "(95% prediction interval: the fit's uncertainty plus this study's run-to-run scatter).",
        )


def _ten_x(a: Analysis, s: Summary) -> None:
    sec = "What more compute buys"
    wi = a.whatif
    if wi is None:
        return
    t = wi.compute.set_index("compute_x")
    if 10.0 not in t.index:
        return
    r10, base = t.loc[10.0], t.loc[1.0]
    s.facts.update(loss_10x=float(r10["loss"]), drop_10x=float(r10["loss_drop"]))
    fl = flags(a.main, a.target_flops)
    reducible = float(base["loss"]) - a.main.params["E"]
    sent = (
        f"Ten times the target compute ({fmt(float(r10['flops']))} FLOPs) would lower the predicted loss by "
        f"{float(r10['loss_drop']):.3f} nats to {float(r10['loss']):.3f}"
    )
    if fl.floor:  # a share of the loss above an unidentified floor is not a number to quote
        sent += "; the share of the reducible loss this removes is not stated, because the floor E is not identified."
    elif reducible > 0:
        sent += f", removing {pct(float(r10['loss_drop']) / reducible)} of the loss above the fitted floor E = {a.main.params['E']:.3f}."
    else:
        sent += "."
    s.add(sec, sent)
    if fl.optimum:
        s.add(
            sec,
            "These drops follow the fit's compute-optimal path, whose allocation is not identified (see above), "
            "so they are not a plan for how to spend that compute.",
        )
    if 100.0 in t.index:
        s.add(
            sec,
            f"A hundred times the target compute would lower it by {float(t.loc[100.0, 'loss_drop']):.3f} nats: returns diminish.",
        )


def _next_dollar(a: Analysis, s: Summary) -> None:
    sec = "Data or parameters?"
    nd = a.next_dollar
    fl = flags(a.main, a.target_flops)
    if nd is not None:
        dn, dd = nd["drop_more_params"], nd["drop_more_data"]
        s.facts.update(next_dollar=nd)
        opt = (
            "the fit's compute-optimal ratio is not identified"
            if fl.optimum
            else f"the fit's optimum at that compute is {fmt(nd['tokens_per_param_opt'])}"
        )
        lead = (
            f"At the best of the largest runs ({fmt(nd['N'])} parameters, {fmt(nd['D'])} tokens, "
            f"{fmt(nd['tokens_per_param'])} tokens per parameter; {opt}), 1% more "
            f"parameters would lower the loss by {fmt(dn)} nats and 1% more tokens by {fmt(dd)}; both cost 1% more compute."
        )
        if max(dn, dd) <= 0:
            verdict = " Neither helps according to the fit."
        elif abs(dn - dd) <= 0.1 * max(dn, dd):
            verdict = " The two are within 10% of each other: the run is close to compute-optimal, so grow both together."
        elif dd > dn:
            verdict = " More data is the better next dollar."
        else:
            verdict = " More parameters are the better next dollar."
        s.add(sec, lead + verdict)
    wi = a.whatif
    if wi is not None:
        al = wi.allocation.set_index("change")
        try:
            vp = float(al.loc["10x params, same data", "vs_optimal_spend"])
            vd = float(al.loc["10x data, same params", "vs_optimal_spend"])
        except KeyError:
            return
        s.facts.update(whatif_params=vp, whatif_data=vd)
        sent = (
            f"At the target's optimum, spending 10× compute on parameters alone buys {pct(vp)} of the loss drop "
            f"that spending it along the optimum buys, and on data alone {pct(vd)}."
        )
        if fl.optimum:
            sent += " Both are measured from an optimum the fit does not identify, so they are rough."
        s.add(sec, sent)


def _trust(a: Analysis, s: Summary) -> None:
    sec = "How far to trust the extrapolation"
    backtest_of_methods(a, s, sec)
    bt = a.backtest
    c_max = float(a.data.runs["C"].max()) if len(a.data.runs) else float("nan")
    if bt is None:
        s.add(
            sec,
            f"No backtest was possible ({a.skipped.get('backtest', 'unknown')}): the extrapolation is untested.",
        )
    else:
        sm = bt.summary()
        reach = math.log10(float(bt.table["C"].max()) / bt.cutoff)
        m = sm["mean_abs_rel_error"]
        s.facts.update(
            backtest_mean_error=m, backtest_max_error=sm["max_abs_rel_error"], backtest_reach=reach
        )
        sent = (
            f"Refitted on the {sm['n_train']} runs up to {fmt(bt.cutoff)} FLOPs, the law predicted the "
            f"{sm['n_test']} larger runs (up to {reach:.2f} decades beyond) with a mean error of {pct(m)} "
            f"(worst {pct(sm['max_abs_rel_error'])})"
        )
        if math.isfinite(sm["pi_coverage"]):
            sent += f"; {pct(sm['pi_coverage'])} of them fell inside their 95% prediction intervals"
        s.add(sec, sent + ".")
        if m < GOOD_ERROR:
            s.add(sec, "That is close agreement over the distance tested.")
        elif m < FAIR_ERROR:
            s.add(sec, "That is fair agreement: expect errors of a few percent at that distance.")
        else:
            s.add(sec, "That is poor agreement: treat predictions beyond the data with caution.")
        if a.allocation is not None and math.isfinite(c_max):
            dist = math.log10(a.target_flops / c_max)
            s.facts["target_reach"] = dist
            if dist > reach:
                s.add(
                    sec,
                    f"The target lies {dist:.2f} decades beyond the largest run, farther than the backtest reached "
                    f"({reach:.2f}); errors there are likely larger than measured.",
                )


def _caveats(a: Analysis, s: Summary) -> None:
    sec = "Caveats"
    runs = a.data.runs
    if len(runs):
        dec = math.log10(float(runs["N"].max()) / float(runs["N"].min())) if runs["N"].min() > 0 else 0.0
        s.facts["N_decades"] = dec
        if dec < NARROW_DECADES:
            s.add(
                sec,
                f"Model sizes span only {dec:.2f} decades; exponents fitted over a narrow range are uncertain.",
            )
        if len(runs) < FEW_RUNS:
            s.add(sec, f"Only {len(runs)} runs: intervals are wide and single runs weigh heavily.")
        if "epochs" in runs.columns and (pd_num(runs["epochs"]) > 1).any():
            e = float(pd_num(runs["epochs"]).max())
            s.add(
                sec,
                f"Some runs repeated their data (up to {e:.3g} epochs); the Chinchilla form assumes unique tokens, so those runs bias the fit.",
            )
        elif "U" in runs.columns and (pd_num(runs["U"]) < runs["D"]).any():
            s.add(
                sec,
                "Some runs saw fewer unique tokens than tokens trained on (repeated data); the Chinchilla form assumes unique tokens.",
            )
        else:
            s.add(
                sec,
                "The input records no data repetition (no 'epochs' or 'U' column), so every token is taken as unique.",
            )
    if 0 < a.bootstrap < FEW_BOOTSTRAP:
        s.add(sec, f"Intervals come from only {a.bootstrap} bootstrap resamples; they are rough.")
    elif a.bootstrap == 0:
        s.add(sec, "No bootstrap was run: the report shows no intervals.")
    if a.main is not None:
        quoted = set(quoted_warnings(a))  # already given as the reason a headline is withheld
        for w in a.main.warnings:
            if w not in quoted:
                s.add(sec, f"Fit warning: {w}.")
    others = (("IsoFLOP (approach 2)", a.approach2), ("Approach 1", a.approach1), ("Frontier", a.frontier))
    for label, result in others:
        for w in result.warnings if result is not None else ():
            s.add(sec, f"{label}: {w}.")
    for name, why in a.skipped.items():
        if name in ("next dollar", "what-if", "plan at target"):
            s.add(sec, f"Not computed — {name}: {why}.")


def quoted_warnings(a: Analysis) -> list[str]:
    """The fit's warnings that _prediction quotes: those about its parameters and, with a plan, its optimum."""
    fl = flags(a.main, a.target_flops)
    quoted = [n for n in fl.names if a.main is not None and n in a.main.params]
    if a.allocation is not None:
        quoted += fl.optimum
    return fl.why(quoted)


def pd_num(col: Any) -> np.ndarray:
    import pandas as pd

    return pd.to_numeric(col, errors="coerce").to_numpy(float)


def summarise(a: Analysis) -> Summary:
    s = Summary()
    _scope(a, s)
    _prediction(a, s)
    if a.main is not None:
        _ten_x(a, s)
        _next_dollar(a, s)
    if len(a.data.runs):
        _trust(a, s)
    _caveats(a, s)
    return s
