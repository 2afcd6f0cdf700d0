"""Run history in SQLite (``<data_dir>/history.sqlite``): one row per run, one row per delivered report.

A report is identified by the hash of the input data it was built from; a delivery is recorded per
(report, recipient list). A run whose report was already delivered to the same recipient list (a
retried run, a re-fired job) does not send it again.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import StorageError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    trigger      TEXT NOT NULL,           -- schedule | manual | report
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    status       TEXT NOT NULL,           -- running | succeeded | failed | blocked | interrupted
    resources    INTEGER,
    unmappable   INTEGER,
    patients     INTEGER,
    measures     INTEGER,
    input_sha256 TEXT NOT NULL DEFAULT '',
    report_path  TEXT NOT NULL DEFAULT '',
    recipients   TEXT NOT NULL DEFAULT '', -- who received the report, comma-separated
    email        TEXT NOT NULL DEFAULT '', -- sent | dry-run | off | already-delivered | failed | alerted | ...
    error        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_at);
CREATE TABLE IF NOT EXISTS deliveries (
    report_key        TEXT NOT NULL,
    recipients_sha256 TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    delivered_at      TEXT NOT NULL,
    PRIMARY KEY (report_key, recipients_sha256)
);
"""

COUNTS = ("resources", "unmappable", "patients", "measures")
RUNNING = "running"
INTERRUPTED = "interrupted"


@dataclass
class RunRecord:
    run_id: str
    trigger: str
    started_at: str
    finished_at: str
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    input_sha256: str = ""
    report_path: str = ""
    recipients: tuple[str, ...] = ()
    email: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "recipients": list(self.recipients)}


def recipients_hash(recipients: Iterable[str]) -> str:
    """The same list in any order or letter case gives the same hash."""
    canonical = "\n".join(sorted({r.strip().lower() for r in recipients}))
    return hashlib.sha256(canonical.encode()).hexdigest()


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError("create the folder of", path, exc) from exc
        with self._connect() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
                db.row_factory = sqlite3.Row
                yield db
        except sqlite3.OperationalError as exc:  # disk full, read-only, locked for 30 s
            raise StorageError("use the run history", self.path, OSError(0, str(exc))) from exc

    def record(self, run: RunRecord) -> None:
        counts = [run.counts.get(name) for name in COUNTS]
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.run_id, run.trigger, run.started_at, run.finished_at, run.status, *counts, run.input_sha256,
                 run.report_path, ",".join(run.recipients), run.email, run.error),
            )

    def start(self, run_id: str, trigger: str, started_at: str) -> None:
        """A row for a run that has begun; its final record replaces it. Still "running" later = interrupted."""
        self.record(RunRecord(run_id, trigger, started_at, started_at, RUNNING))

    def mark_interrupted(self, when: str) -> list[str]:
        """Runs still "running": called under the run lock, so none of them is alive. Returns their ids."""
        with self._connect() as db:
            rows = db.execute("SELECT run_id FROM runs WHERE status = ?", (RUNNING,)).fetchall()
            db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE status = ?",
                (INTERRUPTED, when, "interrupted: the run was killed or the machine stopped before it finished",
                 RUNNING),
            )
        return [str(row["run_id"]) for row in rows]

    def recent(self, limit: int = 20) -> list[RunRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,))
            return [_record(row) for row in rows]

    def get(self, run_id: str) -> RunRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return _record(row) if row else None

    def last_succeeded(self) -> RunRecord | None:
        """The last successful run on fresh data (re-renders of stored runs do not count)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM runs WHERE status = 'succeeded' AND trigger != 'report' "
                "ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
        return _record(row) if row else None

    def delivered_in(self, report_key: str, recipients: Iterable[str]) -> str | None:
        """The run id that already delivered this report to this recipient list, if any."""
        with self._connect() as db:
            row = db.execute(
                "SELECT run_id FROM deliveries WHERE report_key = ? AND recipients_sha256 = ?",
                (report_key, recipients_hash(recipients)),
            ).fetchone()
        return str(row["run_id"]) if row else None

    def mark_delivered(self, report_key: str, recipients: Iterable[str], run_id: str, when: str) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO deliveries VALUES (?, ?, ?, ?)",
                (report_key, recipients_hash(recipients), run_id, when),
            )


def _record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"],
        trigger=row["trigger"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        status=row["status"],
        counts={name: row[name] for name in COUNTS if row[name] is not None},
        input_sha256=row["input_sha256"],
        report_path=row["report_path"],
        recipients=tuple(r for r in row["recipients"].split(",") if r),
        email=row["email"],
        error=row["error"],
    )


def format_table(runs: Iterable[RunRecord]) -> str:
    """Runs as a fixed-width table for a terminal; run ids whole, however long."""
    runs = list(runs)
    width = max([len("RUN ID"), *(len(run.run_id) for run in runs)])
    header = (f"{'RUN ID':<{width}} {'TRIGGER':<9} {'STARTED (UTC)':<20} {'STATUS':<11} {'PATIENTS':>8}  "
              f"{'EMAIL':<24} ERROR")
    lines = [header]
    for run in runs:
        patients = run.counts.get("patients")
        lines.append(
            f"{run.run_id:<{width}} {run.trigger:<9} {run.started_at[:19]:<20} {run.status:<11} "
            f"{'' if patients is None else patients:>8}  {run.email[:24]:<24} {run.error[:80]}"
        )
    if len(lines) == 1:
        lines.append("(no runs yet)")
    return "\n".join(lines)
