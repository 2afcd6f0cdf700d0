"""One typed settings layer: pydantic models describe the files, one function turns their errors into ours.

Every table of a settings file is a :class:`FileModel`: unknown fields are forbidden, types are strict (a
TOML string is not a number), ranges and choices are declared on the fields. :func:`validate` checks a
parsed TOML table against a model and turns the first :class:`pydantic.ValidationError` into the
project's one-line :class:`ConfigError` (field, problem, fix). Checks that need more than the file (an
environment variable, a file on disk) happen after validation and raise :class:`ConfigError` directly.

A validator that knows the fix raises :func:`invalid`; the generic errors get a fix from their type.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from config.errors import ConfigError

LITERAL_SECRETS = frozenset(
    {"password", "token", "private_key", "client_secret", "passphrase", "private_key_passphrase", "pseudonym_key"}
)
_RANGES = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "above"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "below"),
}

M = TypeVar("M", bound=BaseModel)


class FileModel(BaseModel):
    """A table of a settings file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def invalid(problem: str, fix: str) -> PydanticCustomError:
    """The error a validator raises when it knows what is wrong and how to fix it."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix})


def validate(model: type[M], raw: Any, where: str = "") -> M:
    """``raw`` (a parsed TOML table) as ``model``; ``where`` is the dotted prefix of its fields (``"fhir."``)."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise config_error(exc, model, where) from None


def field_name(where: str, loc: Sequence[int | str]) -> str:
    """``("recipients", 1)`` under ``"email."`` → ``email.recipients[1]``."""
    name = where.rstrip(".")
    for part in loc:
        name = f"{name}[{part}]" if isinstance(part, int) else f"{name}.{part}" if name else str(part)
    return name


def config_error(exc: ValidationError, model: type[BaseModel], where: str) -> ConfigError:
    """The first error of ``exc`` as a :class:`ConfigError` naming the field, the problem and the fix."""
    errors = exc.errors()
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # unknown fields first
    loc = tuple(error["loc"])
    name = field_name(where, loc)
    leaf = str(loc[-1]) if loc and isinstance(loc[-1], str) else name.rpartition(".")[2]
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "config":
        return ConfigError(name, str(ctx["problem"]), str(ctx["fix"]))
    if kind == "extra_forbidden":
        if leaf in LITERAL_SECRETS:
            return ConfigError(
                name, "secrets must not be written in the config file",
                f'put it in an environment variable and set {leaf}_env = "NAME", or in a file and set {leaf}_file',
            )
        parent = _model_at(model, loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        return ConfigError(name, "unknown field", f"use one of: {', '.join(allowed)}")
    if kind == "missing":
        target = _model_at(model, loc)
        if target is not None:
            return ConfigError(name, "missing table", f"add a [{name}] table (see config/deployment.example.toml)")
        return ConfigError(name, "missing", f'set {leaf} = "..."')
    if kind == "literal_error":
        choices = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return ConfigError(name, f"unknown value {value!r}", f"use one of: {choices}")
    if kind in _RANGES:
        key, words = _RANGES[kind]
        return ConfigError(name, f"{value!r} is out of range", f"set {leaf} = a number {words} {ctx.get(key)}")
    if kind in {"model_type", "model_attributes_type"}:
        return ConfigError(name, "not a table", f"write a [{name}] table")
    return ConfigError(name, f"{error['msg'].lower()}, got {value!r}", f"set {leaf} = {_example(kind)}")


def _example(kind: str) -> str:
    return {
        "int_type": "<integer>", "float_type": "<number>", "bool_type": "true or false", "string_type": '"..."',
        "list_type": "[...]", "too_short": "[...] with at least one item",
    }.get(kind, "<value>")


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that the fields at ``loc`` belong to, walking down from ``model``."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or isinstance(part, int):
            continue
        info = current.model_fields.get(part)
        current = _model_of(info.annotation) if info is not None else None
    return current


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None
