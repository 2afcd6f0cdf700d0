"""Stand-ins for the parts of a run the service tests do not exercise: a pipeline that writes a run's
files without mapping or analysing anything, certificates for a TLS mail server, a scheduler job."""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pypdf import PdfWriter

from service.outputs import write_json, write_text_atomic
from service.private import private_dir
from service.publish import publish_set
from service.request import EmailMode, RunPlan, RunRequest
from service.run import PUBLISHED, RunOutcome


def send_request(**changes: Any) -> RunRequest:
    """A service run's request that emails (the command line's default for --config)."""
    return RunRequest(**{"email": EmailMode.SEND, "progress": False, **changes})

STUDY_IDS = ["PO-7F3A21", "PO-0C9D44", "PO-B1E802"]

RESULTS: dict[str, Any] = {
    "schema_version": 1,
    "n_patients": 3,
    "repeated_measures": {
        "vas": {"timepoints": {"pre": {"n": 3, "median": 7.0}, "6m": {"n": 3, "median": 2.5}}},
        "kps": {"timepoints": {"pre": {"n": 3, "median": 60.0}, "6m": {"n": 3, "median": 80.0}}},
    },
    "paired": {"msts93": {"mean_pre": 11.25, "mean_post": 20.5, "n": 3}},
    "events": [
        {"name": "infection", "count": 1, "n": 3, "percent": 33.3333},
        {"name": "dislocation", "count": 0, "n": 3, "percent": 0.0},
    ],
    "survival": {
        "os": {"n": 3, "events": 1, "median_months": None},
        "pfs": {"n": 3, "events": 2, "median_months": 14.5},
    },
    # Patient-level content that must never reach an email body:
    "listing": [{"study_id": sid, "vas_pre": 7} for sid in STUDY_IDS],
    "warnings": [],
}


def pdf_bytes() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@dataclass
class FakePipeline:
    """Writes a run like service.run does: in the run's private folder, published as a set on success."""

    patients: int = 3
    resources: int = 100
    unmappable: int = 0
    read: int = 100
    extraction_problems: int = 0
    input_sha256: str = "a" * 64
    error: str = ""
    exit_code: int = 3
    calls: list[RunPlan] = field(default_factory=list)

    def __call__(self, plan: RunPlan) -> RunOutcome:
        self.calls.append(plan)
        run_id = plan.run_id
        run_dir = private_dir(plan.layout.run_dir(run_id))
        write_json(run_dir / "raw" / "manifest.json", {"source": "fake", "kind": "files", "sha256": self.input_sha256})
        manifest: dict[str, Any] = {"run_id": run_id, "trigger": plan.trigger, "input_sha256": self.input_sha256}
        if self.error:
            manifest.update(status="failed", error=self.error)
            write_json(run_dir / "run.json", manifest)
            return RunOutcome(run_id, "failed", run_dir, manifest, self.error, self.exit_code)
        manifest.update(
            status="succeeded",
            source={"location": "fake", "kind": "files", "extracted_at": "2026-11-24T02:30:00Z"},
            counts={"resources": self.resources, "unmappable": self.unmappable, "patients": self.patients,
                    "measures": 10, "read": self.read, "extraction_problems": self.extraction_problems},
        )
        problems = plan.gate(manifest["counts"], ["Observation.ndjson:2 not valid JSON"]) if plan.gate else []
        if problems:  # as the real pipeline: a tripped gate publishes nothing
            error = "data-quality gate: " + "; ".join(problems)
            manifest.update(status="blocked", error=error)
            write_json(run_dir / "run.json", manifest)
            return RunOutcome(run_id, "blocked", run_dir, manifest, error, 8)
        for name in PUBLISHED:
            write_text_atomic(run_dir / name, f"{name} of {run_id}\n")
        (run_dir / "report.pdf").write_bytes(pdf_bytes())
        results = {**RESULTS, "n_patients": self.patients}
        write_json(run_dir / "results.json", results)
        write_text_atomic(run_dir / "cohort.csv", "study_id\n" + "\n".join(STUDY_IDS) + "\n")
        write_json(run_dir / "run.json", manifest)
        publish_set(run_dir, plan.layout.out_dir, [*PUBLISHED, "run.json"], run_id, on_step=plan.on_publish_step or
                    (lambda step: None))
        return RunOutcome(run_id, "succeeded", run_dir, manifest, results=results)


@dataclass
class Certificates:
    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost, signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pelvic-outcomes test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def record_fire(path: str) -> None:
    """A scheduler job for the tests: append the time it ran to ``path``."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(dt.datetime.now(dt.UTC).isoformat() + "\n")


def slow_fire(path: str) -> None:
    """A scheduler job that takes a moment: writes 'start', works, writes 'end'."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("start\n")
    time.sleep(1.5)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("end\n")
