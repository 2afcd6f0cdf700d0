"""The study definition loader: the bundled default loads, and every mistake names its field."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_study, parse_study

LOCAL = "https://example.org/fhir/CodeSystem/pelvic-outcomes"


def default_raw() -> dict[str, Any]:
    return tomllib.loads(resources.files("config").joinpath("study.toml").read_text(encoding="utf-8"))


def test_bundled_study_definition_loads_with_the_terminology_notes_codes() -> None:
    study = load_study()
    assert (LOCAL, "pelvic-prosthesis-standard") in study.index_procedure["standard"]
    assert (LOCAL, "pelvic-prosthesis-screw-connected") in study.index_procedure["screw-connected"]
    assert ("http://loinc.org", "72514-3") in study.instruments["vas"].codes
    assert ("http://loinc.org", "89243-0") in study.instruments["kps"].codes
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "C79.51") in study.diagnosis["secondary"].condition
    assert ("http://snomed.info/sct", "444748003") in study.complications["heterotopic_ossification"]
    assert study.timepoints["1m"].target == 30
    assert (study.timepoints["pre"].low, study.timepoints["pre"].high) == (-90, 0)
    assert study.analysis.quantile_type == 7
    assert study.flag_columns[-2:] == ("local_recurrence", "distant_metastasis")


def test_unknown_top_level_field_is_named() -> None:
    raw = default_raw()
    raw["instrumnets"] = {}
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == "instrumnets"
    assert "unknown field" in str(info.value)


def test_unknown_field_inside_an_instrument_is_named() -> None:
    raw = default_raw()
    raw["instruments"]["vas"]["maximum"] = 10
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == "instruments.vas.maximum"


def test_unknown_code_system_alias_is_named_with_the_fix() -> None:
    raw = default_raw()
    raw["instruments"]["kps"]["codes"] = ["lonic|89243-0"]
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == "instruments.kps.codes"
    assert "lonic" in str(info.value)
    assert "loinc" in info.value.fix


def test_full_system_uri_is_accepted_without_an_alias() -> None:
    raw = default_raw()
    raw["events"]["local_recurrence"] = ["http://snomed.info/sct|25173007"]
    study = parse_study(raw)
    assert ("http://snomed.info/sct", "25173007") in study.events["local_recurrence"]


@pytest.mark.parametrize(
    ("section", "patch", "field"),
    [
        ("timepoints", {"1m": {"window": [45, 15], "rule": "closest", "target": 30}}, "timepoints.1m.window"),
        ("timepoints", {"1m": {"window": [15, 45], "rule": "nearest", "target": 30}}, "timepoints.1m.rule"),
        ("timepoints", {"1m": {"window": [15, 45], "rule": "closest"}}, "timepoints.1m.target"),
        ("analysis", {"quantile_type": 12}, "analysis.quantile_type"),
        ("analysis", {"baseline_timepoint": "2y"}, "analysis.baseline_timepoint"),
        ("quality_gates", {"max_cohort_shrink": "two"}, "quality_gates.max_cohort_shrink"),
    ],
)
def test_invalid_values_name_their_field(section: str, patch: dict[str, Any], field: str) -> None:
    raw = default_raw()
    raw[section].update(patch)
    with pytest.raises(ConfigError) as info:
        parse_study(raw)
    assert info.value.field == field


def test_missing_file_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_study(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\ntitle = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_study(bad)
