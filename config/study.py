"""The study definition: codes, timepoint windows, analysis plan, quality gates.

Loaded from a TOML file (default: ``config/study.toml``) into frozen dataclasses. Every unknown key,
unknown code-system alias or malformed value raises :class:`ConfigError` naming the field and the fix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from config.errors import ConfigError

Coding = tuple[str, str]
"""A (system URI, code) pair."""

DEFAULT_STUDY_FILE = "study.toml"

_TOP_LEVEL = {
    "study", "systems", "extensions", "index_procedure", "enneking_zones", "resection_margin",
    "diagnosis", "instruments", "timepoints", "complications", "events", "disease_status",
    "analysis", "quality_gates", "claims", "reoperations", "implant",
}
CLAIM_KINDS = ("difference", "no difference", "proportion", "model")
BETTER = ("lower", "higher")
HENDERSON_TYPE_NUMBERS = (1, 2, 3, 4, 5)


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
    quantile_type: int = 7
    alpha: float = 0.05
    repeated_instruments: tuple[str, ...] = ("vas", "kps")
    repeated_timepoints: tuple[str, ...] = ("pre", "1m", "3m", "6m")
    msts_timepoints: tuple[str, str] = ("pre", "3m")
    sij_timepoints: tuple[str, str] = ("pre", "6m")
    min_n_for_test: int = 10
    min_events_per_covariate: int = 10
    landmark_months: tuple[float, ...] = (6, 12, 24)
    risk_table_every_months: float = 3
    baseline_timepoint: str | None = None  # None: the first timepoint of [timepoints]


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


# --------------------------------------------------------------------------- parsing helpers


def _table(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}{key}", "missing or not a table", f"add a [{where}{key}] table")
    return value


def _str(raw: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}{key}", "missing or not a string", f'set {key} = "..."')
    return value


def _number(raw: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key}", f"expected a number, got {value!r}", f"set {key} = <number>")
    return float(value)


def _int(raw: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}{key}", f"expected an integer, got {value!r}", f"set {key} = <integer>")
    return value


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"{where}{key}", "unknown field", f"remove it or use one of: {', '.join(sorted(allowed))}"
            )


def _coding(text: Any, systems: Mapping[str, str], field: str) -> Coding:
    if not isinstance(text, str) or "|" not in text:
        raise ConfigError(field, f"coding {text!r} is not 'ALIAS|CODE'", 'write e.g. "loinc|72514-3"')
    alias, _, code = text.rpartition("|")
    if "://" in alias or alias.startswith("urn:"):
        return alias, code
    if alias not in systems:
        raise ConfigError(
            field,
            f"unknown code system {alias!r}",
            f"add it to [systems] or use one of: {', '.join(sorted(systems))}",
        )
    if not code:
        raise ConfigError(field, f"coding {text!r} has no code", 'write e.g. "loinc|72514-3"')
    return systems[alias], code


def _codings(value: Any, systems: Mapping[str, str], field: str) -> frozenset[Coding]:
    if not isinstance(value, list) or not value:
        raise ConfigError(field, "expected a non-empty list of codings", 'write e.g. ["loinc|72514-3"]')
    return frozenset(_coding(item, systems, field) for item in value)


def _coding_map(raw: Mapping[str, Any], systems: Mapping[str, str], where: str) -> dict[str, frozenset[Coding]]:
    return {key: _codings(value, systems, f"{where}.{key}") for key, value in raw.items()}


# --------------------------------------------------------------------------- sections


def _systems(raw: Mapping[str, Any]) -> dict[str, str]:
    systems = dict(_table(raw, "systems", ""))
    for alias, uri in systems.items():
        if not isinstance(uri, str) or not (uri.startswith(("http://", "https://", "urn:"))):
            raise ConfigError(f"systems.{alias}", f"{uri!r} is not a URI", 'write e.g. "http://loinc.org"')
    return systems


def _instruments(raw: Mapping[str, Any], systems: Mapping[str, str]) -> dict[str, Instrument]:
    out: dict[str, Instrument] = {}
    for name, spec in _table(raw, "instruments", "").items():
        where = f"instruments.{name}."
        if not isinstance(spec, Mapping):
            raise ConfigError(where[:-1], "not a table", f"write [instruments.{name}]")
        _no_unknown(spec, {"label", "codes", "min", "max", "unit", "mcid", "better"}, where)
        low, high = _number(spec, "min", where), _number(spec, "max", where)
        if low >= high:
            raise ConfigError(f"{where}max", f"max {high} is not above min {low}", "swap min and max")
        mcid, better = _mcid(spec, where, high - low)
        out[name] = Instrument(
            name=name,
            label=_str(spec, "label", where, name),
            codes=_codings(spec.get("codes"), systems, f"{where}codes"),
            min=low,
            max=high,
            unit=_str(spec, "unit", where, ""),
            mcid=mcid,
            better=better,
        )
    return out


def _mcid(spec: Mapping[str, Any], where: str, span: float) -> tuple[float | None, str | None]:
    if "mcid" not in spec and "better" not in spec:
        return None, None
    better = _str(spec, "better", where, "")
    if better not in BETTER:
        raise ConfigError(f"{where}better", f"{better!r} is not a direction",
                          'an instrument with an mcid needs better = "lower" or "higher"')
    if "mcid" not in spec:
        raise ConfigError(f"{where}mcid", "missing", "give the minimal clinically important difference, e.g. mcid = 2")
    mcid = _number(spec, "mcid", where)
    if not 0 < mcid <= span:
        raise ConfigError(f"{where}mcid", f"{mcid:g} is not within the scale's range (0, {span:g}]", "use e.g. 2")
    return mcid, better


def _timepoints(raw: Mapping[str, Any]) -> dict[str, TimepointWindow]:
    out: dict[str, TimepointWindow] = {}
    for name, spec in _table(raw, "timepoints", "").items():
        where = f"timepoints.{name}."
        if not isinstance(spec, Mapping):
            raise ConfigError(where[:-1], "not a table", f"write [timepoints.{name}]")
        _no_unknown(spec, {"window", "rule", "target"}, where)
        window = spec.get("window")
        if (
            not isinstance(window, list)
            or len(window) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in window)
            or window[0] > window[1]
        ):
            raise ConfigError(f"{where}window", f"{window!r} is not [low, high] in days", "write e.g. [15, 45]")
        rule = _str(spec, "rule", where, "closest")
        if rule not in {"latest", "closest"}:
            raise ConfigError(f"{where}rule", f"unknown rule {rule!r}", 'use "latest" or "closest"')
        target = spec.get("target")
        if rule == "closest" and not isinstance(target, int):
            raise ConfigError(f"{where}target", "a 'closest' window needs an integer target day", "add target = N")
        out[name] = TimepointWindow(name, window[0], window[1], rule, target if isinstance(target, int) else None)
    return out


def _analysis(raw: Mapping[str, Any], timepoints: Mapping[str, TimepointWindow]) -> AnalysisSettings:
    spec = raw.get("analysis", {})
    where = "analysis."
    defaults = AnalysisSettings()
    _no_unknown(spec, set(AnalysisSettings.__dataclass_fields__), where)

    def tps(key: str, default: tuple[str, ...], length: int | None = None) -> tuple[str, ...]:
        value = spec.get(key, list(default))
        if not isinstance(value, list) or (length is not None and len(value) != length):
            raise ConfigError(f"{where}{key}", f"expected a list of {length or 'some'} timepoints", "see study.toml")
        for item in value:
            if item not in timepoints:
                raise ConfigError(f"{where}{key}", f"unknown timepoint {item!r}", f"define [timepoints.{item}]")
        return tuple(value)

    quantile_type = _int(spec, "quantile_type", where, defaults.quantile_type)
    if not 1 <= quantile_type <= 9:
        raise ConfigError(f"{where}quantile_type", f"{quantile_type} is not a Hyndman-Fan type", "use 1..9 (R: 7)")
    msts = tps("msts_timepoints", defaults.msts_timepoints, 2)
    sij = tps("sij_timepoints", defaults.sij_timepoints, 2)
    baseline = spec.get("baseline_timepoint")
    if baseline is not None and baseline not in timepoints:
        raise ConfigError(f"{where}baseline_timepoint", f"unknown timepoint {baseline!r}", "name one of [timepoints]")
    return AnalysisSettings(
        quantile_type=quantile_type,
        alpha=_number(spec, "alpha", where, defaults.alpha),
        repeated_instruments=tuple(spec.get("repeated_instruments", defaults.repeated_instruments)),
        repeated_timepoints=tps("repeated_timepoints", defaults.repeated_timepoints),
        msts_timepoints=(msts[0], msts[1]),
        sij_timepoints=(sij[0], sij[1]),
        min_n_for_test=_int(spec, "min_n_for_test", where, defaults.min_n_for_test),
        min_events_per_covariate=_int(spec, "min_events_per_covariate", where, defaults.min_events_per_covariate),
        landmark_months=_months(spec, "landmark_months", where, defaults.landmark_months),
        risk_table_every_months=_number(spec, "risk_table_every_months", where, defaults.risk_table_every_months),
        baseline_timepoint=baseline,
    )


def _months(spec: Mapping[str, Any], key: str, where: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = spec.get(key, list(default))
    if (
        not isinstance(value, list)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        raise ConfigError(f"{where}{key}", f"{value!r} is not a list of months after surgery", "write e.g. [6, 12, 24]")
    return tuple(float(v) for v in sorted(value))


def _claims(raw: Mapping[str, Any]) -> tuple[Claim, ...]:
    items = raw.get("claims", [])
    if not isinstance(items, list):
        raise ConfigError("claims", "expected an array of tables", "write [[claims]] blocks")
    out = []
    for index, spec in enumerate(items):
        where = f"claims[{index}]."
        if not isinstance(spec, Mapping):
            raise ConfigError(where[:-1], "not a table", "write [[claims]] blocks")
        out.append(_claim(spec, where))
    return tuple(out)


CLAIM_FIELDS = {"text", "path", "test", "threshold", "kind", "numerator", "denominator", "percent", "printed_p",
                "effect"}


def _claim(spec: Mapping[str, Any], where: str) -> Claim:
    _no_unknown(spec, CLAIM_FIELDS, where)
    test = _str(spec, "test", where, "below")
    if test not in {"below", "at_least"}:
        raise ConfigError(f"{where}test", f"unknown test {test!r}", 'use "below" or "at_least"')
    kind = _str(spec, "kind", where, "difference" if test == "below" else "no difference")
    if kind not in CLAIM_KINDS:
        raise ConfigError(f"{where}kind", f"unknown kind {kind!r}", f"use one of: {', '.join(CLAIM_KINDS)}")
    optional = {key: spec.get(key) for key in ("numerator", "denominator", "percent", "printed_p")}
    if kind == "proportion":
        for key in ("numerator", "denominator"):
            if key not in spec:
                raise ConfigError(f"{where}{key}", "a proportion claim needs its printed count and total",
                                  "add numerator = N and denominator = N")
        numerator, denominator = _int(spec, "numerator", where), _int(spec, "denominator", where)
        if not 0 <= numerator <= denominator or denominator == 0:
            raise ConfigError(f"{where}numerator", f"{numerator}/{denominator} is not a proportion",
                              "give 0 <= numerator <= denominator, denominator > 0")
        optional.update(numerator=numerator, denominator=denominator)
    elif "threshold" not in spec:
        raise ConfigError(f"{where}threshold", "missing", "give the claimed significance level, e.g. 0.05")
    for key in ("percent", "printed_p"):
        if optional[key] is not None:
            optional[key] = _number(spec, key, where)
    effect = spec.get("effect")
    if effect is not None and not isinstance(effect, str):
        raise ConfigError(f"{where}effect", "not a results path",
                          'write e.g. "survival.pfs.cox.univariable[covariate=sex]"')
    return Claim(
        text=_str(spec, "text", where), path=_str(spec, "path", where), test=test,
        threshold=_number(spec, "threshold", where, 0.05), kind=kind,
        numerator=optional["numerator"], denominator=optional["denominator"],
        percent=optional["percent"], printed_p=optional["printed_p"], effect=effect,
    )


def _reoperations(raw: Mapping[str, Any], systems: Mapping[str, str]) -> dict[str, frozenset[Coding]]:
    table = raw.get("reoperations", {})
    if not isinstance(table, Mapping):
        raise ConfigError("reoperations", "not a table", 'write [reoperations] with e.g. revision = ["local|..."]')
    return _coding_map(table, systems, "reoperations")


def _implant(raw: Mapping[str, Any], flags: tuple[str, ...], reoperations: Mapping[str, Any]) -> ImplantSettings:
    spec = raw.get("implant", {})
    if not isinstance(spec, Mapping):
        raise ConfigError("implant", "not a table", "write [implant]")
    _no_unknown(spec, {"failure_types", "survival_endpoint"}, "implant.")
    types = spec.get("failure_types", {})
    if not isinstance(types, Mapping):
        raise ConfigError("implant.failure_types", "not a table", 'write [implant.failure_types] with 1 = ["flag"]')
    failure_types: dict[int, tuple[str, ...]] = {}
    for key, columns in types.items():
        where = f"implant.failure_types.{key}"
        if not str(key).isdigit() or int(key) not in HENDERSON_TYPE_NUMBERS:
            raise ConfigError(where, f"{key!r} is not a Henderson failure type", "use 1, 2, 3, 4 or 5")
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise ConfigError(where, "expected a list of complication/event names", 'write e.g. ["dislocation"]')
        for column in columns:
            if column not in flags:
                raise ConfigError(where, f"unknown complication or event {column!r}",
                                  "use a key of [complications] or [events]")
        failure_types[int(key)] = tuple(columns)
    endpoint = spec.get("survival_endpoint")
    if endpoint is not None and endpoint not in reoperations:
        raise ConfigError("implant.survival_endpoint", f"{endpoint!r} is not a reoperation",
                          "name a key of [reoperations]")
    return ImplantSettings(dict(sorted(failure_types.items())), endpoint)


def parse_study(raw: Mapping[str, Any], source: str = "") -> StudyDefinition:
    """Validate a parsed TOML document into a :class:`StudyDefinition`."""
    _no_unknown(raw, _TOP_LEVEL, "")
    systems = _systems(raw)
    study = _table(raw, "study", "")
    study_fields = {"title", "short_title", "study_id_system", "pseudonym_prefix", "pseudonym_key_env"}
    _no_unknown(study, study_fields | {"pseudonym_namespace"}, "study.")
    ext = _table(raw, "extensions", "")
    _no_unknown(ext, {"histology", "related_primary"}, "extensions.")
    margin = _table(raw, "resection_margin", "")
    _no_unknown(margin, {"code", "values"}, "resection_margin.")
    diagnosis = _table(raw, "diagnosis", "")
    _no_unknown(diagnosis, {"primary", "secondary"}, "diagnosis.")
    primary = _table(diagnosis, "primary", "diagnosis.")
    _no_unknown(primary, {"condition", "histology"}, "diagnosis.primary.")
    secondary = _table(diagnosis, "secondary", "diagnosis.")
    _no_unknown(secondary, {"condition", "primary_site"}, "diagnosis.secondary.")
    status = _table(raw, "disease_status", "")
    _no_unknown(status, {"code", "worsened", "distant", "local_qualifier"}, "disease_status.")
    gates = raw.get("quality_gates", {})
    _no_unknown(
        gates, {"max_unmappable_percent", "max_cohort_shrink", "max_extraction_problem_percent"}, "quality_gates."
    )
    instruments = _instruments(raw, systems)
    timepoints = _timepoints(raw)
    analysis = _analysis(raw, timepoints)
    for name in analysis.repeated_instruments:
        if name not in instruments:
            raise ConfigError("analysis.repeated_instruments", f"unknown instrument {name!r}", "define it")
    zones = _coding_map(_table(raw, "enneking_zones", ""), systems, "enneking_zones")
    complications = _coding_map(_table(raw, "complications", ""), systems, "complications")
    events = _coding_map(_table(raw, "events", ""), systems, "events")
    reoperations = _reoperations(raw, systems)
    taken = set(complications) | set(events) | {"death"}
    for key in reoperations:
        if key in taken or key.endswith("_months"):
            raise ConfigError(f"reoperations.{key}", "name already used by a complication or event",
                              "choose another key (it becomes a cohort.csv column)")
    if "IV" not in zones:
        raise ConfigError("enneking_zones.IV", "zone IV must be defined (zone_iv flag)", "add IV = [...]")
    return StudyDefinition(
        title=_str(study, "title", "study."),
        short_title=_str(study, "short_title", "study.", _str(study, "title", "study.")),
        study_id_system=_str(study, "study_id_system", "study.", ""),
        pseudonym_prefix=_str(study, "pseudonym_prefix", "study.", "PO-"),
        pseudonym_key_env=_str(study, "pseudonym_key_env", "study.", "PELVIC_PSEUDONYM_KEY"),
        pseudonym_namespace=_str(study, "pseudonym_namespace", "study.", ""),
        systems=systems,
        histology_extension=_str(ext, "histology", "extensions."),
        related_primary_extension=_str(ext, "related_primary", "extensions."),
        index_procedure=_coding_map(_table(raw, "index_procedure", ""), systems, "index_procedure"),
        enneking_zones=zones,
        margin_code=_codings(margin.get("code"), systems, "resection_margin.code"),
        margin_values=_coding_map(_table(margin, "values", "resection_margin."), systems, "resection_margin.values"),
        primary_condition=_codings(primary.get("condition"), systems, "diagnosis.primary.condition"),
        primary_histology=_coding_map(
            _table(primary, "histology", "diagnosis.primary."), systems, "diagnosis.primary.histology"
        ),
        secondary_condition=_codings(secondary.get("condition"), systems, "diagnosis.secondary.condition"),
        secondary_primary_site=_coding_map(
            _table(secondary, "primary_site", "diagnosis.secondary."), systems, "diagnosis.secondary.primary_site"
        ),
        instruments=instruments,
        timepoints=timepoints,
        complications=complications,
        events=events,
        disease_status_code=_codings(status.get("code"), systems, "disease_status.code"),
        disease_status_worsened=_codings(status.get("worsened"), systems, "disease_status.worsened"),
        disease_status_distant=_codings(status.get("distant"), systems, "disease_status.distant"),
        disease_status_local=_codings(status.get("local_qualifier"), systems, "disease_status.local_qualifier"),
        analysis=analysis,
        quality_gates=QualityGates(
            max_unmappable_percent=_number(gates, "max_unmappable_percent", "quality_gates.", 20.0),
            max_cohort_shrink=_int(gates, "max_cohort_shrink", "quality_gates.", 2),
            max_extraction_problem_percent=_number(gates, "max_extraction_problem_percent", "quality_gates.", 1.0),
        ),
        claims=_claims(raw),
        source=source,
        reoperations=reoperations,
        implant=_implant(raw, (*complications, *events), reoperations),
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
