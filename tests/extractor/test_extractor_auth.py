"""SMART Backend Services without HAPI: token errors that say why, and when a cached token is renewed.

The loopback authorization server (``smart_server.py``) sits in front of a loopback FHIR stub
(``loopback.py``), so these tests use real sockets and real JWTs but need no FHIR server.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from loopback import LoopbackFhir
from smart_server import SmartAuthServer, client_settings
from stub_http import BASE, FakeClock, StubSession, response, settings

from config.errors import FhirHTTPError
from config.fhir import FhirSettings, Secret, SmartAuth
from extractor.auth import SmartAuthenticator, renewal_margin
from extractor.http import HttpClient, make_session

TOKEN_URL = "http://auth.test/token"


@pytest.fixture
def smart():
    with LoopbackFhir() as fhir, SmartAuthServer(fhir.origin) as server:
        yield server


def smart_client(fhir: FhirSettings, session=None, clock=None) -> tuple[HttpClient, SmartAuthenticator]:
    session = session or make_session(fhir)
    kwargs = {"clock": clock} if clock is not None else {}
    assert isinstance(fhir.auth, SmartAuth)
    auth = SmartAuthenticator(fhir.auth, HttpClient(fhir, session, **kwargs))
    return HttpClient(fhir, session, auth=auth, **kwargs), auth


def test_a_refused_key_keeps_the_oauth_error_description(smart: SmartAuthServer, tmp_path: Path):
    fhir = client_settings(smart, tmp_path, "RS384", register=False)
    client, _ = smart_client(fhir)
    with pytest.raises(FhirHTTPError) as caught:
        client.get_json(fhir.base_url + "/Patient")
    message = str(caught.value)
    assert caught.value.status == 400 and "/token" in message
    assert "invalid_client: unknown client (iss)" in message
    assert "\n" not in message


def test_an_unknown_scope_names_the_scopes_the_server_refused(smart: SmartAuthServer, tmp_path: Path):
    smart.granted_scopes = {"system/Patient.rs"}
    fhir = client_settings(smart, tmp_path, "ES384")
    client, _ = smart_client(fhir)
    with pytest.raises(FhirHTTPError) as caught:
        client.get_json(fhir.base_url + "/Patient")
    assert "invalid_scope: Invalid scopes: system/Observation.rs" in str(caught.value)


def test_a_long_error_description_is_truncated_and_never_echoes_the_assertion():
    assertions: list[str] = []

    def handler(call):
        if call.url == TOKEN_URL:
            assertions.append(call.data["client_assertion"])
            description = f"Signature on JWT token failed validation: {assertions[-1]} " + "x" * 500
            return response(401, {"error": "invalid_client", "error_description": description})
        return response(200, {"resourceType": "Bundle"})

    client, _ = smart_client(_stub_settings(), StubSession(handler), FakeClock())
    with pytest.raises(FhirHTTPError) as caught:
        client.get_json(f"{BASE}/Patient")
    message = str(caught.value)
    assert "invalid_client: Signature on JWT token failed validation" in message
    assert assertions and assertions[0] not in message
    assert assertions[0].split(".")[2] not in message  # not even the signature alone
    description = message.split("invalid_client: ", 1)[1].split(" (HTTP ", maxsplit=1)[0]
    assert len(description) <= 200 and description.endswith("…")


def test_a_token_error_without_a_description_still_names_the_error():
    def handler(call):
        if call.url == TOKEN_URL:
            return response(400, {"error": "invalid_grant"})
        return response(200, {"resourceType": "Bundle"})

    client, _ = smart_client(_stub_settings(), StubSession(handler), FakeClock())
    with pytest.raises(FhirHTTPError, match=r"server answered Bad Request: invalid_grant \(HTTP 400\)"):
        client.get_json(f"{BASE}/Patient")


@pytest.mark.parametrize(("lifetime", "margin"), [(3600, 60.0), (120, 60.0), (60, 30.0), (20, 10.0), (1, 0.5)])
def test_the_renewal_margin_is_60_s_or_half_the_lifetime_when_shorter(lifetime: int, margin: float):
    assert renewal_margin(lifetime) == margin


def test_a_60_s_token_is_reused_until_half_its_lifetime():
    issued: list[str] = []

    def handler(call):
        if call.url == TOKEN_URL:
            issued.append(f"tok{len(issued) + 1}")
            return response(200, {"access_token": issued[-1], "expires_in": 60})
        return response(200, {"resourceType": "Bundle"})

    clock = FakeClock()
    session = StubSession(handler)
    client, auth = smart_client(_stub_settings(), session, clock)
    client.get_json(f"{BASE}/Patient")
    clock.now += 29
    client.get_json(f"{BASE}/Patient")
    assert auth.tokens_fetched == 1  # with a fixed 60 s margin every request fetched a new token
    clock.now += 2  # 31 s after the token was issued: past half its lifetime
    client.get_json(f"{BASE}/Patient")
    assert auth.tokens_fetched == 2
    assert [c.headers.get("Authorization") for c in session.calls if c.url.startswith(f"{BASE}/Patient")] == [
        "Bearer tok1", "Bearer tok1", "Bearer tok2"]


def test_short_lived_tokens_from_a_real_token_endpoint_are_not_fetched_for_every_request(
    smart: SmartAuthServer, tmp_path: Path
):
    smart.token_lifetime = 30
    fhir = client_settings(smart, tmp_path, "RS384")
    client, auth = smart_client(fhir)
    for _ in range(5):
        client.get_json(fhir.base_url + "/Patient", {"_count": "1"})
    assert smart.issued == 1 and auth.tokens_fetched == 1
    assert smart.forwarded == 5 and smart.rejected == 0 and smart.errors == []


def _stub_settings() -> FhirSettings:
    auth = SmartAuth("client-1", Secret("file k", _pem()), "kid-1", "RS384", ("system/Patient.rs",), TOKEN_URL)
    return settings(auth=auth, max_attempts=2)


@functools.cache
def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
