"""The deployment file: every field validated, errors name the field and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from config.deployment import cron_trigger, load_deployment, parse_deployment
from config.errors import ConfigError
from config.fhir import FhirSettings
from tests.service.conftest import TEST_ENV, WriteDeployment
from tests.service.fakes import make_certificates

CONFIG = Path(__file__).parents[2] / "config"
ENV = {"FHIR_PASSWORD": "fhir-secret", "SMTP_PASSWORD": "smtp-secret"}


def test_generic_example_loads_with_its_secrets_from_the_environment() -> None:
    deployment = load_deployment(CONFIG / "deployment.example.toml", ENV)
    assert isinstance(deployment.fhir, FhirSettings)
    assert deployment.smtp.password == "smtp-secret"
    assert "smtp-secret" not in repr(deployment)
    assert deployment.email.recipients == ("tumour-board@example-hospital.org",)
    assert deployment.schedule.jobstore_url == "sqlite:////var/lib/pelvic-outcomes/data/jobs.sqlite"


def test_local_example_points_at_local_hapi_and_a_local_smtp_debugging_server() -> None:
    deployment = load_deployment(CONFIG / "deployment.local.example.toml", TEST_ENV)
    assert deployment.fhir is not None and deployment.fhir.base_url == "http://127.0.0.1:8090/fhir"
    assert (deployment.smtp.host, deployment.smtp.port, deployment.smtp.security) == ("127.0.0.1", 8025, "none")
    assert deployment.paths.out_dir == (CONFIG.parent / "local" / "out")


def test_hospital_example_is_valid_once_its_key_and_ca_files_exist(tmp_path: Path) -> None:
    raw: dict[str, Any] = tomllib.loads((CONFIG / "deployment.hospital.example.toml").read_text())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "smart-key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    raw["fhir"]["auth"]["private_key_file"] = str(key_file)
    raw["smtp"]["ca_file"] = str(make_certificates(tmp_path).ca)
    deployment = parse_deployment(raw, ENV, tmp_path / "deployment.toml")
    assert deployment.fhir is not None and deployment.fhir.auth.kind == "smart"
    assert (deployment.smtp.security, deployment.smtp.port) == ("ssl", 465)


def test_relative_paths_are_taken_from_the_config_folder_and_the_job_store_defaults_to_data_dir(
    write_deployment: WriteDeployment, tmp_path: Path
) -> None:
    path = write_deployment(paths={"out_dir": "reports", "data_dir": "state"}, study="my-study.toml")
    deployment = load_deployment(path, TEST_ENV)
    assert deployment.paths.out_dir == tmp_path / "reports"
    assert deployment.study_file == tmp_path / "my-study.toml"
    assert deployment.schedule.jobstore_url == f"sqlite:///{tmp_path / 'state' / 'jobs.sqlite'}"
    assert deployment.paths.lock_file == tmp_path / "state" / "run.lock"


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_the_smtp_port_defaults_by_security(write_deployment: WriteDeployment, security: str, port: int) -> None:
    path = write_deployment(smtp={"security": security, "port": None})
    assert load_deployment(path, TEST_ENV).smtp.port == port


@pytest.mark.parametrize(
    ("changes", "field", "fix"),
    [
        ({"colour": "blue"}, "colour", "use one of"),
        ({"smtp": {"hostname": "x"}}, "smtp.hostname", "use one of"),
        ({"smtp": {"password": "hunter2"}}, "smtp.password", "environment variable"),
        ({"smtp": {"username": "svc"}}, "smtp.password_env", 'password_env = "..."'),
        ({"smtp": {"username": "svc", "password_env": "NOT_SET_ANYWHERE"}}, "smtp.password_env", "export"),
        ({"smtp": {"security": "tls"}}, "smtp.security", "starttls, ssl, none"),
        ({"smtp": {"port": 70000}}, "smtp.port", "set port"),
        ({"smtp": {"ca_file": "missing-ca.pem"}}, "smtp.ca_file", "PEM"),
        ({"schedule": {"cron": "every night"}}, "schedule.cron", "minute hour day month weekday"),
        ({"schedule": {"cron": "0 2 * * 1-5"}}, "schedule.cron", "mon-fri"),
        ({"schedule": {"cron": "0 25 * * *"}}, "schedule.cron", "minute hour"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone", "IANA"),
        ({"schedule": {"misfire_grace_seconds": 0}}, "schedule.misfire_grace_seconds", "set"),
        ({"schedule": {"jobstore_url": "not a url"}}, "schedule.jobstore_url", "sqlite:"),
        ({"email": {"recipients": ["a@hospital.test", "board"]}}, "email.recipients[1]", "@"),
        ({"email": {"recipients": []}}, "email.recipients", "write e.g."),
        ({"email": {"admin": "nobody"}}, "email.admin[0]", "@"),
        ({"email": {"subject": "Report {when}"}}, "email.subject", "{study}"),
        ({"paths": {"out_dir": ""}}, "paths.out_dir", "path"),
        ({"smtp": "smtp.test"}, "smtp", "[smtp]"),
        ({"smtp": {"host": None}}, "smtp.host", "host ="),
        ({"fhir": {"base_url": "ftp://x"}}, "fhir.base_url", "https://"),
        ({"fhir": {"base_url": "https://fhir.test"}, "source": "exports"}, "source", "keep one"),
    ],
)
def test_a_wrong_field_is_named_with_its_fix(
    write_deployment: WriteDeployment, changes: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_deployment(write_deployment(**changes), TEST_ENV)
    assert caught.value.field == field
    assert fix in caught.value.fix
    assert f"'{field}'" in str(caught.value)


def test_a_missing_section_is_named(tmp_path: Path) -> None:
    path = tmp_path / "deployment.toml"
    path.write_text('[paths]\nout_dir = "out"\n')
    with pytest.raises(ConfigError) as caught:
        load_deployment(path, TEST_ENV)
    assert caught.value.field == "schedule"


def test_an_unreadable_file_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_deployment(tmp_path / "nope.toml", TEST_ENV)
    assert caught.value.field == "--config"


def test_cron_with_six_fields_reads_seconds_first() -> None:
    trigger = cron_trigger("15 30 2 * * mon-fri", "Europe/Berlin")
    assert "second='15'" in str(trigger) and "minute='30'" in str(trigger)


def test_the_multisite_and_pooling_examples_load(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken")
    raw = tomllib.loads((CONFIG / "deployment.multisite.example.toml").read_text())
    raw["sources"][1]["fhir"]["auth"]["token_file"] = str(token)
    env = {**TEST_ENV, "MUNICH_FHIR_PASSWORD": "pw", "SMTP_PASSWORD": "pw"}
    multi = parse_deployment(raw, env, tmp_path / "deployment.toml")
    assert [(s.site, s.kind) for s in multi.sites] == [("munich", "fhir"), ("vienna", "fhir")]
    assert multi.on_site_failure == "publish_without" and multi.email.coordinator
    pooled = load_deployment(CONFIG / "deployment.pooling.example.toml", env)
    assert [(s.site, s.kind) for s in pooled.sites] == [("munich", "export"), ("vienna", "export")]


def test_a_site_named_twice_or_both_kinds_of_source_are_refused(tmp_path: Path) -> None:
    base = tomllib.loads((CONFIG / "deployment.pooling.example.toml").read_text())
    twice = {**base, "sources": [base["sources"][0], base["sources"][0]]}
    with pytest.raises(ConfigError) as caught:
        parse_deployment(twice, {**TEST_ENV, "SMTP_PASSWORD": "x"}, tmp_path / "d.toml")
    assert caught.value.field == "sources[1].site"
    both = {**base, "source": "exports"}
    with pytest.raises(ConfigError) as caught:
        parse_deployment(both, {**TEST_ENV, "SMTP_PASSWORD": "x"}, tmp_path / "d.toml")
    assert caught.value.field == "sources"
