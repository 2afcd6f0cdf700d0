"""HTTP to a FHIR server: one keep-alive session, explicit timeouts, bounded retries with backoff.

Retry policy (see ``docs/extraction.md``):

* retried: connection errors (refused, reset, dropped), timeouts, truncated bodies, responses that are not
  valid JSON/FHIR, and HTTP 429, 502, 503, 504; HTTP 500 too on idempotent reads (GET, HEAD) only, since a
  500 after a write may have applied it;
* waits ``Retry-After`` (seconds or HTTP-date) when the server sends it, otherwise exponential backoff with
  full jitter: ``uniform(0, min(backoff_cap, backoff_base * 2**(attempt - 1)))``;
* at most ``max_attempts`` attempts, then :class:`FhirHTTPError` (status) or :class:`FhirTimeout` or
  :class:`FhirError`, naming the URL;
* other 4xx/5xx (and a 500 on a POST) fail at once; a 401 asks the authenticator for fresh credentials once.

URLs in messages and logs go through :func:`safe_url`: no credentials, and the values of query parameters
that carry ids (``patient``, ``_id``, ...) or secrets are elided.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from config.errors import FhirError, FhirHTTPError, FhirTimeout
from config.fhir import FhirSettings

log = logging.getLogger("extractor.http")

RETRY_STATUSES = frozenset({429, 502, 503, 504})  # retried whatever the method
RETRY_STATUSES_IF_IDEMPOTENT = frozenset({500})  # retried only for the methods below
IDEMPOTENT_READS = frozenset({"GET", "HEAD"})
FHIR_JSON = "application/fhir+json"
USER_AGENT = "pelvic-outcomes-extractor/0.1"

T = TypeVar("T")

_ELIDED_PARAMS = {"patient", "subject", "_id", "identifier", "member", "access_token", "code_verifier"}
_SECRET_WORDS = ("token", "secret", "password", "key", "assertion")


class Clock(Protocol):
    """What the extractor needs to know about time; inject a fake one in tests."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class Authenticator(Protocol):
    """Adds credentials to requests to the FHIR server (see :mod:`extractor.auth`)."""

    def headers(self) -> dict[str, str]: ...

    def refresh(self) -> bool:
        """Called after a 401: get fresh credentials; False when there is nothing new to try."""
        ...


class InvalidPayload(Exception):
    """A response body that is not what was asked for (not JSON, not a Bundle...). Retried like a failure."""


def safe_url(url: str) -> str:
    """The URL without credentials and with id- or secret-bearing query values elided."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    query = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        lowered = name.lower()
        base_name = lowered.split(":")[0]
        if base_name in _ELIDED_PARAMS or any(word in lowered for word in _SECRET_WORDS):
            count = len(value.split(",")) if value else 0
            shown = f"<{count} value{'s' if count != 1 else ''}>"
        else:
            shown = quote(value, safe="|,:/")
        query.append(f"{quote(name)}={shown}")
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), ""))


_REFERENCE = re.compile(r"\b([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_OPAQUE = re.compile(r"[A-Za-z0-9+/_=-]{40,}")  # long opaque strings: tokens, keys, assertions
OAUTH_DESCRIPTION_CHARS = 200


def _diagnostics(response: requests.Response) -> str:
    """A short, id-free reason from an OperationOutcome or OAuth error body, if any."""
    try:
        body = json.loads(response.content)
    except (ValueError, requests.RequestException):
        return ""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return oauth_error(body)
        return ""
    texts = [str(i.get("diagnostics", "")) for i in body.get("issue") or [] if isinstance(i, dict)]
    text = "; ".join(t for t in texts if t)[:300]
    return _REFERENCE.sub(lambda m: f"{m.group(1)}/…", text)


def oauth_error(body: Mapping[str, Any]) -> str:
    """``error: error_description`` of an OAuth error response (RFC 6749 5.2), on one line.

    The description is what says why (a bad signature, an unknown ``kid``, a scope the server does not
    grant); it is truncated to ``OAUTH_DESCRIPTION_CHARS``, and anything that looks like a token, an
    assertion or a key is elided, so a server echoing what it was sent cannot leak it into a log.
    """
    error = _one_line(str(body.get("error", "")))[:100]
    description = body.get("error_description")
    if not isinstance(description, str) or not description.strip():
        return error
    text = _OPAQUE.sub("…", _JWT.sub("…", _one_line(description)))
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}/…", text)
    if len(text) > OAUTH_DESCRIPTION_CHARS:
        text = text[: OAUTH_DESCRIPTION_CHARS - 1] + "…"
    return f"{error}: {text}" if error else text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse_retry_after(value: str | None, server_date: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None.

    An HTTP-date is measured against the response's ``Date`` header when there is one (server time), so a
    skewed client clock does not matter; otherwise against ``now``.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now
    if server_date:
        with contextlib.suppress(TypeError, ValueError):
            reference = email.utils.parsedate_to_datetime(server_date).timestamp()
    return max(0.0, when.timestamp() - reference)


def server_time(response: requests.Response) -> datetime | None:
    """The response ``Date`` header as an aware datetime (server clock), or None."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def make_session(settings: FhirSettings) -> requests.Session:
    """A keep-alive session whose connection pool fits the configured concurrency; no hidden retries."""
    session = requests.Session()
    size = max(4, settings.concurrency, settings.bulk_download_concurrency) + 2
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclass
class HttpStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, *, requests: int = 0, retries: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.bytes += nbytes


@dataclass(frozen=True)
class JsonResponse:
    url: str
    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]
    date: datetime | None  # server time from the Date header


Body = Mapping[str, str] | bytes | str | None


class HttpClient:
    """Sends requests with the retry policy above. Thread-safe when the session's pool is big enough."""

    def __init__(
        self,
        settings: FhirSettings,
        session: requests.Session,
        *,
        auth: Authenticator | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        stats: HttpStats | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.auth = auth
        self.clock = clock
        self.rng = rng or random.Random()  # jitter, not security
        self.stats = stats or HttpStats()
        self._rng_lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def get_json(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        validate: Callable[[dict[str, Any]], None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JsonResponse:
        """GET a JSON document; ``validate`` raises :class:`InvalidPayload` to reject (and retry) it."""

        def read(response: requests.Response) -> JsonResponse:
            body = parse_json(response.content)
            if validate is not None:
                validate(body)
            return JsonResponse(response.url, response.status_code, response.headers, body, server_time(response))

        return self.request("GET", url, params=params, headers=headers, read=read)

    def request(
        self,
        method: str,
        url: str,
        *,
        read: Callable[[requests.Response], T],
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Body | Callable[[], Body] = None,
        ok: Collection[int] = (200,),
        stream: bool = False,
        authenticate: bool = True,
    ) -> T:
        """Send with retries; ``read`` turns an accepted response into the result (may raise InvalidPayload)."""
        attempts = self.settings.max_attempts
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            outcome, wait = self._attempt(
                _Call(method, url, params, headers, data, ok, stream, authenticate), read
            )
            if isinstance(outcome, _Result):
                return outcome.value
            if isinstance(outcome, _Unauthorized):
                if not refreshed and self.auth is not None and self.auth.refresh():
                    refreshed = True
                    attempt -= 1
                    continue
                raise outcome.error
            failure = outcome  # an error to retry, or to raise when the attempts are used up
            if attempt >= attempts:
                if attempts > 1:
                    failure.args = (f"{failure.args[0]} (gave up after {attempts} attempts)",)
                raise failure
            delay = wait if wait is not None else self._backoff(attempt)
            if delay > self.settings.max_retry_wait:
                raise FhirError(
                    f"server asked to wait {delay:.0f} s before retrying, more than fhir.max_retry_wait "
                    f"({self.settings.max_retry_wait:.0f} s)",
                    safe_url(url),
                ) from failure
            self.stats.count(retries=1)
            log.warning(
                "retrying %s %s in %.1f s (attempt %d of %d failed: %s)",
                method, safe_url(url), delay, attempt, attempts, _short(failure),
            )
            self.clock.sleep(delay)

    # ------------------------------------------------------------------ internals

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        with self._rng_lock:
            return self.rng.uniform(0, ceiling)

    def _attempt(
        self, call: _Call, read: Callable[[requests.Response], T]
    ) -> tuple[_Result[T] | _Unauthorized | FhirError, float | None]:
        """One attempt: a result, or the error to raise/retry and the server-requested wait."""
        all_headers = {"Accept": FHIR_JSON}
        authenticate = call.authenticate and self.auth is not None
        if authenticate and self.auth is not None:
            all_headers.update(self.auth.headers())
        if call.headers:
            all_headers.update(call.headers)
        body = call.data() if callable(call.data) else call.data
        shown = safe_url(call.url if not call.params else f"{call.url}?{urlencode(call.params)}")
        self.stats.count(requests=1)
        try:
            response = self.session.request(
                call.method, call.url, params=call.params, headers=all_headers, data=body,
                timeout=self.settings.timeout, stream=call.stream,
            )
        except requests.Timeout as exc:
            return FhirTimeout(f"no answer within the timeout ({type(exc).__name__})", shown), None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            return FhirError(f"body truncated or connection dropped ({type(exc).__name__})", shown), None
        except requests.ConnectionError as exc:
            return FhirError(f"connection failed ({type(exc).__name__})", shown), None
        except requests.RequestException as exc:
            raise FhirError(f"request could not be sent ({type(exc).__name__})", shown) from exc
        with response:
            status = response.status_code
            if status == 401 and authenticate:
                return _Unauthorized(FhirHTTPError("not authorised", shown, status)), None
            if status in RETRY_STATUSES or (
                status in RETRY_STATUSES_IF_IDEMPOTENT and call.method.upper() in IDEMPOTENT_READS
            ):
                wait = parse_retry_after(response.headers.get("Retry-After"), response.headers.get("Date"),
                                         self.clock.time())
                return FhirHTTPError(_status_message(response), shown, status), wait
            if status not in call.ok:
                raise FhirHTTPError(_status_message(response), shown, status)
            try:
                result = read(response)
            except requests.Timeout:
                return FhirTimeout("timed out while reading the body", shown), None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:
                return FhirError(f"body truncated or connection dropped ({type(exc).__name__})", shown), None
            except InvalidPayload as exc:
                return FhirError(f"invalid response: {exc}", shown), None
            if not call.stream:
                self.stats.count(nbytes=len(response.content))
            return _Result(result), None


@dataclass(frozen=True)
class _Call:
    method: str
    url: str
    params: Mapping[str, str] | None
    headers: Mapping[str, str] | None
    data: Body | Callable[[], Body]
    ok: Collection[int]
    stream: bool
    authenticate: bool


@dataclass
class _Result(Generic[T]):
    value: T


@dataclass
class _Unauthorized:
    error: FhirHTTPError


def _status_message(response: requests.Response) -> str:
    reason = f"server answered {response.reason or 'error'}"
    detail = _diagnostics(response)
    return f"{reason}: {detail}" if detail else reason


def _short(error: Exception) -> str:
    return str(error).split(" [", 1)[0]


def parse_json(content: bytes) -> dict[str, Any]:
    """Parse a JSON object; anything else is an :class:`InvalidPayload`."""
    try:
        body = json.loads(content)
    except ValueError as exc:
        raise InvalidPayload(f"not valid JSON ({exc.__class__.__name__} at byte {getattr(exc, 'pos', '?')})") from exc
    if not isinstance(body, dict):
        raise InvalidPayload("JSON is not an object")
    return body
