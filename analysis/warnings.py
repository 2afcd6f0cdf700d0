"""Statistical caveats, as our own warning classes, collected into the results instead of being emitted.

::

    AnalysisWarning (UserWarning)
    ├── SmallSampleWarning      small_n          a test on fewer patients than the plan's min_n_for_test
    ├── FewEventsWarning        few_events       fewer events per Cox term than min_events_per_covariate
    ├── NotEstimableWarning     not_estimable    a Cox model that shows separation or does not converge
    ├── PValueFloorWarning      p_value_floor    a rank test whose design cannot reach small p-values
    ├── NotComputableWarning    not_computable   a figure that is null, and why
    ├── MissingDataWarning      missing_data     patients or values left out of an analysis
    └── NumericalWarning        numerical        a numerical warning from scipy or lifelines, passed on

The analysis functions never call :func:`warnings.warn`: they add to a :class:`WarningLog`, and the
results carry the records (``results.json`` ``warnings[]``). A caller who wants Python warnings can
``warnings.warn(w)`` each collected instance. Library warnings are caught with :func:`library_warnings`
so a run under ``pytest -W error`` does not crash on them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar


class AnalysisWarning(UserWarning):
    """Base class; ``scope`` is the results path the caveat qualifies, e.g. ``survival.os.cox``."""

    code: ClassVar[str] = "analysis"

    def __init__(self, message: str, scope: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.scope = scope


class SmallSampleWarning(AnalysisWarning):
    code = "small_n"


class FewEventsWarning(AnalysisWarning):
    code = "few_events"


class NotEstimableWarning(AnalysisWarning):
    code = "not_estimable"


class PValueFloorWarning(AnalysisWarning):
    code = "p_value_floor"


class NotComputableWarning(AnalysisWarning):
    code = "not_computable"


class MissingDataWarning(AnalysisWarning):
    code = "missing_data"


class NumericalWarning(AnalysisWarning):
    code = "numerical"


@dataclass
class WarningLog:
    """The caveats of one analysis, in the order they were found."""

    items: list[AnalysisWarning] = field(default_factory=list)

    def add(self, kind: type[AnalysisWarning], scope: str, message: str) -> None:
        self.items.append(kind(message, scope))

    def add_not_computable(self, scope: str, message: str) -> None:
        self.add(NotComputableWarning, scope, message)

    def relay(self, scope: str, caught: list[warnings.WarningMessage]) -> None:
        """Pass on numerical warnings a library raised; drop deprecation notices meant for developers."""
        for item in caught:
            if not issubclass(item.category, DeprecationWarning | PendingDeprecationWarning | FutureWarning):
                self.add(NumericalWarning, scope, f"{item.category.__name__}: {str(item.message).strip()}")


@contextmanager
def library_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record every warning raised inside the block (scipy, lifelines, numpy) instead of raising it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
