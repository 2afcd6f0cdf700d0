"""The results tree: plain frozen dataclasses, turned into the ``results.json`` layout by :meth:`Results.to_dict`.

Field names are the JSON keys (``docs/results.md``); mappings keyed by a study's names (instrument, timepoint,
comparison, subgroup, fact, endpoint, factor) are ``dict``s. :class:`Table1` and :class:`SubgroupComparison`
put their dict's keys beside their fixed ones (``table1.<fact>``, ``paired.<name>.<subgroup>``). A figure that
cannot be computed is ``None`` (JSON ``null``) and a warning says why.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = "3.1"


@dataclass(frozen=True)
class WarningRecord:
    code: str
    message: str
    scope: str


@dataclass(frozen=True)
class LevelCount:
    level: str
    count: int
    percent: float | None


@dataclass(frozen=True)
class FlagCount:
    count: int
    n: int
    percent: float | None


@dataclass(frozen=True)
class NumericSummary:
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class Table1:
    """Table 1: ``n``, ``sex``, ``age`` and one entry per fact of the plan (a 0/1 flag: :class:`FlagCount`;
    a categorical fact: its levels). In ``results.json`` the facts sit beside ``n``, ``sex`` and ``age``."""

    n: int
    sex: list[LevelCount]
    age: NumericSummary
    facts: dict[str, list[LevelCount] | FlagCount] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "sex": plain(self.sex), "age": plain(self.age), **plain(self.facts)}


@dataclass(frozen=True)
class TimepointSummary:
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    mean: float | None
    sd: float | None


@dataclass(frozen=True)
class Friedman:
    statistic: float | None
    df: int | None
    p: float | None
    n: int


@dataclass(frozen=True)
class Effect:
    """An effect estimate with its interval; ``conf_level`` is the level the interval has (it can be lower
    than asked for when the sample is too small for it: R's rule), ``method`` how it was computed."""

    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    conf_level: float | None
    method: str


NO_EFFECT = Effect(None, None, None, None, "not computed")


@dataclass(frozen=True)
class SignedRank:
    """Wilcoxon signed-rank test of later − earlier; ``statistic`` is R's V (sum of positive ranks)."""

    statistic: float | None
    p: float | None
    n: int
    n_zero: int
    method: str
    method_reason: str
    p_floor: float | None


@dataclass(frozen=True)
class PairwiseComparison(SignedRank):
    a: str = ""
    b: str = ""
    p_adjusted: float | None = None
    p_adjusted_floor: float | None = None
    hodges_lehmann: Effect = NO_EFFECT
    mean_difference: Effect = NO_EFFECT


@dataclass(frozen=True)
class RepeatedMeasures:
    timepoints: dict[str, TimepointSummary]
    friedman: Friedman
    pairwise: list[PairwiseComparison]


@dataclass(frozen=True)
class PairedComparison:
    """Paired t-test of after − before on the patients with both values."""

    before: str
    after: str
    n: int
    mean_pre: float | None
    sd_pre: float | None
    mean_post: float | None
    sd_post: float | None
    mean_difference: float | None
    ci_lower: float | None
    ci_upper: float | None
    t: float | None
    df: int | None
    p: float | None
    wilcoxon: SignedRank
    hodges_lehmann: Effect = NO_EFFECT


@dataclass(frozen=True)
class RankSum:
    """Wilcoxon rank-sum (Mann–Whitney) test; ``statistic`` is R's W (U of the first group)."""

    statistic: float | None
    p: float | None
    method: str
    method_reason: str
    p_floor: float | None


@dataclass(frozen=True)
class GroupComparison:
    """Change (after − before) compared between two subgroups: Welch t and rank-sum of the first group's
    changes against the second's. ``n``, ``mean_change`` and ``sd_change`` are keyed by subgroup name."""

    groups: list[str]
    n: dict[str, int]
    mean_change: dict[str, float | None]
    sd_change: dict[str, float | None]
    t: float | None
    df: float | None
    p: float | None
    rank_sum: RankSum
    hodges_lehmann: Effect = NO_EFFECT
    mean_difference: Effect = NO_EFFECT


@dataclass(frozen=True)
class SubgroupComparison:
    """A paired comparison within the two subgroups of a fact, with the change compared between them, and
    optionally on every patient (``overall``). In ``results.json``: ``{<group1>, <group2>, between_groups}``
    (and ``overall``)."""

    groups: dict[str, PairedComparison]
    between_groups: GroupComparison
    overall: PairedComparison | None = None

    def to_dict(self) -> dict[str, Any]:
        head = {"overall": plain(self.overall)} if self.overall is not None else {}
        return {**head, **plain(self.groups), "between_groups": plain(self.between_groups)}


@dataclass(frozen=True)
class EventRate:
    name: str
    count: int
    n: int
    percent: float | None
    ci_lower: float | None
    ci_upper: float | None
    days_from_surgery: list[int] | None = None
    """Days from surgery to each patient's first occurrence, ascending; None without the events table."""
    median_days_from_surgery: float | None = None


@dataclass(frozen=True)
class FollowUp:
    n: int
    mean_months: float | None
    median_months: float | None
    min_months: float | None
    max_months: float | None
    reverse_km_median_months: float | None
    reverse_km_median_reached: bool
    completeness: float | None = None
    """Clark's C: observed ÷ potential follow-up (to the data cut-off, or to death), 0–1."""
    completeness_cutoff: str | None = None
    completeness_cutoff_rule: str | None = None
    observed_months: float | None = None
    potential_months: float | None = None


@dataclass(frozen=True)
class KmPoint:
    time_months: float
    survival: float
    ci_lower: float | None
    ci_upper: float | None
    at_risk: int
    events: int


@dataclass(frozen=True)
class Landmark:
    """Kaplan–Meier estimate at ``months`` with its CI and the number at risk (R ``summary(fit, times =)``)."""

    months: float
    survival: float | None
    ci_lower: float | None
    ci_upper: float | None
    at_risk: int


@dataclass(frozen=True)
class AtRisk:
    """A column of the numbers-at-risk table: at risk at ``months`` and events up to and including it."""

    months: float
    at_risk: int
    cumulative_events: int


@dataclass(frozen=True)
class LogRank:
    statistic: float | None
    df: int | None
    p: float | None
    groups: list[str]
    events: int = 0


@dataclass(frozen=True)
class CoxTerm:
    term: str
    covariate: str
    coef: float | None = None
    se: float | None = None
    hr: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    p: float | None = None
    ph_statistic: float | None = None
    ph_p: float | None = None


@dataclass(frozen=True)
class UnivariableTerm(CoxTerm):
    """A term of a single-covariate model, with that model's ``estimable``, ``reason``, ``n``, ``events`` and
    ``strata``."""

    estimable: bool = False
    reason: str | None = None
    n: int = 0
    events: int = 0
    strata: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CoxModel:
    """``reason``: why the model is not estimable; for an estimable stratified model, the strata that add
    nothing to the estimates (None when all do). ``strata``: the columns with a baseline hazard per value."""

    estimable: bool
    reason: str | None
    n: int
    events: int
    events_per_term: float | None
    terms: list[CoxTerm]
    strata: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Cox:
    univariable: list[UnivariableTerm]
    multivariable: CoxModel


@dataclass(frozen=True)
class KaplanMeier:
    n: int
    events: int
    median_months: float | None
    median_reached: bool
    km: list[KmPoint]
    censored_months: list[float]
    median_ci_lower: float | None
    median_ci_upper: float | None
    landmarks: list[Landmark]
    at_risk_table: list[AtRisk]


@dataclass(frozen=True)
class SurvivalEndpoint(KaplanMeier):
    logrank: dict[str, LogRank]
    cox: Cox


@dataclass(frozen=True)
class ResponderRate:
    """Patients whose change from the baseline reaches the MCID (in the better direction), with an exact CI."""

    timepoint: str
    n: int
    count: int
    percent: float | None
    ci_lower: float | None
    ci_upper: float | None


@dataclass(frozen=True)
class Responders:
    mcid: float
    better: str
    baseline: str
    timepoints: list[ResponderRate]


@dataclass(frozen=True)
class FailureType:
    """Patients with a complication or event of one Henderson failure type."""

    type: int
    name: str
    flags: list[str]
    count: int
    n: int
    percent: float | None
    ci_lower: float | None
    ci_upper: float | None


@dataclass(frozen=True)
class Implant:
    failure_types: list[FailureType]
    any_failure: FailureType | None
    reoperations: list[EventRate]
    survival_endpoint: str | None
    survival: KaplanMeier | None


@dataclass(frozen=True)
class Results:
    n_patients: int
    methods: dict[str, str]
    table1: Table1
    repeated_measures: dict[str, RepeatedMeasures]
    paired: dict[str, PairedComparison | SubgroupComparison]
    events: list[EventRate]
    followup: FollowUp
    survival: dict[str, SurvivalEndpoint]
    responders: dict[str, Responders] = field(default_factory=dict)
    implant: Implant | None = None
    warnings: list[WarningRecord] = field(default_factory=list)
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` document: plain dicts, lists, str, int, float, bool and None."""
        raw = dataclasses.asdict(self)
        raw["table1"] = self.table1.to_dict()
        raw["paired"] = plain(self.paired)
        return {"schema_version": raw.pop("schema_version"), **raw}


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses as dicts (their own ``to_dict`` where they have one), lists
    and dicts item by item."""
    if isinstance(value, Table1 | SubgroupComparison):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value
