"""FHIR connection settings: the ``[fhir]`` table of the deployment config, validated into frozen dataclasses.

Secrets (passwords, bearer tokens, private keys) are never written in the config: the config names an
environment variable (``password_env = "FHIR_PASSWORD"``) or a file (``token_file = "/run/secrets/token"``)
and :func:`parse_fhir_settings` resolves it once, here, from the ``env`` mapping it is given. Resolved
secrets live in :class:`Secret` objects whose ``repr``/``str`` never show the value, and
:meth:`FhirSettings.describe` (for logs and ``run.json``) only says where a secret came from.

Example::

    [fhir]
    base_url = "https://fhir.example-hospital.org/r4"
    page_size = 250
    [fhir.auth]
    type = "basic"
    username = "pelvic-outcomes"
    password_env = "FHIR_PASSWORD"
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationInfo, field_validator

from config.errors import ConfigError
from config.settings import FileModel, invalid, validate

Mode = Literal["search", "bulk"]
BulkLevel = Literal["system", "patient", "group"]
SmartAlg = Literal["RS384", "ES384"]



# --------------------------------------------------------------------------- secrets


@dataclass(frozen=True, repr=False)
class Secret:
    """A secret value plus where it came from. ``repr``/``str`` never reveal the value."""

    origin: str  # "env FHIR_PASSWORD" or "file /run/secrets/fhir"
    value: str = field(compare=False)
    path: Path | None = None

    def reveal(self) -> str:
        return self.value

    def reread(self) -> Secret:
        """A file secret read again (tokens get rotated); an environment secret is returned as is."""
        if self.path is None:
            return self
        return _read_secret_file(self.path, self.origin)

    def __repr__(self) -> str:
        return f"Secret(<{self.origin}>)"

    __str__ = __repr__


def _read_secret_file(path: Path, field_name: str) -> Secret:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            field_name, f"cannot read secret file {path}: {exc.strerror}", "give a readable file"
        ) from exc
    if not value:
        raise ConfigError(field_name, f"secret file {path} is empty", "write the secret into the file")
    return Secret(f"file {path}", value, path)


def _secret(
    raw: Any, name: str, env: Mapping[str, str], where: str, *, required: bool = True
) -> Secret | None:
    """Resolve the model's ``<name>_env`` or ``<name>_file`` (exactly one)."""
    env_key, file_key = f"{name}_env", f"{name}_file"
    var, path = getattr(raw, env_key, None), getattr(raw, file_key, None)
    if var is not None and path is not None:
        raise ConfigError(f"{where}{env_key}", f"both {env_key} and {file_key} are set", "keep one of them")
    if var is not None:
        value = env.get(var, "")
        if not value:
            raise ConfigError(
                f"{where}{env_key}",
                f"environment variable {var} is not set or empty",
                f"export {var}=... before the run",
            )
        return Secret(f"env {var}", value)
    if path is not None:
        return _read_secret_file(Path(path), f"{where}{file_key}")
    if required:
        raise ConfigError(
            f"{where}{env_key}",
            f"no {name} given",
            f'set {env_key} = "ENV_VAR_NAME" or {file_key} = "/path/to/file" (never the secret itself)',
        )
    return None


# --------------------------------------------------------------------------- auth settings


@dataclass(frozen=True)
class NoAuth:
    kind: Literal["none"] = "none"

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind}


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: Secret
    kind: Literal["basic"] = "basic"

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "username": self.username, "password": f"<{self.password.origin}>"}


@dataclass(frozen=True)
class BearerAuth:
    token: Secret
    kind: Literal["bearer"] = "bearer"

    def describe(self) -> dict[str, Any]:
        return {"type": self.kind, "token": f"<{self.token.origin}>"}


@dataclass(frozen=True)
class SmartAuth:
    """SMART Backend Services: client_credentials grant with a private_key_jwt client assertion."""

    client_id: str
    private_key: Secret  # PEM text
    key_id: str
    alg: SmartAlg
    scopes: tuple[str, ...]
    token_url: str | None = None  # None: discovered from <base>/.well-known/smart-configuration
    private_key_passphrase: Secret | None = None
    kind: Literal["smart"] = "smart"

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "client_id": self.client_id,
            "key_id": self.key_id,
            "alg": self.alg,
            "scopes": list(self.scopes),
            "token_url": self.token_url or "(discovered)",
            "private_key": f"<{self.private_key.origin}>",
        }


AuthSettings = NoAuth | BasicAuth | BearerAuth | SmartAuth


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True)
class FhirSettings:
    """Everything the extractor needs to talk to one FHIR server. Build with :func:`parse_fhir_settings`."""

    base_url: str
    auth: AuthSettings = NoAuth()
    mode: Mode = "search"
    page_size: int = 250
    patient_batch_size: int = 100
    concurrency: int = 4
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_wait: float = 300.0  # a Retry-After longer than this fails the pull instead of stalling it
    incremental: bool = False
    incremental_overlap: float = 300.0  # seconds subtracted from a watermark (late commits on the server)
    bulk_level: BulkLevel = "system"
    bulk_group_id: str = ""
    bulk_max_wait: float = 3600.0
    bulk_download_concurrency: int = 4

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) for requests."""
        return (self.connect_timeout, self.read_timeout)

    def with_base_url(self, url: str) -> FhirSettings:
        """The same settings pointed at another server (``--fhir-url``), validated."""
        return dataclasses.replace(self, base_url=normalize_base_url(url, "--fhir-url"))

    def describe(self) -> dict[str, Any]:
        """Settings for logs and ``run.json``: no secret values, only where they come from."""
        out: dict[str, Any] = {
            "base_url": self.base_url,
            "auth": self.auth.describe(),
            "mode": self.mode,
            "page_size": self.page_size,
            "patient_batch_size": self.patient_batch_size,
            "concurrency": self.concurrency,
            "timeouts": {"connect": self.connect_timeout, "read": self.read_timeout},
            "retry": {
                "max_attempts": self.max_attempts,
                "backoff_base": self.backoff_base,
                "backoff_cap": self.backoff_cap,
                "max_retry_wait": self.max_retry_wait,
            },
            "incremental": self.incremental,
        }
        if self.incremental:
            out["incremental_overlap"] = self.incremental_overlap
        if self.mode == "bulk":
            out["bulk"] = {
                "level": self.bulk_level,
                "group_id": self.bulk_group_id,
                "max_wait": self.bulk_max_wait,
                "download_concurrency": self.bulk_download_concurrency,
            }
        return out

    def redacted(self) -> str:
        """One line for a log."""
        return (
            f"FHIR {self.base_url} auth={self.auth.kind} mode={self.mode} page_size={self.page_size} "
            f"concurrency={self.concurrency} incremental={'on' if self.incremental else 'off'}"
        )


# --------------------------------------------------------------------------- the [fhir] table, as a file


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(value: str) -> str:
    """The base URL without a trailing slash; raises ``invalid`` (problem, fix) when it is not usable."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise invalid(f"{value!r} is not an http(s) URL", 'write e.g. "https://host/fhir"')
    if parts.username or parts.password:
        raise invalid("the URL contains credentials", "remove user:password@ and configure [fhir.auth] instead")
    if parts.query or parts.fragment:
        raise invalid("the base URL has a query or fragment", "give the service base only")
    try:
        _ = parts.port
    except ValueError as exc:
        raise invalid(f"invalid port in {value!r}", "use host:PORT with a number") from exc
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def normalize_base_url(value: Any, field_name: str = "fhir.base_url") -> str:
    """Check a FHIR base URL: http(s), a host, no credentials, no query; trailing slash removed."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field_name, "missing or not a string", 'set base_url = "https://host/fhir"')
    try:
        return _check_base_url(value)
    except Exception as exc:  # PydanticCustomError: the same problem and fix, as our error
        context = getattr(exc, "context", None) or {}
        raise ConfigError(field_name, str(context.get("problem", exc)), str(context.get("fix", ""))) from None


Url = str


class BulkFile(FileModel):
    level: BulkLevel = "system"
    group_id: str = Field("", validate_default=True)
    max_wait: float = Field(3600.0, ge=1, le=7 * 86_400)
    download_concurrency: int = Field(4, ge=1, le=64)

    @field_validator("group_id")
    @classmethod
    def _group_needs_id(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("level") == "group" and not value:
            raise invalid("group-level export needs the Group id", 'set group_id = "..."')
        return value


class AuthKind(FileModel):
    """Only the ``type`` of ``[fhir.auth]``: it says which table model checks the rest."""

    model_config = FileModel.model_config | {"extra": "ignore"}
    type: Literal["none", "basic", "bearer", "smart"] = "none"


class NoAuthFile(FileModel):
    type: Literal["none"] = "none"


class BasicAuthFile(FileModel):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password_env: str | None = Field(None, min_length=1)
    password_file: str | None = Field(None, min_length=1)


class BearerAuthFile(FileModel):
    type: Literal["bearer"]
    token_env: str | None = Field(None, min_length=1)
    token_file: str | None = Field(None, min_length=1)


class SmartAuthFile(FileModel):
    type: Literal["smart"]
    client_id: str = Field(min_length=1)
    private_key_file: str | None = Field(None, min_length=1)
    private_key_passphrase_env: str | None = Field(None, min_length=1)
    key_id: str = Field(min_length=1)
    alg: SmartAlg = "RS384"
    scopes: list[str] | str = Field(default_factory=lambda: ["system/*.read"])
    token_url: str | None = None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str] | str) -> list[str]:
        scopes = value.split() if isinstance(value, str) else value
        if not scopes or not all(scopes):
            raise invalid("expected a non-empty list of scopes", 'scopes = ["system/Patient.rs"]')
        return scopes

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_base_url(value)


_AUTH_FILES: dict[str, type[FileModel]] = {
    "none": NoAuthFile, "basic": BasicAuthFile, "bearer": BearerAuthFile, "smart": SmartAuthFile,
}


class FhirFile(FileModel):
    base_url: str
    auth: dict[str, Any] | None = None  # checked by the model its type names (AuthKind)
    bulk: BulkFile = BulkFile()
    mode: Mode = "search"
    page_size: int = Field(250, ge=1, le=10_000)
    patient_batch_size: int = Field(100, ge=1, le=1000)
    concurrency: int = Field(4, ge=1, le=64)
    connect_timeout: float = Field(10.0, ge=0.1, le=600)
    read_timeout: float = Field(120.0, ge=0.1, le=3600)
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_base: float = Field(0.5, ge=0, le=60)
    backoff_cap: float = Field(30.0, ge=0, le=3600)
    max_retry_wait: float = Field(300.0, ge=0, le=86_400)
    incremental: bool = False
    incremental_overlap: float = Field(300.0, ge=0, le=86_400)
    allow_insecure_http: bool = False

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _check_base_url(value)

    @field_validator("backoff_cap")
    @classmethod
    def _cap_above_base(cls, value: float, info: ValidationInfo) -> float:
        base = info.data.get("backoff_base", 0.5)
        if value < base:
            raise invalid(f"{value} is below backoff_base {base}", "raise it")
        return value


# --------------------------------------------------------------------------- from the file to the settings


def _smart(raw: SmartAuthFile, env: Mapping[str, str], where: str) -> SmartAuth:
    key = _secret(raw, "private_key", env, where)
    assert key is not None
    passphrase = _secret(raw, "private_key_passphrase", env, where, required=False)
    _check_private_key(key, passphrase, raw.alg, f"{where}private_key_file")
    return SmartAuth(
        client_id=raw.client_id,
        private_key=key,
        key_id=raw.key_id,
        alg=raw.alg,
        scopes=tuple(raw.scopes),
        token_url=raw.token_url,
        private_key_passphrase=passphrase,
    )


def _check_private_key(key: Secret, passphrase: Secret | None, alg: str, field_name: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        loaded = load_pem_private_key(
            key.reveal().encode(), passphrase.reveal().encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(field_name, "not a readable PEM private key", "give a PKCS#8 or PEM key file") from exc
    if alg == "RS384" and not isinstance(loaded, rsa.RSAPrivateKey):
        raise ConfigError(field_name, "alg RS384 needs an RSA key", 'use an RSA key or set alg = "ES384"')
    if alg == "ES384" and not (isinstance(loaded, ec.EllipticCurvePrivateKey) and loaded.curve.name == "secp384r1"):
        raise ConfigError(field_name, "alg ES384 needs an EC P-384 key", 'use a P-384 key or set alg = "RS384"')


def _auth(raw: dict[str, Any] | None, env: Mapping[str, str]) -> AuthSettings:
    where = "fhir.auth."
    if raw is None:
        return NoAuth()
    kind = validate(AuthKind, raw, where).type
    table = validate(_AUTH_FILES[kind], raw, where)
    if isinstance(table, BasicAuthFile):
        password = _secret(table, "password", env, where)
        assert password is not None
        return BasicAuth(table.username, password)
    if isinstance(table, BearerAuthFile):
        token = _secret(table, "token", env, where)
        assert token is not None
        return BearerAuth(token)
    if isinstance(table, SmartAuthFile):
        return _smart(table, env, where)
    return NoAuth()


def parse_fhir_settings(raw: Any, env: Mapping[str, str]) -> FhirSettings:
    """Validate the ``[fhir]`` table; secrets are looked up in ``env`` (pass ``os.environ``) or files."""
    table = validate(FhirFile, raw, "fhir.")
    auth = _auth(table.auth, env)
    host = urlsplit(table.base_url).hostname or ""
    if auth.kind != "none" and table.base_url.startswith("http://") and not _is_loopback(host) \
            and not table.allow_insecure_http:
        raise ConfigError(
            "fhir.base_url",
            "credentials would be sent unencrypted over http to a non-loopback host",
            "use https, or set allow_insecure_http = true on a trusted network",
        )
    bulk = table.bulk
    return FhirSettings(
        base_url=table.base_url,
        auth=auth,
        mode=table.mode,
        page_size=table.page_size,
        patient_batch_size=table.patient_batch_size,
        concurrency=table.concurrency,
        connect_timeout=table.connect_timeout,
        read_timeout=table.read_timeout,
        max_attempts=table.max_attempts,
        backoff_base=table.backoff_base,
        backoff_cap=table.backoff_cap,
        max_retry_wait=table.max_retry_wait,
        incremental=table.incremental,
        incremental_overlap=table.incremental_overlap,
        bulk_level=bulk.level,
        bulk_group_id=bulk.group_id,
        bulk_max_wait=bulk.max_wait,
        bulk_download_concurrency=bulk.download_concurrency,
    )
