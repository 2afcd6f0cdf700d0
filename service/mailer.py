"""Email: the report to the tumour board, a short alert to the admin, sent over SMTP.

The report email carries the PDF and a body of cohort-level key figures from ``results.json``, picked by the
study's analysis plan and named by its study file; it never holds study ids or any other patient-level data
(only the attached PDF lists patients, by study id).
The alert says which run failed and why, nothing else.

:class:`Mailer` connects with STARTTLS or implicit TLS and logs in when configured, retries transient
failures (4xx replies, dropped or refused connections, timeouts) with exponential backoff, and converts
every failure to :class:`DeliveryError`.
"""

from __future__ import annotations

import logging
import re
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
from config.study import PairedSpec, StudyDefinition
from service.outputs import write_text_atomic

log = logging.getLogger(__name__)

Refused = dict[str, tuple[int, bytes]]


# --------------------------------------------------------------------------- message content


@dataclass(frozen=True)
class ReportFacts:
    """What the report email says besides the key figures; ``study``: the study definition whose plan picks the
    key figures and whose labels name them (None: every figure of results.json under its own key)."""

    study: str
    run_id: str
    cutoff: str  # data cut-off date (server time of the pull), YYYY-MM-DD
    plan: StudyDefinition | None = None


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _num(value: Any, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value:.{digits}f}"


def _p(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "p n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _median_months(survival: Any) -> str:
    if not isinstance(survival, Mapping):
        return "n/a"
    median = survival.get("median_months")
    return f"{_num(median)} months" if median is not None else "not reached"


@dataclass(frozen=True)
class _Words:
    """The study file's labels for the email (the report's own labels are in the reports package, whose
    imports are too heavy for the service's mail path)."""

    study: StudyDefinition | None

    def instrument(self, name: str) -> str:
        spec = self.study.instruments.get(name) if self.study else None
        return spec.label if spec else name

    def digits(self, name: str) -> int:
        spec = self.study.instruments.get(name) if self.study else None
        return spec.decimals if spec is not None and spec.decimals is not None else 1

    def timepoint(self, name: str) -> str:
        window = self.study.timepoints.get(name) if self.study else None
        return window.label if window else name

    def endpoint(self, name: str) -> str:
        endpoint = self.study.endpoints.get(name) if self.study else None
        return endpoint.label if endpoint else name

    def group(self, by: str | None, key: str) -> str:
        fact = self.study.facts.get(by) if self.study and by else None
        if key == "overall":
            return "all patients"
        if fact is None:
            return key.replace("_", " ")
        if fact.is_flag:
            return f"without {fact.label[:1].lower() + fact.label[1:]}" if key.startswith("no_") \
                else f"with {fact.label[:1].lower() + fact.label[1:]}"
        return fact.level_label(key)


def _repeated(results: Mapping[str, Any], words: _Words) -> list[tuple[str, tuple[str, ...]]]:
    """(instrument, timepoints) of the plan's repeated measures, or of results.json without a plan."""
    if words.study is not None:
        return [(spec.instrument, tuple(spec.timepoints)) for spec in words.study.analysis.repeated]
    found = results.get("repeated_measures")
    return [(str(name), tuple(_dig(node, "timepoints") or ())) for name, node in found.items()] \
        if isinstance(found, Mapping) else []


def _paired(results: Mapping[str, Any], words: _Words) -> list[PairedSpec]:
    """The plan's paired comparisons, or those of results.json without a plan."""
    if words.study is not None:
        return list(words.study.analysis.paired)
    found = results.get("paired")
    return [PairedSpec(str(name), str(name), "", "") for name in found] if isinstance(found, Mapping) else []


def _comparison_line(title: str, node: Mapping[str, Any], digits: int, words: _Words, spec: PairedSpec) -> str:
    before, after = (words.timepoint(str(node.get(k) or default)) for k, default in (("before", spec.before),
                                                                                     ("after", spec.after)))
    when = (f" ({before})", f" ({after})") if before and after else ("", "")
    return (f"{title}, mean: {_num(node.get('mean_pre'), digits)}{when[0]} -> "
            f"{_num(node.get('mean_post'), digits)}{when[1]}, n = {node.get('n', 'n/a')}"
            + (f", paired t {_p(node.get('p'))}" if "p" in node else ""))


def key_figures(results: Mapping[str, Any], study: StudyDefinition | None = None) -> list[str]:
    """Cohort-level figures for the email body, as the study's plan names them: sizes, the repeated measures'
    medians and Friedman tests, the paired comparisons' means, events, survival medians. No patient-level
    data."""
    words = _Words(study)
    lines = [f"Patients in the cohort: {results.get('n_patients', 'n/a')}"]
    for name, timepoints in _repeated(results, words):
        node = _dig(results, "repeated_measures", name)
        first, last = (timepoints[0], timepoints[-1]) if timepoints else ("", "")
        digits = words.digits(name)
        line = (f"{words.instrument(name)}, median: {_num(_dig(node, 'timepoints', first, 'median'), digits)} "
                f"({words.timepoint(first)}) -> {_num(_dig(node, 'timepoints', last, 'median'), digits)} "
                f"({words.timepoint(last)})")
        friedman = _dig(node, "friedman")
        if isinstance(friedman, Mapping):
            line += f"; Friedman {_p(friedman.get('p'))}, n = {friedman.get('n', 'n/a')}"
        lines.append(line)
    for spec in _paired(results, words):
        node = _dig(results, "paired", spec.name)
        if not isinstance(node, Mapping):
            continue
        title, digits = words.instrument(spec.instrument), words.digits(spec.instrument)
        if "mean_pre" in node:
            lines.append(_comparison_line(title, node, digits, words, spec))
            continue
        for key, sub in node.items():
            if key != "between_groups" and isinstance(sub, Mapping) and "mean_pre" in sub:
                lines.append(_comparison_line(f"{title}, {words.group(spec.by, str(key))}", sub, digits, words, spec))
    events = results.get("events")
    if isinstance(events, list) and events:
        lines.append("Complications and events:")
        for event in events:
            if isinstance(event, Mapping):
                name = str(event.get("name", "?")).replace("_", " ")
                lines.append(
                    f"  {name[:1].upper() + name[1:]}: {event.get('count', '?')} of {event.get('n', '?')} "
                    f"({_num(event.get('percent'))}%)"
                )
    survival = results.get("survival")
    endpoints = list(study.analysis.survival.endpoints or study.endpoints) if study is not None else \
        list(survival) if isinstance(survival, Mapping) else []
    for name in endpoints:
        lines.append(f"{words.endpoint(name)}, median: {_median_months(_dig(results, 'survival', name))}")
    return lines


def attachment_name(facts: ReportFacts) -> str:
    """``<study short title as a slug>-<cut-off>.pdf``."""
    slug = re.sub(r"[^a-z0-9]+", "-", facts.study.lower()).strip("-") or "outcomes-report"
    return f"{slug}-{facts.cutoff}.pdf"


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
            *key_figures(results, facts.plan),
            "",
            "Every figure with its confidence interval, the tests and their caveats are in the attached report.",
            "The report lists patients by study id: treat it as confidential.",
            "",
            f"Run {facts.run_id}, sent by pelvic-outcomes.",
        ]
    )
    message = _message(email.sender, email.recipients, subject, body + "\n")
    message.add_attachment(
        pdf.read_bytes(), maintype="application", subtype="pdf", filename=attachment_name(facts)
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
