"""Warnings are numbered once and cited where they apply."""

from __future__ import annotations

from config.study import load_study
from reports.caveats import Caveats
from reports.labels import Labels

WARNINGS = [
    {"code": "small_n", "message": "log-rank test on n = 7", "scope": "survival.os.logrank.sex"},
    {"code": "small_n", "message": "log-rank test on n = 7", "scope": "survival.pfs.logrank.sex"},
    {"code": "not_estimable", "message": "separation", "scope": "survival.os.cox.multivariable"},
    {"code": "small_n", "message": "paired test on n = 7", "scope": "paired.msts93"},
    {"code": "p_value_floor", "message": "cannot give p < 0.0215", "scope": "paired.msts93.wilcoxon"},
    {"code": "note", "message": "VAS recorded on two scales"},
]


def test_identical_warnings_are_one_caveat_with_several_scopes() -> None:
    caveats = Caveats(WARNINGS)
    assert [c.number for c in caveats.all] == [1, 2, 3, 4, 5]
    assert caveats.all[0].scopes == ("survival.os.logrank.sex", "survival.pfs.logrank.sex")


def test_a_caveat_applies_above_and_below_its_scope_but_not_to_siblings() -> None:
    caveats = Caveats(WARNINGS)
    assert caveats.refs("survival.os") == "[1, 2]"
    assert caveats.refs("survival.os.logrank") == "[1]"
    assert caveats.refs("survival.os.median_months") == ""
    assert caveats.refs("paired.msts93.t") == "[3]"  # not the Wilcoxon floor
    assert caveats.refs("paired.msts93") == "[3, 4]"


def test_unscoped_warnings_are_matched_by_their_words() -> None:
    """The words come from the study file's labels of the plan's instruments and endpoints."""
    caveats = Caveats(WARNINGS, Labels(load_study()))
    assert caveats.refs("repeated_measures.vas.friedman") == "[5]"
    assert caveats.refs("repeated_measures.kps") == ""
    assert Caveats(WARNINGS).refs("repeated_measures.vas.friedman") == ""  # no study: no words to match
    assert Caveats(WARNINGS).refs("events") == ""


def test_reason_and_cited() -> None:
    caveats = Caveats(WARNINGS)
    assert caveats.reason("survival.os.cox.multivariable") == "separation"
    assert caveats.reason("events") == "no reason was given"
    assert [c.number for c in caveats.cited(["[1, 3]", "", "[3]"])] == [1, 3]
    assert Caveats(None).all == [] and Caveats(["plain text"]).all[0].message == "plain text"
