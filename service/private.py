"""Private by default: inside a run every new file is 0600 and every new folder 0700, whatever the umask.

The service sets the umask to 077 for the whole of a run (:func:`private_files`), so the raw snapshot,
the run history, the job store, the lock and the logs are private however they are written (by us, by
SQLite, by SQLAlchemy). Only publishing into the board's folder widens a mode on purpose, to what the
caller's own umask allows (:func:`board_file_mode`).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.errors import StorageError

PRIVATE_UMASK = 0o077


class _Umask:
    """The process's umask is shared by its threads: one record of who set it, and how deep."""

    lock = threading.Lock()
    depth = 0
    caller: int | None = None


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


@contextmanager
def private_files() -> Iterator[None]:
    """Umask 077 for the block; nested blocks keep the outermost caller's umask for the board's files."""
    with _Umask.lock:
        if _Umask.depth == 0:
            _Umask.caller = os.umask(PRIVATE_UMASK)
        _Umask.depth += 1
    try:
        yield
    finally:
        with _Umask.lock:
            _Umask.depth -= 1
            if _Umask.depth == 0 and _Umask.caller is not None:
                os.umask(_Umask.caller)
                _Umask.caller = None


def caller_umask() -> int:
    """The umask the user started us with (the board's files follow it), not the private one."""
    return _Umask.caller if _Umask.caller is not None else _current_umask()


def board_file_mode() -> int:
    return 0o666 & ~caller_umask()


def board_dir_mode() -> int:
    return 0o777 & ~caller_umask()


def shared_dir(folder: Path) -> None:
    """Create ``folder`` and any missing parents with the caller's umask (not the private 0700)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        os.chmod(path, board_dir_mode())


def private_dir(path: Path) -> Path:
    """Create ``path`` 0700; missing parents outside the data folder get the caller's umask, as mkdir -p would."""
    try:
        shared_dir(path.parent)
        path.mkdir(exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise StorageError("create the private folder", path, exc) from exc
    return path


def secure_data_dir(data_dir: Path) -> None:
    """The data folder 0700; the files and folders at its top (left by older versions: 0644) made private."""
    private_dir(data_dir)
    try:
        for child in data_dir.iterdir():
            if child.is_symlink():
                continue
            os.chmod(child, 0o700 if child.is_dir() else 0o600)
    except OSError as exc:
        raise StorageError("secure the private folder", data_dir, exc) from exc


def move_legacy_runs(out_dir: Path, runs_dir: Path) -> list[str]:
    """Older versions kept ``runs/`` (raw snapshots with names and MRNs) in the board's folder: move them out."""
    legacy = out_dir / "runs"
    if not legacy.is_dir() or legacy.is_symlink():
        return []
    private_dir(runs_dir)
    moved = []
    try:
        for run in sorted(legacy.iterdir()):
            target = runs_dir / run.name
            if target.exists():
                shutil.rmtree(run) if run.is_dir() else run.unlink()
            else:
                shutil.move(str(run), str(target))
                moved.append(run.name)
        legacy.rmdir()
        for root, dirs, files in os.walk(runs_dir):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                os.chmod(os.path.join(root, name), 0o600)
    except OSError as exc:
        raise StorageError("move the old run folders out of", legacy, exc) from exc
    return moved
