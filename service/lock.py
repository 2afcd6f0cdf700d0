"""One run at a time: an exclusive ``flock`` on ``<data_dir>/run.lock``.

The kernel releases the lock when the holder exits or dies, so a crashed run never leaves a stale lock.
The holder writes its pid, trigger and start time into the file, so that the refused run can say who
holds it. ``flock`` locks belong to an open file, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from config.errors import RunLockedError


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another run (holder unknown)"
    return f"pid {info.get('pid', '?')} ({info.get('trigger', '?')} run started {info.get('started_at', '?')})"


@contextmanager
def run_lock(
    path: Path, trigger: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Iterator[None]:
    """Hold the run lock for the ``with`` block, or raise :class:`RunLockedError` naming the holder."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLockedError(f"another run is in progress: {_holder(fd)}; lock file {path}") from None
        info = {"pid": os.getpid(), "trigger": trigger, "started_at": clock().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
