"""Credentials for the FHIR server: none, HTTP Basic, bearer token, SMART Backend Services.

Every authenticator gives the ``Authorization`` header for the next request and, after a 401, one chance
to refresh (:meth:`refresh`): a bearer token from a file is read again (rotated tokens), a SMART token is
fetched anew. SMART Backend Services: a ``client_credentials`` grant with a ``private_key_jwt`` client
assertion (RS384 or ES384, pyjwt), the token endpoint from ``<base>/.well-known/smart-configuration``
unless configured; the access token is cached and renewed before it expires: ``RENEW_BEFORE`` seconds
before, or at half its lifetime when that is shorter (so a 60 s token is not fetched anew for every request).
"""

from __future__ import annotations

import base64
import threading
import uuid
from typing import Any

import jwt
import requests

from config.errors import FhirError
from config.fhir import AuthSettings, BasicAuth, BearerAuth, NoAuth, Secret, SmartAuth
from extractor.http import Authenticator, HttpClient, InvalidPayload, parse_json, safe_url

RENEW_BEFORE = 60.0  # seconds before expiry at which a cached SMART token is renewed (at most half its lifetime)
ASSERTION_LIFETIME = 300  # seconds; SMART says no more than five minutes
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class NoAuthenticator:
    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        return False


class BasicAuthenticator:
    def __init__(self, settings: BasicAuth) -> None:
        raw = f"{settings.username}:{settings.password.reveal()}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._header}

    def refresh(self) -> bool:
        return False


class BearerAuthenticator:
    """A static token; when it comes from a file, a 401 makes us read the file again once."""

    def __init__(self, settings: BearerAuth) -> None:
        self._secret: Secret = settings.token
        self._lock = threading.Lock()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._secret.reveal()}"}

    def refresh(self) -> bool:
        with self._lock:
            fresh = self._secret.reread()
            changed = fresh.reveal() != self._secret.reveal()
            self._secret = fresh
            return changed


class SmartAuthenticator:
    """SMART Backend Services (client_credentials + private_key_jwt)."""

    def __init__(self, settings: SmartAuth, client: HttpClient) -> None:
        self.settings = settings
        self.client = client  # an unauthenticated client on the same session
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0  # clock time from which the cached token is renewed before use
        self._token_url: str | None = settings.token_url
        self.tokens_fetched = 0

    # -------------------------------------------------------------- Authenticator

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self.client.clock.time() >= self._renew_at:
                self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}

    def refresh(self) -> bool:
        with self._lock:
            self._token = None
        return True

    # -------------------------------------------------------------- internals

    def token_url(self) -> str:
        if self._token_url is None:
            url = self.client.settings.base_url + "/.well-known/smart-configuration"
            config = self.client.get_json(url, headers={"Accept": "application/json"})
            endpoint = config.body.get("token_endpoint")
            if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
                raise FhirError("smart-configuration has no usable token_endpoint", safe_url(url))
            self._token_url = endpoint
        return self._token_url

    def client_assertion(self, token_url: str) -> str:
        now = int(self.client.clock.time())
        claims = {
            "iss": self.settings.client_id,
            "sub": self.settings.client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        key: Any = self.settings.private_key.reveal()
        if self.settings.private_key_passphrase is not None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            key = load_pem_private_key(key.encode(), self.settings.private_key_passphrase.reveal().encode())
        headers = {"kid": self.settings.key_id, "typ": "JWT"}
        return jwt.encode(claims, key, algorithm=self.settings.alg, headers=headers)

    def _fetch_token(self) -> None:
        url = self.token_url()

        def form() -> dict[str, str]:  # a fresh assertion (new jti) for every attempt
            return {
                "grant_type": "client_credentials",
                "scope": " ".join(self.settings.scopes),
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(url),
            }

        def read(response: requests.Response) -> dict[str, Any]:
            body = parse_json(response.content)
            if not isinstance(body.get("access_token"), str) or not body["access_token"]:
                raise InvalidPayload("token response has no access_token")
            return body

        asked_at = self.client.clock.time()
        body = self.client.request(
            "POST", url, read=read, data=form, authenticate=False,
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        )
        expires_in = body.get("expires_in", 300)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else 300.0
        self._token = str(body["access_token"])
        self._renew_at = asked_at + lifetime - renewal_margin(lifetime)
        self.tokens_fetched += 1


def renewal_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token of ``lifetime`` seconds is renewed."""
    return min(RENEW_BEFORE, lifetime / 2)


def make_authenticator(settings: AuthSettings, client: HttpClient) -> Authenticator:
    """The authenticator for the configured auth; ``client`` is an unauthenticated client (for SMART)."""
    if isinstance(settings, BasicAuth):
        return BasicAuthenticator(settings)
    if isinstance(settings, BearerAuth):
        return BearerAuthenticator(settings)
    if isinstance(settings, SmartAuth):
        return SmartAuthenticator(settings, client)
    assert isinstance(settings, NoAuth)
    return NoAuthenticator()
