"""Validation of raw resources with fhir.resources (R4B models, R4-compatible for the four study types).

The model classes are resolved once at import (not per resource). ``model_validate`` on the parsed dict is
the fastest entry point measured (``bench/mapping.py``): re-serialising to JSON for ``model_validate_json``
or going through ``parse_raw``/the constructor only adds work. Error messages are taken from pydantic's
structured errors without the input value, so no patient data reaches the data-quality log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from pydantic import ValidationError

MODELS: Mapping[str, Any] = {
    "Patient": Patient,
    "Procedure": Procedure,
    "Condition": Condition,
    "Observation": Observation,
}
_MAX_MESSAGE = 160

# Required bindings the mapping relies on; fhir.resources checks only the code format, not the value set.
REQUIRED_CODES: Mapping[str, Mapping[str, frozenset[str]]] = {
    "Patient": {"gender": frozenset({"male", "female", "other", "unknown"})},
    "Observation": {
        "status": frozenset({
            "registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error", "unknown",
        }),
    },
    "Procedure": {
        "status": frozenset({
            "preparation", "in-progress", "not-done", "on-hold", "stopped", "completed", "entered-in-error", "unknown",
        }),
    },
}


class Invalid(NamedTuple):
    field: str
    reason: str


def check(resource_type: str, resource: dict[str, Any]) -> Invalid | None:
    """``None`` when the resource is valid FHIR R4 for its type, else the first problem found."""
    if resource.get("resourceType") != resource_type:
        return Invalid("resourceType", f"invalid FHIR R4: resourceType is not {resource_type}")
    for field, allowed in REQUIRED_CODES.get(resource_type, {}).items():
        value = resource.get(field)
        if value is not None and value not in allowed:
            return Invalid(field, f"invalid FHIR R4: {field} is not a code of its required value set")
    model = MODELS[resource_type]
    try:
        model(**resource)
    except ValidationError as exc:
        return _first_error(exc)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # the library's own checks
        return Invalid("(resource)", f"invalid FHIR R4: {type(exc).__name__}")
    return None


def _first_error(exc: ValidationError) -> Invalid:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if not errors:
        return Invalid("(resource)", "invalid FHIR R4")
    first = errors[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "(resource)"
    message = str(first.get("msg", "")).split("\n")[0].strip()
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return Invalid(field, f"invalid FHIR R4: {message}")
