"""SMART Backend Services against a loopback authorization server in front of the real HAPI server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hapi_data import canonical_lines, hapi_settings
from smart_server import SmartAuthServer

from config.errors import FhirHTTPError
from config.fhir import FhirSettings, parse_fhir_settings
from extractor import pull
from extractor.auth import SmartAuthenticator
from extractor.http import HttpClient, make_session

pytestmark = pytest.mark.hapi


def make_key(alg: str):
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def smart_settings(server: SmartAuthServer, tmp_path: Path, alg: str, register: bool = True,
                   **overrides: Any) -> FhirSettings:
    key = make_key(alg)
    key_file = tmp_path / f"{alg}.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    client_id = f"pelvic-outcomes-{alg.lower()}"
    if register:
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        server.register(client_id, public, alg)
    raw = {"base_url": server.base_url + "/fhir", "page_size": 100, "concurrency": 3,
           "auth": {"type": "smart", "client_id": client_id, "private_key_file": str(key_file), "key_id": "k1",
                    "alg": alg, "scopes": ["system/Patient.rs", "system/Observation.rs"]}}
    raw.update(overrides)
    return parse_fhir_settings(raw, {})


@pytest.fixture
def smart(hapi_origin: str):
    with SmartAuthServer(hapi_origin) as server:
        yield server


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_pull_equals_the_unauthenticated_pull(
    smart: SmartAuthServer, hapi_url: str, synthetic_cohort: dict[str, Any], tmp_path: Path, alg: str
):
    study = synthetic_cohort["study"]
    snapshot = pull(smart_settings(smart, tmp_path, alg), study, tmp_path / "smart")
    plain = pull(hapi_settings(hapi_url), study, tmp_path / "plain")
    assert canonical_lines(snapshot) == canonical_lines(plain)
    assert smart.errors == [] and smart.issued == 1 and smart.rejected == 0
    assert smart.forwarded > 5
    assert snapshot.manifest.details["settings"]["auth"]["token_url"] == "(discovered)"


def test_a_token_about_to_expire_is_renewed_before_use(
    smart: SmartAuthServer, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    smart.token_lifetime = 61  # renewed 60 s before expiry: i.e. after one second
    pull(smart_settings(smart, tmp_path, "RS384", page_size=250, concurrency=1), synthetic_cohort["study"],
         tmp_path / "snap")
    assert smart.issued >= 2 and smart.rejected == 0 and smart.errors == []


def test_a_revoked_token_is_renewed_once_after_a_401(smart: SmartAuthServer, tmp_path: Path):
    settings = smart_settings(smart, tmp_path, "ES384")
    session = make_session(settings)
    plain = HttpClient(settings, session)
    assert settings.auth.kind == "smart"
    auth = SmartAuthenticator(settings.auth, plain)  # type: ignore[arg-type]
    client = HttpClient(settings, session, auth=auth)
    client.get_json(settings.base_url + "/Patient", {"_count": "1"})
    smart.revoke_all()
    client.get_json(settings.base_url + "/Patient", {"_count": "1"})
    assert smart.issued == 2 and smart.rejected == 1 and len(smart.seen_jti) == 2


def test_an_unknown_client_key_fails_clearly(smart: SmartAuthServer, synthetic_cohort: dict[str, Any],
                                             tmp_path: Path):
    settings = smart_settings(smart, tmp_path, "RS384", register=False)
    with pytest.raises(FhirHTTPError) as caught:
        pull(settings, synthetic_cohort["study"], tmp_path / "snap")
    assert caught.value.status == 400 and "invalid_client" in str(caught.value) and "/token" in str(caught.value)
