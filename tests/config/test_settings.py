"""The one translation of pydantic's errors into the project's one-line ConfigError: field, problem, fix."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import Field, field_validator

from config.errors import ConfigError
from config.settings import FileModel, invalid, validate


class Inner(FileModel):
    level: Literal["low", "high"] = "low"
    count: int = Field(1, ge=1, le=10)


class Outer(FileModel):
    name: str
    inner: Inner = Field(default_factory=Inner)
    items: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value == "bad":
            raise invalid("'bad' is not a name", "write a real name")
        return value


@pytest.mark.parametrize(
    ("raw", "field", "problem", "fix"),
    [
        ({}, "t.name", "missing", 'set name = "..."'),
        ({"name": "x", "colour": 1}, "t.colour", "unknown field", "use one of: inner, items, name"),
        ({"name": "x", "password": "p"}, "t.password", "secrets must not be written", "password_env"),
        ({"name": "x", "inner": {"level": "mid"}}, "t.inner.level", "unknown value 'mid'", "use one of: low, high"),
        ({"name": "x", "inner": {"count": 0}}, "t.inner.count", "0 is out of range", "a number at least 1"),
        ({"name": "x", "inner": {"count": "2"}}, "t.inner.count", "valid integer", "<integer>"),
        ({"name": "x", "inner": "high"}, "t.inner", "not a table", "write a [t.inner] table"),
        ({"name": "x", "items": ["a", 3]}, "t.items[1]", "valid string", '"..."'),
        ({"name": "bad"}, "t.name", "'bad' is not a name", "write a real name"),
    ],
)
def test_each_kind_of_error_names_the_field_the_problem_and_the_fix(raw, field, problem, fix) -> None:
    with pytest.raises(ConfigError) as caught:
        validate(Outer, raw, "t.")
    assert caught.value.field == field
    assert problem in caught.value.problem and fix in caught.value.fix
    assert str(caught.value).startswith(f"config field '{field}': ")
    assert "\n" not in str(caught.value)


def test_an_unknown_field_is_reported_before_other_errors_of_the_table() -> None:
    with pytest.raises(ConfigError) as caught:
        validate(Outer, {"typo": 1}, "")
    assert caught.value.field == "typo"


def test_valid_tables_give_frozen_typed_objects() -> None:
    table = validate(Outer, {"name": "x", "inner": {"level": "high", "count": 3}})
    assert (table.inner.level, table.inner.count) == ("high", 3)
    with pytest.raises(Exception, match="frozen"):
        table.name = "y"  # type: ignore[misc]
