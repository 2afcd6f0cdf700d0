"""A loopback SMART Backend Services authorization server in front of a real FHIR server.

It stands in for a hospital's authorization server, not for our code:

* ``GET /fhir/.well-known/smart-configuration`` names the token endpoint;
* ``POST /token`` checks a ``client_credentials`` grant with a ``private_key_jwt`` assertion: signature
  with the client's registered public key (RS384/ES384), ``iss`` = ``sub`` = client id, ``aud`` = the
  token URL, ``exp`` in the future and at most 5 minutes ahead, a ``jti`` never seen before, and (when
  ``granted_scopes`` is set) only scopes it grants; then issues an opaque access token valid
  ``token_lifetime`` seconds. Refusals are OAuth error responses with an ``error_description``, as
  Keycloak sends them;
* every other request needs ``Authorization: Bearer <valid token>`` (else 401) and is forwarded to the
  FHIR server (Host header kept, so next links point back here).

:func:`client_settings` makes a key pair, registers its public half and returns the matching ``[fhir]``
settings for the extractor.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fault_proxy import forward, read_body, send

from config.fhir import FhirSettings, parse_fhir_settings

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Client:
    client_id: str
    public_key_pem: bytes
    alg: str


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        send(self, status, [("Content-Type", "application/json")], json.dumps(body).encode())

    def do_GET(self) -> None:
        auth = self.server.auth
        if self.path.split("?")[0].endswith("/.well-known/smart-configuration"):
            self._json(200, {
                "token_endpoint": auth.token_url,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            })
            return
        self._protected(None)

    def do_POST(self) -> None:
        body = read_body(self)
        if self.path == "/token":
            status, answer = self.server.auth.token(body or b"")
            self._json(status, answer)
            return
        self._protected(body)

    def do_DELETE(self) -> None:
        self._protected(None)

    def _protected(self, body: bytes | None) -> None:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if not self.server.auth.valid(token):
            self.server.auth.rejected += 1
            self._json(401, {"error": "invalid_token"})
            return
        self.server.auth.forwarded += 1
        send(self, *forward(self, self.server.auth.upstream, body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    auth: SmartAuthServer


@dataclass
class SmartAuthServer:
    upstream: str  # scheme://host:port of the FHIR server
    token_lifetime: int = 300
    granted_scopes: set[str] | None = None  # None: any scope is granted
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    seen_jti: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    issued: int = 0
    rejected: int = 0
    forwarded: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.auth = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def register(self, client_id: str, public_key_pem: bytes, alg: str) -> None:
        self.clients[client_id] = Client(client_id, public_key_pem, alg)

    def revoke_all(self) -> None:
        with self._lock:
            self.tokens.clear()

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self.tokens.get(token)
        return expiry is not None and expiry > time.time()

    def _refuse(self, reason: str, error: str = "invalid_client") -> tuple[int, dict[str, Any]]:
        self.errors.append(reason)
        return 400, {"error": error, "error_description": reason}

    def token(self, body: bytes) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return self._refuse("grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return self._refuse("wrong client_assertion_type")
        assertion = form.get("client_assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            client = self.clients.get(str(unverified.get("iss")))
            if client is None:
                return self._refuse("unknown client (iss)")
            claims = jwt.decode(
                assertion, client.public_key_pem, algorithms=[client.alg], audience=self.token_url,
                issuer=client.client_id, options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return self._refuse(f"assertion rejected: {exc}")
        if claims["sub"] != client.client_id:
            return self._refuse("sub must equal the client id")
        if claims["exp"] > time.time() + 300:
            return self._refuse("exp more than 5 minutes ahead")
        scope = form.get("scope", "")
        refused = sorted(set(scope.split()) - self.granted_scopes) if self.granted_scopes is not None else []
        if refused:
            return self._refuse(f"Invalid scopes: {' '.join(refused)}", "invalid_scope")
        with self._lock:
            if claims["jti"] in self.seen_jti:
                return self._refuse("jti replayed")
            self.seen_jti.add(claims["jti"])
            token = secrets.token_urlsafe(24)
            self.tokens[token] = time.time() + self.token_lifetime
            self.issued += 1
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_lifetime,
                     "scope": scope}

    def __enter__(self) -> SmartAuthServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def make_key(alg: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def client_settings(server: SmartAuthServer, tmp_path: Path, alg: str, register: bool = True,
                    **overrides: Any) -> FhirSettings:
    """Settings of a SMART client of ``server`` with a fresh key (registered unless ``register`` is false)."""
    key = make_key(alg)
    key_file = tmp_path / f"{alg}.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    client_id = f"pelvic-outcomes-{alg.lower()}"
    if register:
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        server.register(client_id, public, alg)
    auth = {"type": "smart", "client_id": client_id, "private_key_file": str(key_file), "key_id": "k1",
            "alg": alg, "scopes": ["system/Patient.rs", "system/Observation.rs"]}
    auth.update(overrides.pop("auth", {}))
    raw: dict[str, Any] = {"base_url": server.base_url + "/fhir", "page_size": 100, "concurrency": 3, "auth": auth}
    raw.update(overrides)
    return parse_fhir_settings(raw, {})
