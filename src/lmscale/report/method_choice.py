"""The summary's sentences on which method the headline uses, and why: every method was backtested on
the study's largest budget (lmscale.fit.select), and the headline quotes the one whose
extrapolation landed closest, when the backtest can rank it above approach 3 (the L(N, D) law)."""

from __future__ import annotations

import math
from typing import Any

from lmscale.fit.select import truth_uncertainty_dex
from lmscale.report.analysis import Analysis
from lmscale.report.headline import MAX_HEADLINE_DECADES
from lmscale.report.identify import flags
from lmscale.report.wording import fmt

LABEL = {
    "approach1": "approach 1 (the envelope of learning curves)",
    "approach2": "approach 2 (IsoFLOP profiles)",
    "approach3": "approach 3 (the L(N, D) law)",
    "frontier": "the L(C) frontier",
    "data-constrained": "the data-constrained law",
}


def target_phrase(a: Analysis) -> str:
    """How the target budget was chosen, for the headline's parenthesis."""
    if a.target_is_default:
        return "the default: 100× the largest run"
    return f"{fmt(a.target_flops / float(a.data.runs['C'].max()))}× the largest run"


def _errors(a: Analysis) -> dict[str, float]:
    t = a.selection.table.set_index("method")["N_opt_error_dex"].astype(float)
    return {m: float(e) for m, e in t.items() if math.isfinite(e)}


def backtest_of_methods(a: Analysis, s: Any, sec: str) -> None:
    """What the method backtest measured, in one or two sentences."""
    sel = a.selection
    if sel is None:
        why = a.skipped.get("method backtest")
        if why:
            s.add(sec, f"The methods could not be backtested against each other ({why}).")
        return
    errs = _errors(a)
    if not errs:
        return
    truth = sel.truth.iloc[0]
    listed = "; ".join(f"{LABEL[m].split(' (')[0]} {e:.3f}" for m, e in errs.items())
    s.facts["method_errors_dex"] = errs
    s.add(
        sec,
        f"Fitted on the runs below {fmt(float(truth['C']))} FLOPs, each method predicted that budget's own "
        f"IsoFLOP minimum (N_opt = {fmt(float(truth['N_opt']))}, ±{truth_uncertainty_dex(sel.truth):.2f} "
        f"decades) with these errors in decades: {listed}.",
    )
    s.facts["headline_method"] = a.headline_name
    if a.candidates:
        s.facts["headline_candidates"] = list(a.candidates)
    s.add(sec, _why_this_headline(a))


def _why_this_headline(a: Analysis) -> str:
    """Which method the headline quotes, and why that one (lmscale.report.headline's rule)."""
    sel, used = a.selection, a.headline_name
    others = [_short(m) for m in a.candidates if m != used]
    if used == sel.best:
        why = "the closest"
        if others:
            why += (
                f"; the backtest cannot rank {' and '.join(others)} apart from it, and its N_opt at the target "
                "lies inside this method's interval"
            )
    elif used != "approach3":
        why = a.headline_note
    elif a.headline_note and flags(a.main, a.target_flops).optimum:
        return f"No allocation at the target is quoted: {a.headline_note}, and approach 3's is not identified either."
    elif a.headline_note:
        why = a.headline_note
    else:
        ties = [w for w in sel.warnings if "does not rank" in w]
        why = ties[0] if ties else "the law that also predicts loss"
    return f"The headline uses {LABEL[used]}: {why}."


def _short(method: str) -> str:
    return LABEL[method].split(" (")[0]


def conditional_interval(result: Any) -> str:
    """A warning when the allocation's interval leaves out resamples that failed (an IsoFLOP resample
    with fewer than two usable budgets): it is then conditional on the ones that worked."""
    failed, boot = int(getattr(result, "n_bootstrap_failed", 0)), int(getattr(result, "bootstrap", 0))
    if not failed or not boot:
        return ""
    return (
        f"That interval comes from the {boot - failed} of {boot} resamples in which the method could be "
        f"refitted; the {failed} others ({100 * failed / boot:.0f}%) had too few usable budgets and are not "
        "counted, so the interval may be too narrow."
    )


def horizon_sentence(a: Analysis) -> str:
    """Where the best candidate's allocation is still identified, short of the target ("" when nowhere):
    the largest budget at which its N_opt interval spans at most MAX_HEADLINE_DECADES."""
    h, name = a.horizon, a.horizon_name
    if h is None or name not in LABEL:
        return ""
    factor = h["C"] / float(a.data.runs["C"].max())
    return (
        f"{LABEL[name][0].upper()}{LABEL[name][1:]}, the method that predicted the held-out budget best, pins "
        f"N_opt within {MAX_HEADLINE_DECADES:g} decade (95% interval) up to {fmt(h['C'])} FLOPs ({fmt(factor)}× "
        f"the largest run): there it puts the optimum at about {fmt(h['N_opt'])} parameters and "
        f"{fmt(h['D_opt'])} tokens ({fmt(h['D_opt'] / h['N_opt'])} tokens per parameter; N between "
        f"{fmt(h['N_low'])} and {fmt(h['N_high'])}). Beyond that budget, larger IsoFLOP budgets are needed "
        "before a model size can be recommended."
    )


def headline_by_backtest(a: Analysis, s: Any, sec: str) -> bool:
    """Write the headline from approach 1 or 2 (when the backtest chose it and its allocation at the
    target is identified); False leaves the headline to approach 3."""
    h = a.headline
    if h is None or h.target is None:
        return False
    n, d = h.target["N_opt"], h.target["D_opt"]
    lo, hi = h.target["ci"]["N_opt"]
    name = LABEL[a.headline_name]
    errs = _errors(a)
    s.facts.update(N_opt=n, D_opt=d, target_flops=a.target_flops, headline_method=a.headline_name)
    s.add(
        sec,
        f"At the target budget of {fmt(a.target_flops)} FLOPs ({target_phrase(a)}) the compute-optimal model "
        f"has about {fmt(n)} parameters trained on {fmt(d)} tokens ({fmt(d / n)} tokens per parameter; 95% "
        f"interval for N {fmt(lo)}–{fmt(hi)}), from {name}, N_opt ∝ C^{h.a:.3f}: backtested on the largest "
        f"budget, its N_opt was {errs[a.headline_name]:.3f} decades off, against "
        + (f"{errs['approach3']:.3f} for approach 3." if "approach3" in errs else "none from approach 3."),
    )
    conditional = conditional_interval(h)
    if conditional:
        s.facts["headline_resamples_failed"] = h.n_bootstrap_failed
        s.add(sec, conditional)
    if a.main is not None:
        loss = float(a.main.predict(N=n, D=d))
        s.facts["loss_target"] = loss
        sent = f"Approach 3's law predicts a loss of {loss:.3f} nats/token for that model"
        if a.main.has_draws:
            l_lo, l_hi = a.main.interval("confidence", N=n, D=d)
            s.facts["loss_target_ci"] = (float(l_lo), float(l_hi))
            sent += f" (95% confidence interval {float(l_lo):.3f}–{float(l_hi):.3f})"
        s.add(sec, sent + ".")
    return True
