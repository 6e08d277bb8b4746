"""Pre-registered criteria: verdicts follow from a statistic's interval and the band, results carry
their criterion's hash, and a criterion changed after its results were written is caught."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lmscale.errors import InputError
from lmscale.replicate import criteria as crit
from lmscale.replicate.criteria import Criterion, load_criteria, stale_findings
from lmscale.replicate.result import StudyResult, judged
from lmscale.replicate.studies import STUDIES

DOCS_RESULTS = Path(__file__).resolve().parents[2] / "docs" / "replication"
NAN = math.nan


def _criterion(**kw: object) -> Criterion:
    base = {"study": "s", "key": "k", "group": "kaplan-main", "statistic": "x", "estimator": "e", "band": (0.5, 1.0)}
    return Criterion(**{**base, **kw})


@pytest.mark.parametrize(
    ("value", "low", "high", "verdict"),
    [
        (0.7, 0.6, 0.9, "reproduced"),  # interval inside the band
        (0.7, 0.4, 0.9, "partly"),  # straddles the lower edge
        (1.1, 0.9, 1.3, "partly"),  # straddles the upper edge, estimate outside
        (0.3, 0.2, 0.45, "not reproduced"),  # wholly below
        (1.5, 1.2, 1.8, "not reproduced"),  # wholly above
        (0.7, 0.1, 3.0, "inconclusive"),  # wider than max_width
        (0.7, NAN, NAN, "inconclusive"),  # no interval (no bootstrap)
        (NAN, NAN, NAN, "inconclusive"),  # no estimate
    ],
)
def test_verdict_follows_the_interval_and_the_band(value: float, low: float, high: float, verdict: str) -> None:
    assert _criterion(max_width=1.0).judge(value, low, high) == verdict


def test_point_statistics_log_widths_and_open_bands() -> None:
    point = _criterion(band=(0.0, 0.03), point=True)
    assert point.judge(0.02) == "reproduced" and point.judge(0.031) == "not reproduced"
    assert point.judge(0.02, 0.0, 0.5) == "reproduced"  # a point check ignores any interval
    log = _criterion(band=(0.1, 0.4), log=True, max_width=math.log10(3))
    assert log.judge(0.2, 0.15, 0.3) == "reproduced"  # a factor 2 wide
    assert log.judge(0.2, 0.05, 0.3) == "inconclusive"  # a factor 6 wide
    above = _criterion(band=(0.01, math.inf))
    assert above.judge(0.0, 0.0, 0.0) == "not reproduced"  # no effect is not the claimed direction
    assert above.judge(0.2, 0.05, 0.4) == "reproduced"
    assert "at or above 0.01" in above.rule() and "partly" in above.rule()


def test_the_hash_covers_what_decides_the_verdict() -> None:
    a = _criterion()
    assert a.sha == _criterion().sha
    assert a.sha != _criterion(band=(0.5, 1.1)).sha
    assert a.sha != _criterion(statistic="y").sha
    assert a.sha != _criterion(max_width=1.0).sha


def test_bad_criteria_files_name_the_entry() -> None:
    with pytest.raises(InputError, match="finding 1: .*band"):
        crit._read('[[finding]]\nstudy="s"\nkey="k"\ngroup="kaplan-main"\nstatistic="x"\nestimator="e"\nband=[2.0, 1.0]\n', "f.toml")
    with pytest.raises(InputError, match="finding 1: .*group"):
        crit._read('[[finding]]\nstudy="s"\nkey="k"\ngroup="other"\nstatistic="x"\nestimator="e"\nband=[0.0, 1.0]\n', "f.toml")
    row = '[[finding]]\nstudy="s"\nkey="k"\ngroup="self-check"\nstatistic="x"\nestimator="e"\nband=[0.0, 1.0]\n'
    with pytest.raises(InputError, match="finding 2: s/k appears twice"):
        crit._read(row + row, "f.toml")


def test_every_shipped_criterion_belongs_to_a_study() -> None:
    shipped = load_criteria()
    assert len(shipped) == 43
    assert {study for study, _ in shipped} == set(STUDIES)
    assert sum(c.group == "self-check" for c in shipped.values()) == 13


def test_a_judged_finding_records_its_statistic_and_hash(tmp_path: Path) -> None:
    c = load_criteria()[("scaling", "α_N value")]
    f = judged("scaling", "α_N value", 0.08, 0.07, 0.09, paper="0.076", ours="0.08")
    assert (f.verdict, f.statistic, f.criterion_sha, f.group) == ("reproduced", [0.08, 0.07, 0.09], c.sha, "kaplan-main")
    with pytest.raises(KeyError, match="no pre-registered criterion"):
        judged("scaling", "not a finding", 1.0, paper="", ours="")
    res = StudyResult("scaling", "t")
    res.judge("α_N value", 0.2, 0.17, 0.23, paper="0.076", ours="0.2", why="different data")
    res.write(tmp_path / "scaling", {})
    text = (tmp_path / "scaling" / "findings.md").read_text()
    assert "**not reproduced**" in text and "different data" in text and "inconclusive:" in text
    assert stale_findings(tmp_path) == []


def test_a_changed_criterion_makes_its_results_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = StudyResult("scaling", "t")
    res.judge("α_N value", 0.08, 0.07, 0.09, paper="", ours="")
    res.write(tmp_path / "scaling", {})
    assert stale_findings(tmp_path) == []
    edited = dict(load_criteria())
    edited[("scaling", "α_N value")] = edited[("scaling", "α_N value")].model_copy(update={"band": (0.05, 0.2)})
    monkeypatch.setattr(crit, "load_criteria", lambda: edited)
    (problem,) = stale_findings(tmp_path)
    assert problem.startswith("scaling/α_N value: criterion changed since it was judged")
    del edited[("scaling", "α_N value")]
    assert "removed" in stale_findings(tmp_path)[0]
    data = json.loads((tmp_path / "scaling" / "results.json").read_text())
    del data["findings"][0]["criterion_sha"]
    (tmp_path / "scaling" / "results.json").write_text(json.dumps(data))
    assert "before criteria were pre-registered" in stale_findings(tmp_path)[0]


def test_published_results_match_the_current_criteria() -> None:
    """docs/replication: every finding was judged by today's version of its criterion. Editing a
    criterion without re-running its study (`lmscale replicate STUDY -o docs/replication`) fails here."""
    assert sorted(p.name for p in DOCS_RESULTS.glob("*/results.json") if p.parent.name in STUDIES)
    assert stale_findings(DOCS_RESULTS) == []
