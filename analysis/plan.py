"""The analysis plan: what to compute and with which rules, all of it from the study file.

:class:`AnalysisPlan` names no study thing: its default is an empty plan (no instrument, comparison, endpoint,
factor or Table 1 fact) with the numerical rules of the seed paper. :func:`plan_from_study` is the one way from
a study definition to its plan: the ``[analysis]`` settings and tables (repeated measures, paired comparisons,
survival, Table 1), the facts they name (flag or categorical, level order), the endpoints' cohort.csv columns,
timepoints, event flags, instruments' minimal clinically important differences, implant failure modes and
reoperations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from config.errors import ConfigError
from config.study import AnalysisSettings, Fact, StudyDefinition

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

SEX = "sex"
"""The built-in cohort column that may be a subgroup, a log-rank factor or a Cox covariate besides the facts."""

DEATH = "death"
"""The built-in 0/1 cohort column of death (every cohort has it; the reverse Kaplan–Meier censors on it)."""

COX_ROLES = ("covariate", "stratum")
"""What a survival factor is in the Cox models (:meth:`AnalysisPlan.with_factor`): a term, or a stratum."""

RESERVED_GROUPS = ("between_groups", "overall")
"""Keys of ``paired.<name>`` beside the subgroups: no subgroup may be called so."""

_SETTINGS = AnalysisSettings()
KEPT_SETTINGS = ("quantile_type", "alpha", "min_n_for_test", "min_events_per_covariate", "landmark_months",
                 "risk_table_every_months", "baseline_timepoint")
"""The study file's ``[analysis]`` scalars the plan copies (defaults: :class:`config.AnalysisSettings`)."""


@dataclass(frozen=True)
class Covariate:
    """A survival factor: a categorical column with a reference level, or a 0/1 column (``reference=None``).

    ``levels`` orders the non-reference levels (one Cox term ``name=level`` each; log-rank groups follow the
    reference and these); levels found in the data but not listed follow in alphabetical order. Levels absent
    from the data get no term.
    """

    name: str
    reference: str | None = None
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Repeated:
    """Friedman and pairwise signed-rank tests of one instrument over its timepoints (``repeated_measures.<x>``)."""

    instrument: str
    timepoints: tuple[str, ...]


@dataclass(frozen=True)
class Subgroup:
    """One subgroup of a fact: its key in ``paired.<name>`` and the fact's value that selects it."""

    name: str
    value: str


@dataclass(frozen=True)
class Subgroups:
    """The two subgroups of a fact a paired comparison is split by.

    A 0/1 flag ``F`` gives ``F`` (= 1) and ``no_F`` (= 0); a categorical fact its two levels, in order.
    """

    fact: str
    label: str
    groups: tuple[Subgroup, Subgroup]
    flag: bool

    @classmethod
    def of_flag(cls, fact: str, label: str = "") -> Subgroups:
        return cls(fact, label or fact, (Subgroup(fact, "1"), Subgroup(f"no_{fact}", "0")), flag=True)

    @classmethod
    def of_levels(cls, fact: str, levels: tuple[str, str], label: str = "") -> Subgroups:
        return cls(fact, label or fact, (Subgroup(levels[0], levels[0]), Subgroup(levels[1], levels[1])), flag=False)

    @property
    def names(self) -> tuple[str, str]:
        return self.groups[0].name, self.groups[1].name


@dataclass(frozen=True)
class Paired:
    """A before/after comparison of one instrument (``paired.<name>``): overall, and/or within the two
    subgroups of ``by`` with the change compared between them."""

    name: str
    instrument: str
    before: str
    after: str
    by: Subgroups | None = None
    overall: bool = True

    @property
    def timepoints(self) -> tuple[str, str]:
        return self.before, self.after


@dataclass(frozen=True)
class Endpoint:
    """A survival endpoint (``survival.<name>``) and its cohort.csv columns."""

    name: str
    label: str = ""
    time_column: str = ""
    event_column: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", self.label or self.name)
        object.__setattr__(self, "time_column", self.time_column or f"{self.name}_months")
        object.__setattr__(self, "event_column", self.event_column or f"{self.name}_event")

    @property
    def columns(self) -> tuple[str, str]:
        return self.time_column, self.event_column


@dataclass(frozen=True)
class Table1Fact:
    """A row group of Table 1: a 0/1 flag (``{count, n, percent}``) or a categorical fact whose ``levels``
    come first (when present), then the rest by count."""

    name: str
    flag: bool = False
    levels: tuple[str, ...] = ()


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
class AnalysisPlan:
    """Rules and contents of the analysis. The default is empty (nothing study-specific) with the seed paper's
    numerical rules; :func:`plan_from_study` builds the plan of a study file."""

    quantile_type: int = _SETTINGS.quantile_type
    alpha: float = _SETTINGS.alpha
    min_n_for_test: int = _SETTINGS.min_n_for_test
    min_events_per_covariate: int = _SETTINGS.min_events_per_covariate
    landmark_months: tuple[float, ...] = _SETTINGS.landmark_months
    risk_table_every_months: float = _SETTINGS.risk_table_every_months
    baseline_timepoint: str | None = _SETTINGS.baseline_timepoint
    repeated: tuple[Repeated, ...] = ()
    """Repeated-measures analyses, one per instrument (``repeated_measures.<instrument>``)."""
    paired: tuple[Paired, ...] = ()
    """Before/after comparisons (``paired.<name>``)."""
    endpoints: tuple[Endpoint, ...] = ()
    """Survival endpoints analysed (``survival.<name>``)."""
    logrank: tuple[Covariate, ...] = ()
    """Factors of the log-rank tests of every endpoint (``survival.<endpoint>.logrank.<name>``)."""
    survival_covariates: tuple[Covariate, ...] = ()
    """Cox covariates, in order: univariable models of each, and the multivariable model of all."""
    cox_strata: tuple[str, ...] = ()
    """Cohort columns every Cox model (univariable and multivariable) is stratified by: a baseline hazard per
    value (R ``coxph(... + strata(column))``; lifelines ``fit(strata=[...])``), no term, no hazard ratio."""
    table1: tuple[Table1Fact, ...] = ()
    """Facts described in Table 1 after sex and age."""
    event_flags: tuple[str, ...] = ()
    """0/1 cohort columns whose rates are ``events[]`` (complications, events, death)."""
    p_floor_threshold: float = 0.001
    """A rank test whose smallest attainable p is at or above this is flagged (the paper reports P < 0.001)."""
    cox_max_abs_coef: float = 10.0
    """|log HR| above this (HR beyond e^±10) is taken as a sign of separation: "not estimable"."""
    cox_max_se: float = 5.0
    """A standard error of log HR above this is taken as a sign of separation: "not estimable"."""
    timepoints: tuple[str, ...] = ()
    """Every timepoint of the study, in order; empty: those of the repeated and paired analyses."""
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
        self._check_contents()

    def _check_contents(self) -> None:
        for repeated in self.repeated:
            if len(set(repeated.timepoints)) < 2:
                raise ConfigError("analysis.repeated", f"{repeated.instrument}: fewer than two distinct timepoints",
                                  'list at least two, e.g. ["pre", "1m", "3m"]')
        _distinct("analysis.repeated", [r.instrument for r in self.repeated], "instrument")
        _distinct("analysis.paired", [spec.name for spec in self.paired], "name")
        _distinct("analysis.survival.endpoints", [e.name for e in self.endpoints], "endpoint")
        _distinct("analysis.survival.logrank", [c.name for c in self.logrank], "factor")
        _distinct("analysis.survival.cox", [c.name for c in self.survival_covariates], "covariate")
        _distinct("analysis.survival.cox_strata", list(self.cox_strata), "stratum")
        both = [c.name for c in self.survival_covariates if c.name in self.cox_strata]
        if both:
            raise ConfigError("analysis.survival.cox_strata", f"{', '.join(map(repr, both))} is both a Cox covariate "
                                                              "and a stratum", "make it one or the other")
        _distinct("analysis.table1.facts", [f.name for f in self.table1], "fact")
        for spec in self.paired:
            where = f"analysis.paired ({spec.name})"
            if spec.before == spec.after:
                raise ConfigError(where, f"before and after are both {spec.before!r}", "name two timepoints")
            if spec.by is None and not spec.overall:
                raise ConfigError(where, "overall = false without `by`: nothing to compare",
                                  "remove overall, or add by = FACT")
            if spec.by is not None:
                names = spec.by.names
                if names[0] == names[1] or set(names) & set(RESERVED_GROUPS):
                    raise ConfigError(where, f"the subgroups of {spec.by.fact} are named {names[0]!r} and "
                                             f"{names[1]!r}", "use two distinct levels other than "
                                                              f"{' and '.join(RESERVED_GROUPS)}")

    @property
    def quantile_method(self) -> str:
        """The numpy ``quantile`` method for :attr:`quantile_type`."""
        return QUANTILE_METHODS[self.quantile_type]

    @property
    def confidence_level(self) -> float:
        return 1.0 - self.alpha

    @property
    def all_timepoints(self) -> tuple[str, ...]:
        """Every timepoint of the study; without :attr:`timepoints`, those the analyses name, in order."""
        if self.timepoints:
            return self.timepoints
        named = [tp for spec in self.repeated for tp in spec.timepoints]
        named += [tp for spec in self.paired for tp in spec.timepoints]
        return tuple(dict.fromkeys(named))

    @property
    def baseline(self) -> str:
        if self.baseline_timepoint:
            return self.baseline_timepoint
        return self.all_timepoints[0] if self.all_timepoints else ""

    def with_factor(self, covariate: Covariate, cox: str = "covariate") -> AnalysisPlan:
        """This plan with one more survival factor (e.g. the site): a log-rank factor, and in the Cox models
        a covariate (``cox="covariate"``: its terms and hazard ratios) or a stratum (``cox="stratum"``: every
        Cox model gets a baseline hazard per level, :attr:`cox_strata`)."""
        if cox not in COX_ROLES:
            raise ConfigError("analysis.survival", f"{covariate.name}: cox = {cox!r} is neither of "
                                                   f"{' and '.join(map(repr, COX_ROLES))}",
                              'use cox = "covariate" (a term) or cox = "stratum" (a baseline hazard per level)')
        if cox == "stratum":
            return replace(self, logrank=(*self.logrank, covariate), cox_strata=(*self.cox_strata, covariate.name))
        return replace(self, logrank=(*self.logrank, covariate),
                       survival_covariates=(*self.survival_covariates, covariate))

    @property
    def fact_columns(self) -> tuple[str, ...]:
        """The cohort columns the plan reads besides the built-ins: Table 1 facts, subgroups, survival factors."""
        names = [f.name for f in self.table1]
        names += [spec.by.fact for spec in self.paired if spec.by is not None]
        names += [c.name for c in (*self.logrank, *self.survival_covariates)]
        names += self.cox_strata
        return tuple(dict.fromkeys(names))


def _distinct(where: str, names: list[str], what: str) -> None:
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(where, f"{what} {', '.join(map(repr, twice))} listed twice", f"list each {what} once")


# --------------------------------------------------------------------------- from the study file


def plan_from_study(study: StudyDefinition) -> AnalysisPlan:
    """The whole analysis plan of a study file: its [analysis] settings and tables, the facts and endpoints
    they name, timepoints, event flags, instruments' MCIDs, reoperations and implant failure modes."""
    settings = study.analysis
    cox = tuple(_cox_covariate(study, spec.fact, spec.reference, spec.levels) for spec in settings.survival.cox)
    by_name = {c.name: c for c in cox}
    endpoints = settings.survival.endpoints or tuple(study.endpoints)
    return AnalysisPlan(
        **{name: getattr(settings, name) for name in KEPT_SETTINGS},
        repeated=tuple(Repeated(spec.instrument, tuple(spec.timepoints)) for spec in settings.repeated),
        paired=tuple(Paired(spec.name, spec.instrument, spec.before, spec.after,
                            _subgroups(study, spec.by, spec.name) if spec.by else None, spec.overall)
                     for spec in settings.paired),
        endpoints=tuple(_endpoint(study, name) for name in endpoints),
        logrank=tuple(by_name.get(name) or _factor(study, name) for name in settings.survival.logrank),
        survival_covariates=cox,
        table1=tuple(_table1_fact(study, name, by_name.get(name)) for name in settings.table1_facts),
        event_flags=(*study.flag_columns, DEATH),
        timepoints=tuple(study.timepoints),
        mcids=tuple(Mcid(name, spec.mcid, spec.better) for name, spec in study.instruments.items()
                    if spec.mcid is not None and spec.better is not None),
        failure_modes=tuple(FailureMode(number, flags) for number, flags in study.implant.failure_types.items()),
        reoperation_flags=tuple(study.reoperations),
        implant_endpoint=study.implant.survival_endpoint,
    )


def _fact(study: StudyDefinition, name: str, where: str) -> Fact | None:
    """The fact ``name`` (None for the built-in sex); a ConfigError for anything else."""
    if name == SEX:
        return None
    if name not in study.facts:
        raise ConfigError(where, f"{name!r} is not a fact", f"name a [facts.*] table or {SEX!r}: "
                                                            f"{', '.join(study.facts) or 'none defined'}")
    return study.facts[name]


def _levels(fact: Fact | None) -> tuple[str, ...]:
    """The fact's levels in table order; none for a multi-valued body site ("+"-joined) or without levels."""
    if fact is None or fact.is_flag or fact.source == "body_site":
        return ()
    return tuple(fact.levels) or tuple(fact.values)


def _cox_covariate(study: StudyDefinition, name: str, reference: str | None,
                   levels: tuple[str, ...]) -> Covariate:
    where = f"analysis.survival.cox ({name})"
    fact = _fact(study, name, where)
    if fact is not None and fact.is_flag:
        if reference is not None or levels:
            raise ConfigError(where, f"{name} is a 0/1 rule flag: it has no reference level",
                              "remove reference and levels")
        return Covariate(name)
    known = _levels(fact)
    reference = reference or (known[0] if known else None)
    if reference is None:
        raise ConfigError(where, f"{name} has no reference level", 'add reference = "LEVEL"')
    return Covariate(name, reference, tuple(levels) or tuple(lvl for lvl in known if lvl != reference))


def _factor(study: StudyDefinition, name: str) -> Covariate:
    """A log-rank factor that is no Cox covariate: its groups in the fact's level order."""
    fact = _fact(study, name, f"analysis.survival.logrank ({name})")
    if fact is not None and fact.is_flag:
        return Covariate(name)
    known = _levels(fact)
    return Covariate(name, known[0], known[1:]) if known else Covariate(name)


def _subgroups(study: StudyDefinition, name: str, paired: str) -> Subgroups:
    where = f"analysis.paired ({paired}).by"
    fact = _fact(study, name, where)
    if fact is not None and fact.is_flag:
        return Subgroups.of_flag(name, fact.label)
    levels = _levels(fact)
    if len(levels) != 2:
        raise ConfigError(where, f"{name} has {len(levels)} known level(s), a comparison needs exactly two",
                          f"split by a 0/1 rule flag, or give [facts.{name}] levels = [two values]")
    return Subgroups.of_levels(name, (levels[0], levels[1]), fact.label if fact is not None else "")


def _endpoint(study: StudyDefinition, name: str) -> Endpoint:
    if name not in study.endpoints:
        raise ConfigError("analysis.survival.endpoints", f"{name!r} is not an endpoint",
                          f"name an [endpoints.*] table: {', '.join(study.endpoints) or 'none defined'}")
    endpoint = study.endpoints[name]
    time_column, event_column = endpoint.columns
    return Endpoint(name, endpoint.label, time_column, event_column)


def _table1_fact(study: StudyDefinition, name: str, covariate: Covariate | None) -> Table1Fact:
    fact = _fact(study, name, f"analysis.table1.facts ({name})")
    if fact is None:
        raise ConfigError("analysis.table1.facts", f"{SEX} is always in Table 1", f"remove {SEX!r}")
    if fact.is_flag:
        return Table1Fact(name, flag=True)
    levels = _levels(fact)
    if not levels and covariate is not None and covariate.reference is not None:
        levels = (covariate.reference, *covariate.levels)
    return Table1Fact(name, levels=levels)
