"""Numeric values of Observations, converted to the instrument's scale and unit.

Accepted encodings: ``valueQuantity`` (UCUM code or unit text), ``valueInteger``, ``valueString`` holding a
number (``5``, ``5.5``, ``5,5``), ``valueCodeableConcept`` with a coded answer listed in the instrument's
``answers`` or a numeric code/display, optionally after the instrument's name or short label (``80``,
``ABC 80: Normal activity`` for an instrument ``abc``).

Conversions, each reported back as a note for the data-quality log:

* instruments scored 0-10 recorded on a 0-100 mm scale: by unit (``mm``) or, without a unit,
  by range (a value above 10 and at most 100) -> divided by 10; ``cm`` is the 0-10 scale already;
* instruments measured in a length unit (``mm``): UCUM length units converted (``cm`` x 10, ``m`` x 1000).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, NamedTuple

from config.study import Instrument
from mapping import reasons
from mapping.codes import UCUM, codings, normalise_system

LENGTH_TO_MM: Mapping[str, float] = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "um": 0.001, "[in_i]": 25.4, "in": 25.4}
SCORE_UNITS = frozenset({"", "1", "{score}", "{Score}", "score", "{points}", "points", "{#}", "%", "{percent}"})

_NUMBER = re.compile(r"^\s*([+-]?\d+(?:[.,]\d+)?)\s*$")
_LEADING_NUMBER = r"^\s*(?:(?:{})\s*)?(\d+(?:[.,]\d+)?)\s*%?(?:\s*[:\-]|\s*$)"


@cache
def _leading_number(names: tuple[str, ...]) -> re.Pattern[str]:
    """A number at the start of a code or display, optionally after one of ``names`` (any case)."""
    return re.compile(_LEADING_NUMBER.format("|".join(map(re.escape, names))), re.IGNORECASE)


class Reading(NamedTuple):
    """A value as read from the resource, before conversion."""

    number: float | None
    unit: str | None  # None when the encoding carries no unit
    field: str
    problem: str = ""


class Converted(NamedTuple):
    value: float | None
    note: str = ""  # a conversion worth logging
    problem: str = ""  # why the value cannot be used


def read(resource: dict[str, Any], instrument: Instrument) -> Reading:
    """Read the numeric value of an Observation of ``instrument``, whatever its encoding."""
    if "valueQuantity" in resource:
        return _quantity(resource["valueQuantity"])
    if "valueInteger" in resource:
        return Reading(float(resource["valueInteger"]), None, "valueInteger")
    if "valueString" in resource:
        number = _to_number(resource["valueString"], _NUMBER)
        problem = "" if number is not None else "valueString is not a number"
        return Reading(number, None, "valueString", problem)
    if "valueCodeableConcept" in resource:
        return _concept(resource["valueCodeableConcept"], instrument)
    if "dataAbsentReason" in resource:
        return Reading(None, None, "dataAbsentReason", "no value (dataAbsentReason)")
    value_keys = [key for key in resource if key.startswith("value")]
    if value_keys:
        return Reading(None, None, value_keys[0], f"{value_keys[0]} is not a numeric encoding")
    return Reading(None, None, "value[x]", "no value")


def _quantity(quantity: Any) -> Reading:
    if not isinstance(quantity, dict):
        return Reading(None, None, "valueQuantity.value", "no value")
    raw = quantity.get("value")
    number = float(raw) if isinstance(raw, int | float) else _to_number(raw, _NUMBER)
    if number is None or not math.isfinite(number):
        return Reading(None, None, "valueQuantity.value", "no value")
    if quantity.get("comparator"):
        return Reading(None, None, "valueQuantity.comparator", "value with a comparator (<, >)")
    unit = None
    system = quantity.get("system")
    if isinstance(quantity.get("code"), str) and (system is None or normalise_system(system) == UCUM):
        unit = quantity["code"]
    elif isinstance(quantity.get("unit"), str):
        unit = quantity["unit"]
    return Reading(number, unit.strip() if unit is not None else None, "valueQuantity")


def _concept(concept: Any, instrument: Instrument) -> Reading:
    answers = {(normalise_system(system), code): score for (system, code), score in instrument.answers.items()}
    for coding in codings(concept):
        if coding in answers:
            return Reading(answers[coding], None, "valueCodeableConcept")
    pattern = _leading_number((instrument.name, instrument.short_label))
    candidates: list[Any] = [code for _, code in codings(concept)]
    if isinstance(concept, dict):
        candidates += [c.get("display") for c in concept.get("coding") or () if isinstance(c, dict)]
        candidates.append(concept.get("text"))
    for candidate in candidates:
        number = _to_number(candidate, pattern)
        if number is not None:
            return Reading(number, None, "valueCodeableConcept")
    return Reading(None, None, "valueCodeableConcept", "coded value without a known number")


def _to_number(text: Any, pattern: re.Pattern[str]) -> float | None:
    if not isinstance(text, str):
        return None
    match = pattern.match(text)
    if match is None:
        return None
    number = float(match.group(1).replace(",", "."))
    return number if math.isfinite(number) else None


def convert(reading: Reading, instrument: Instrument) -> Converted:
    """Bring a reading to the instrument's unit and scale; check it lies within the instrument's range."""
    if reading.number is None:
        return Converted(None, problem=reading.problem or "no value")
    result = _length(reading, instrument) if instrument.unit in LENGTH_TO_MM else _score(reading, instrument)
    if result.value is not None and not instrument.min <= result.value <= instrument.max:
        return Converted(None, problem=reasons.OUT_OF_RANGE.format(instrument.name, _fmt(instrument)))
    return result


def _length(reading: Reading, instrument: Instrument) -> Converted:
    assert reading.number is not None
    target = LENGTH_TO_MM[instrument.unit]
    if reading.unit is None or reading.unit == "":
        return Converted(reading.number, note=reasons.UNIT_ASSUMED.format(instrument.name, instrument.unit))
    factor = LENGTH_TO_MM.get(reading.unit)
    if factor is None:
        return Converted(None, problem=reasons.NOT_A_LENGTH.format(instrument.name, instrument.unit))
    if factor == target:
        return Converted(reading.number)
    value = round(reading.number * factor / target, 6)
    return Converted(value, note=reasons.UNIT_CONVERTED.format(instrument.name, reading.unit, instrument.unit))


def _score(reading: Reading, instrument: Instrument) -> Converted:
    assert reading.number is not None
    ten_point = instrument.min == 0 and instrument.max == 10
    if ten_point and reading.unit == "mm":
        return Converted(reading.number / 10, note=reasons.MM_SCALE_BY_UNIT.format(instrument.name))
    if ten_point and reading.unit == "cm":
        return Converted(reading.number)
    if reading.unit is not None and reading.unit not in SCORE_UNITS:
        return Converted(None, problem=reasons.NOT_A_SCORE.format(instrument.name))
    if ten_point and 10 < reading.number <= 100:
        return Converted(reading.number / 10, note=reasons.MM_SCALE_BY_RANGE.format(instrument.name))
    return Converted(reading.number)


def _fmt(instrument: Instrument) -> str:
    return f"{instrument.min:g}-{instrument.max:g}"
