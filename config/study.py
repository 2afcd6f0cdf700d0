"""The study definition: codes, timepoint windows, analysis plan, quality gates.

Loaded from a TOML file (default: ``config/study.toml``, described field by field in ``docs/study-file.md``),
checked by the pydantic models of its tables (:class:`StudyFile`, on the settings layer of
``config/settings.py``) and turned into frozen dataclasses. Every unknown key, unknown code-system alias or
malformed value raises a one-line :class:`ConfigError` naming the field and the fix.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.errors import ConfigError
from config.settings import LITERAL_SECRETS, FileModel, config_error, field_name, invalid

Coding = tuple[str, str]
"""A (system URI, code) pair."""

DEFAULT_STUDY_FILE = "study.toml"


@dataclass(frozen=True)
class Instrument:
    name: str
    label: str
    codes: frozenset[Coding]
    min: float
    max: float
    unit: str
    mcid: float | None = None  # minimal clinically important difference, in the instrument's units
    better: str | None = None  # "lower" or "higher": which direction is an improvement
    short_label: str = ""  # for table headers and axes; "" in the file: the label
    decimals: int | None = None  # decimals shown in the report; None: the report's default
    answers: Mapping[Coding, float] = field(default_factory=dict)  # coded answers (valueCodeableConcept) -> score

    def __post_init__(self) -> None:
        if not self.short_label:
            object.__setattr__(self, "short_label", self.label)


@dataclass(frozen=True)
class TimepointWindow:
    name: str
    low: int
    high: int
    rule: str  # "latest" or "closest"
    target: int | None = None
    label: str = ""  # for reports, e.g. "1 month"; "": the key

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)


FACT_SOURCES = ("index_procedure", "diagnosis_group", "diagnosis_detail", "body_site", "observation_value", "rule")
"""Where a cohort fact comes from (``from`` of a ``[facts.NAME]`` table); docs/study-file.md, *facts*."""
RULE_OPS = ("contains", "equals", "in")
BUILTIN_COLUMNS = ("study_id", "sex", "age_at_surgery", "surgery_date", "followup_months", "death")
"""cohort.csv columns every study has; ``sex`` may also be a subgroup, log-rank factor or Cox covariate."""


@dataclass(frozen=True)
class Fact:
    """A cohort fact: one cohort.csv column (after study_id, sex, age_at_surgery, surgery_date), derived from
    FHIR as ``source`` says.

    ``values``: value key -> codings (body_site, observation_value); ``code``: the Observation code
    (observation_value); ``rule_*``: a 0/1 flag over another fact (source "rule"); ``levels``: the values in
    table order (the first is the reference level unless a Cox entry says otherwise), empty when they are
    only known from the data; ``level_labels``: value -> label for reports.
    """

    name: str
    label: str
    source: str  # one of FACT_SOURCES
    values: Mapping[str, frozenset[Coding]] = field(default_factory=dict)
    code: frozenset[Coding] = frozenset()
    rule_fact: str | None = None
    rule_op: str | None = None  # "contains", "equals" or "in"
    rule_values: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    level_labels: Mapping[str, str] = field(default_factory=dict)
    short_label: str = ""  # "": the label

    def __post_init__(self) -> None:
        if not self.short_label:
            object.__setattr__(self, "short_label", self.label)

    @property
    def is_flag(self) -> bool:
        """A derived 0/1 column (``from = "rule"``)."""
        return self.source == "rule"

    def level_label(self, value: str) -> str:
        """The report label of a value: ``level_labels`` or the value itself."""
        return self.level_labels.get(value, value)


@dataclass(frozen=True)
class DiagnosisGroup:
    """A ``[diagnosis.GROUP]`` table: Conditions coded ``condition`` belong to the group; the detail text is
    the ``histology`` key (mCODE histology extension or the Condition's own coding) or ``detail`` with
    ``{site}`` the ``primary_site`` key of the related primary condition (``detail_unknown`` without one)."""

    name: str
    condition: frozenset[Coding]
    histology: Mapping[str, frozenset[Coding]] = field(default_factory=dict)
    primary_site: Mapping[str, frozenset[Coding]] = field(default_factory=dict)
    detail: str | None = None
    detail_unknown: str | None = None


@dataclass(frozen=True)
class Progression:
    """Which [events] keys disease-status Observations and relapse Conditions set (None: not mapped)."""

    local: str | None = None
    distant: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """A survival endpoint: cohort.csv ``<name>_months`` and ``<name>_event``; time to the first of ``events``
    (keys of [complications], [events], [reoperations] or "death") after surgery, else censored."""

    name: str
    label: str
    events: tuple[str, ...]
    censor: str = "last_contact"

    @property
    def columns(self) -> tuple[str, str]:
        return f"{self.name}_months", f"{self.name}_event"


@dataclass(frozen=True)
class RepeatedSpec:
    """``[[analysis.repeated]]``: Friedman test and pairwise signed-rank tests of one instrument."""

    instrument: str
    timepoints: tuple[str, ...]


@dataclass(frozen=True)
class PairedSpec:
    """``[[analysis.paired]]``: one before/after comparison (results.json ``paired.<name>``), overall and/or
    within the two subgroups of the fact ``by``."""

    name: str
    instrument: str
    before: str
    after: str
    by: str | None = None
    overall: bool = True


@dataclass(frozen=True)
class CoxSpec:
    """A Cox covariate: a fact (or "sex") with its reference level and non-reference levels in order; a 0/1
    rule flag has neither."""

    fact: str
    reference: str | None = None
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurvivalSpec:
    """``[analysis.survival]``: the endpoints analysed, the log-rank factors and the Cox covariates."""

    endpoints: tuple[str, ...] = ()
    logrank: tuple[str, ...] = ()
    cox: tuple[CoxSpec, ...] = ()
    site: str = "covariate"
    """How the site enters the Cox models of a cohort pooled from 2+ sites: "covariate" (a term) or "stratum"
    (a baseline hazard per site); either way the site is a log-rank factor."""


@dataclass(frozen=True)
class AnalysisSettings:
    """The ``[analysis]`` table; ``analysis.AnalysisPlan`` extends it with what the analysis needs besides."""

    quantile_type: int = 7
    alpha: float = 0.05
    min_n_for_test: int = 10
    min_events_per_covariate: int = 10
    landmark_months: tuple[float, ...] = (6, 12, 24)
    """Kaplan–Meier estimates with their CI at these months (R ``summary(survfit, times =)``)."""
    risk_table_every_months: float = 3
    """Step of the numbers-at-risk table under the Kaplan–Meier plots."""
    baseline_timepoint: str | None = None
    """Responders are counted from this timepoint; None: the first timepoint of [timepoints]."""
    repeated: tuple[RepeatedSpec, ...] = ()
    """``[[analysis.repeated]]``: repeated-measures tests, one per instrument."""
    paired: tuple[PairedSpec, ...] = ()
    """``[[analysis.paired]]``: before/after comparisons."""
    survival: SurvivalSpec = field(default_factory=SurvivalSpec)
    table1_facts: tuple[str, ...] = ()
    """``[analysis.table1] facts``: the facts described in Table 1 (after sex and age)."""


@dataclass(frozen=True)
class ImplantSettings:
    """Implant outcome: Henderson failure types (1-5) -> the flag columns counting as each; the reoperation
    whose time to first occurrence is implant survival."""

    failure_types: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    survival_endpoint: str | None = None


@dataclass(frozen=True)
class QualityGates:
    max_unmappable_percent: float = 20.0
    max_cohort_shrink: int = 2
    max_extraction_problem_percent: float = 1.0  # lines/entries read that were not usable resources


@dataclass(frozen=True)
class Claim:
    """A claim of the seed paper, checked against results.json.

    ``kind`` "difference" / "no difference": every p at ``path`` is ``test`` ("below" / "at_least") the
    threshold; "model": ``path`` is a Cox model and the test applies to its terms' p; "proportion": ``path``
    is an event rate (``count``, ``n``) compared with the printed ``numerator`` / ``denominator`` (and
    ``percent``, checked against them). ``effect``: a results path to the effect estimate(s) shown with an
    inconclusive verdict. ``printed_p``: the p the paper printed, shown beside ours.
    """

    text: str
    path: str  # dotted results.json path; "name[]" means every element, "name[key=value]" the matching ones
    test: str = "below"  # "below" or "at_least"
    threshold: float = 0.05
    kind: str = "difference"
    numerator: int | None = None
    denominator: int | None = None
    percent: float | None = None
    printed_p: float | None = None
    effect: str | None = None


@dataclass(frozen=True)
class StudyDefinition:
    title: str
    short_title: str
    study_id_system: str
    pseudonym_prefix: str
    pseudonym_key_env: str
    pseudonym_namespace: str
    systems: Mapping[str, str]
    histology_extension: str
    related_primary_extension: str
    index_procedure: Mapping[str, frozenset[Coding]]
    instruments: Mapping[str, Instrument]
    timepoints: Mapping[str, TimepointWindow]
    complications: Mapping[str, frozenset[Coding]]
    events: Mapping[str, frozenset[Coding]]
    disease_status_code: frozenset[Coding]
    disease_status_worsened: frozenset[Coding]
    disease_status_distant: frozenset[Coding]
    disease_status_local: frozenset[Coding]
    analysis: AnalysisSettings
    quality_gates: QualityGates
    claims: tuple[Claim, ...] = ()
    source: str = ""
    reoperations: Mapping[str, frozenset[Coding]] = field(default_factory=dict)
    implant: ImplantSettings = field(default_factory=ImplantSettings)
    facts: Mapping[str, Fact] = field(default_factory=dict)
    """``[facts.NAME]``: the cohort facts, in cohort.csv order."""
    diagnosis: Mapping[str, DiagnosisGroup] = field(default_factory=dict)
    progression: Progression = field(default_factory=Progression)
    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    """``[endpoints.NAME]``: survival endpoints, in cohort.csv order."""
    followup_schedule: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """``[followup.schedule]``: instrument -> the timepoints it is due at (the follow-up worklist); empty: none."""

    @property
    def fact_columns(self) -> tuple[str, ...]:
        """The facts' cohort.csv columns, in order."""
        return tuple(self.facts)

    @property
    def endpoint_columns(self) -> tuple[str, ...]:
        """cohort.csv columns of the endpoints: per endpoint ``<name>_months`` and ``<name>_event``."""
        return tuple(column for endpoint in self.endpoints.values() for column in endpoint.columns)

    @property
    def index_codes(self) -> frozenset[Coding]:
        """Every coding that marks an index procedure."""
        return frozenset().union(*self.index_procedure.values())

    @property
    def flag_columns(self) -> tuple[str, ...]:
        """Complication and event flags, in cohort.csv order."""
        return (*self.complications, *self.events)

    @property
    def reoperation_columns(self) -> tuple[str, ...]:
        """cohort.csv columns of the reoperations: per key the 0/1 flag and ``<key>_months``."""
        return tuple(column for key in self.reoperations for column in (key, f"{key}_months"))


# --------------------------------------------------------------------------- the file, as pydantic models
#
# Every table of the study file is a FileModel (config/settings.py): unknown fields are forbidden, types are
# strict, ranges and choices are declared. Codings ("ALIAS|CODE") are checked against [systems], which the
# validation gets as its context. Checks across tables (a timepoint named in [analysis] is defined in
# [timepoints], ...) follow the validation and raise ConfigError directly.

Better = Literal["lower", "higher"]
ClaimKind = Literal["difference", "no difference", "proportion", "model"]
ClaimTest = Literal["below", "at_least"]
_CODING_EXAMPLE = 'write e.g. "loinc|72514-3"'
_ANALYSIS = AnalysisSettings()
_GATES = QualityGates()


def parse_coding(text: str, systems: Mapping[str, str]) -> Coding:
    """``"ALIAS|CODE"`` (ALIAS a key of ``systems``) or ``"URI|CODE"`` as (system URI, code).

    Raises :func:`~config.settings.invalid` (problem and fix) when the text is not a usable coding.
    """
    if "|" not in text:
        raise invalid(f"coding {text!r} is not 'ALIAS|CODE'", _CODING_EXAMPLE)
    alias, _, code = text.rpartition("|")
    if "://" in alias or alias.startswith("urn:"):
        return alias, code
    if alias not in systems:
        raise invalid(f"unknown code system {alias!r}",
                      f"add it to [systems] or use one of: {', '.join(sorted(systems))}")
    if not code:
        raise invalid(f"coding {text!r} has no code", _CODING_EXAMPLE)
    return systems[alias], code


def _check_codings(value: list[str], info: ValidationInfo) -> list[str]:
    systems = (info.context or {}).get("systems", {})
    for text in value:
        parse_coding(text, systems)
    return value


def _uri(value: str) -> str:
    if not value.startswith(("http://", "https://", "urn:")):
        raise invalid(f"{value!r} is not a URI", 'write e.g. "http://loinc.org"')
    return value


def _months_after_surgery(value: list[float]) -> list[float]:
    if any(month <= 0 for month in value):
        raise invalid(f"{value!r} is not a list of months after surgery", "write e.g. [6, 12, 24]")
    return sorted(value)


def _pair(value: list[str]) -> list[str]:
    if len(value) != 2:
        raise invalid(f"expected two timepoints (from, to), got {len(value)}", 'write e.g. ["pre", "3m"]')
    return value


Codings = Annotated[list[str], Field(min_length=1), AfterValidator(_check_codings)]
"""A non-empty list of "ALIAS|CODE" codings; a resource matches if any of its codings is listed."""
CodingTable = dict[str, Codings]
"""Keys (values of a cohort column, or column names) → their codings."""
Uri = Annotated[str, AfterValidator(_uri)]


class StudyTable(FileModel):
    title: str = Field(min_length=1)
    short_title: str | None = None  # None: the title
    study_id_system: str = ""
    pseudonym_prefix: str = "PO-"
    pseudonym_namespace: str = ""
    pseudonym_key_env: str = "PELVIC_PSEUDONYM_KEY"

    @field_validator("pseudonym_key_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not value or not (value[0].isalpha() or value[0] == "_") or not value.replace("_", "").isalnum():
            raise invalid(f"{value!r} is not an environment variable name", 'write e.g. "PELVIC_PSEUDONYM_KEY"')
        return value


MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"


class ExtensionsTable(FileModel):
    histology: Uri = MCODE + "mcode-histology-morphology-behavior"
    related_primary: Uri = MCODE + "mcode-related-primary-cancer-condition"


FactSource = Literal["index_procedure", "diagnosis_group", "diagnosis_detail", "body_site", "observation_value",
                     "rule"]
_FACT_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # source -> (required fields, allowed optional fields besides label, from, levels, level_labels, short_label)
    "index_procedure": (set(), set()),
    "diagnosis_group": (set(), set()),
    "diagnosis_detail": (set(), set()),
    "body_site": ({"values"}, set()),
    "observation_value": ({"code", "values"}, set()),
    "rule": ({"fact"}, {"contains", "equals", "in"}),
}
_FACT_EXAMPLES = {
    "values": 'add [facts.NAME.values] with KEY = ["ALIAS|CODE"] lines',
    "code": 'add code = ["ALIAS|CODE"] (the Observation code)',
    "fact": 'add fact = "OTHER" (the fact the rule reads)',
}


def _distinct(value: list[str] | None) -> list[str] | None:
    if value is not None and len(set(value)) != len(value):
        twice = sorted({item for item in value if value.count(item) > 1})
        raise invalid(f"{', '.join(map(repr, twice))} listed twice", "list each once")
    return value


Names = Annotated[list[str], AfterValidator(_distinct)]
"""A list of distinct names."""


class FactTable(FileModel):
    """``[facts.NAME]``: one cohort.csv column and how it is derived from FHIR."""

    label: str = Field(min_length=1)
    source: FactSource = Field(alias="from")
    values: CodingTable | None = None
    code: Codings | None = None
    fact: str | None = Field(None, min_length=1)
    contains: str | None = Field(None, min_length=1)
    equals: str | None = None
    in_: Names | None = Field(None, alias="in", min_length=1)
    levels: Names | None = Field(None, min_length=1)
    level_labels: dict[str, str] | None = None
    short_label: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _fits_its_source(self) -> FactTable:
        required, optional = _FACT_FIELDS[self.source]
        given = {name for name in ("values", "code", "fact", "contains", "equals", "in")
                 if getattr(self, "in_" if name == "in" else name) is not None}
        for name in sorted(given - required - optional):
            raise invalid(f"{name} is not used with from = {self.source!r}", f"remove {name}")
        for name in sorted(required - given):
            raise invalid(f"from = {self.source!r} needs {name}", _FACT_EXAMPLES[name])
        if self.values is not None and not self.values:
            raise invalid("no values", _FACT_EXAMPLES["values"])
        if self.source == "rule" and len(given & optional) != 1:
            raise invalid("a rule needs exactly one test", 'add one of contains = "X", equals = "X", in = ["X", "Y"]')
        known = list(self.values or ())
        if known and self.source == "observation_value" and self.levels is not None:
            for level in self.levels:
                if level not in known:
                    raise invalid(f"level {level!r} is not one of the values", f"use one of: {', '.join(known)}")
        return self


class DiagnosisGroupTable(FileModel):
    """``[diagnosis.GROUP]``: Conditions coded ``condition`` are in the group; the detail is a histology key
    or the ``detail`` template filled with the related primary condition's ``primary_site`` key."""

    condition: Codings
    histology: CodingTable | None = None
    primary_site: CodingTable | None = None
    detail: str | None = None
    detail_unknown: str | None = None

    @model_validator(mode="after")
    def _histology_or_primary_site(self) -> DiagnosisGroupTable:
        if (self.histology is None) == (self.primary_site is None):
            raise invalid("a diagnosis group needs either histology or primary_site codes (not both)",
                          "add a [diagnosis.GROUP.histology] or a [diagnosis.GROUP.primary_site] table")
        if self.primary_site is None and (self.detail is not None or self.detail_unknown is not None):
            raise invalid("detail and detail_unknown are only used with primary_site", "remove them")
        if self.detail is not None and "{site}" not in self.detail:
            raise invalid(f"detail {self.detail!r} does not contain {{site}}",
                          'write e.g. detail = "metastatic {site} carcinoma"')
        return self


class ProgressionTable(FileModel):
    """``[progression]``: the [events] keys that disease-status Observations and relapse Conditions set."""

    local: str | None = Field(None, min_length=1)
    distant: str | None = Field(None, min_length=1)


class EndpointTable(FileModel):
    """``[endpoints.NAME]``: a survival endpoint (cohort.csv NAME_months, NAME_event)."""

    label: str = Field(min_length=1)
    events: Annotated[Names, Field(min_length=1)]
    censor: Literal["last_contact"] = "last_contact"


class InstrumentTable(FileModel):
    label: str | None = None  # None: the instrument's key
    short_label: str | None = Field(None, min_length=1)  # None: the label
    decimals: int | None = Field(None, ge=0, le=6)  # None: the report's default
    codes: Codings
    answers: dict[str, float] = Field(default_factory=dict)  # "ALIAS|CODE" of a coded answer -> its score
    min: float
    max: float
    unit: str = ""
    mcid: float | None = Field(None, gt=0)
    better: Better | None = Field(None, validate_default=True)

    @field_validator("max")
    @classmethod
    def _above_min(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("min")
        if low is not None and value <= low:
            raise invalid(f"max {value:g} is not above min {low:g}", "swap min and max")
        return value

    @field_validator("answers")
    @classmethod
    def _answer_codings(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        _check_codings(list(value), info)
        return value

    @field_validator("mcid")
    @classmethod
    def _within_the_scale(cls, value: float | None, info: ValidationInfo) -> float | None:
        low, high = info.data.get("min"), info.data.get("max")
        if value is not None and low is not None and high is not None and value > high - low:
            raise invalid(f"{value:g} is not within the scale's range (0, {high - low:g}]", "use e.g. mcid = 2")
        return value

    @field_validator("better")
    @classmethod
    def _direction(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("mcid") is not None:
            raise invalid("an instrument with an mcid needs a direction", 'set better = "lower" or "higher"')
        if value is not None and "mcid" in info.data and info.data["mcid"] is None:
            raise invalid("a direction without an mcid",
                          "give the minimal clinically important difference, e.g. mcid = 2, or remove better")
        return value


class TimepointTable(FileModel):
    label: str | None = Field(None, min_length=1)  # None: the key
    window: list[int]
    rule: Literal["latest", "closest"] = "closest"
    target: int | None = Field(None, validate_default=True)

    @field_validator("window")
    @classmethod
    def _low_high(cls, value: list[int]) -> list[int]:
        if len(value) != 2 or value[0] > value[1]:
            raise invalid(f"{value!r} is not [low, high] in days", "write e.g. [15, 45]")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and info.data.get("rule") == "closest":
            raise invalid("a 'closest' window needs an integer target day", "add target = N")
        window = info.data.get("window")
        if value is not None and window is not None and not window[0] <= value <= window[1]:
            raise invalid(f"target day {value} is outside the window {window}",
                          f"give a target from {window[0]} to {window[1]}")
        return value


class RepeatedTable(FileModel):
    """``[[analysis.repeated]]``: a Friedman test and pairwise signed-rank tests of one instrument."""

    instrument: str = Field(min_length=1)
    timepoints: Names

    @field_validator("timepoints")
    @classmethod
    def _two_or_more(cls, value: list[str]) -> list[str]:
        if len(value) < 2:
            raise invalid("fewer than two timepoints", 'list at least two, e.g. ["pre", "1m", "3m"]')
        return value


class PairedTable(FileModel):
    """``[[analysis.paired]]``: one before/after comparison of an instrument."""

    name: str | None = Field(None, min_length=1)  # None: the instrument's key
    instrument: str = Field(min_length=1)
    timepoints: Annotated[list[str], AfterValidator(_pair)]
    by: str | None = Field(None, min_length=1)
    overall: bool | None = None  # None: true without `by`, false with it


class CoxTable(FileModel):
    """``[[analysis.survival.cox]]``: one covariate of the Cox models."""

    fact: str = Field(min_length=1)
    reference: str | None = Field(None, min_length=1)
    levels: Names | None = None


class SurvivalTable(FileModel):
    """``[analysis.survival]``: endpoints analysed, log-rank factors, Cox covariates."""

    endpoints: Names | None = None  # None: every [endpoints.*]
    logrank: Names = Field(default_factory=list)
    cox: list[CoxTable] = Field(default_factory=list)
    site: Literal["covariate", "stratum"] = "covariate"  # several sites pooled: the site in the Cox models


class Table1Table(FileModel):
    """``[analysis.table1]``: the facts described in Table 1."""

    facts: Names = Field(default_factory=list)


class AnalysisTable(FileModel):
    quantile_type: int = _ANALYSIS.quantile_type
    alpha: float = Field(_ANALYSIS.alpha, gt=0, lt=1)
    repeated: list[RepeatedTable] = Field(default_factory=list)
    paired: list[PairedTable] = Field(default_factory=list)
    survival: SurvivalTable = Field(default_factory=SurvivalTable)
    table1: Table1Table = Field(default_factory=Table1Table)
    min_n_for_test: int = Field(_ANALYSIS.min_n_for_test, ge=1)
    min_events_per_covariate: int = Field(_ANALYSIS.min_events_per_covariate, ge=1)
    landmark_months: Annotated[list[float], AfterValidator(_months_after_surgery)] = Field(
        default_factory=lambda: [*_ANALYSIS.landmark_months])
    risk_table_every_months: float = Field(_ANALYSIS.risk_table_every_months, gt=0)
    baseline_timepoint: str | None = _ANALYSIS.baseline_timepoint

    @field_validator("quantile_type")
    @classmethod
    def _hyndman_fan(cls, value: int) -> int:
        if not 1 <= value <= 9:
            raise invalid(f"{value} is not a Hyndman-Fan sample-quantile type",
                          "use an integer from 1 to 9 (7 is R's default)")
        return value


class QualityGatesTable(FileModel):
    max_unmappable_percent: float = Field(_GATES.max_unmappable_percent, ge=0, le=100)
    max_cohort_shrink: int = Field(_GATES.max_cohort_shrink, ge=0)
    max_extraction_problem_percent: float = Field(_GATES.max_extraction_problem_percent, ge=0, le=100)


def _claim_kind(data: Mapping[str, Any]) -> str:
    """The claim's kind; without one, its test says it ("below": a difference, "at_least": none)."""
    kind = data.get("kind")
    return str(kind) if kind else "difference" if data.get("test", "below") == "below" else "no difference"


class ClaimTable(FileModel):
    text: str = Field(min_length=1)
    path: str = Field(min_length=1)
    test: ClaimTest = "below"
    kind: ClaimKind | None = None  # None: from the test
    threshold: float | None = Field(None, gt=0, lt=1, validate_default=True)
    denominator: int | None = Field(None, gt=0, validate_default=True)
    numerator: int | None = Field(None, ge=0, validate_default=True)
    percent: float | None = Field(None, ge=0, le=100)
    printed_p: float | None = Field(None, ge=0, le=1)
    effect: str | None = Field(None, min_length=1)

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None and _claim_kind(info.data) != "proportion":
            raise invalid("missing", "give the claimed significance level, e.g. threshold = 0.05")
        return value

    @field_validator("denominator")
    @classmethod
    def _denominator(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is None and _claim_kind(info.data) == "proportion":
            raise invalid("a proportion claim needs its printed count and total",
                          "add numerator = N and denominator = N")
        return value

    @field_validator("numerator")
    @classmethod
    def _numerator(cls, value: int | None, info: ValidationInfo) -> int | None:
        if _claim_kind(info.data) != "proportion":
            return value
        if value is None:
            raise invalid("a proportion claim needs its printed count and total",
                          "add numerator = N and denominator = N")
        denominator = info.data.get("denominator")
        if denominator is not None and value > denominator:
            raise invalid(f"{value}/{denominator} is not a proportion", "give 0 <= numerator <= denominator")
        return value


class FailureTypesTable(FileModel):
    """Henderson failure types of tumour endoprostheses (keys 1-5) → the complication/event keys counting as each."""

    soft_tissue: list[str] | None = Field(None, alias="1")
    aseptic_loosening: list[str] | None = Field(None, alias="2")
    structural: list[str] | None = Field(None, alias="3")
    infection: list[str] | None = Field(None, alias="4")
    tumour_progression: list[str] | None = Field(None, alias="5")

    def by_number(self) -> dict[int, tuple[str, ...]]:
        found = {int(str(info.alias)): getattr(self, name) for name, info in type(self).model_fields.items()}
        return {number: tuple(flags) for number, flags in sorted(found.items()) if flags is not None}


class ImplantTable(FileModel):
    survival_endpoint: str | None = None  # a key of [reoperations]
    failure_types: FailureTypesTable = Field(default_factory=FailureTypesTable)


class FollowupTable(FileModel):
    """``[followup]``: the follow-up worklist."""

    schedule: dict[str, Names] = Field(default_factory=dict)  # instrument -> the timepoints it is due at


class DiseaseStatusTable(FileModel):
    code: Codings
    worsened: Codings
    distant: Codings
    local_qualifier: Codings


class StudyFile(FileModel):
    """The whole study file."""

    study: StudyTable
    systems: dict[str, Uri]
    extensions: ExtensionsTable = Field(default_factory=ExtensionsTable)
    index_procedure: CodingTable = Field(min_length=1)
    facts: dict[str, FactTable] = Field(default_factory=dict)
    diagnosis: dict[str, DiagnosisGroupTable] = Field(default_factory=dict)
    progression: ProgressionTable = Field(default_factory=ProgressionTable)
    endpoints: dict[str, EndpointTable] = Field(default_factory=dict)
    instruments: dict[str, InstrumentTable] = Field(min_length=1)
    timepoints: dict[str, TimepointTable] = Field(min_length=1)
    complications: CodingTable
    events: CodingTable
    reoperations: CodingTable = Field(default_factory=dict)
    implant: ImplantTable = Field(default_factory=ImplantTable)
    disease_status: DiseaseStatusTable | None = None
    followup: FollowupTable = Field(default_factory=FollowupTable)
    analysis: AnalysisTable = Field(default_factory=AnalysisTable)
    quality_gates: QualityGatesTable = Field(default_factory=QualityGatesTable)
    claims: list[ClaimTable] = Field(default_factory=list)


# --------------------------------------------------------------------------- pydantic's errors, as ours


def _validate_file(raw: Any) -> StudyFile:
    systems = raw.get("systems") if isinstance(raw, Mapping) else None
    known = {k: v for k, v in systems.items() if isinstance(v, str)} if isinstance(systems, Mapping) else {}
    try:
        return StudyFile.model_validate(raw, context={"systems": known})
    except ValidationError as exc:
        raise _study_error(exc) from None


def _study_error(exc: ValidationError) -> ConfigError:
    """As :func:`config.settings.config_error`, with the study file's keyed tables ([instruments.NAME], ...)
    walked for the fields an unknown one could have meant, and its own hint for a missing table."""
    errors = exc.errors()
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(error["loc"])
    name, leaf = field_name("", loc), str(loc[-1]) if loc else ""
    kind, at = error["type"], _annotation_at(loc)
    if kind == "extra_forbidden" and loc[:1] == ("analysis",) and leaf in _RETIRED:
        return ConfigError(name, "no longer read (issue 13)", _RETIRED[leaf])
    if kind == "extra_forbidden":
        parent = _annotation_at(loc[:-1])
        allowed = sorted(info.alias or key for key, info in parent.model_fields.items()) if _is_model(parent) else []
        if leaf in LITERAL_SECRETS:
            fix = f'put it in an environment variable and set {leaf}_env = "NAME"' if f"{leaf}_env" in allowed \
                else "remove it"
            return ConfigError(name, "secrets must not be written in the study file", fix)
        return ConfigError(name, "unknown field", f"remove it or use one of: {', '.join(allowed)}")
    if kind == "missing" and (_is_model(at) or typing.get_origin(at) is dict):
        return ConfigError(name, "missing table", f"add a [{name}] table (see config/study.toml)")
    if kind == "missing" and typing.get_origin(at) is list:
        return ConfigError(name, "missing", f"set {leaf} = [...]")
    if kind == "dict_type":
        return ConfigError(name, "not a table", f"write a [{name}] table")
    return config_error(exc, StudyFile, "")


_REPEATED = 'write a [[analysis.repeated]] block per instrument: instrument = "...", timepoints = [...]'
_PAIRED = 'write a [[analysis.paired]] block: instrument = "...", timepoints = ["before", "after"] (by = "FACT")'
_RETIRED = {
    "repeated_instruments": _REPEATED, "repeated_timepoints": _REPEATED,
    "msts_timepoints": _PAIRED, "sij_timepoints": _PAIRED,
}
"""Fields of the [analysis] table before issue 13, and what replaces them."""


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _bare(annotation: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` → ``X``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or isinstance(annotation, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _annotation_at(loc: tuple[int | str, ...]) -> Any:
    """The type of the value at ``loc`` in the study file, walking models, keyed tables and lists."""
    annotation: Any = StudyFile
    for part in loc:
        annotation = _bare(annotation)
        if typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        elif _is_model(annotation):
            fields = {info.alias or key: info for key, info in annotation.model_fields.items()}
            if part not in fields:
                return None
            annotation = fields[str(part)].annotation
        else:
            return None
    return _bare(annotation)


# --------------------------------------------------------------------------- checks across tables


def _check_across_tables(file: StudyFile) -> None:
    if file.analysis.baseline_timepoint is not None:
        _known_timepoint(file, "analysis.baseline_timepoint", file.analysis.baseline_timepoint)
    for key in file.events:
        if key in file.complications or key == "death":
            raise ConfigError(f"events.{key}", "name already used by a complication or the death flag",
                              "choose another key (it becomes a cohort.csv column)")
    taken = {*file.complications, *file.events, "death"}
    for key in file.reoperations:
        if key in taken or key.endswith("_months"):
            raise ConfigError(f"reoperations.{key}", "name already used by a complication or event",
                              "choose another key (it becomes a cohort.csv column)")
    _check_implant(file)
    _check_facts(file)
    _check_outcomes(file)
    _check_plan(file)
    for name, timepoints in file.followup.schedule.items():
        _known_instrument(file, f"followup.schedule.{name}", name)
        for timepoint in timepoints:
            _known_timepoint(file, f"followup.schedule.{name}", timepoint)


def _known_timepoint(file: StudyFile, where: str, timepoint: str) -> None:
    if timepoint not in file.timepoints:
        raise ConfigError(where, f"unknown timepoint {timepoint!r}",
                          f"define [timepoints.{timepoint}] or use one of: {', '.join(file.timepoints)}")


def _known_instrument(file: StudyFile, where: str, name: str) -> None:
    if name not in file.instruments:
        raise ConfigError(where, f"unknown instrument {name!r}",
                          f"define [instruments.{name}] or use one of: {', '.join(file.instruments)}")


def _other_columns(file: StudyFile) -> dict[str, str]:
    """cohort.csv columns that are not facts -> the table that makes them."""
    columns = {name: "a built-in column" for name in BUILTIN_COLUMNS}
    columns |= {key: "[complications]" for key in file.complications}
    columns |= {key: "[events]" for key in file.events}
    for key in file.reoperations:
        columns |= {key: "[reoperations]", f"{key}_months": "[reoperations]"}
    for key in file.endpoints:
        columns |= {f"{key}_months": "[endpoints]", f"{key}_event": "[endpoints]"}
    return columns


def _fact_levels(file: StudyFile, name: str) -> list[str]:
    """The levels of a fact as the study file knows them (empty: known only from the data)."""
    spec = file.facts[name]
    if spec.levels is not None:
        return list(spec.levels)
    if spec.source == "index_procedure":
        return list(file.index_procedure)
    if spec.source == "diagnosis_group":
        return list(file.diagnosis)
    if spec.source == "observation_value":
        return list(spec.values or ())
    if spec.source == "rule":
        return ["0", "1"]
    return []


def _check_facts(file: StudyFile) -> None:
    other = _other_columns(file)
    for name, spec in file.facts.items():
        where = f"facts.{name}"
        if name in other:
            raise ConfigError(where, f"name already used by {other[name]}",
                              "choose another name (it becomes a cohort.csv column)")
        if spec.source in ("diagnosis_group", "diagnosis_detail") and not file.diagnosis:
            raise ConfigError(f"{where}.from", f"from = {spec.source!r} needs diagnosis groups",
                              "add a [diagnosis.GROUP] table with condition = [...]")
        if spec.source in ("index_procedure", "diagnosis_group") and spec.levels is not None:
            known = list(file.index_procedure) if spec.source == "index_procedure" else list(file.diagnosis)
            for level in spec.levels:
                if level not in known:
                    raise ConfigError(f"{where}.levels", f"unknown level {level!r}", f"use one of: {', '.join(known)}")
        if spec.source == "rule":
            _check_rule(file, name)
        for value in spec.level_labels or {}:
            known = _fact_levels(file, name)
            if known and value not in known:
                raise ConfigError(f"{where}.level_labels.{value}", f"unknown level {value!r}",
                                  f"use one of: {', '.join(known)}")


def _check_rule(file: StudyFile, name: str) -> None:
    seen = [name]
    current = file.facts[name]
    while current.source == "rule":
        target = str(current.fact)
        if target not in file.facts:
            raise ConfigError(f"facts.{seen[-1]}.fact", f"unknown fact {target!r}",
                              f"name a fact defined in [facts]: {', '.join(file.facts)}")
        if target in seen:
            raise ConfigError(f"facts.{name}.fact", f"the rule refers to itself ({' -> '.join([*seen, target])})",
                              "make it read a fact that is not a rule over it")
        seen.append(target)
        current = file.facts[target]


def _check_outcomes(file: StudyFile) -> None:
    flags = {*file.complications, *file.events}
    for key in ("local", "distant"):
        value = getattr(file.progression, key)
        if value is not None and value not in flags:
            raise ConfigError(f"progression.{key}", f"{value!r} is not an event",
                              "name a key of [events] (or [complications])")
    if (file.progression.local or file.progression.distant) and file.disease_status is None:
        raise ConfigError("progression", "progression needs the disease-status codes",
                          "add a [disease_status] table (see config/study.toml)")
    events = [*file.complications, *file.events, *file.reoperations, "death"]
    for name, spec in file.endpoints.items():
        for event in spec.events:
            if event not in events:
                raise ConfigError(f"endpoints.{name}.events", f"unknown event {event!r}",
                                  f"use a key of [complications], [events], [reoperations] or death: "
                                  f"{', '.join(events)}")


def _is_fact(file: StudyFile, name: str) -> bool:
    return name in file.facts or name == "sex"


def _unknown_fact(where: str, name: str, file: StudyFile) -> ConfigError:
    return ConfigError(where, f"unknown fact {name!r}", f"name sex or a fact of [facts]: {', '.join(file.facts)}")


def _check_plan(file: StudyFile) -> None:
    analysis = file.analysis
    for i, repeated in enumerate(analysis.repeated):
        where = f"analysis.repeated[{i}]"
        _known_instrument(file, f"{where}.instrument", repeated.instrument)
        for timepoint in repeated.timepoints:
            _known_timepoint(file, f"{where}.timepoints", timepoint)
    instruments = [r.instrument for r in analysis.repeated]
    for name in instruments:
        if instruments.count(name) > 1:
            raise ConfigError("analysis.repeated", f"instrument {name!r} listed twice", "keep one entry per instrument")
    names: set[str] = set()
    for i, paired in enumerate(analysis.paired):
        where = f"analysis.paired[{i}]"
        _known_instrument(file, f"{where}.instrument", paired.instrument)
        for timepoint in paired.timepoints:
            _known_timepoint(file, f"{where}.timepoints", timepoint)
        name = paired.name or paired.instrument
        if name in names:
            raise ConfigError(f"{where}.name", f"paired comparison {name!r} defined twice",
                              'give each a distinct name = "..."')
        names.add(name)
        if paired.by is not None:
            _check_subgroups(file, f"{where}.by", paired.by)
        elif paired.overall is False:
            raise ConfigError(f"{where}.overall", "a comparison without `by` has only the overall result",
                              "remove overall = false, or add by = \"FACT\"")
    survival = analysis.survival
    for endpoint in survival.endpoints or ():
        if endpoint not in file.endpoints:
            raise ConfigError("analysis.survival.endpoints", f"unknown endpoint {endpoint!r}",
                              f"define [endpoints.{endpoint}] or use one of: {', '.join(file.endpoints)}")
    for factor in survival.logrank:
        if not _is_fact(file, factor):
            raise _unknown_fact("analysis.survival.logrank", factor, file)
    for i, cox in enumerate(survival.cox):
        _check_cox(file, f"analysis.survival.cox[{i}]", cox)
    covariates = [cox.fact for cox in survival.cox]
    for name in covariates:
        if covariates.count(name) > 1:
            raise ConfigError("analysis.survival.cox", f"covariate {name!r} listed twice", "keep one entry per fact")
    for name in analysis.table1.facts:
        if name not in file.facts:
            raise ConfigError("analysis.table1.facts", f"unknown fact {name!r}",
                              f"name a fact of [facts]: {', '.join(file.facts)}")


def _check_subgroups(file: StudyFile, where: str, name: str) -> None:
    if name not in file.facts:
        raise _unknown_fact(where, name, file) if name != "sex" else ConfigError(
            where, "sex has more than two levels", "name a fact with exactly two levels or a rule fact")
    spec = file.facts[name]
    if spec.source != "rule" and len(_fact_levels(file, name)) != 2:
        raise ConfigError(where, f"fact {name!r} does not have exactly two levels",
                          f"name a rule fact, or give facts.{name}.levels = [two values]")


def _check_cox(file: StudyFile, where: str, cox: CoxTable) -> None:
    if not _is_fact(file, cox.fact):
        raise _unknown_fact(f"{where}.fact", cox.fact, file)
    flag = cox.fact in file.facts and file.facts[cox.fact].source == "rule"
    if flag and (cox.reference is not None or cox.levels is not None):
        raise ConfigError(where, f"{cox.fact!r} is a 0/1 rule flag: it has no reference or levels",
                          "remove reference and levels")
    if flag:
        return
    known = _fact_levels(file, cox.fact) if cox.fact in file.facts else []
    if cox.reference is None and not known:
        raise ConfigError(f"{where}.reference", f"the levels of {cox.fact!r} are only known from the data",
                          'give the reference level, e.g. reference = "..."')
    for level in [cox.reference, *(cox.levels or ())]:
        if known and level is not None and level not in known:
            raise ConfigError(where, f"unknown level {level!r} of {cox.fact!r}", f"use one of: {', '.join(known)}")
    if cox.reference is not None and cox.reference in (cox.levels or ()):
        raise ConfigError(f"{where}.levels", f"the reference {cox.reference!r} is listed among the other levels",
                          "list only the non-reference levels")


def _check_implant(file: StudyFile) -> None:
    flags = {*file.complications, *file.events}
    for number, columns in file.implant.failure_types.by_number().items():
        for column in columns:
            if column not in flags:
                raise ConfigError(f"implant.failure_types.{number}", f"unknown complication or event {column!r}",
                                  "use a key of [complications] or [events]")
    endpoint = file.implant.survival_endpoint
    if endpoint is not None and endpoint not in file.reoperations:
        raise ConfigError("implant.survival_endpoint", f"{endpoint!r} is not a reoperation",
                          "name a key of [reoperations]")


# --------------------------------------------------------------------------- from the file to the definition


def parse_study(raw: Mapping[str, Any], source: str = "") -> StudyDefinition:
    """Validate a parsed TOML document into a :class:`StudyDefinition`."""
    file = _validate_file(raw)
    _check_across_tables(file)
    systems = dict(file.systems)

    def codes(texts: list[str]) -> frozenset[Coding]:
        return frozenset(parse_coding(text, systems) for text in texts)

    def table(spec: Mapping[str, list[str]]) -> dict[str, frozenset[Coding]]:
        return {key: codes(texts) for key, texts in spec.items()}

    study, status = file.study, file.disease_status
    return StudyDefinition(
        title=study.title,
        short_title=study.short_title if study.short_title is not None else study.title,
        study_id_system=study.study_id_system,
        pseudonym_prefix=study.pseudonym_prefix,
        pseudonym_key_env=study.pseudonym_key_env,
        pseudonym_namespace=study.pseudonym_namespace,
        systems=systems,
        histology_extension=file.extensions.histology,
        related_primary_extension=file.extensions.related_primary,
        index_procedure=table(file.index_procedure),
        instruments={name: _instrument(name, spec, codes(spec.codes), systems)
                     for name, spec in file.instruments.items()},
        timepoints={name: TimepointWindow(name, spec.window[0], spec.window[1], spec.rule, spec.target,
                                          spec.label or name)
                    for name, spec in file.timepoints.items()},
        complications=table(file.complications),
        events=table(file.events),
        disease_status_code=codes(status.code) if status is not None else frozenset(),
        disease_status_worsened=codes(status.worsened) if status is not None else frozenset(),
        disease_status_distant=codes(status.distant) if status is not None else frozenset(),
        disease_status_local=codes(status.local_qualifier) if status is not None else frozenset(),
        analysis=_analysis(file),
        quality_gates=QualityGates(**file.quality_gates.model_dump()),
        claims=tuple(_claim(spec) for spec in file.claims),
        source=source,
        reoperations=table(file.reoperations),
        implant=ImplantSettings(file.implant.failure_types.by_number(), file.implant.survival_endpoint),
        facts={name: _fact(name, spec, file, table, codes) for name, spec in file.facts.items()},
        diagnosis={name: _diagnosis_group(name, spec, table, codes) for name, spec in file.diagnosis.items()},
        progression=Progression(file.progression.local, file.progression.distant),
        endpoints={name: Endpoint(name, spec.label, tuple(spec.events), spec.censor)
                   for name, spec in file.endpoints.items()},
        followup_schedule={name: tuple(timepoints) for name, timepoints in file.followup.schedule.items()},
    )


def _fact(
    name: str, spec: FactTable, file: StudyFile,
    table: typing.Callable[[Mapping[str, list[str]]], dict[str, frozenset[Coding]]],
    codes: typing.Callable[[list[str]], frozenset[Coding]],
) -> Fact:
    op = next((key for key in RULE_OPS if getattr(spec, "in_" if key == "in" else key) is not None), None)
    rule_values: tuple[str, ...] = ()
    if op == "in":
        rule_values = tuple(spec.in_ or ())
    elif op is not None:
        rule_values = (str(getattr(spec, op)),)
    levels = _fact_levels(file, name) if spec.source != "rule" else list(spec.levels or ())
    return Fact(
        name=name, label=spec.label, source=spec.source, values=table(spec.values or {}),
        code=codes(spec.code) if spec.code is not None else frozenset(),
        rule_fact=spec.fact, rule_op=op, rule_values=rule_values, levels=tuple(levels),
        level_labels=dict(spec.level_labels or {}), short_label=spec.short_label or spec.label,
    )


def _diagnosis_group(
    name: str, spec: DiagnosisGroupTable,
    table: typing.Callable[[Mapping[str, list[str]]], dict[str, frozenset[Coding]]],
    codes: typing.Callable[[list[str]], frozenset[Coding]],
) -> DiagnosisGroup:
    with_site = spec.primary_site is not None
    return DiagnosisGroup(
        name=name, condition=codes(spec.condition), histology=table(spec.histology or {}),
        primary_site=table(spec.primary_site or {}),
        detail=(spec.detail or "{site}") if with_site else None,
        detail_unknown=spec.detail_unknown if with_site else None,
    )


def _analysis(file: StudyFile) -> AnalysisSettings:
    spec = file.analysis
    scalars = {"quantile_type", "alpha", "min_n_for_test", "min_events_per_covariate", "landmark_months",
               "risk_table_every_months", "baseline_timepoint"}
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                              for key, value in spec.model_dump(include=scalars).items()}
    repeated = tuple(RepeatedSpec(r.instrument, tuple(r.timepoints)) for r in spec.repeated)
    survival = spec.survival
    return AnalysisSettings(
        **fields,
        repeated=repeated,
        paired=tuple(
            PairedSpec(p.name or p.instrument, p.instrument, p.timepoints[0], p.timepoints[1], p.by,
                       p.overall if p.overall is not None else p.by is None)
            for p in spec.paired),
        survival=SurvivalSpec(
            endpoints=tuple(survival.endpoints) if survival.endpoints is not None else tuple(file.endpoints),
            logrank=tuple(survival.logrank),
            cox=tuple(_cox(file, c) for c in survival.cox),
            site=survival.site,
        ),
        table1_facts=tuple(spec.table1.facts),
    )


def _cox(file: StudyFile, spec: CoxTable) -> CoxSpec:
    fact = file.facts.get(spec.fact)
    if fact is not None and fact.source == "rule":
        return CoxSpec(spec.fact)
    known = _fact_levels(file, spec.fact) if fact is not None else []
    reference = spec.reference if spec.reference is not None else known[0]
    levels = spec.levels if spec.levels is not None else [level for level in known if level != reference]
    return CoxSpec(spec.fact, reference, tuple(levels))


def _instrument(name: str, spec: InstrumentTable, codes: frozenset[Coding], systems: Mapping[str, str]) -> Instrument:
    return Instrument(
        name=name, label=spec.label if spec.label is not None else name, codes=codes, min=spec.min, max=spec.max,
        unit=spec.unit, mcid=spec.mcid, better=spec.better, short_label=spec.short_label or "", decimals=spec.decimals,
        answers={parse_coding(text, systems): score for text, score in spec.answers.items()},
    )


def _claim(spec: ClaimTable) -> Claim:
    return Claim(
        text=spec.text, path=spec.path, test=spec.test,
        threshold=spec.threshold if spec.threshold is not None else Claim.threshold,
        kind=_claim_kind(spec.model_dump()), numerator=spec.numerator, denominator=spec.denominator,
        percent=spec.percent, printed_p=spec.printed_p, effect=spec.effect,
    )


def load_study(path: str | Path | None = None) -> StudyDefinition:
    """Load a study definition file; ``None`` loads the bundled default."""
    if path is None:
        text = resources.files("config").joinpath(DEFAULT_STUDY_FILE).read_text(encoding="utf-8")
        source = f"config/{DEFAULT_STUDY_FILE} (bundled)"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("--study", f"cannot read {path}: {exc.strerror}", "give an existing file") from exc
        source = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML: {exc}", "fix the syntax at the position given") from exc
    return parse_study(raw, source)
