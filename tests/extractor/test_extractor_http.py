"""Retries, timeouts and error conversion of the HTTP layer, against a stub session."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest
import requests
from fault_proxy import FaultProxy, Rule
from loopback import LoopbackFhir
from stub_http import BASE, FakeClock, StubSession, response, sequence, settings

from config.errors import FhirError, FhirHTTPError, FhirTimeout
from config.fhir import BasicAuth, BearerAuth, Secret
from extractor.auth import BasicAuthenticator, BearerAuthenticator
from extractor.http import HttpClient, make_session, parse_retry_after, safe_url

URL = f"{BASE}/Patient"
OK = response(200, {"resourceType": "Bundle", "type": "searchset"})


def client(handler, clock=None, **overrides) -> tuple[HttpClient, StubSession, FakeClock]:
    session = StubSession(handler)
    clock = clock or FakeClock()
    return HttpClient(settings(**overrides), session, clock=clock, rng=random.Random(1)), session, clock


def test_retry_after_seconds_is_honoured():
    http, session, clock = client(sequence(response(429, headers={"Retry-After": "7"}), OK))
    assert http.get_json(URL).body["resourceType"] == "Bundle"
    assert clock.sleeps == [7.0]
    assert len(session.calls) == 2


def test_retry_after_http_date_is_measured_against_the_server_date_header():
    headers = {"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT", "Date": "Wed, 21 Oct 2026 07:28:18 GMT"}
    http, _, clock = client(sequence(response(503, headers=headers), OK))
    http.get_json(URL)
    assert clock.sleeps == [12.0]


def test_parse_retry_after_accepts_seconds_dates_and_ignores_garbage():
    assert parse_retry_after("3", None, 0) == 3.0
    assert parse_retry_after("soon", None, 0) is None
    assert parse_retry_after(None, None, 0) is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", None, 4.0) == 6.0


def test_retries_are_bounded_then_fail_naming_url_and_status():
    http, session, clock = client(sequence(response(503)))
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(URL, {"_count": "10"})
    assert caught.value.status == 503
    assert len(session.calls) == 4
    assert len(clock.sleeps) == 3
    assert "/fhir/Patient" in str(caught.value) and "4 attempts" in str(caught.value)


def test_backoff_is_exponential_with_full_jitter_under_the_cap():
    http, _, clock = client(sequence(response(502)), max_attempts=8, backoff_base=1.0, backoff_cap=4.0)
    with pytest.raises(FhirHTTPError):
        http.get_json(URL)
    ceilings = [1, 2, 4, 4, 4, 4, 4]
    assert len(clock.sleeps) == 7
    assert all(0 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


@pytest.mark.parametrize("status", [400, 403, 404, 410, 422])
def test_client_errors_are_not_retried(status):
    http, session, clock = client(sequence(response(status)))
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(URL)
    assert caught.value.status == status
    assert len(session.calls) == 1 and clock.sleeps == []


def test_a_500_on_a_get_is_retried_with_the_bounded_backoff():
    http, session, clock = client(sequence(response(500), response(500), OK), backoff_base=1.0, backoff_cap=4.0)
    assert http.get_json(URL).status == 200
    assert len(session.calls) == 3
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0


def test_a_persistent_500_on_a_get_gives_up_after_max_attempts_naming_url_and_status():
    http, session, clock = client(sequence(response(500)))
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(URL)
    assert caught.value.status == 500 and "4 attempts" in str(caught.value) and "/fhir/Patient" in str(caught.value)
    assert len(session.calls) == 4 and len(clock.sleeps) == 3


def test_a_500_on_a_post_is_not_retried():
    http, session, clock = client(sequence(response(500), OK))
    with pytest.raises(FhirHTTPError) as caught:
        http.request("POST", BASE, read=lambda r: r.status_code, data=b"{}")
    assert caught.value.status == 500
    assert len(session.calls) == 1 and clock.sleeps == []


def test_a_500_from_a_real_server_is_retried_through_the_fault_proxy():
    with LoopbackFhir() as upstream, FaultProxy(upstream.origin) as proxy:
        rule = proxy.add(Rule("status", r"/fhir/Patient", status=500, times=2))
        fhir = settings(base_url=proxy.base_url + "/fhir", backoff_base=0.01, backoff_cap=0.05)
        with make_session(fhir) as session:
            page = HttpClient(fhir, session).get_json(proxy.base_url + "/fhir/Patient", {"_count": "1"})
    assert page.body["resourceType"] == "Bundle"
    assert rule.applied == 2 and [action for _, _, action in proxy.log] == ["status", "status", "forward"]


def test_error_diagnostics_are_shown_without_resource_ids():
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"diagnostics": "HAPI-2001: Resource Patient/secret-id-42 is not known"}]}
    http, _, _ = client(sequence(response(400, outcome)))
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(URL)
    assert "HAPI-2001" in str(caught.value)
    assert "secret-id-42" not in str(caught.value)


def test_timeout_is_raised_as_fhir_timeout_after_retries():
    http, session, _ = client(sequence(requests.ReadTimeout("read timed out")))
    with pytest.raises(FhirTimeout) as caught:
        http.get_json(URL)
    assert len(session.calls) == 4
    assert caught.value.url and caught.value.url.startswith(URL)


def test_timeouts_are_explicit_on_every_request():
    http, session, _ = client(sequence(OK), connect_timeout=3.0, read_timeout=9.0)
    http.get_json(URL)
    assert session.calls[0].timeout == (3.0, 9.0)


def test_connection_errors_and_truncated_bodies_are_retried():
    http, session, _ = client(sequence(
        requests.ConnectionError("refused"), requests.exceptions.ChunkedEncodingError("truncated"), OK))
    assert http.get_json(URL).status == 200
    assert len(session.calls) == 3


def test_invalid_json_counts_as_a_failed_attempt():
    http, session, _ = client(sequence(response(200, raw=b'{"resourceType": "Bund'), OK))
    assert http.get_json(URL).status == 200
    assert len(session.calls) == 2


def test_invalid_json_every_time_fails_naming_the_url():
    http, _, _ = client(sequence(response(200, raw=b"<html>proxy error</html>")))
    with pytest.raises(FhirError, match="not valid JSON") as caught:
        http.get_json(URL)
    assert "/fhir/Patient" in str(caught.value)


def test_a_retry_after_beyond_the_limit_fails_instead_of_stalling():
    http, _, clock = client(sequence(response(429, headers={"Retry-After": "86400"})), max_retry_wait=60.0)
    with pytest.raises(FhirError, match="max_retry_wait"):
        http.get_json(URL)
    assert clock.sleeps == []


def test_safe_url_drops_credentials_and_elides_ids_and_tokens():
    shown = safe_url("https://user:pw@host:8443/fhir/Observation?patient=a,b,c&_count=5&access_token=xyz")
    assert "user" not in shown and "pw" not in shown and "xyz" not in shown
    assert "a,b,c" not in shown and "patient=<3 values>" in shown and "_count=5" in shown


def test_error_messages_never_show_patient_ids():
    http, _, _ = client(sequence(response(503)))
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(f"{BASE}/Observation", {"patient": "pat-1,pat-2"})
    assert "pat-1" not in str(caught.value)


def test_basic_auth_header_is_sent_and_the_password_never_logged(caplog):
    auth = BasicAuthenticator(BasicAuth("svc", Secret("env FHIR_PASSWORD", "s3cret-pw")))
    session = StubSession(sequence(response(503), OK))
    http = HttpClient(settings(), session, auth=auth, clock=FakeClock())
    with caplog.at_level(logging.DEBUG):
        http.get_json(URL)
    assert session.calls[0].headers["Authorization"].startswith("Basic ")
    assert "s3cret-pw" not in caplog.text
    assert "retrying" in caplog.text


def test_a_401_rereads_a_rotated_token_file_once(tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text("old-token")
    auth = BearerAuthenticator(BearerAuth(Secret(f"file {token_file}", "old-token", token_file)))

    def handler(call):
        if call.headers.get("Authorization") == "Bearer new-token":
            return response(200, {"resourceType": "Bundle"})
        token_file.write_text("new-token")
        return response(401)

    session = StubSession(handler)
    http = HttpClient(settings(), session, auth=auth, clock=FakeClock())
    assert http.get_json(URL).status == 200
    assert [c.headers["Authorization"] for c in session.calls] == ["Bearer old-token", "Bearer new-token"]


def test_a_second_401_fails_as_not_authorised():
    auth = BearerAuthenticator(BearerAuth(Secret("env T", "tok")))
    session = StubSession(sequence(response(401)))
    http = HttpClient(settings(), session, auth=auth, clock=FakeClock())
    with pytest.raises(FhirHTTPError) as caught:
        http.get_json(URL)
    assert caught.value.status == 401
    assert len(session.calls) == 1


def test_smart_assertion_claims_and_token_caching_with_a_fake_clock(tmp_path: Path):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from config.fhir import SmartAuth
    from extractor.auth import SmartAuthenticator

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    assertions = []

    def handler(call):
        if call.url.endswith("/.well-known/smart-configuration"):
            return response(200, {"token_endpoint": "http://auth.test/token"})
        if call.url == "http://auth.test/token":
            assertions.append(call.data["client_assertion"])
            return response(200, {"access_token": f"tok{len(assertions)}", "expires_in": 300})
        return response(200, {"resourceType": "Bundle"})

    clock = FakeClock()
    session = StubSession(handler)
    smart = SmartAuth("client-1", Secret("file k", pem), "kid-1", "RS384", ("system/Patient.rs",))
    auth = SmartAuthenticator(smart, HttpClient(settings(), session, clock=clock))
    http = HttpClient(settings(), session, auth=auth, clock=clock)
    http.get_json(URL)
    http.get_json(URL)
    assert len(assertions) == 1  # cached
    clock.now += 250  # within 60 s of expiry: renewed before use
    http.get_json(URL)
    assert len(assertions) == 2
    claims = jwt.decode(assertions[0], key.public_key(), algorithms=["RS384"], audience="http://auth.test/token",
                        options={"verify_exp": False})
    assert claims["iss"] == claims["sub"] == "client-1"
    assert claims["exp"] - claims["iat"] == 300 and claims["jti"]
    assert jwt.get_unverified_header(assertions[0])["kid"] == "kid-1"
    assert [c.headers.get("Authorization") for c in session.calls if c.url == URL] == [
        "Bearer tok1", "Bearer tok1", "Bearer tok2"]
