"""Statistics of the study: pure functions from the cohort tables to a :class:`Results` tree.

``analyse(patients, measures, plan_from_study(study), events=cohort.events, cutoff=data_cutoff)`` runs the
whole plan; ``Results.to_dict()`` is ``results.json``
(documented in ``docs/results.md``). No I/O, no logging, no plotting; caveats are collected in
``Results.warnings`` as records of the warning classes below, never emitted as Python warnings.
"""

from analysis.analyse import analyse
from analysis.claims import ClaimVerdict, assess_claims
from analysis.plan import (
    AnalysisPlan,
    Covariate,
    Endpoint,
    FailureMode,
    Mcid,
    Paired,
    Repeated,
    Subgroup,
    Subgroups,
    Table1Fact,
    plan_from_study,
)
from analysis.results import SCHEMA_VERSION, Results
from analysis.warnings import (
    AnalysisWarning,
    FewEventsWarning,
    MissingDataWarning,
    NotComputableWarning,
    NotEstimableWarning,
    NumericalWarning,
    PValueFloorWarning,
    SmallSampleWarning,
)

__all__ = [
    "SCHEMA_VERSION",
    "AnalysisPlan",
    "AnalysisWarning",
    "ClaimVerdict",
    "Covariate",
    "Endpoint",
    "FailureMode",
    "FewEventsWarning",
    "Mcid",
    "MissingDataWarning",
    "NotComputableWarning",
    "NotEstimableWarning",
    "NumericalWarning",
    "PValueFloorWarning",
    "Paired",
    "Repeated",
    "Results",
    "SmallSampleWarning",
    "Subgroup",
    "Subgroups",
    "Table1Fact",
    "analyse",
    "assess_claims",
    "plan_from_study",
]
