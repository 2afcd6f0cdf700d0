"""The study definition the mapping reads: a wrong field or code system is an error naming it (issue 5)."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from config.errors import ConfigError
from config.study import parse_study


@pytest.fixture
def raw() -> dict[str, Any]:
    return tomllib.loads(resources.files("config").joinpath("study.toml").read_text(encoding="utf-8"))


def test_the_bundled_study_definition_parses(raw):
    study = parse_study(raw)
    assert set(study.instruments) == {"vas", "kps", "msts93", "sij_contralateral_mm"}


def test_config_with_an_unknown_field_raises_config_error_naming_it(raw):
    broken = copy.deepcopy(raw)
    broken["instruments"]["vas"]["scale"] = "mm"
    with pytest.raises(ConfigError, match=r"instruments\.vas\.scale") as info:
        parse_study(broken)
    assert info.value.field == "instruments.vas.scale"
    assert "unknown field" in str(info.value)


def test_config_with_an_unknown_code_system_raises_config_error_naming_it(raw):
    broken = copy.deepcopy(raw)
    broken["complications"]["dislocation"] = ["snowmed|108367008"]
    with pytest.raises(ConfigError, match="snowmed") as info:
        parse_study(broken)
    assert info.value.field == "complications.dislocation"
