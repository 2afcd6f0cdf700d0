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

from config.errors import ConfigError

Mode = Literal["search", "bulk"]
BulkLevel = Literal["system", "patient", "group"]
SmartAlg = Literal["RS384", "ES384"]

_TOP_KEYS = {
    "base_url", "auth", "bulk", "mode", "page_size", "patient_batch_size", "concurrency",
    "connect_timeout", "read_timeout", "max_attempts", "backoff_base", "backoff_cap", "max_retry_wait",
    "incremental", "incremental_overlap", "allow_insecure_http",
}
_AUTH_KEYS: dict[str, set[str]] = {
    "none": {"type"},
    "basic": {"type", "username", "password_env", "password_file"},
    "bearer": {"type", "token_env", "token_file"},
    "smart": {
        "type", "client_id", "private_key_file", "private_key_passphrase_env", "key_id", "alg", "scopes",
        "token_url",
    },
}
_LITERAL_SECRETS = {"password", "token", "private_key", "client_secret", "passphrase", "private_key_passphrase"}
_BULK_KEYS = {"level", "group_id", "max_wait", "download_concurrency"}


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
    raw: Mapping[str, Any], name: str, env: Mapping[str, str], where: str, *, required: bool = True
) -> Secret | None:
    """Resolve ``<name>_env`` or ``<name>_file`` (exactly one)."""
    env_key, file_key = f"{name}_env", f"{name}_file"
    has_env, has_file = env_key in raw, file_key in raw
    if has_env and has_file:
        raise ConfigError(f"{where}{env_key}", f"both {env_key} and {file_key} are set", "keep one of them")
    if has_env:
        var = raw[env_key]
        if not isinstance(var, str) or not var:
            raise ConfigError(
                f"{where}{env_key}", "expected the NAME of an environment variable", f'{env_key} = "NAME"'
            )
        value = env.get(var, "")
        if not value:
            raise ConfigError(
                f"{where}{env_key}",
                f"environment variable {var} is not set or empty",
                f"export {var}=... before the run",
            )
        return Secret(f"env {var}", value)
    if has_file:
        path = raw[file_key]
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}{file_key}", "expected a file path", f'{file_key} = "/run/secrets/..."')
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


# --------------------------------------------------------------------------- parsing


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(value: Any, field_name: str = "fhir.base_url") -> str:
    """Check a FHIR base URL: http(s), a host, no credentials, no query; trailing slash removed."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field_name, "missing or not a string", 'set base_url = "https://host/fhir"')
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(field_name, f"{value!r} is not an http(s) URL", 'write e.g. "https://host/fhir"')
    if parts.username or parts.password:
        raise ConfigError(
            field_name, "the URL contains credentials", "remove user:password@ and configure [fhir.auth] instead"
        )
    if parts.query or parts.fragment:
        raise ConfigError(field_name, "the base URL has a query or fragment", "give the service base only")
    try:
        _ = parts.port
    except ValueError as exc:
        raise ConfigError(field_name, f"invalid port in {value!r}", "use host:PORT with a number") from exc
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _int(raw: Mapping[str, Any], key: str, where: str, default: int, *, low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{where}{key}", f"expected an integer in {low}..{high}, got {value!r}", f"set {key} = N")
    return value


def _float(raw: Mapping[str, Any], key: str, where: str, default: float, *, low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(f"{where}{key}", f"expected a number in {low}..{high}, got {value!r}", f"set {key} = N")
    return float(value)


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}{key}", f"expected true or false, got {value!r}", f"set {key} = true")
    return value


def _choice(raw: Mapping[str, Any], key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}{key}", f"unknown value {value!r}", f"use one of: {', '.join(choices)}")
    return str(value)


def _no_unknown(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in raw:
        if key in _LITERAL_SECRETS:
            raise ConfigError(
                f"{where}{key}",
                "secrets must not be written in the config file",
                f'put it in an environment variable and set {key}_env = "NAME", or in a file and set {key}_file',
            )
        if key not in allowed:
            raise ConfigError(f"{where}{key}", "unknown field", f"use one of: {', '.join(sorted(allowed))}")


def _str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}{key}", "missing or empty", f'set {key} = "..."')
    return value


def _smart(raw: Mapping[str, Any], env: Mapping[str, str], where: str) -> SmartAuth:
    key = _secret(raw, "private_key", env, where)
    assert key is not None
    passphrase = _secret(raw, "private_key_passphrase", env, where, required=False)
    alg = _choice(raw, "alg", where, "RS384", ("RS384", "ES384"))
    _check_private_key(key, passphrase, alg, f"{where}private_key_file")
    scopes_raw = raw.get("scopes", ["system/*.read"])
    if isinstance(scopes_raw, str):
        scopes_raw = scopes_raw.split()
    if not isinstance(scopes_raw, list) or not scopes_raw or not all(isinstance(s, str) and s for s in scopes_raw):
        raise ConfigError(f"{where}scopes", "expected a non-empty list of scopes", 'scopes = ["system/Patient.rs"]')
    token_url = raw.get("token_url")
    if token_url is not None:
        token_url = normalize_base_url(token_url, f"{where}token_url")
    return SmartAuth(
        client_id=_str(raw, "client_id", where),
        private_key=key,
        key_id=_str(raw, "key_id", where),
        alg="ES384" if alg == "ES384" else "RS384",
        scopes=tuple(scopes_raw),
        token_url=token_url,
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


def _auth(raw: Any, env: Mapping[str, str]) -> AuthSettings:
    where = "fhir.auth."
    if raw is None:
        return NoAuth()
    if not isinstance(raw, Mapping):
        raise ConfigError("fhir.auth", "not a table", "write [fhir.auth] with type = ...")
    kind = _choice(raw, "type", where, "none", tuple(_AUTH_KEYS))
    _no_unknown(raw, _AUTH_KEYS[kind], where)
    if kind == "basic":
        password = _secret(raw, "password", env, where)
        assert password is not None
        return BasicAuth(_str(raw, "username", where), password)
    if kind == "bearer":
        token = _secret(raw, "token", env, where)
        assert token is not None
        return BearerAuth(token)
    if kind == "smart":
        return _smart(raw, env, where)
    return NoAuth()


def parse_fhir_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> FhirSettings:
    """Validate the ``[fhir]`` table; secrets are looked up in ``env`` (pass ``os.environ``) or files."""
    if not isinstance(raw, Mapping):
        raise ConfigError("fhir", "not a table", "write a [fhir] table")
    where = "fhir."
    _no_unknown(raw, _TOP_KEYS, where)
    base_url = normalize_base_url(raw.get("base_url"))
    auth = _auth(raw.get("auth"), env)
    insecure = _bool(raw, "allow_insecure_http", where, False)
    host = urlsplit(base_url).hostname or ""
    if auth.kind != "none" and base_url.startswith("http://") and not _is_loopback(host) and not insecure:
        raise ConfigError(
            "fhir.base_url",
            "credentials would be sent unencrypted over http to a non-loopback host",
            "use https, or set allow_insecure_http = true on a trusted network",
        )
    bulk = raw.get("bulk", {})
    if not isinstance(bulk, Mapping):
        raise ConfigError("fhir.bulk", "not a table", "write [fhir.bulk]")
    _no_unknown(bulk, _BULK_KEYS, "fhir.bulk.")
    level = _choice(bulk, "level", "fhir.bulk.", "system", ("system", "patient", "group"))
    group_id = bulk.get("group_id", "")
    if not isinstance(group_id, str) or (level == "group" and not group_id):
        raise ConfigError("fhir.bulk.group_id", "group-level export needs the Group id", 'set group_id = "..."')
    defaults = FhirSettings(base_url=base_url)
    mode = _choice(raw, "mode", where, "search", ("search", "bulk"))
    connect = _float(raw, "connect_timeout", where, defaults.connect_timeout, low=0.1, high=600)
    backoff_base = _float(raw, "backoff_base", where, defaults.backoff_base, low=0, high=60)
    backoff_cap = _float(raw, "backoff_cap", where, defaults.backoff_cap, low=0, high=3600)
    if backoff_cap < backoff_base:
        raise ConfigError("fhir.backoff_cap", f"{backoff_cap} is below backoff_base {backoff_base}", "raise it")
    return FhirSettings(
        base_url=base_url,
        auth=auth,
        mode="bulk" if mode == "bulk" else "search",
        page_size=_int(raw, "page_size", where, defaults.page_size, low=1, high=10_000),
        patient_batch_size=_int(raw, "patient_batch_size", where, defaults.patient_batch_size, low=1, high=1000),
        concurrency=_int(raw, "concurrency", where, defaults.concurrency, low=1, high=64),
        connect_timeout=connect,
        read_timeout=_float(raw, "read_timeout", where, defaults.read_timeout, low=0.1, high=3600),
        max_attempts=_int(raw, "max_attempts", where, defaults.max_attempts, low=1, high=100),
        backoff_base=backoff_base,
        backoff_cap=backoff_cap,
        max_retry_wait=_float(raw, "max_retry_wait", where, defaults.max_retry_wait, low=0, high=86_400),
        incremental=_bool(raw, "incremental", where, False),
        incremental_overlap=_float(
            raw, "incremental_overlap", where, defaults.incremental_overlap, low=0, high=86_400
        ),
        bulk_level="group" if level == "group" else "patient" if level == "patient" else "system",
        bulk_group_id=group_id,
        bulk_max_wait=_float(bulk, "max_wait", "fhir.bulk.", defaults.bulk_max_wait, low=1, high=7 * 86_400),
        bulk_download_concurrency=_int(
            bulk, "download_concurrency", "fhir.bulk.", defaults.bulk_download_concurrency, low=1, high=64
        ),
    )
