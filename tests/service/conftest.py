"""Fixtures for the service tests: real SMTP servers on loopback (aiosmtpd), deployment files."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from config.deployment import Deployment, load_deployment
from tests.service.fakes import make_certificates

TEST_KEY = "test-pseudonym-key-0123456789abcdef0123456789"
TEST_ENV = {"PELVIC_PSEUDONYM_KEY": TEST_KEY}
SMTP_USER = "pelvic-outcomes"
SMTP_PASSWORD = "correct horse battery staple"


class Inbox:
    """An aiosmtpd handler that keeps every message; queued replies are answered instead of accepting."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.replies: list[str] = []
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def message(self, index: int) -> EmailMessage:
        content = self.envelopes[index].original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    ca_file: Path | None = None
    logins: list[str] = field(default_factory=list)


@pytest.fixture(autouse=True)
def pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Service runs refuse to start without a key: every service test (and its child processes) has one."""
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", TEST_KEY)
    return TEST_KEY


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server on loopback, like `python -m aiosmtpd -n`."""
    server = SmtpServer("127.0.0.1", free_port(), Inbox())
    controller = Controller(server.inbox, hostname=server.host, port=server.port)
    controller.start()
    yield server
    controller.stop()


def _tls_server(tmp_path: Path, **kwargs: Any) -> tuple[SmtpServer, Controller]:
    certs = make_certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    server = SmtpServer("127.0.0.1", free_port(), Inbox(), ca_file=certs.ca)

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(), SMTP_PASSWORD.encode()
        )
        if ok:
            server.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

    if "ssl_context" in kwargs:  # implicit TLS: aiosmtpd cannot tell, so it must not demand STARTTLS before AUTH
        kwargs.update(ssl_context=context, auth_require_tls=False)
    else:
        kwargs.update(tls_context=context, auth_require_tls=True)
    controller = Controller(
        server.inbox, hostname=server.host, port=server.port, authenticator=authenticate, **kwargs
    )
    return server, controller


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH LOGIN/PLAIN; the certificate is signed by a CA made for the test."""
    server, controller = _tls_server(tmp_path, require_starttls=True)
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def ssl_server(tmp_path: Path) -> Iterator[SmtpServer]:
    """Implicit TLS (SMTPS) with AUTH."""
    server, controller = _tls_server(tmp_path, ssl_context=True)
    controller.start()
    yield server
    controller.stop()


def _toml_value(value: Any) -> str:
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def to_toml(document: dict[str, Any]) -> str:
    """Enough TOML for deployment files: top-level keys, then one level of tables."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    for name, table in document.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def deployment_document(tmp_path: Path, smtp: SmtpServer | None = None) -> dict[str, Any]:
    port = smtp.port if smtp else 25
    return {
        "schedule": {"cron": "30 2 * * *", "timezone": "Europe/Berlin", "misfire_grace_seconds": 600},
        "smtp": {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, "retries": 2,
                 "retry_backoff_seconds": 0},
        "email": {
            "sender": "Pelvic outcomes <pelvic-outcomes@hospital.test>",
            "recipients": ["board-a@hospital.test", "board-b@hospital.test"],
            "admin": "admin@hospital.test",
        },
        "paths": {"out_dir": str(tmp_path / "out"), "data_dir": str(tmp_path / "data")},
    }


WriteDeployment = Callable[..., Path]


@pytest.fixture
def write_deployment(tmp_path: Path) -> WriteDeployment:
    """Write a deployment file; keyword arguments update sections or set top-level keys (None removes)."""

    def write(server: SmtpServer | None = None, name: str = "deployment.toml", **changes: Any) -> Path:
        document = deployment_document(tmp_path, server)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(document.get(key), dict):
                merged = {**document[key], **value}
                document[key] = {k: v for k, v in merged.items() if v is not None}
            elif value is None:
                document.pop(key, None)
            else:
                document[key] = value
        path = tmp_path / name
        path.write_text(to_toml(document), encoding="utf-8")
        return path

    return write


@pytest.fixture
def deployment(write_deployment: WriteDeployment, smtp_server: SmtpServer) -> Deployment:
    return load_deployment(write_deployment(smtp_server), env=TEST_ENV)
