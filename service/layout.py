"""Every path of the service, in one value: the board's folder and the service's private folder.

::

    out_dir/                          the tumour board's share: pseudonymised outputs only
        report.pdf -> current/report.pdf     stable names, links into the published set
        cohort.csv -> current/cohort.csv     (one link per published file)
        current -> .published/<run_id>       swapped atomically: a reader sees one whole set
        .published/<run_id>/                 the published sets (the current and the previous one)
    data_dir/                         private to the service: folders 0700, files 0600
        runs/<run_id>/                one run: raw/ (the snapshot as pulled), its tables, report,
                                      run.json, data_quality_full.json (resource ids, for the data
                                      steward) and, with --dry-run, the emails as .eml
        history.sqlite                run history
        jobs.sqlite                   the scheduler's job store
        run.lock                      one run at a time
        logs/errors.log               tracebacks of internal errors (never printed by default)

Run ids are ids, never paths: :func:`check_run_id` accepts only the pattern :func:`new_run_id` makes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.deployment import PathSettings
from config.errors import UsageError

RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
PUBLISHED = ".published"
CURRENT = "current"


def new_run_id(now: datetime | None = None) -> str:
    """``20261124T023000Z-1a2b3c``: the UTC start time and 24 random bits."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


def is_run_id(value: str) -> bool:
    return RUN_ID.fullmatch(value) is not None


def check_run_id(value: str, argument: str = "--run") -> str:
    """``value`` if it is a run id; otherwise :class:`UsageError` (paths, ``..`` and empty strings included)."""
    if not is_run_id(value):
        raise UsageError(
            argument, f"{value!r} is not a run id",
            "a run id looks like 20261124T023000Z-1a2b3c; list them with `pelvic-outcomes history`",
        )
    return value


@dataclass(frozen=True)
class Layout:
    out_dir: Path
    data_dir: Path
    keep_runs: int = 30
    keep_days: int = 0

    @classmethod
    def from_settings(cls, paths: PathSettings) -> Layout:
        return cls(paths.out_dir, paths.data_dir, paths.keep_runs, paths.keep_days)

    @classmethod
    def plain(cls, out_dir: Path, data_dir: Path | None = None) -> Layout:
        """A run without a deployment file: private data in ``data_dir``, by default ``data/`` beside ``out_dir``."""
        out_dir = Path(out_dir).absolute()
        return cls(out_dir, Path(data_dir).absolute() if data_dir else out_dir.parent / "data")

    # -- the private folder
    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / check_run_id(run_id)

    def raw_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "raw"

    @property
    def history_db(self) -> Path:
        return self.data_dir / "history.sqlite"

    @property
    def lock_file(self) -> Path:
        return self.data_dir / "run.lock"

    @property
    def error_log(self) -> Path:
        return self.data_dir / "logs" / "errors.log"

    # -- the board's folder
    @property
    def published_dir(self) -> Path:
        return self.out_dir / PUBLISHED

    @property
    def current(self) -> Path:
        return self.out_dir / CURRENT

    def check(self) -> None:
        """Refuse folders that cannot work, before anything is written."""
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise UsageError("--out", f"{self.out_dir} is a file, not a folder", "give a folder for the report")
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise UsageError("--data-dir", f"{self.data_dir} is a file, not a folder", "give a folder")
        out, data = self.out_dir.resolve(), self.data_dir.resolve()
        if out == data or data.is_relative_to(out) or out.is_relative_to(data):
            raise UsageError(
                "--data-dir", f"{self.data_dir} overlaps the board's folder {self.out_dir}",
                "keep the private data folder outside the output folder",
            )
