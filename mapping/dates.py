"""FHIR date, dateTime and instant values as days in the patient's local calendar.

Rules (see docs/mapping.md):

* A value with a time and a non-UTC offset (``2023-01-31T23:30:00-05:00``) is taken at the date written:
  that is the local day where it was recorded. It is never converted to UTC.
* A value in UTC (``Z`` or ``+00:00``) is moved to the patient's own offset: the most frequent non-UTC
  offset among the patient's time stamps (servers often normalise to UTC). Without any, UTC is kept.
* A date without time is a local day already.
* Partial dates (``2023-05``, ``2023``) keep their whole span (``first`` .. ``last``) and an imputed
  ``day`` in the middle (the 15th; 1 July); the mapping logs every use of one.
* The data cut-off is a UTC date: :func:`after_cutoff` compares time stamps by their UTC day.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any, NamedTuple

from config.units import DAYS_PER_MONTH

MINUTES_PER_DAY = 24 * 60
PARTIAL_NOTE = "partial date ({} precision): {} assumed"  # mapping.reasons.PARTIAL_DATE

_PATTERN = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class When(NamedTuple):
    """A point in time as the mapping needs it."""

    day: date  # the local day (imputed middle for partial dates)
    first: date  # earliest day the value can mean
    last: date  # latest day the value can mean
    precision: str  # "day", "month" or "year"
    minute: int | None = None  # minutes after local midnight, when a time was given
    offset: int | None = None  # UTC offset in minutes, when given

    @property
    def partial(self) -> bool:
        return self.precision != "day"

    @property
    def is_utc(self) -> bool:
        return self.offset == 0 and self.minute is not None

    def sort_key(self) -> tuple[date, int]:
        return self.day, self.minute if self.minute is not None else 0


def parse(value: Any) -> When | None:
    """Parse a FHIR date/dateTime/instant string; ``None`` when it is not one."""
    if not isinstance(value, str):
        return None
    match = _PATTERN.match(value)
    if match is None:
        return None
    year_s, month_s, day_s, hour_s, minute_s, zone = match.groups()
    year = int(year_s)
    try:
        if month_s is None:
            return When(date(year, 7, 1), date(year, 1, 1), date(year, 12, 31), "year")
        month = int(month_s)
        if day_s is None:
            last = calendar.monthrange(year, month)[1]
            return When(date(year, month, min(15, last)), date(year, month, 1), date(year, month, last), "month")
        day = date(year, month, int(day_s))
    except ValueError:
        return None
    if hour_s is None:
        return When(day, day, day, "day")
    minute = int(hour_s) * 60 + int(minute_s)
    return When(day, day, day, "day", minute, _offset_minutes(zone))


def _offset_minutes(zone: str | None) -> int | None:
    if zone is None:
        return None
    if zone == "Z":
        return 0
    sign = -1 if zone[0] == "-" else 1
    return sign * (int(zone[1:3]) * 60 + int(zone[4:6]))


def patient_offset(stamps: Iterable[When | None]) -> int | None:
    """The patient's usual UTC offset: the most frequent non-zero offset of their time stamps."""
    counts = Counter(w.offset for w in stamps if w is not None and w.offset not in (None, 0))
    if not counts:
        return None
    return max(counts.items(), key=lambda item: (item[1], -abs(item[0] or 0)))[0]


def localise(when: When, offset: int | None) -> When:
    """Move a UTC time stamp to the patient's offset; anything else is returned unchanged."""
    if not when.is_utc or not offset or when.minute is None:
        return when
    shift, minute = divmod(when.minute + offset, MINUTES_PER_DAY)
    if shift == 0:
        return when._replace(minute=minute, offset=offset)
    day = when.day + timedelta(days=shift)
    return When(day, day, day, "day", minute, offset)


def after_cutoff(when: When, cutoff: date) -> bool:
    """Is ``when`` later than the data cut-off (the extraction's UTC date)?

    A time stamp with an offset is compared by its UTC day, so a value recorded east of UTC shortly before
    the extraction (its local day already the next) is not taken for the future; the answer is the same
    before and after :func:`localise`. A date, or a partial date by its assumed day (the day the mapping
    uses), is compared as written.
    """
    if when.minute is not None and when.offset is not None:
        return when.day + timedelta(days=(when.minute - when.offset) // MINUTES_PER_DAY) > cutoff
    return when.day > cutoff


def months_between(start: date, end: date) -> float:
    return (end - start).days / DAYS_PER_MONTH


def completed_years(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def first_of(resource: dict[str, Any], *paths: str) -> tuple[When | None, str]:
    """The first parseable value among ``paths`` (``a`` or ``a.b``) and its path.

    When none parses, ``None`` and the first path that held something (to name in the log), else ``paths[0]``.
    """
    present = ""
    for path in paths:
        head, _, tail = path.partition(".")
        value = resource.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        if value is None:
            continue
        when = parse(value)
        if when is not None:
            return when, path
        present = present or path
    return None, present or (paths[0] if paths else "")


def latest_of(resource: dict[str, Any], *paths: str) -> When | None:
    """The latest parseable value among ``paths`` (``a`` or ``a.b``)."""
    best: When | None = None
    for path in paths:
        head, _, tail = path.partition(".")
        value = resource.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        when = parse(value) if value is not None else None
        if when is not None and (best is None or when.sort_key() > best.sort_key()):
            best = when
    return best


def partial_note(when: When) -> str:
    """The data-quality reason for using a partial date."""
    return PARTIAL_NOTE.format(when.precision, "day 15" if when.precision == "month" else "1 July")
