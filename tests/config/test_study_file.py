"""The study file on the typed settings layer: each table is a pydantic model, each mistake one line naming
its field, the problem and the fix; the bundled study gives the same definition as the hand-written parser did."""

from __future__ import annotations

from typing import Any

import pytest

from config import ConfigError, parse_study
from tests.config.test_study import default_raw
from tests.config.test_study_outcomes import patched


def error_of(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_study(raw)
    assert "\n" not in str(caught.value)
    assert caught.value.fix, "every study-file error says the fix"
    return caught.value


@pytest.mark.parametrize(
    ("path", "value", "field", "problem"),
    [
        (("study", "bogus"), 1, "study.bogus", "unknown field"),
        (("claims", 2, "test"), "maybe", "claims[2].test", "unknown value 'maybe'"),
        (("claims", 2, "threshold"), 2, "claims[2].threshold", "out of range"),
        (("claims", 0, "printed_p"), "0.02", "claims[0].printed_p", "valid number"),
        (("instruments", "vas", "min"), "0", "instruments.vas.min", "valid number"),
        (("instruments", "vas", "max"), 0, "instruments.vas.max", "not above min"),
        (("instruments", "vas", "codes"), [], "instruments.vas.codes", "at least 1 item"),
        (("instruments", "vas", "codes"), ["72514-3"], "instruments.vas.codes", "not 'ALIAS|CODE'"),
        (("instruments", "sij_contralateral_mm", "better"), "lower", "instruments.sij_contralateral_mm.better",
         "without an mcid"),
        (("timepoints", "1m", "target"), 100, "timepoints.1m.target", "outside the window"),
        (("timepoints", "1m", "window"), [15, 30, 45], "timepoints.1m.window", "is not [low, high]"),
        (("analysis", "alpha"), 5, "analysis.alpha", "out of range"),
        (("analysis", "min_n_for_test"), 0, "analysis.min_n_for_test", "out of range"),
        (("analysis", "repeated_timepoints"), ["pre", "1m"], "analysis.repeated_timepoints", "no longer read"),
        (("analysis", "sij_timepoints"), ["pre", "6m"], "analysis.sij_timepoints", "no longer read"),
        (("quality_gates", "max_unmappable_percent"), 120, "quality_gates.max_unmappable_percent", "out of range"),
        (("systems", "loinc"), "loinc.org", "systems.loinc", "not a URI"),
        (("extensions", "histology"), "mcode-histology", "extensions.histology", "not a URI"),
        (("study", "pseudonym_key_env"), "MY KEY", "study.pseudonym_key_env", "not an environment variable"),
        (("events", "dislocation"), ["local|x"], "events.dislocation", "already used"),
        (("index_procedure",), {}, "index_procedure", "at least 1 item"),
        (("complications",), ["local|x"], "complications", "not a table"),
        (("facts", "resection_margin"), "wide", "facts.resection_margin", "not a table"),
    ],
)
def test_each_mistake_names_its_field_the_problem_and_the_fix(
    path: tuple[Any, ...], value: Any, field: str, problem: str
) -> None:
    error = error_of(patched(path, value))
    assert error.field == field
    assert problem in error.problem


def test_an_unknown_field_lists_the_fields_of_its_table_even_in_a_keyed_table() -> None:
    error = error_of(patched(("instruments", "vas", "maximum"), 10))
    assert error.fix == ("remove it or use one of: answers, better, codes, decimals, label, max, mcid, min, "
                         "short_label, unit")
    error = error_of(patched(("implant", "failure_types", "6"), ["dislocation"]))
    assert (error.field, error.fix) == ("implant.failure_types.6", "remove it or use one of: 1, 2, 3, 4, 5")


def test_a_missing_table_points_at_the_study_file() -> None:
    raw = default_raw()
    del raw["timepoints"]
    error = error_of(raw)
    assert (error.field, error.problem) == ("timepoints", "missing table")
    assert "config/study.toml" in error.fix


def test_a_missing_list_says_to_write_a_list() -> None:
    raw = default_raw()
    del raw["disease_status"]["worsened"]
    error = error_of(raw)
    assert (error.field, error.fix) == ("disease_status.worsened", "set worsened = [...]")


def test_a_pseudonym_key_written_in_the_file_is_refused_without_echoing_it() -> None:
    error = error_of(patched(("study", "pseudonym_key"), "s3cret-value"))
    assert error.field == "study.pseudonym_key"
    assert "pseudonym_key_env" in error.fix and "s3cret-value" not in str(error)


def test_optional_tables_and_fields_take_their_defaults() -> None:
    raw = default_raw()
    for key in ("analysis", "quality_gates", "claims", "reoperations", "implant"):
        del raw[key]
    del raw["study"]["short_title"], raw["instruments"]["vas"]["label"], raw["timepoints"]["1m"]["rule"]
    study = parse_study(raw)
    assert study.short_title == study.title and study.instruments["vas"].label == "vas"
    assert study.timepoints["1m"].rule == "closest"
    assert study.analysis.quantile_type == 7 and study.quality_gates.max_cohort_shrink == 2
    assert study.claims == () and study.implant.failure_types == {}


def test_codings_keep_their_meaning_alias_or_full_uri() -> None:
    study = parse_study(patched(("complications", "dislocation"), ["snomed|108367008", "urn:oid:1.2.3|X"]))
    assert study.complications["dislocation"] == frozenset(
        {("http://snomed.info/sct", "108367008"), ("urn:oid:1.2.3", "X")})


def test_failure_types_are_ordered_by_number_whatever_the_file_order() -> None:
    raw = default_raw()
    raw["implant"]["failure_types"] = {"4": ["deep_infection"], "1": ["dislocation"]}
    assert list(parse_study(raw).implant.failure_types) == [1, 4]


def test_docs_study_file_describes_every_field_of_every_table() -> None:
    import re
    import typing
    from pathlib import Path

    from pydantic import BaseModel

    from config.study import StudyFile

    doc = (Path(__file__).resolve().parents[2] / "docs" / "study-file.md").read_text(encoding="utf-8")
    missing: list[str] = []

    def walk(model: type[BaseModel]) -> None:
        for key, info in model.model_fields.items():
            name = info.alias or key
            if not re.search(rf"[`\[.]{re.escape(name)}\b", doc):
                missing.append(f"{model.__name__}.{name}")
            for candidate in nested(info.annotation):
                walk(candidate)

    def nested(annotation: Any) -> list[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return [annotation]
        return [model for arg in typing.get_args(annotation) for model in nested(arg)]

    walk(StudyFile)
    assert not missing, f"docs/study-file.md does not mention: {missing}"
