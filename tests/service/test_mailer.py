"""The mailer against real SMTP servers on loopback (aiosmtpd): plain, STARTTLS + login, SMTPS."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from config.deployment import EmailSettings, SmtpSettings
from config.errors import DeliveryError
from config.study import load_study
from service.mailer import Mailer, ReportFacts, build_alert_message, build_report_message, key_figures
from tests.service.conftest import SMTP_PASSWORD, SMTP_USER, SmtpServer, free_port
from tests.service.fakes import RESULTS, STUDY_IDS, pdf_bytes

EMAIL = EmailSettings(
    sender="Pelvic outcomes <pelvic-outcomes@hospital.test>",
    recipients=("board-a@hospital.test", "board-b@hospital.test"),
    admin=("admin@hospital.test",),
)
STUDY = load_study()
FACTS = ReportFacts(study="Pelvic prosthesis outcomes", run_id="20261124T023000Z-abc123", cutoff="2026-11-24",
                    plan=STUDY)


def settings(server: SmtpServer, **changes: Any) -> SmtpSettings:
    base = SmtpSettings(host=server.host, port=server.port, security="none", timeout=5, retries=2,
                        retry_backoff_seconds=0)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def report_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf_bytes())
    return path


def test_report_email_reaches_every_recipient_with_the_pdf_attached(smtp_server: SmtpServer, report_pdf: Path) -> None:
    Mailer(settings(smtp_server)).send(build_report_message(EMAIL, FACTS, RESULTS, report_pdf))

    envelope = smtp_server.inbox.envelopes[0]
    assert sorted(envelope.rcpt_tos) == ["board-a@hospital.test", "board-b@hospital.test"]
    assert envelope.mail_from == "pelvic-outcomes@hospital.test"
    message = smtp_server.inbox.message(0)
    assert message["Subject"] == "Pelvic prosthesis outcomes: outcomes report 2026-11-24 (n=3)"
    attachments = list(message.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_filename() == "pelvic-prosthesis-outcomes-2026-11-24.pdf"
    payload = attachments[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert len(PdfReader(io.BytesIO(payload)).pages) == 1


def test_report_body_has_the_key_figures_and_no_patient_level_data(smtp_server: SmtpServer, report_pdf: Path) -> None:
    Mailer(settings(smtp_server)).send(build_report_message(EMAIL, FACTS, RESULTS, report_pdf))
    body_part = smtp_server.inbox.message(0).get_body(("plain",))
    assert body_part is not None
    body = body_part.get_content()
    assert "Patients in the cohort: 3" in body
    assert "Pain, VAS (0-10), median: 7.0 (Pre-op) -> 2.5 (6 months)" in body
    assert "Karnofsky Performance Status (0-100), median: 60.0 (Pre-op) -> 80.0 (6 months)" in body
    assert "MSTS 93 (0-30), mean: 11.2 (Pre-op) -> 20.5 (3 months), n = 3" in body
    assert "Infection: 1 of 3 (33.3%)" in body
    assert "Overall survival, median: not reached" in body
    assert "Progression-free survival, median: 14.5 months" in body
    for study_id in STUDY_IDS:
        assert study_id not in body
    assert "PO-" not in body


def test_key_figures_survive_missing_sections() -> None:
    lines = key_figures({"n_patients": 0}, STUDY)
    assert lines[0] == "Patients in the cohort: 0"
    assert "Pain, VAS (0-10), median: n/a (Pre-op) -> n/a (6 months)" in lines
    assert key_figures({"n_patients": 0}) == ["Patients in the cohort: 0"]


def test_key_figures_follow_the_plan_and_the_study_file_labels() -> None:
    results = {
        "n_patients": 7,
        "repeated_measures": {"vas": {"timepoints": {"pre": {"median": 7.0}, "6m": {"median": 2.5}},
                                      "friedman": {"p": 0.0236, "n": 7}}},
        "paired": {"sij_contralateral_mm": {
            "zone_iv": {"before": "pre", "after": "6m", "n": 3, "mean_pre": 2.83, "mean_post": 3.57, "p": 0.048},
            "no_zone_iv": {"before": "pre", "after": "6m", "n": 4, "mean_pre": 2.95, "mean_post": 3.0, "p": 0.495},
            "between_groups": {"groups": ["zone_iv", "no_zone_iv"], "n": {"zone_iv": 3, "no_zone_iv": 4}, "p": 0.04},
        }},
        "survival": {"os": {"median_months": None}, "pfs": {"median_months": 9.9}},
    }
    lines = key_figures(results, STUDY)
    assert "Pain, VAS (0-10), median: 7.0 (Pre-op) -> 2.5 (6 months); Friedman p = 0.024, n = 7" in lines
    assert ("Contralateral sacroiliac joint space (mm), with zone IV involvement, mean: 2.8 (Pre-op) -> 3.6 "
            "(6 months), n = 3, paired t p = 0.048") in lines
    assert any(line.startswith("Contralateral sacroiliac joint space (mm), without zone IV involvement")
               for line in lines)
    assert "Progression-free survival, median: 9.9 months" in lines
    # A plan without paired comparisons or repeated measures mentions none, whatever results.json holds.
    bare = dataclasses.replace(STUDY, analysis=dataclasses.replace(STUDY.analysis, repeated=(), paired=()))
    text = "\n".join(key_figures(results, bare))
    assert "median: 7.0" not in text and "sacroiliac" not in text
    assert "Overall survival, median: not reached" in text
    # Without a study definition every figure is named by its key.
    assert "vas, median: 7.0 (pre) -> 2.5 (6m); Friedman p = 0.024, n = 7" in key_figures(results)


def test_alert_goes_to_the_admin_only_with_the_run_id_and_reason(smtp_server: SmtpServer) -> None:
    Mailer(settings(smtp_server)).send(build_alert_message(EMAIL, "RUN-1", "FHIR server unreachable"))
    envelope = smtp_server.inbox.envelopes[0]
    assert envelope.rcpt_tos == ["admin@hospital.test"]
    message = smtp_server.inbox.message(0)
    assert message["Subject"] == "[pelvic-outcomes] run RUN-1 failed"
    body = message.get_content()
    assert "RUN-1" in body and "Reason: FHIR server unreachable" in body
    assert not list(message.iter_attachments())


def test_starttls_with_login_against_a_server_that_requires_both(starttls_server: SmtpServer, report_pdf: Path) -> None:
    smtp = settings(starttls_server, security="starttls", username=SMTP_USER, password=SMTP_PASSWORD,
                    ca_file=starttls_server.ca_file)
    Mailer(smtp).send(build_report_message(EMAIL, FACTS, RESULTS, report_pdf))
    assert starttls_server.logins == [SMTP_USER]
    assert len(starttls_server.inbox.envelopes) == 1


def test_starttls_refuses_a_certificate_it_does_not_trust_without_retrying(starttls_server: SmtpServer) -> None:
    sleeps: list[float] = []
    mailer = Mailer(settings(starttls_server, security="starttls"), sleep=sleeps.append)
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        mailer.send(build_alert_message(EMAIL, "RUN-1", "x"))
    assert sleeps == []


def test_a_wrong_password_is_a_delivery_error_without_retries(starttls_server: SmtpServer) -> None:
    smtp = settings(starttls_server, security="starttls", username=SMTP_USER, password="wrong",
                    ca_file=starttls_server.ca_file)
    with pytest.raises(DeliveryError, match="SMTP 535") as caught:
        Mailer(smtp, sleep=lambda _: None).send(build_alert_message(EMAIL, "RUN-1", "x"))
    assert "wrong" not in str(caught.value)


def test_implicit_tls_with_login(ssl_server: SmtpServer) -> None:
    smtp = settings(ssl_server, security="ssl", username=SMTP_USER, password=SMTP_PASSWORD, ca_file=ssl_server.ca_file)
    Mailer(smtp).send(build_alert_message(EMAIL, "RUN-1", "x"))
    assert ssl_server.logins == [SMTP_USER]
    assert ssl_server.inbox.envelopes[0].rcpt_tos == ["admin@hospital.test"]


def test_a_4xx_reply_is_retried_with_backoff_and_then_delivered_once(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.replies = ["451 4.3.0 Try again later", "421 4.7.0 Busy"]
    sleeps: list[float] = []
    Mailer(settings(smtp_server, retries=3, retry_backoff_seconds=2), sleep=sleeps.append).send(
        build_alert_message(EMAIL, "RUN-1", "x")
    )
    assert sleeps == [2, 4]
    assert smtp_server.inbox.attempts == 3
    assert len(smtp_server.inbox.envelopes) == 1


def test_a_5xx_reply_fails_at_once(smtp_server: SmtpServer) -> None:
    smtp_server.inbox.replies = ["554 5.7.1 Rejected"]
    with pytest.raises(DeliveryError, match="SMTP 554"):
        Mailer(settings(smtp_server), sleep=lambda _: pytest.fail("must not retry")).send(
            build_alert_message(EMAIL, "RUN-1", "x")
        )


def test_an_unreachable_server_is_retried_then_reported() -> None:
    sleeps: list[float] = []
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), security="none", timeout=2, retries=2,
                        retry_backoff_seconds=1)
    with pytest.raises(DeliveryError, match=r"failed after 3 attempt\(s\): ConnectionRefusedError"):
        Mailer(smtp, sleep=sleeps.append).send(build_alert_message(EMAIL, "RUN-1", "x"))
    assert sleeps == [1, 2]
