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
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.errors import ConfigError
from config.fhir import FhirSettings, _choice, _float, _int, _no_unknown, _str, parse_fhir_settings

Security = Literal["starttls", "ssl", "none"]

_TOP_KEYS = {"study", "source", "fhir", "schedule", "smtp", "email", "paths"}
_SCHEDULE_KEYS = {"cron", "timezone", "misfire_grace_seconds", "jobstore_url"}
_SMTP_KEYS = {
    "host", "port", "security", "username", "password_env", "timeout", "ca_file", "retries", "retry_backoff_seconds",
}
_EMAIL_KEYS = {"sender", "recipients", "admin", "subject", "alert_subject"}
_PATH_KEYS = {"out_dir", "data_dir", "keep_runs", "keep_days"}
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
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)


# --------------------------------------------------------------------------- field helpers


def _table(raw: Mapping[str, Any], key: str, *, required: bool = True) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, "missing or not a table", f"add a [{key}] table (see config/deployment.example.toml)")
    return value


def _path(value: Any, name: str, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(name, "expected a path", f'set {name.rpartition(".")[2]} = "path"')
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _address(value: Any, name: str) -> str:
    address = parseaddr(value)[1] if isinstance(value, str) else ""
    local, at, domain = address.partition("@")
    if not (local and at and domain) or " " in address:
        raise ConfigError(name, f"{value!r} is not an email address", 'write e.g. "tumour-board@hospital.org"')
    return str(value)


def _addresses(value: Any, name: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(name, "expected one address or a non-empty list", 'write e.g. ["a@hospital.org"]')
    return tuple(_address(item, f"{name}[{i}]") for i, item in enumerate(items))


def _template(raw: Mapping[str, Any], key: str, default: str) -> str:
    value = raw.get(key, default)
    try:
        if not isinstance(value, str) or not value.format(**SUBJECT_FIELDS).strip():
            raise ValueError("empty")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"email.{key}", f"{value!r} is not a usable subject template ({exc})",
            f"use text with the placeholders {', '.join('{' + k + '}' for k in SUBJECT_FIELDS)}",
        ) from exc
    return value


# --------------------------------------------------------------------------- sections


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


def _timezone(raw: Mapping[str, Any]) -> str:
    name = _str(raw, "timezone", "schedule.")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            "schedule.timezone", f"unknown time zone {name!r}", 'use an IANA name, e.g. "Europe/Berlin"'
        ) from exc
    return name


def _schedule(raw: Mapping[str, Any], data_dir: Path) -> ScheduleSettings:
    _no_unknown(raw, _SCHEDULE_KEYS, "schedule.")
    timezone = _timezone(raw)
    cron = " ".join(_str(raw, "cron", "schedule.").split())
    try:
        cron_trigger(cron, timezone)
    except ValueError as exc:
        raise ConfigError(
            "schedule.cron", f"{cron!r} is not a cron expression: {exc}",
            'write "minute hour day month weekday", e.g. "30 2 * * mon-fri"',
        ) from exc
    url = raw.get("jobstore_url", f"sqlite:///{data_dir / 'jobs.sqlite'}")
    try:
        make_url(url)
    except (ArgumentError, TypeError) as exc:
        raise ConfigError(
            "schedule.jobstore_url", f"{url!r} is not an SQLAlchemy URL", 'write e.g. "sqlite:////var/lib/po/jobs.sqlite"'
        ) from exc
    return ScheduleSettings(
        cron=cron,
        timezone=timezone,
        misfire_grace_seconds=_int(raw, "misfire_grace_seconds", "schedule.", 3600, low=1, high=7 * 86_400),
        jobstore_url=str(url),
    )


def _smtp(raw: Mapping[str, Any], env: Mapping[str, str], base: Path) -> SmtpSettings:
    where = "smtp."
    _no_unknown(raw, _SMTP_KEYS, where)
    security = _choice(raw, "security", where, "starttls", ("starttls", "ssl", "none"))
    username = raw.get("username", "")
    if not isinstance(username, str):
        raise ConfigError("smtp.username", "expected a string", 'set username = "..." or leave it out')
    password_env, password = raw.get("password_env", ""), ""
    if username:
        password_env = _str(raw, "password_env", where)
        password = env.get(password_env, "")
        if not password:
            raise ConfigError(
                "smtp.password_env", f"environment variable {password_env} is not set or empty",
                f"export {password_env}=... in the service's environment",
            )
    ca_file = _path(raw["ca_file"], "smtp.ca_file", base) if "ca_file" in raw else None
    if ca_file is not None and not ca_file.is_file():
        raise ConfigError("smtp.ca_file", f"{ca_file} does not exist", "give the PEM file of the mail relay's CA")
    return SmtpSettings(
        host=_str(raw, "host", where),
        port=_int(raw, "port", where, _DEFAULT_PORTS[security], low=1, high=65_535),
        security="ssl" if security == "ssl" else "none" if security == "none" else "starttls",
        username=username,
        password=password,
        password_env=str(password_env),
        timeout=_float(raw, "timeout", where, 30.0, low=0.1, high=600),
        ca_file=ca_file,
        retries=_int(raw, "retries", where, 3, low=0, high=20),
        retry_backoff_seconds=_float(raw, "retry_backoff_seconds", where, 5.0, low=0, high=600),
    )


def _email(raw: Mapping[str, Any]) -> EmailSettings:
    _no_unknown(raw, _EMAIL_KEYS, "email.")
    defaults = EmailSettings("", (), ())
    return EmailSettings(
        sender=_address(raw.get("sender"), "email.sender"),
        recipients=_addresses(raw.get("recipients"), "email.recipients"),
        admin=_addresses(raw.get("admin"), "email.admin"),
        subject=_template(raw, "subject", defaults.subject),
        alert_subject=_template(raw, "alert_subject", defaults.alert_subject),
    )


def _paths(raw: Mapping[str, Any], base: Path) -> PathSettings:
    _no_unknown(raw, _PATH_KEYS, "paths.")
    paths = PathSettings(
        out_dir=_path(raw.get("out_dir", "out"), "paths.out_dir", base),
        data_dir=_path(raw.get("data_dir", "data"), "paths.data_dir", base),
        keep_runs=_int(raw, "keep_runs", "paths.", 30, low=1, high=100_000),
        keep_days=_int(raw, "keep_days", "paths.", 0, low=0, high=100_000),
    )
    out, data = paths.out_dir, paths.data_dir
    if out == data or data.is_relative_to(out) or out.is_relative_to(data):
        raise ConfigError(
            "paths.data_dir", f"{data} and out_dir {out} overlap: the board would see the private data",
            "give two separate folders, e.g. out_dir = \"/srv/board/pelvic\" and data_dir = \"/var/lib/pelvic\"",
        )
    return paths


# --------------------------------------------------------------------------- the file


def parse_deployment(raw: Mapping[str, Any], env: Mapping[str, str], config_file: Path) -> Deployment:
    """Validate a parsed deployment TOML document; relative paths are taken from ``config_file``'s folder."""
    _no_unknown(raw, _TOP_KEYS, "")
    base = config_file.parent
    if "fhir" in raw and "source" in raw:
        raise ConfigError("source", "both source and [fhir] are set", "keep one: files or a FHIR server")
    paths = _paths(_table(raw, "paths", required=False), base)
    return Deployment(
        config_file=config_file,
        schedule=_schedule(_table(raw, "schedule"), paths.data_dir),
        smtp=_smtp(_table(raw, "smtp"), env, base),
        email=_email(_table(raw, "email")),
        paths=paths,
        study_file=_path(raw["study"], "study", base) if "study" in raw else None,
        source=_path(raw["source"], "source", base) if "source" in raw else None,
        fhir=parse_fhir_settings(raw["fhir"], env) if "fhir" in raw else None,
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
