"""The [fhir] settings: validation naming the field, secrets from env/files only, never shown."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from config.errors import ConfigError
from config.fhir import BasicAuth, BearerAuth, FhirSettings, SmartAuth, parse_fhir_settings


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_minimal_settings_have_documented_defaults():
    s = parse_fhir_settings({"base_url": "http://127.0.0.1:8090/fhir/"}, {})
    assert s.base_url == "http://127.0.0.1:8090/fhir"
    assert s.page_size == 250 and s.mode == "search" and s.auth.kind == "none"
    assert s.timeout == (10.0, 120.0)


def test_basic_password_comes_from_the_named_environment_variable():
    s = parse_fhir_settings(
        {"base_url": "https://h/fhir", "auth": {"type": "basic", "username": "svc", "password_env": "PW"}},
        {"PW": "hunter2"},
    )
    assert isinstance(s.auth, BasicAuth) and s.auth.password.reveal() == "hunter2"


def test_a_missing_environment_variable_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings(
            {"base_url": "https://h/fhir", "auth": {"type": "basic", "username": "u", "password_env": "PW"}}, {}
        )
    assert caught.value.field == "fhir.auth.password_env"
    assert "export PW" in str(caught.value)


def test_a_secret_written_in_the_config_is_refused():
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings({"base_url": "https://h/fhir", "auth": {"type": "basic", "password": "x"}}, {})
    assert caught.value.field == "fhir.auth.password"
    assert "password_env" in str(caught.value)


def test_bearer_token_from_a_file(tmp_path: Path):
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    s = parse_fhir_settings({"base_url": "https://h/fhir", "auth": {"type": "bearer", "token_file": str(token)}}, {})
    assert isinstance(s.auth, BearerAuth) and s.auth.token.reveal() == "tok-123"


def test_an_unreadable_token_file_names_the_field(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings(
            {"base_url": "https://h/fhir", "auth": {"type": "bearer", "token_file": str(tmp_path / "nope")}}, {}
        )
    assert caught.value.field == "fhir.auth.token_file"


def test_describe_repr_and_redacted_never_contain_secrets(tmp_path: Path):
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    raws = [
        ({"type": "basic", "username": "svc", "password_env": "PW"}, "pw-SECRET-1"),
        ({"type": "bearer", "token_env": "PW"}, "pw-SECRET-1"),
    ]
    for auth, secret in raws:
        s = parse_fhir_settings({"base_url": "https://h/fhir", "auth": auth}, {"PW": secret})
        text = json.dumps(s.describe()) + repr(s) + str(s) + s.redacted()
        assert secret not in text
        assert "env PW" in json.dumps(s.describe())
    s = parse_fhir_settings(
        {"base_url": "https://h/fhir", "auth": {"type": "smart", "client_id": "c", "key_id": "k",
                                                "private_key_file": str(key_file)}}, {})
    assert "PRIVATE KEY" not in json.dumps(s.describe()) + repr(s)


def test_smart_settings_check_the_key_matches_the_algorithm(tmp_path: Path):
    rsa_file = tmp_path / "rsa.pem"
    rsa_file.write_text(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    ec_file = tmp_path / "ec.pem"
    ec_file.write_text(pem(ec.generate_private_key(ec.SECP384R1())))
    base = {"type": "smart", "client_id": "c", "key_id": "k", "scopes": ["system/Patient.rs"]}
    s = parse_fhir_settings({"base_url": "https://h/fhir", "auth": {**base, "alg": "ES384",
                                                                    "private_key_file": str(ec_file)}}, {})
    assert isinstance(s.auth, SmartAuth) and s.auth.alg == "ES384" and s.auth.scopes == ("system/Patient.rs",)
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings({"base_url": "https://h/fhir", "auth": {**base, "alg": "ES384",
                                                                    "private_key_file": str(rsa_file)}}, {})
    assert caught.value.field == "fhir.auth.private_key_file"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"base_url": "ftp://h"}, "fhir.base_url"),
        ({"base_url": "https://u:p@h/fhir"}, "fhir.base_url"),
        ({"base_url": "https://h/fhir?x=1"}, "fhir.base_url"),
        ({"base_url": "https://h/fhir", "page_size": 0}, "fhir.page_size"),
        ({"base_url": "https://h/fhir", "concurrency": "4"}, "fhir.concurrency"),
        ({"base_url": "https://h/fhir", "mode": "fast"}, "fhir.mode"),
        ({"base_url": "https://h/fhir", "colour": "red"}, "fhir.colour"),
        ({"base_url": "https://h/fhir", "auth": {"type": "kerberos"}}, "fhir.auth.type"),
        ({"base_url": "https://h/fhir", "bulk": {"level": "group"}}, "fhir.bulk.group_id"),
        ({"base_url": "https://h/fhir", "backoff_base": 5, "backoff_cap": 1}, "fhir.backoff_cap"),
    ],
)
def test_invalid_values_name_their_field(raw, field):
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings(raw, {})
    assert caught.value.field == field


def test_credentials_over_plain_http_to_a_remote_host_need_an_explicit_opt_in():
    raw = {"base_url": "http://fhir.hospital.example/fhir", "auth": {"type": "bearer", "token_env": "T"}}
    with pytest.raises(ConfigError) as caught:
        parse_fhir_settings(raw, {"T": "x"})
    assert caught.value.field == "fhir.base_url"
    assert parse_fhir_settings({**raw, "allow_insecure_http": True}, {"T": "x"}).auth.kind == "bearer"
    assert parse_fhir_settings({**raw, "base_url": "http://127.0.0.1:8090/fhir"}, {"T": "x"}).auth.kind == "bearer"


def test_settings_are_frozen_and_can_be_pointed_elsewhere():
    s = FhirSettings(base_url="http://a/fhir")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.page_size = 1  # type: ignore[misc]
    assert s.with_base_url("http://b:1/fhir/").base_url == "http://b:1/fhir"
    with pytest.raises(ConfigError):
        s.with_base_url("not a url")
