"""The analysis plan: what to compute and with which rules, defaults as in the seed paper.

:class:`AnalysisPlan` extends the study file's ``[analysis]`` settings (:class:`config.AnalysisSettings`: the
same fields, declared once); :func:`plan_from_study` is the one way from a study definition to its plan and
adds what the study file says elsewhere (timepoints, event flags, instruments' minimal clinically important
differences, implant failure modes, reoperations).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from config.errors import ConfigError
from config.study import AnalysisSettings, StudyDefinition

QUANTILE_METHODS = {
    1: "inverted_cdf",
    2: "averaged_inverted_cdf",
    3: "closest_observation",
    4: "interpolated_inverted_cdf",
    5: "hazen",
    6: "weibull",
    7: "linear",
    8: "median_unbiased",
    9: "normal_unbiased",
}
"""Hyndman–Fan sample-quantile types (R ``quantile(type=)``) → numpy ``quantile(method=)``."""

EVENT_FLAGS = (
    "heterotopic_ossification", "screw_fracture", "dislocation", "delayed_wound_healing", "deep_infection",
    "periprosthetic_osteolysis", "implant_loosening", "local_recurrence", "distant_metastasis", "death",
)


@dataclass(frozen=True)
class Covariate:
    """A survival covariate: a categorical column with a reference level, or a 0/1 column (``reference=None``).

    ``levels`` orders the non-reference levels (one Cox term ``name=level`` each); levels found in the data
    but not listed follow in alphabetical order. Levels absent from the data get no term.
    """

    name: str
    reference: str | None = None
    levels: tuple[str, ...] = ()


DEFAULT_COVARIATES = (
    Covariate("sex", "male", ("female",)),
    Covariate("tumor_category", "primary", ("secondary",)),
    Covariate("resection_margin", "wide", ("marginal", "intralesional", "radical")),
    Covariate("zone_iv"),
)


HENDERSON_TYPES = {1: "soft tissue", 2: "aseptic loosening", 3: "structural", 4: "infection",
                   5: "tumour progression"}
"""Failure modes of tumour endoprostheses (Henderson ER et al., J Bone Joint Surg Am 2011;93:418-29)."""

BETTER = ("lower", "higher")


@dataclass(frozen=True)
class Mcid:
    """The minimal clinically important difference of an instrument, and which direction is better."""

    instrument: str
    points: float
    better: str  # "lower" or "higher"


@dataclass(frozen=True)
class FailureMode:
    """A Henderson failure type and the cohort's 0/1 complication or event columns that count as it."""

    type: int
    flags: tuple[str, ...]

    @property
    def name(self) -> str:
        return HENDERSON_TYPES[self.type]


@dataclass(frozen=True)
class AnalysisPlan(AnalysisSettings):
    """Rules of the analysis: the study file's ``[analysis]`` settings (inherited from
    :class:`config.AnalysisSettings`, so their fields and defaults are declared once, there) plus what the
    analysis takes from elsewhere in the study file and its own numerical rules. Every field has the seed
    paper's default; :func:`plan_from_study` builds the plan of a study file."""

    event_flags: tuple[str, ...] = EVENT_FLAGS
    survival_covariates: tuple[Covariate, ...] = DEFAULT_COVARIATES
    p_floor_threshold: float = 0.001
    """A rank test whose smallest attainable p is at or above this is flagged (the paper reports P < 0.001)."""
    cox_max_abs_coef: float = 10.0
    """|log HR| above this (HR beyond e^±10) is taken as a sign of separation: "not estimable"."""
    cox_max_se: float = 5.0
    """A standard error of log HR above this is taken as a sign of separation: "not estimable"."""
    timepoints: tuple[str, ...] = ()
    """Every timepoint of the study, in order; empty: :attr:`repeated_timepoints`."""
    mcids: tuple[Mcid, ...] = ()
    failure_modes: tuple[FailureMode, ...] = ()
    reoperation_flags: tuple[str, ...] = ()
    """0/1 cohort columns of reoperations (each with ``<flag>_months``: time to the first one)."""
    implant_endpoint: str | None = None
    """The reoperation whose time to first occurrence is implant survival (Kaplan–Meier)."""

    def __post_init__(self) -> None:
        if self.quantile_type not in QUANTILE_METHODS:
            raise ConfigError("analysis.quantile_type", f"{self.quantile_type} is not a Hyndman–Fan type",
                              "use an integer from 1 to 9 (7 is R's default)")
        if not 0 < self.alpha < 1:
            raise ConfigError("analysis.alpha", f"{self.alpha} is not between 0 and 1", "use e.g. 0.05")
        if len(set(self.repeated_timepoints)) < 2:
            raise ConfigError("analysis.repeated_timepoints", "fewer than two distinct timepoints",
                              'list at least two, e.g. ["pre", "1m", "3m", "6m"]')
        for name in ("min_n_for_test", "min_events_per_covariate"):
            if getattr(self, name) < 1:
                raise ConfigError(f"analysis.{name}", "must be at least 1", "use e.g. 10")
        if any(m <= 0 for m in self.landmark_months):
            raise ConfigError("analysis.landmark_months", "landmarks must be after surgery (> 0 months)",
                              "use e.g. [6, 12, 24]")
        if self.risk_table_every_months <= 0:
            raise ConfigError("analysis.risk_table_every_months", "must be above 0", "use e.g. 3")
        if self.implant_endpoint is not None and self.implant_endpoint not in self.reoperation_flags:
            raise ConfigError("implant.survival_endpoint", f"{self.implant_endpoint!r} is not a reoperation",
                              "name a key of [reoperations]")

    @property
    def quantile_method(self) -> str:
        """The numpy ``quantile`` method for :attr:`quantile_type`."""
        return QUANTILE_METHODS[self.quantile_type]

    @property
    def confidence_level(self) -> float:
        return 1.0 - self.alpha

    @property
    def all_timepoints(self) -> tuple[str, ...]:
        return self.timepoints or self.repeated_timepoints

    @property
    def baseline(self) -> str:
        return self.baseline_timepoint or self.all_timepoints[0]


def plan_from_study(study: StudyDefinition) -> AnalysisPlan:
    """The whole analysis plan of a study file: its [analysis] settings, timepoints, event flags, instruments'
    MCIDs, reoperations and implant failure modes."""
    settings = {item.name: getattr(study.analysis, item.name) for item in fields(AnalysisSettings)}
    return AnalysisPlan(
        **settings,
        event_flags=(*study.flag_columns, "death"),
        timepoints=tuple(study.timepoints),
        mcids=tuple(Mcid(name, spec.mcid, spec.better) for name, spec in study.instruments.items()
                    if spec.mcid is not None and spec.better is not None),
        failure_modes=tuple(FailureMode(number, flags) for number, flags in study.implant.failure_types.items()),
        reoperation_flags=tuple(study.reoperations),
        implant_endpoint=study.implant.survival_endpoint,
    )
