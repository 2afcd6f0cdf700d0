"""Issue 12's study-file fields: MCIDs, landmarks, reoperations, implant failure types and richer claims."""

from __future__ import annotations

from typing import Any

import pytest

from config import ConfigError, load_study, parse_study
from tests.config.test_study import LOCAL, default_raw


def test_bundled_study_has_mcids_landmarks_reoperations_and_henderson_types() -> None:
    study = load_study()
    assert (study.instruments["vas"].mcid, study.instruments["vas"].better) == (2.0, "lower")
    assert (study.instruments["kps"].mcid, study.instruments["kps"].better) == (10.0, "higher")
    assert (study.instruments["msts93"].mcid, study.instruments["msts93"].better) == (3.0, "higher")
    assert study.instruments["sij_contralateral_mm"].mcid is None
    assert study.analysis.landmark_months == (6.0, 12.0, 24.0)
    assert (study.analysis.risk_table_every_months, study.analysis.baseline_timepoint) == (3.0, "pre")
    assert study.reoperations == {"revision": frozenset({(LOCAL, "revision-surgery")})}
    assert study.reoperation_columns == ("revision", "revision_months")
    assert study.implant.survival_endpoint == "revision"
    assert sorted(study.implant.failure_types) == [1, 2, 3, 4, 5]
    assert study.implant.failure_types[5] == ("local_recurrence",)


def test_the_abstracts_proportion_claims_carry_their_printed_figures() -> None:
    claims = {c.text: c for c in load_study().claims}
    local = claims["Local recurrence (2/7, 42.8%)"]
    assert (local.kind, local.numerator, local.denominator, local.percent) == ("proportion", 2, 7, 42.8)
    assert local.path == "events[name=local_recurrence]"
    cox = [c for c in claims.values() if c.kind == "model"]
    assert [c.path for c in cox] == ["survival.pfs.cox.multivariable"]


def test_a_study_without_the_new_sections_still_loads_with_defaults() -> None:
    raw = default_raw()
    del raw["reoperations"], raw["implant"]
    for spec in raw["instruments"].values():
        spec.pop("mcid", None)
        spec.pop("better", None)
    for key in ("landmark_months", "risk_table_every_months", "baseline_timepoint"):
        raw["analysis"].pop(key)
    study = parse_study(raw)
    assert study.reoperations == {} and study.implant.survival_endpoint is None
    assert study.analysis.landmark_months == (6.0, 12.0, 24.0) and study.analysis.baseline_timepoint is None
    assert all(i.mcid is None for i in study.instruments.values())


def patched(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    raw = default_raw()
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("instruments", "vas", "better"), "down", "instruments.vas.better"),
        (("instruments", "vas", "mcid"), 20, "instruments.vas.mcid"),
        (("analysis", "landmark_months"), [6, -1], "analysis.landmark_months"),
        (("analysis", "baseline_timepoint"), "week0", "analysis.baseline_timepoint"),
        (("implant", "failure_types", "6"), ["dislocation"], "implant.failure_types.6"),
        (("implant", "failure_types", "1"), ["dislocaton"], "implant.failure_types.1"),
        (("implant", "survival_endpoint"), "removal", "implant.survival_endpoint"),
        (("reoperations", "death"), ["local|x"], "reoperations.death"),
    ],
)
def test_invalid_outcome_fields_name_their_field(path: tuple[str, ...], value: Any, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_study(patched(path, value))
    assert info.value.field == field


def test_an_mcid_without_a_direction_is_refused_with_the_fix() -> None:
    raw = default_raw()
    del raw["instruments"]["kps"]["better"]
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == "instruments.kps.better"
    assert '"lower" or "higher"' in info.value.fix


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        ({"text": "t", "path": "events[name=death]", "kind": "proportion", "numerator": 1}, "claims[0].denominator"),
        ({"text": "t", "path": "events[name=death]", "kind": "proportion", "numerator": 8, "denominator": 7},
         "claims[0].numerator"),
        ({"text": "t", "path": "x.p", "kind": "opinion", "threshold": 0.05}, "claims[0].kind"),
        ({"text": "t", "path": "x.p", "kind": "difference"}, "claims[0].threshold"),
        ({"text": "t", "path": "x.p", "threshold": 0.05, "printed": 0.04}, "claims[0].printed"),
    ],
)
def test_invalid_claims_name_their_field(claim: dict[str, Any], field: str) -> None:
    raw = default_raw()
    raw["claims"] = [claim]
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == field


def test_a_claim_without_a_kind_takes_it_from_its_test() -> None:
    raw = default_raw()
    raw["claims"] = [{"text": "a", "path": "x.p", "test": "below", "threshold": 0.05},
                     {"text": "b", "path": "x.p", "test": "at_least", "threshold": 0.05}]
    assert [c.kind for c in parse_study(raw).claims] == ["difference", "no difference"]
