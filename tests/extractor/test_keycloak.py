"""Our SMART Backend Services client against a real Keycloak, registered by the recipe of docs/extraction.md.

``scripts/keycloak.sh start`` runs Keycloak (start-dev, 127.0.0.1:8180); ``scripts/test.sh`` starts it before
pytest and stops it after. The tests FAIL, not skip, when it is not reachable. One realm per module run:
client scopes named exactly as the configured scopes, then one client per test, registered through the admin
REST API exactly as the recipe says (``keycloak_admin.signed_jwt_client``). Our extractor
(``extractor.auth.SmartAuthenticator``) then gets tokens from Keycloak and uses them against a loopback FHIR
server that trusts only tokens signed by the realm's keys.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from keycloak_admin import (
    JwksServer,
    KeycloakAdmin,
    PrivateKey,
    ProtectedFhir,
    admin_password,
    keycloak_derived_kid,
    keycloak_url,
    new_key,
    public_jwk,
    self_signed_certificate,
    signed_jwt_client,
    write_key,
)
from stub_http import FakeClock

from config.errors import FhirHTTPError
from config.fhir import FhirSettings, SmartAuth, parse_fhir_settings
from extractor.auth import SmartAuthenticator
from extractor.http import Clock, HttpClient, make_session

pytestmark = [pytest.mark.keycloak, pytest.mark.timeout(120)]

SCOPES = ("system/Patient.rs", "system/Procedure.rs", "system/Condition.rs", "system/Observation.rs")
KID = "2026-01"


@dataclass
class Realm:
    admin: KeycloakAdmin
    name: str
    scope_ids: dict[str, str]
    jwks: JwksServer
    fhir: ProtectedFhir

    @property
    def token_url(self) -> str:
        return self.fhir.token_url

    def register(self, client_id: str, key: PrivateKey, *, route: str = "jwks_url", alg: str | None = None,
                 access_token_lifespan: int | None = None, jwks_url: str | None = None, **override: Any) -> str:
        """Steps 2-4 of the recipe for ``key``: the client, its public key by ``route``, its scopes.
        ``override`` replaces fields of the recipe's client (to register a client wrongly)."""
        alg = alg or _alg(key)
        options: dict[str, Any] = {"access_token_lifespan": access_token_lifespan}
        if route == "jwks_url":
            options["jwks_url"] = jwks_url or self.jwks.publish(client_id, [public_jwk(key, KID, alg)])
        elif route == "certificate":
            options |= {"certificate": self_signed_certificate(key), "kid": KID}
        # else: the key is imported afterwards, as in the console (Keys -> Import key)
        representation = signed_jwt_client(client_id, alg, **options) | override
        uuid = self.admin.create_client(self.name, representation)
        for scope_id in self.scope_ids.values():
            self.admin.add_optional_client_scope(self.name, uuid, scope_id)
        return uuid


@pytest.fixture(scope="module")
def realm() -> Iterator[Realm]:
    url = keycloak_url()
    try:
        requests.get(f"{url}/realms/master/.well-known/openid-configuration", timeout=(3, 30)).raise_for_status()
        admin = KeycloakAdmin(url, "admin", admin_password())
    except (requests.RequestException, RuntimeError) as exc:
        pytest.fail(
            f"Keycloak not usable at {url} ({exc}). Start it first (scripts/keycloak.sh start) and set "
            "KEYCLOAK_URL / KEYCLOAK_ADMIN_PASSWORD if it is not the one that script runs; or deselect these "
            "tests with -m 'not keycloak'.",
            pytrace=False,
        )
    name = f"pelvic-outcomes-test-{secrets.token_hex(4)}"
    admin.create_realm(name)  # step 0 of the recipe: a realm (or use the hospital's)
    try:
        scope_ids = {scope: admin.create_client_scope(name, scope) for scope in SCOPES}  # step 4
        with JwksServer() as jwks, ProtectedFhir(f"{admin.url}/realms/{name}") as fhir:
            yield Realm(admin, name, scope_ids, jwks, fhir)
    finally:
        admin.delete_realm(name)


def _alg(key: PrivateKey) -> str:
    return "RS384" if isinstance(key, rsa.RSAPrivateKey) else "ES384"


def our_settings(realm: Realm, tmp_path: Path, client_id: str, key: PrivateKey, *, discover: bool = True,
                 **auth: Any) -> FhirSettings:
    """Step 6 of the recipe: the ``[fhir]`` table, with the token URL discovered or given."""
    table: dict[str, Any] = {
        "type": "smart", "client_id": client_id, "key_id": KID, "alg": _alg(key), "scopes": list(SCOPES),
        "private_key_file": str(write_key(key, tmp_path / f"{client_id}.pem")),
    }
    if not discover:
        table["token_url"] = realm.token_url
    table |= auth
    return parse_fhir_settings({"base_url": realm.fhir.base_url, "read_timeout": 30, "auth": table}, {})


def smart_client(settings: FhirSettings, clock: Clock | None = None) -> tuple[HttpClient, SmartAuthenticator]:
    session = make_session(settings)
    kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
    assert isinstance(settings.auth, SmartAuth)
    auth = SmartAuthenticator(settings.auth, HttpClient(settings, session, **kwargs))
    return HttpClient(settings, session, auth=auth, **kwargs), auth


@pytest.mark.parametrize(
    ("alg", "route"),
    [("RS384", "jwks_url"), ("ES384", "jwks_url"), ("RS384", "certificate"), ("ES384", "certificate")],
)
def test_keycloak_issues_our_client_a_token_the_fhir_server_accepts(realm: Realm, tmp_path: Path, alg: str,
                                                                     route: str):
    client_id = f"pelvic-outcomes-{alg.lower()}-{route.replace('_', '-')}"
    key = new_key(alg)
    realm.register(client_id, key, route=route)
    settings = our_settings(realm, tmp_path, client_id, key, discover=route == "jwks_url")
    client, auth = smart_client(settings)
    for resource in ("Patient", "Observation"):
        assert client.get_json(f"{settings.base_url}/{resource}").body["resourceType"] == "Bundle"
    assert auth.tokens_fetched == 1 and realm.fhir.rejected == 0
    claims = realm.fhir.claims_for(client_id)
    assert len(claims) == 2 and claims[0]["jti"] == claims[1]["jti"]  # one Keycloak token, used twice
    assert set(SCOPES) <= set(claims[0]["scope"].split())
    if route == "jwks_url":
        assert f"/{client_id}.json" in realm.jwks.fetched  # Keycloak read the key from our JWKS URL


def test_a_certificate_imported_in_the_console_works_with_the_kid_keycloak_derives(realm: Realm,
                                                                                   tmp_path: Path):
    """Keys -> Import key -> Certificate PEM sets no jwt.credential.kid: Keycloak then knows the key by a kid of
    its own (base64url SHA-256 of the public key), which must be our key_id, or the attribute must be set."""
    key = new_key("ES384")
    uuid = realm.register("pelvic-outcomes-console-cert", key, route="import")
    pem = self_signed_certificate(key).public_bytes(serialization.Encoding.PEM)
    realm.admin.upload_jwt_credential(realm.name, uuid, "Certificate PEM", "smart-cert.pem", pem)

    settings = our_settings(realm, tmp_path, "pelvic-outcomes-console-cert", key, key_id=KID)
    with pytest.raises(FhirHTTPError, match="invalid_client: Unable to load public key"):
        smart_client(settings)[0].get_json(f"{settings.base_url}/Patient")

    derived = keycloak_derived_kid(key)
    settings = our_settings(realm, tmp_path, "pelvic-outcomes-console-cert", key, key_id=derived)
    smart_client(settings)[0].get_json(f"{settings.base_url}/Patient")
    assert len(realm.fhir.claims_for("pelvic-outcomes-console-cert")) == 1

    # or give the imported certificate our kid: GET the client, add jwt.credential.kid, PUT it back
    client = realm.admin.call("GET", f"/realms/{realm.name}/clients/{uuid}").json()
    client["attributes"]["jwt.credential.kid"] = KID
    realm.admin.call("PUT", f"/realms/{realm.name}/clients/{uuid}", json=client)
    settings = our_settings(realm, tmp_path, "pelvic-outcomes-console-cert", key, key_id=KID)
    smart_client(settings)[0].get_json(f"{settings.base_url}/Patient")
    assert len(realm.fhir.claims_for("pelvic-outcomes-console-cert")) == 2


def test_a_30_s_keycloak_token_is_reused_for_half_its_lifetime_then_renewed(realm: Realm, tmp_path: Path):
    key = new_key("RS384")
    realm.register("pelvic-outcomes-renewal", key, access_token_lifespan=30)  # step 5: a short lifetime
    settings = our_settings(realm, tmp_path, "pelvic-outcomes-renewal", key)
    clock = FakeClock(start=time.time())  # moved by hand: the test does not wait 15 s
    client, auth = smart_client(settings, clock)

    client.get_json(f"{settings.base_url}/Patient")
    clock.now += 14  # Keycloak says expires_in 30 (or 29 across a second boundary): renewal at 15 s (14.5 s)
    client.get_json(f"{settings.base_url}/Patient")
    assert auth.tokens_fetched == 1
    clock.now += 2  # 16 s after the token was asked for
    client.get_json(f"{settings.base_url}/Patient")
    assert auth.tokens_fetched == 2

    claims = realm.fhir.claims_for("pelvic-outcomes-renewal")
    assert [c["jti"] == claims[0]["jti"] for c in claims] == [True, True, False]  # a new Keycloak token
    assert {c["exp"] - c["iat"] for c in claims} == {30}  # the client's Access Token Lifespan took effect
    assert realm.fhir.rejected == 0


BAD_REQUEST, UNAUTHORIZED = (400, "Bad Request"), (401, "Unauthorized")

REFUSALS = {
    # case: (Keycloak's status, and its error and error_description as our error line shows them)
    "wrong key": (BAD_REQUEST, "invalid_client: Client authentication with signed JWT failed: "
                               "Signature on JWT token failed validation"),
    "unknown kid": (BAD_REQUEST, "invalid_client: Unable to load public key"),
    "unknown scope": (BAD_REQUEST, "invalid_scope: Invalid scopes: system/*.read"),
    "signature algorithm differs": (BAD_REQUEST, "invalid_client: invalid signature algorithm"),
    "JWKS URL unreachable": (BAD_REQUEST, "invalid_client: Client authentication with signed JWT failed: Error when "
                             "loading public keys: org.apache.http.conn.HttpHostConnectException: Connect to "
                             "{address} [/127.0.0.1] failed: Connection refused"),
    "unknown client": (UNAUTHORIZED, "invalid_client: Invalid client or Invalid client credentials"),
    "no service account": (UNAUTHORIZED, "unauthorized_client: Client not enabled to retrieve service account"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refusal_is_one_line_with_keycloaks_reason(realm: Realm, tmp_path: Path, case: str):
    client_id = "pelvic-outcomes-" + case.replace(" ", "-")
    key = new_key("RS384")
    auth: dict[str, Any] = {}
    address = ""
    if case == "wrong key":
        realm.register(client_id, new_key("RS384"))  # Keycloak holds another key under our kid
    elif case == "unknown kid":
        realm.register(client_id, key)
        auth["key_id"] = "2025-12"
    elif case == "unknown scope":
        realm.register(client_id, key)
        auth["scopes"] = ["system/*.read"]  # no client scope of that name
    elif case == "signature algorithm differs":
        realm.register(client_id, key, alg="RS256")
    elif case == "JWKS URL unreachable":
        address = _closed_port_address()
        realm.register(client_id, key, jwks_url=f"http://{address}/jwks.json")
    elif case == "no service account":
        realm.register(client_id, key, serviceAccountsEnabled=False)
    settings = our_settings(realm, tmp_path, client_id, key, **auth)

    with pytest.raises(FhirHTTPError) as caught:
        smart_client(settings)[0].get_json(f"{settings.base_url}/Patient")
    (status, reason), oauth = REFUSALS[case]
    oauth = oauth.replace("{address}", address)
    assert str(caught.value) == f"server answered {reason}: {oauth} (HTTP {status}) [{realm.token_url}]"
    assert realm.fhir.claims_for(client_id) == []


def _closed_port_address() -> str:
    """127.0.0.1:<a port nothing listens on> (just released by us)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_keycloak_25_cannot_use_an_ec_key_imported_as_a_bare_jwk(realm: Realm, tmp_path: Path, alg: str):
    """Keys -> Import key -> JSON Web Key Set stores the key as a bare public key, which Keycloak 25 reads back
    as RSA: the import succeeds, every ES384 token request then fails (and Public Key PEM is refused with a
    500). Hence the recipe's JWKS URL or certificate for EC keys. (If this fails because ES384 works on a newer
    Keycloak, update docs/extraction.md.)"""
    client_id = f"pelvic-outcomes-bare-jwk-{alg.lower()}"
    key = new_key(alg)
    uuid = realm.register(client_id, key, route="import")
    jwks = {"keys": [public_jwk(key, KID, alg)]}
    stored = realm.admin.upload_jwt_credential(realm.name, uuid, "JSON Web Key Set", "jwks.json",
                                               json.dumps(jwks).encode())
    assert stored["kid"] == KID  # accepted, with our kid
    settings = our_settings(realm, tmp_path, client_id, key)
    client = smart_client(settings)[0]
    if alg == "RS384":
        client.get_json(f"{settings.base_url}/Patient")
        assert len(realm.fhir.claims_for(client_id)) == 1
        return
    with pytest.raises(FhirHTTPError) as caught:
        client.get_json(f"{settings.base_url}/Patient")
    message = str(caught.value)
    assert message.startswith("server answered Bad Request: invalid_client: Client authentication with signed "
                              "JWT failed: Error when loading public keys: ")
    description = message.split("invalid_client: ", 1)[1].split(" (HTTP 400)", maxsplit=1)[0]
    assert len(description) == 200 and description.endswith("…")  # Keycloak's Java exception, truncated
    assert "\n" not in message
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(RuntimeError, match="HTTP 500"):  # and the Public Key PEM import fails outright
        realm.admin.upload_jwt_credential(realm.name, uuid, "Public Key PEM", "smart-public.pem", public_pem)
