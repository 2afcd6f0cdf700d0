"""Which statuses a resource may have and still be used (see docs/mapping.md).

* Observation.status: ``entered-in-error``, ``cancelled`` and ``registered`` (no result yet) are excluded.
  ``final``, ``amended`` and ``corrected`` are used (amended/corrected is the current, corrected version).
  ``preliminary`` is used but loses against a final/amended value of the same instrument on the same day;
  ``unknown`` is used and logged.
* Condition.verificationStatus: ``refuted``, ``entered-in-error`` and ``differential`` are excluded;
  ``unconfirmed`` and ``provisional`` are used and logged; absent or ``confirmed`` is used.
* Procedure.status: ``completed`` is used; ``in-progress`` and ``unknown`` are used and logged;
  ``entered-in-error``, ``not-done``, ``preparation``, ``on-hold`` and ``stopped`` are excluded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapping.codes import codings

OBSERVATION_EXCLUDED = frozenset({"entered-in-error", "cancelled", "registered"})
# Higher wins when two values of one instrument fall on the same day.
OBSERVATION_RANK: Mapping[str, int] = {"amended": 3, "corrected": 3, "final": 2, "unknown": 1, "preliminary": 0}
OBSERVATION_NOTED = frozenset({"unknown"})

CONDITION_EXCLUDED = frozenset({"refuted", "entered-in-error", "differential"})
CONDITION_NOTED = frozenset({"unconfirmed", "provisional"})

PROCEDURE_EXCLUDED = frozenset({"entered-in-error", "not-done", "preparation", "on-hold", "stopped"})
PROCEDURE_NOTED = frozenset({"in-progress", "unknown"})


def verification(condition: dict[str, Any]) -> str:
    """The Condition's verificationStatus code ('' when absent)."""
    found = codings(condition.get("verificationStatus"))
    return found[0][1] if found else ""


def clinical(condition: dict[str, Any]) -> str:
    found = codings(condition.get("clinicalStatus"))
    return found[0][1] if found else ""


def excluded(resource_type: str, resource: dict[str, Any]) -> str:
    """The status that excludes this resource, or ''."""
    if resource_type == "Observation":
        status = resource.get("status")
        return status if status in OBSERVATION_EXCLUDED else ""
    if resource_type == "Procedure":
        status = resource.get("status")
        return status if status in PROCEDURE_EXCLUDED else ""
    if resource_type == "Condition":
        status = verification(resource)
        return status if status in CONDITION_EXCLUDED else ""
    return ""
