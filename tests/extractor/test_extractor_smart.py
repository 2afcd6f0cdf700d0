"""SMART Backend Services against a loopback authorization server in front of the real HAPI server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hapi_data import canonical_lines, hapi_settings
from smart_server import SmartAuthServer, client_settings

from config.errors import FhirHTTPError
from extractor import pull
from extractor.auth import SmartAuthenticator
from extractor.http import HttpClient, make_session

pytestmark = pytest.mark.hapi


@pytest.fixture
def smart(hapi_origin: str):
    with SmartAuthServer(hapi_origin) as server:
        yield server


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_smart_pull_equals_the_unauthenticated_pull(
    smart: SmartAuthServer, hapi_url: str, synthetic_cohort: dict[str, Any], tmp_path: Path, alg: str
):
    study = synthetic_cohort["study"]
    snapshot = pull(client_settings(smart, tmp_path, alg), study, tmp_path / "smart")
    plain = pull(hapi_settings(hapi_url), study, tmp_path / "plain")
    assert canonical_lines(snapshot) == canonical_lines(plain)
    assert smart.errors == [] and smart.issued == 1 and smart.rejected == 0
    assert smart.forwarded > 5
    assert snapshot.manifest.details["settings"]["auth"]["token_url"] == "(discovered)"


def test_a_token_about_to_expire_is_renewed_before_use(
    smart: SmartAuthServer, synthetic_cohort: dict[str, Any], tmp_path: Path
):
    smart.token_lifetime = 2  # renewed at half its lifetime: i.e. after one second
    pull(client_settings(smart, tmp_path, "RS384", page_size=250, concurrency=1), synthetic_cohort["study"],
         tmp_path / "snap")
    assert smart.issued >= 2 and smart.rejected == 0 and smart.errors == []


def test_a_revoked_token_is_renewed_once_after_a_401(smart: SmartAuthServer, tmp_path: Path):
    settings = client_settings(smart, tmp_path, "ES384")
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
    settings = client_settings(smart, tmp_path, "RS384", register=False)
    with pytest.raises(FhirHTTPError) as caught:
        pull(settings, synthetic_cohort["study"], tmp_path / "snap")
    assert caught.value.status == 400 and "/token" in str(caught.value)
    assert "invalid_client: unknown client (iss)" in str(caught.value)
