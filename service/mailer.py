"""Email: the report to the tumour board, a short alert to the admin, sent over SMTP.

The report email carries the PDF and a body of cohort-level key figures from ``results.json``; it never
holds study ids or any other patient-level data (only the attached PDF lists patients, by study id).
The alert says which run failed and why, nothing else.

:class:`Mailer` connects with STARTTLS or implicit TLS and logs in when configured, retries transient
failures (4xx replies, dropped or refused connections, timeouts) with exponential backoff, and converts
every failure to :class:`DeliveryError`.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from config.deployment import EmailSettings, SmtpSettings
from config.errors import DeliveryError
from service.outputs import write_text_atomic

log = logging.getLogger(__name__)

Refused = dict[str, tuple[int, bytes]]


# --------------------------------------------------------------------------- message content


@dataclass(frozen=True)
class ReportFacts:
    """What the report email says besides the key figures."""

    study: str
    run_id: str
    cutoff: str  # data cut-off date (server time of the pull), YYYY-MM-DD
    msts_timepoints: tuple[str, str] = ("pre", "3m")


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value:.{digits}f}"


def _median_months(survival: Any) -> str:
    if not isinstance(survival, Mapping):
        return "n/a"
    median = survival.get("median_months")
    return f"{_num(median)} months" if median is not None else "not reached"


def key_figures(results: Mapping[str, Any], msts_timepoints: tuple[str, str] = ("pre", "3m")) -> list[str]:
    """Cohort-level figures for the email body: sizes, medians, means, counts. No patient-level data."""
    lines = [f"Patients in the cohort: {results.get('n_patients', 'n/a')}"]
    for name, label in (("vas", "Pain (VAS 0-10)"), ("kps", "Karnofsky (KPS 0-100)")):
        points = _dig(results, "repeated_measures", name, "timepoints")
        pre, six = _dig(points, "pre", "median"), _dig(points, "6m", "median")
        lines.append(f"{label}, median: {_num(pre)} before surgery -> {_num(six)} at 6 months")
    msts = _dig(results, "paired", "msts93")
    if isinstance(msts, Mapping):
        lines.append(
            f"MSTS 93, mean: {_num(msts.get('mean_pre'))} ({msts_timepoints[0]}) -> "
            f"{_num(msts.get('mean_post'))} ({msts_timepoints[1]}), n = {msts.get('n', 'n/a')}"
        )
    events = results.get("events")
    if isinstance(events, list) and events:
        lines.append("Complications and events:")
        for event in events:
            if isinstance(event, Mapping):
                lines.append(
                    f"  {event.get('name', '?')}: {event.get('count', '?')} of {event.get('n', '?')} "
                    f"({_num(event.get('percent'))}%)"
                )
    lines.append(f"Overall survival, median: {_median_months(_dig(results, 'survival', 'os'))}")
    lines.append(f"Progression-free survival, median: {_median_months(_dig(results, 'survival', 'pfs'))}")
    return lines


def _message(sender: str, to: Sequence[str], subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    message.set_content(body)
    return message


def build_report_message(
    email: EmailSettings, facts: ReportFacts, results: Mapping[str, Any], pdf: Path
) -> EmailMessage:
    """The tumour-board email: key figures in the body, the PDF attached."""
    patients = results.get("n_patients", "n/a")
    subject = email.subject.format(study=facts.study, date=facts.cutoff, run_id=facts.run_id, patients=patients)
    body = "\n".join(
        [
            f"{facts.study}: outcomes report, data as of {facts.cutoff}.",
            "",
            *key_figures(results, facts.msts_timepoints),
            "",
            "Every figure with its confidence interval, the tests and their caveats are in the attached report.",
            "The report lists patients by study id: treat it as confidential.",
            "",
            f"Run {facts.run_id}, sent by pelvic-outcomes.",
        ]
    )
    message = _message(email.sender, email.recipients, subject, body + "\n")
    message.add_attachment(
        pdf.read_bytes(), maintype="application", subtype="pdf", filename=f"pelvic-outcomes-{facts.cutoff}.pdf"
    )
    return message


def build_alert_message(email: EmailSettings, run_id: str, reason: str, status: str = "failed") -> EmailMessage:
    """The admin's alert: which run failed or was blocked, and why. The tumour board gets nothing."""
    subject = email.alert_subject.format(study="pelvic-outcomes", date="", run_id=run_id, patients="", status=status)
    what = "was blocked by a data-quality gate" if status == "blocked" else "failed"
    body = (
        f"Run {run_id} {what}: it did not produce a report for the tumour board.\n\n"
        f"Reason: {reason}\n\n"
        "Nothing was sent to the tumour board; the previous report stays the latest.\n"
        "Details: pelvic-outcomes history --config <deployment file>\n"
    )
    return _message(email.sender, email.admin, subject, body)


def build_worklist_message(email: EmailSettings, facts: ReportFacts, worklist_table: str, counts: str) -> EmailMessage:
    """The study coordinator's follow-up worklist: study ids and windows only; the lookup stays on the server."""
    subject = email.worklist_subject.format(study=facts.study, date=facts.cutoff, run_id=facts.run_id, patients="",
                                            status="")
    body = (
        f"{facts.study}: follow-up worklist, data as of {facts.cutoff} (run {facts.run_id}).\n\n"
        f"{counts}\n\n{worklist_table}\n\n"
        "Patients are listed by study id. Where the deployment enables it, the lookup from study ids to the\n"
        "hospital's identifiers is in the service's private data folder (coordinator_lookup.csv of this run);\n"
        "it is never sent by email.\n"
    )
    return _message(email.sender, email.coordinator, subject, body)


def write_eml(message: EmailMessage, path: Path) -> Path:
    """Write the message as it would be sent (``--dry-run``)."""
    write_text_atomic(path, message.as_string())
    return path


# --------------------------------------------------------------------------- sending


def is_transient(exc: BaseException) -> bool:
    """Worth another try: a 4xx reply, a dropped, refused or timed-out connection. Not TLS or 5xx."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, ssl.SSLError | smtplib.SMTPNotSupportedError):
        return False
    return isinstance(exc, smtplib.SMTPServerDisconnected | OSError)


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{addr} ({code})" for addr, (code, _) in exc.recipients.items())
        return f"recipients refused: {refused}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"SMTP {exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


class Mailer:
    """Sends messages with the given SMTP settings; ``sleep`` is injectable for tests."""

    def __init__(self, settings: SmtpSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.sleep = sleep

    def send(self, message: EmailMessage) -> Refused:
        """Send, retrying transient failures; returns the recipients refused while others were accepted."""
        s = self.settings
        for attempt in range(s.retries + 1):
            try:
                return self._send_once(message)
            except (smtplib.SMTPException, OSError) as exc:
                if not is_transient(exc) or attempt == s.retries:
                    raise DeliveryError(
                        f"sending email via {s.host}:{s.port} failed after {attempt + 1} attempt(s): {describe(exc)}"
                    ) from exc
                delay = s.retry_backoff_seconds * 2**attempt
                log.warning("email attempt %d failed (%s); retrying in %.1f s", attempt + 1, describe(exc), delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_once(self, message: EmailMessage) -> Refused:
        smtp = self._connect()
        try:
            if self.settings.username:
                smtp.login(self.settings.username, self.settings.password)
            return smtp.send_message(message)
        finally:
            try:
                smtp.quit()  # the message is accepted: a failing QUIT must not cause a resend
            except (smtplib.SMTPException, OSError):
                smtp.close()
