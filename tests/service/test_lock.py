"""The run lock: a second run, in another process or thread, is refused and told who holds the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.errors import RunLockedError
from service.lock import run_lock

HOLDER = """
import sys
from pathlib import Path
from service.lock import run_lock
with run_lock(Path(sys.argv[1]), "schedule"):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_a_second_process_is_refused_with_the_holders_pid_and_start(tmp_path: Path) -> None:
    lock = tmp_path / "data" / "run.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as caught, run_lock(lock, "manual"):
            pass
        message = str(caught.value)
        assert f"pid {holder.pid}" in message
        assert "schedule run started 20" in message
        assert caught.value.exit_code == 75
    finally:
        holder.communicate("\n", timeout=10)
    with run_lock(lock, "manual"):  # released when the holder ended
        pass


def test_a_second_thread_is_refused_and_the_lock_is_free_again_afterwards(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with run_lock(lock, "schedule", clock=lambda: datetime(2026, 11, 24, 2, 30, tzinfo=UTC)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(RunLockedError, match=rf"pid {os.getpid()} \(schedule run started 2026-11-24T02:30:00"), \
                run_lock(lock, "manual"):
            pass
    finally:
        release.set()
        thread.join(10)
    with run_lock(lock, "manual"):
        pass


def test_the_lock_is_released_when_the_run_raises(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    with pytest.raises(ValueError), run_lock(lock, "manual"):
        raise ValueError("boom")
    with run_lock(lock, "manual"):
        pass
