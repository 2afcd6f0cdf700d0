"""Deployment settings: where the data comes from, when the service runs, who gets the report.

One TOML file per environment (see ``config/deployment*.example.toml``)::

    study = "study.toml"            # optional; default: the bundled study definition
    source = "exports/"             # optional; local FHIR files instead of [fhir]
    [fhir]      base_url, auth, ...  (validated by config.fhir)
    [schedule]  cron, timezone, misfire_grace_seconds, jobstore_url
    [smtp]      host, port, security, username, password_env, timeout, ca_file, retries, retry_backoff_seconds
    [email]     sender, recipients, admin, subject, alert_subject
    [paths]     out_dir, data_dir

Relative paths are relative to the config file's folder. Secrets come only from the environment (or
files, for FHIR): this module is the one place that reads environment variables, through the ``env``
mapping :func:`load_deployment` is given. Every wrong or unknown field raises :class:`ConfigError`
naming the field and the fix.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BeforeValidator, Field, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.errors import ConfigError
from config.fhir import FhirSettings, parse_fhir_settings
from config.settings import FileModel, invalid, validate

Security = Literal["starttls", "ssl", "none"]

_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "ssl": 465, "none": 25}
_WEEKDAY_DIGITS = set("01234567")

SUBJECT_FIELDS = {"study": "Study", "date": "2026-01-01", "run_id": "RUN", "patients": 0, "status": "failed"}
"""Placeholders a subject template may use."""


@dataclass(frozen=True)
class ScheduleSettings:
    cron: str  # 5 fields (minute hour day month weekday) or 6 with seconds first
    timezone: str
    misfire_grace_seconds: int
    jobstore_url: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    password_env: str = ""
    timeout: float = 30.0
    ca_file: Path | None = None  # trust this CA bundle instead of the system's (a private mail relay)
    retries: int = 3
    retry_backoff_seconds: float = 5.0


@dataclass(frozen=True)
class EmailSettings:
    sender: str
    recipients: tuple[str, ...]
    admin: tuple[str, ...]
    subject: str = "{study}: outcomes report {date} (n={patients})"
    alert_subject: str = "[pelvic-outcomes] run {run_id} {status}"
    coordinator: tuple[str, ...] = ()  # the study coordinator: the follow-up worklist, never the report
    worklist_subject: str = "{study}: follow-up worklist {date}"


@dataclass(frozen=True)
class FollowupSettings:
    """The follow-up worklist: how far ahead it looks, the completeness gate, the private lookup file."""

    upcoming_days: int = 14
    min_completeness_percent: float = 0.0  # 0: no gate; else a run is held when a time point falls below it
    lookup_file: bool = False  # write study id -> hospital identifiers into the run's private folder
    withdrawn_file: Path | None = None  # CSV of study ids withdrawn from follow-up (private, in data_dir)


@dataclass(frozen=True)
class PathSettings:
    """The board's folder (``out_dir``: pseudonymised outputs only) and the service's private one (``data_dir``)."""

    out_dir: Path
    data_dir: Path
    keep_runs: int = 30  # run folders (raw snapshots) kept in data_dir; the last good run is always kept
    keep_days: int = 0  # and/or those younger than this many days; 0 = no age limit

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "run.lock"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.sqlite"


SiteKind = Literal["fhir", "files", "export"]
SITE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"


@dataclass(frozen=True)
class SiteSource:
    """One site's source: its FHIR server, its files, or (pooling) its pseudonymised export folder."""

    site: str
    kind: SiteKind
    fhir: FhirSettings | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Deployment:
    config_file: Path
    schedule: ScheduleSettings
    smtp: SmtpSettings
    email: EmailSettings
    paths: PathSettings
    study_file: Path | None = None
    source: Path | None = None
    fhir: FhirSettings | None = None
    followup: FollowupSettings = FollowupSettings()
    sites: tuple[SiteSource, ...] = ()  # [[sources]]: several sites, pulled each on its own
    on_site_failure: Literal["block", "publish_without"] = "block"
    site: str = ""  # this instance's site name, written into its exports for pooling
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


# --------------------------------------------------------------------------- the file's tables


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """An APScheduler cron trigger from 5 fields (crontab) or 6 fields (seconds first).

    Numeric weekdays are refused: crontab counts 0 = Sunday, APScheduler 3 counts 0 = Monday.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    if any(ch in _WEEKDAY_DIGITS for ch in fields[-1]):
        raise ValueError("numeric weekdays are ambiguous (crontab: 0 = Sunday, APScheduler: 0 = Monday)")
    names = ["minute", "hour", "day", "month", "day_of_week"]
    if len(fields) == 6:
        names.insert(0, "second")
    return CronTrigger(timezone=ZoneInfo(timezone), **dict(zip(names, fields, strict=True)))


def _is_address(value: str) -> bool:
    address = parseaddr(value)[1]
    local, at, domain = address.partition("@")
    return bool(local and at and domain) and " " not in address


def _one_or_more(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _path_text(value: str) -> str:
    if not value:
        raise invalid("expected a path", 'set it to "path/to/folder"')
    return value


class ScheduleFile(FileModel):
    cron: str
    timezone: str
    misfire_grace_seconds: int = Field(3600, ge=1, le=7 * 86_400)
    jobstore_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise invalid(f"unknown time zone {name!r}", 'use an IANA name, e.g. "Europe/Berlin"') from exc
        return name

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        cron = " ".join(value.split())
        try:
            cron_trigger(cron, "UTC")
        except ValueError as exc:
            raise invalid(
                f"{cron!r} is not a cron expression: {exc}",
                'write "minute hour day month weekday", e.g. "30 2 * * mon-fri"',
            ) from exc
        return cron

    @field_validator("jobstore_url")
    @classmethod
    def _jobstore(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            make_url(url)
        except (ArgumentError, TypeError) as exc:
            raise invalid(
                f"{url!r} is not an SQLAlchemy URL", 'write e.g. "sqlite:////var/lib/po/jobs.sqlite"'
            ) from exc
        return url


class SmtpFile(FileModel):
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65_535)
    security: Security = "starttls"
    username: str = ""
    password_env: str | None = Field(None, min_length=1)
    timeout: float = Field(30.0, ge=0.1, le=600)
    ca_file: str | None = None
    retries: int = Field(3, ge=0, le=20)
    retry_backoff_seconds: float = Field(5.0, ge=0, le=600)


class EmailFile(FileModel):
    sender: str
    recipients: Annotated[list[str], BeforeValidator(_one_or_more)]
    admin: Annotated[list[str], BeforeValidator(_one_or_more)]
    coordinator: Annotated[list[str], BeforeValidator(_one_or_more)] = Field(default_factory=list)
    subject: str = EmailSettings.subject
    alert_subject: str = EmailSettings.alert_subject
    worklist_subject: str = EmailSettings.worklist_subject

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if not _is_address(value):
            raise invalid(f"{value!r} is not an email address", 'write e.g. "tumour-board@hospital.org"')
        return value

    @field_validator("recipients", "admin")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise invalid("expected one address or a non-empty list", 'write e.g. ["a@hospital.org"]')
        return value

    @field_validator("subject", "alert_subject", "worklist_subject")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            if not value.format(**SUBJECT_FIELDS).strip():
                raise ValueError("empty")
        except (KeyError, IndexError, ValueError) as exc:
            raise invalid(
                f"{value!r} is not a usable subject template ({exc})",
                f"use text with the placeholders {', '.join('{' + k + '}' for k in SUBJECT_FIELDS)}",
            ) from exc
        return value


class PathsFile(FileModel):
    out_dir: str = "out"
    data_dir: str = "data"
    keep_runs: int = Field(30, ge=1, le=100_000)
    keep_days: int = Field(0, ge=0, le=100_000)

    @field_validator("out_dir", "data_dir")
    @classmethod
    def _path(cls, value: str) -> str:
        return _path_text(value)


class FollowupFile(FileModel):
    upcoming_days: int = Field(14, ge=0, le=365)
    min_completeness_percent: float = Field(0.0, ge=0, le=100)
    lookup_file: bool = False
    withdrawn_file: str | None = None

    @field_validator("withdrawn_file")
    @classmethod
    def _withdrawn(cls, value: str | None) -> str | None:
        return None if value is None else _path_text(value)


class SourceFile(FileModel):
    site: str = Field(pattern=SITE_NAME)
    kind: SiteKind | None = None  # default: fhir with a [sources.fhir] table, files with a path
    fhir: dict[str, Any] | None = None
    path: str | None = None


class DeploymentFile(FileModel):
    study: str | None = None
    site: str = Field("", pattern=r"^$|" + SITE_NAME)
    source: str | None = None
    sources: list[SourceFile] = Field(default_factory=list)
    on_site_failure: Literal["block", "publish_without"] = "block"
    fhir: dict[str, Any] | None = None  # checked by config.fhir's own model
    schedule: ScheduleFile
    smtp: SmtpFile
    email: EmailFile
    paths: PathsFile = Field(default_factory=PathsFile)
    followup: FollowupFile = Field(default_factory=FollowupFile)

    @field_validator("study", "source")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else _path_text(value)


# --------------------------------------------------------------------------- from the file to the settings


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _check_addresses(values: list[str], name: str) -> tuple[str, ...]:
    for index, value in enumerate(values):
        if not _is_address(value):
            raise ConfigError(f"{name}[{index}]", f"{value!r} is not an email address",
                              'write e.g. "tumour-board@hospital.org"')
    return tuple(values)


def _smtp(table: SmtpFile, env: Mapping[str, str], base: Path) -> SmtpSettings:
    password = ""
    if table.username:
        if table.password_env is None:
            raise ConfigError("smtp.password_env", "a username needs a password", 'set password_env = "..."')
        password = env.get(table.password_env, "")
        if not password:
            raise ConfigError(
                "smtp.password_env", f"environment variable {table.password_env} is not set or empty",
                f"export {table.password_env}=... in the service's environment",
            )
    ca_file = _path(table.ca_file, base) if table.ca_file else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError("smtp.ca_file", f"{ca_file} does not exist", "give the PEM file of the mail relay's CA")
    return SmtpSettings(
        host=table.host,
        port=table.port or _DEFAULT_PORTS[table.security],
        security=table.security,
        username=table.username,
        password=password,
        password_env=table.password_env or "",
        timeout=table.timeout,
        ca_file=ca_file,
        retries=table.retries,
        retry_backoff_seconds=table.retry_backoff_seconds,
    )


def _paths(table: PathsFile, base: Path) -> PathSettings:
    paths = PathSettings(_path(table.out_dir, base), _path(table.data_dir, base), table.keep_runs, table.keep_days)
    out, data = paths.out_dir, paths.data_dir
    if out == data or data.is_relative_to(out) or out.is_relative_to(data):
        raise ConfigError(
            "paths.data_dir", f"{data} and out_dir {out} overlap: the board would see the private data",
            'give two separate folders, e.g. out_dir = "/srv/board/pelvic" and data_dir = "/var/lib/pelvic"',
        )
    return paths


def _followup(table: FollowupFile, base: Path) -> FollowupSettings:
    fields = table.model_dump()
    fields["withdrawn_file"] = _path(table.withdrawn_file, base) if table.withdrawn_file else None
    return FollowupSettings(**fields)


def _sites(tables: list[SourceFile], env: Mapping[str, str], base: Path) -> tuple[SiteSource, ...]:
    sites: list[SiteSource] = []
    for index, table in enumerate(tables):
        where = f"sources[{index}]"
        if table.site in {s.site for s in sites}:
            raise ConfigError(f"{where}.site", f"site {table.site!r} is named twice", "give every source its own site")
        kind = table.kind or ("fhir" if table.fhir is not None else "files")
        if kind == "fhir":
            if table.fhir is None or table.path is not None:
                raise ConfigError(f"{where}.fhir", "a FHIR source needs a [sources.fhir] table and no path",
                                  "write [sources.fhir] with base_url = ..., or give path = ... for files")
            sites.append(SiteSource(table.site, kind, fhir=_site_fhir(table.fhir, env, where)))
        else:
            if table.path is None or table.fhir is not None:
                raise ConfigError(f"{where}.path", f"a {kind} source needs a path and no [sources.fhir]",
                                  'write path = "folder"')
            sites.append(SiteSource(table.site, kind, path=_path(table.path, base)))
    return tuple(sites)


def _site_fhir(raw: dict[str, Any], env: Mapping[str, str], where: str) -> FhirSettings:
    try:
        return parse_fhir_settings(raw, env)
    except ConfigError as exc:  # name the field within its source: sources[1].fhir.base_url
        raise ConfigError(f"{where}.{exc.field}", exc.problem, exc.fix) from None


def parse_deployment(raw: Mapping[str, Any], env: Mapping[str, str], config_file: Path) -> Deployment:
    """Validate a parsed deployment TOML document; relative paths are taken from ``config_file``'s folder."""
    table = validate(DeploymentFile, raw)
    base = config_file.parent
    if table.fhir is not None and table.source is not None:
        raise ConfigError("source", "both source and [fhir] are set", "keep one: files or a FHIR server")
    if table.sources and (table.fhir is not None or table.source is not None):
        raise ConfigError("sources", "[[sources]] and a single source ([fhir] or source) are both set",
                          "keep [[sources]] (one per site) or the single source")
    paths = _paths(table.paths, base)
    schedule = table.schedule
    email = table.email
    return Deployment(
        config_file=config_file,
        schedule=ScheduleSettings(
            cron=schedule.cron,
            timezone=schedule.timezone,
            misfire_grace_seconds=schedule.misfire_grace_seconds,
            jobstore_url=schedule.jobstore_url or f"sqlite:///{paths.data_dir / 'jobs.sqlite'}",
        ),
        smtp=_smtp(table.smtp, env, base),
        email=EmailSettings(
            sender=email.sender,
            recipients=_check_addresses(email.recipients, "email.recipients"),
            admin=_check_addresses(email.admin, "email.admin"),
            subject=email.subject,
            alert_subject=email.alert_subject,
            coordinator=_check_addresses(email.coordinator, "email.coordinator"),
            worklist_subject=email.worklist_subject,
        ),
        followup=_followup(table.followup, base),
        sites=_sites(table.sources, env, base),
        on_site_failure=table.on_site_failure,
        site=table.site,
        paths=paths,
        study_file=_path(table.study, base) if table.study else None,
        source=_path(table.source, base) if table.source else None,
        fhir=parse_fhir_settings(table.fhir, env) if table.fhir is not None else None,
        env=env,
    )


def process_env() -> dict[str, str]:
    """The process environment: the one place the service reads it (secrets, the pseudonym key)."""
    return dict(os.environ)


def load_deployment(path: str | Path, env: Mapping[str, str] | None = None) -> Deployment:
    """Read and validate a deployment file; ``env`` defaults to the process environment."""
    config_file = Path(path).expanduser().absolute()
    try:
        text = config_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {config_file}: {exc.strerror}", "give an existing file") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(config_file), f"not valid TOML: {exc}", "fix the syntax at the position given") from exc
    return parse_deployment(raw, process_env() if env is None else env, config_file)
