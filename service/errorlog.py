"""Internal errors: the traceback goes to a private log file, the user gets one line saying where it is.

Tracebacks can hold values from the data, so they are written only under the private data folder
(``<data_dir>/logs/errors.log``, 0600) and printed only with ``--debug``.
"""

from __future__ import annotations

import os
import traceback
from datetime import UTC, datetime
from pathlib import Path


def record(path: Path, exc: BaseException, context: str) -> Path | None:
    """Append ``exc``'s traceback to ``path``; returns the path, or None when it cannot be written."""
    text = "".join(traceback.format_exception(exc))
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(f"--- {stamp} {context}\n{text}\n")
    except OSError:
        return None
    return path


def summary(exc: BaseException, where: Path | None) -> str:
    """One line for the user: what kind of error, and where its traceback is (never its message: it may hold data)."""
    place = f"traceback in {where}" if where else "the traceback could not be written"
    return f"internal error ({type(exc).__name__}); {place}; rerun with --debug to print it"
