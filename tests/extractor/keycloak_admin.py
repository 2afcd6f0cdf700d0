"""Keycloak for the SMART tests: the admin REST calls of the recipe in docs/extraction.md, and two loopback
servers around Keycloak.

* :class:`KeycloakAdmin` logs in to the master realm as the admin that ``scripts/keycloak.sh`` bootstrapped and
  makes the calls an administrator makes in the admin console: a realm, client scopes, a client.
* :func:`signed_jwt_client` is **the recipe**: the client representation docs/extraction.md describes, field
  for field (Signed JWT authenticator, signature algorithm, JWKS URL or certificate + ``jwt.credential.kid``).
* :class:`JwksServer` publishes JWKS documents on loopback, as a hospital publishes the client's keys.
* :class:`ProtectedFhir` stands in for the FHIR server: it names Keycloak's token endpoint in
  ``/fhir/.well-known/smart-configuration`` and accepts only access tokens that Keycloak signed (checked
  with the realm's published keys), recording their claims; it answers searches with an empty Bundle.

The server's URL comes from ``KEYCLOAK_URL`` (default ``http://127.0.0.1:$KEYCLOAK_PORT``, port 8180), the
admin password from ``KEYCLOAK_ADMIN_PASSWORD`` or the file ``scripts/keycloak.sh start`` writes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fault_proxy import send
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parents[2]
PASSWORD_FILE = ROOT / "keycloak" / "run" / "admin-password"
TIMEOUT = (5, 60)  # (connect, read) seconds for every call to Keycloak
EMPTY_BUNDLE = json.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}).encode()

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def keycloak_url() -> str:
    return os.environ.get("KEYCLOAK_URL") or f"http://127.0.0.1:{os.environ.get('KEYCLOAK_PORT', '8180')}"


def admin_password() -> str:
    password = os.environ.get("KEYCLOAK_ADMIN_PASSWORD")
    if password:
        return password
    try:
        return PASSWORD_FILE.read_text().strip()
    except OSError:
        return ""


class KeycloakAdmin:
    """Keycloak's admin REST API (``/admin/realms/...``), as the bootstrap admin of the master realm."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url.rstrip("/")
        self._username = username
        self._password = password
        self.session = requests.Session()
        self._login()

    def _login(self) -> None:
        answer = requests.post(
            f"{self.url}/realms/master/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli", "username": self._username,
                  "password": self._password},
            timeout=TIMEOUT,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"Keycloak admin login failed: HTTP {answer.status_code} {answer.text[:200]}")
        self.session.headers["Authorization"] = "Bearer " + answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One admin call; logs in again once when the (short-lived) admin token has expired."""
        for attempt in (1, 2):
            answer = self.session.request(method, f"{self.url}/admin{path}", timeout=TIMEOUT, **kwargs)
            if answer.status_code == 401 and attempt == 1:
                self._login()
                continue
            if answer.status_code >= 400:
                raise RuntimeError(f"{method} {path}: HTTP {answer.status_code} {answer.text[:300]}")
            return answer
        raise AssertionError("unreachable")

    def version(self) -> str:
        return str(self.call("GET", "/serverinfo").json()["systemInfo"]["version"])

    def create_realm(self, realm: str) -> None:
        self.call("POST", "/realms", json={"realm": realm, "enabled": True})

    def delete_realm(self, realm: str) -> None:
        self.call("DELETE", f"/realms/{realm}")

    def create_client_scope(self, realm: str, name: str) -> str:
        """A client scope named exactly ``name`` (console: Client scopes -> Create, type None); its id."""
        answer = self.call("POST", f"/realms/{realm}/client-scopes", json={
            "name": name,
            "protocol": "openid-connect",
            "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
        })
        return _created_id(answer)

    def create_client(self, realm: str, representation: dict[str, Any]) -> str:
        """Create a client; its internal id (not the clientId)."""
        return _created_id(self.call("POST", f"/realms/{realm}/clients", json=representation))

    def add_optional_client_scope(self, realm: str, client: str, scope_id: str) -> None:
        """Console: the client's tab Client scopes -> Add client scope -> Optional."""
        self.call("PUT", f"/realms/{realm}/clients/{client}/optional-client-scopes/{scope_id}")

    def upload_jwt_credential(self, realm: str, client: str, keystore_format: str, filename: str,
                              content: bytes) -> dict[str, Any]:
        """Console: the client's tab Keys -> Import key (``keystore_format`` as the console names it)."""
        answer = self.call(
            "POST", f"/realms/{realm}/clients/{client}/certificates/jwt.credential/upload-certificate",
            files={"keystoreFormat": (None, keystore_format), "file": (filename, content)},
        )
        body: dict[str, Any] = answer.json()
        return body


def _created_id(answer: requests.Response) -> str:
    return answer.headers["Location"].rstrip("/").rsplit("/", 1)[1]


def signed_jwt_client(
    client_id: str,
    alg: str,
    *,
    jwks_url: str | None = None,
    certificate: x509.Certificate | None = None,
    kid: str | None = None,
    access_token_lifespan: int | None = None,
) -> dict[str, Any]:
    """The client of the recipe: confidential, service account only, authenticated by a Signed JWT.

    The public key comes from ``jwks_url`` (Keys: Use JWKS URL On) or from ``certificate``, whose ``kid``
    (``jwt.credential.kid``) must be the ``key_id`` the extractor puts in its assertions; with neither, it is
    imported afterwards (:meth:`KeycloakAdmin.upload_jwt_credential`).
    """
    if jwks_url is not None and certificate is not None:
        raise ValueError("give at most one of jwks_url and certificate")
    attributes = {"token.endpoint.auth.signing.alg": alg}
    if jwks_url is not None:
        attributes |= {"use.jwks.url": "true", "jwks.url": jwks_url}
    elif certificate is not None:
        der = certificate.public_bytes(serialization.Encoding.DER)
        attributes |= {"use.jwks.url": "false", "jwt.credential.certificate": base64.b64encode(der).decode()}
        if kid is not None:
            attributes["jwt.credential.kid"] = kid
    if access_token_lifespan is not None:
        attributes["access.token.lifespan"] = str(access_token_lifespan)  # Advanced -> Access Token Lifespan
    return {
        "clientId": client_id,
        "protocol": "openid-connect",
        "publicClient": False,  # Client authentication: On
        "serviceAccountsEnabled": True,  # Service accounts roles: the client_credentials grant
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "clientAuthenticatorType": "client-jwt",  # Credentials -> Client Authenticator: Signed JWT
        "attributes": attributes,
    }


# ------------------------------------------------------------------ keys


def new_key(alg: str) -> PrivateKey:
    if alg.startswith("ES"):
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(key: PrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return path


def public_jwk(key: PrivateKey, kid: str, alg: str) -> dict[str, Any]:
    """The public half as a JWK with ``kid``, ``use`` and ``alg``, as docs/extraction.md makes it."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        text = ECAlgorithm.to_jwk(key.public_key())
    else:
        text = RSAAlgorithm.to_jwk(key.public_key())
    jwk: dict[str, Any] = json.loads(text)
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


def self_signed_certificate(key: PrivateKey, common_name: str = "pelvic-outcomes") -> x509.Certificate:
    """What ``openssl req -new -x509 -key smart-key.pem -sha384 -days 730 -subj /CN=...`` makes."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=730))
        .sign(key, hashes.SHA384())
    )


def keycloak_derived_kid(key: PrivateKey) -> str:
    """The kid Keycloak gives an imported certificate that has no ``jwt.credential.kid``: base64url (no
    padding) of the SHA-256 of the DER SubjectPublicKeyInfo."""
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).decode().rstrip("=")


# ------------------------------------------------------------------ loopback servers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Any


class _Loopback:
    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _JwksHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner: JwksServer = self.server.owner
        document = owner.documents.get(self.path)
        if document is None:
            send(self, 404, [("Content-Type", "application/json")], b'{"error": "not found"}')
            return
        owner.fetched.append(self.path)
        send(self, 200, [("Content-Type", "application/json")], json.dumps(document).encode())


class JwksServer(_Loopback):
    """Serves ``{"keys": [...]}`` documents at ``/<name>.json``."""

    handler = _JwksHandler

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[str, dict[str, Any]] = {}
        self.fetched: list[str] = []

    def publish(self, name: str, keys: Sequence[dict[str, Any]]) -> str:
        self.documents[f"/{name}.json"] = {"keys": list(keys)}
        return f"{self.origin}/{name}.json"


class _FhirHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        owner: ProtectedFhir = self.server.owner
        if self.path.split("?")[0] == "/fhir/.well-known/smart-configuration":
            body = {
                "token_endpoint": owner.token_url,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            }
            send(self, 200, [("Content-Type", "application/json")], json.dumps(body).encode())
            return
        header = self.headers.get("Authorization", "")
        claims = owner.verify(header.removeprefix("Bearer ")) if header.startswith("Bearer ") else None
        if claims is None:
            owner.rejected += 1
            send(self, 401, [("Content-Type", "application/json")], b'{"error": "invalid_token"}')
            return
        with owner.lock:
            owner.accepted.append(claims)
        send(self, 200, [("Content-Type", "application/fhir+json")], EMPTY_BUNDLE)


class ProtectedFhir(_Loopback):
    """A FHIR base at ``origin + /fhir`` that trusts only access tokens signed by the realm's keys."""

    handler = _FhirHandler

    def __init__(self, issuer: str) -> None:
        super().__init__()
        self.issuer = issuer  # <keycloak>/realms/<realm>
        self.token_url = f"{issuer}/protocol/openid-connect/token"
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []  # claims of every accepted access token, per request
        self.rejected = 0
        self._keys = jwt.PyJWKClient(f"{issuer}/protocol/openid-connect/certs", cache_keys=True, timeout=30)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/fhir"

    def verify(self, token: str) -> dict[str, Any] | None:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256", "RS384", "ES256", "ES384"], issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iat", "iss", "azp"]},
            )
        except jwt.PyJWTError:
            return None
        return claims

    def claims_for(self, client_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.accepted if c.get("azp") == client_id]
