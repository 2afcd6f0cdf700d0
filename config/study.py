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

from pydantic import AfterValidator, BaseModel, Field, ValidationError, ValidationInfo, field_validator

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


@dataclass(frozen=True)
class TimepointWindow:
    name: str
    low: int
    high: int
    rule: str  # "latest" or "closest"
    target: int | None = None


@dataclass(frozen=True)
class AnalysisSettings:
    """The ``[analysis]`` table; ``analysis.AnalysisPlan`` extends it with what the analysis needs besides."""

    quantile_type: int = 7
    alpha: float = 0.05
    repeated_instruments: tuple[str, ...] = ("vas", "kps")
    repeated_timepoints: tuple[str, ...] = ("pre", "1m", "3m", "6m")
    msts_timepoints: tuple[str, str] = ("pre", "3m")
    sij_timepoints: tuple[str, str] = ("pre", "6m")
    min_n_for_test: int = 10
    min_events_per_covariate: int = 10
    landmark_months: tuple[float, ...] = (6, 12, 24)
    """Kaplan–Meier estimates with their CI at these months (R ``summary(survfit, times =)``)."""
    risk_table_every_months: float = 3
    """Step of the numbers-at-risk table under the Kaplan–Meier plots."""
    baseline_timepoint: str | None = None
    """Responders are counted from this timepoint; None: the first timepoint of [timepoints]."""


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
    enneking_zones: Mapping[str, frozenset[Coding]]
    margin_code: frozenset[Coding]
    margin_values: Mapping[str, frozenset[Coding]]
    primary_condition: frozenset[Coding]
    primary_histology: Mapping[str, frozenset[Coding]]
    secondary_condition: frozenset[Coding]
    secondary_primary_site: Mapping[str, frozenset[Coding]]
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


class ExtensionsTable(FileModel):
    histology: Uri
    related_primary: Uri


class MarginTable(FileModel):
    code: Codings
    values: CodingTable = Field(min_length=1)


class PrimaryDiagnosisTable(FileModel):
    condition: Codings
    histology: CodingTable


class SecondaryDiagnosisTable(FileModel):
    condition: Codings
    primary_site: CodingTable


class DiagnosisTable(FileModel):
    primary: PrimaryDiagnosisTable
    secondary: SecondaryDiagnosisTable


class InstrumentTable(FileModel):
    label: str | None = None  # None: the instrument's key
    codes: Codings
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


class AnalysisTable(FileModel):
    quantile_type: int = _ANALYSIS.quantile_type
    alpha: float = Field(_ANALYSIS.alpha, gt=0, lt=1)
    repeated_instruments: list[str] = Field(default_factory=lambda: [*_ANALYSIS.repeated_instruments])
    repeated_timepoints: list[str] = Field(default_factory=lambda: [*_ANALYSIS.repeated_timepoints])
    msts_timepoints: Annotated[list[str], AfterValidator(_pair)] = Field(
        default_factory=lambda: [*_ANALYSIS.msts_timepoints])
    sij_timepoints: Annotated[list[str], AfterValidator(_pair)] = Field(
        default_factory=lambda: [*_ANALYSIS.sij_timepoints])
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

    @field_validator("repeated_timepoints")
    @classmethod
    def _two_or_more(cls, value: list[str]) -> list[str]:
        if len(set(value)) < 2:
            raise invalid("fewer than two distinct timepoints", 'list at least two, e.g. ["pre", "1m", "3m"]')
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


class DiseaseStatusTable(FileModel):
    code: Codings
    worsened: Codings
    distant: Codings
    local_qualifier: Codings


class StudyFile(FileModel):
    """The whole study file."""

    study: StudyTable
    systems: dict[str, Uri]
    extensions: ExtensionsTable
    index_procedure: CodingTable = Field(min_length=1)
    enneking_zones: CodingTable
    resection_margin: MarginTable
    diagnosis: DiagnosisTable
    instruments: dict[str, InstrumentTable] = Field(min_length=1)
    timepoints: dict[str, TimepointTable] = Field(min_length=1)
    complications: CodingTable
    events: CodingTable
    reoperations: CodingTable = Field(default_factory=dict)
    implant: ImplantTable = Field(default_factory=ImplantTable)
    disease_status: DiseaseStatusTable
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
    analysis = file.analysis
    for name in analysis.repeated_instruments:
        if name not in file.instruments:
            raise ConfigError("analysis.repeated_instruments", f"unknown instrument {name!r}",
                              f"define [instruments.{name}] or use one of: {', '.join(file.instruments)}")
    named = {key: getattr(analysis, key) for key in ("repeated_timepoints", "msts_timepoints", "sij_timepoints")}
    if analysis.baseline_timepoint is not None:
        named["baseline_timepoint"] = [analysis.baseline_timepoint]
    for key, timepoints in named.items():
        for timepoint in timepoints:
            if timepoint not in file.timepoints:
                raise ConfigError(f"analysis.{key}", f"unknown timepoint {timepoint!r}",
                                  f"define [timepoints.{timepoint}] or use one of: {', '.join(file.timepoints)}")
    if "IV" not in file.enneking_zones:
        raise ConfigError("enneking_zones.IV", "zone IV must be defined (zone_iv flag)", "add IV = [...]")
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

    study, diagnosis, status = file.study, file.diagnosis, file.disease_status
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
        enneking_zones=table(file.enneking_zones),
        margin_code=codes(file.resection_margin.code),
        margin_values=table(file.resection_margin.values),
        primary_condition=codes(diagnosis.primary.condition),
        primary_histology=table(diagnosis.primary.histology),
        secondary_condition=codes(diagnosis.secondary.condition),
        secondary_primary_site=table(diagnosis.secondary.primary_site),
        instruments={name: _instrument(name, spec, codes(spec.codes)) for name, spec in file.instruments.items()},
        timepoints={name: TimepointWindow(name, spec.window[0], spec.window[1], spec.rule, spec.target)
                    for name, spec in file.timepoints.items()},
        complications=table(file.complications),
        events=table(file.events),
        disease_status_code=codes(status.code),
        disease_status_worsened=codes(status.worsened),
        disease_status_distant=codes(status.distant),
        disease_status_local=codes(status.local_qualifier),
        analysis=_analysis(file.analysis),
        quality_gates=QualityGates(**file.quality_gates.model_dump()),
        claims=tuple(_claim(spec) for spec in file.claims),
        source=source,
        reoperations=table(file.reoperations),
        implant=ImplantSettings(file.implant.failure_types.by_number(), file.implant.survival_endpoint),
    )


def _analysis(spec: AnalysisTable) -> AnalysisSettings:
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                              for key, value in spec.model_dump().items()}
    return AnalysisSettings(**fields)


def _instrument(name: str, spec: InstrumentTable, codes: frozenset[Coding]) -> Instrument:
    return Instrument(
        name=name, label=spec.label if spec.label is not None else name, codes=codes, min=spec.min, max=spec.max,
        unit=spec.unit, mcid=spec.mcid, better=spec.better,
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
