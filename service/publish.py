"""Publishing a run into the board's folder as one set: a reader sees the previous set or the new one.

Each published file has a stable name in ``out_dir`` that is a symbolic link into ``current``, and
``current`` is a link to the folder of one complete set under ``.published/``. Publishing copies the
new set into a folder of its own, and then swaps ``current`` with one ``rename``: the only moment a
reader's view changes. A kill at any step leaves the previous set (or, before the first run, none).

Steps, in order (``on_step`` is called before each, so tests can kill the process there):

``stage``   copy the files into ``.published/.tmp-<run_id>`` with the board's file mode
``seal``    rename it to ``.published/<run_id>``
``links``   make sure every stable name is a link to ``current/<name>`` (a new name dangles until the swap)
``swap``    point ``current`` at the new set
``prune``   remove older sets (the previous one stays, for readers who opened it just before the swap)

Folders written by older versions (plain files in ``out_dir``) are converted first, without a change
a reader could see: their files are hard-linked (or copied) into a set of their own, ``current`` is
pointed at it, and each plain file is replaced by a link to the same content.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from config.errors import StorageError
from service.layout import CURRENT, PUBLISHED, is_run_id
from service.private import board_dir_mode, board_file_mode, shared_dir

Step = Callable[[str], None]
LEGACY = "legacy"


def _no_step(name: str) -> None:
    return None


def _symlink_atomic(target: str, link: Path) -> None:
    tmp = link.with_name(f".{link.name}.link-tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _copy_set(files: Iterable[Path], folder: Path, *, hardlink: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, board_dir_mode())
    for source in files:
        target = folder / source.name
        if hardlink:
            try:
                os.link(source, target)
                continue
            except OSError:
                pass
        shutil.copyfile(source, target)
        os.chmod(target, board_file_mode())
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())


def _adopt_plain_files(out_dir: Path, names: list[str]) -> None:
    """Turn an older version's plain files into a published set, invisibly to readers."""
    plain = [out_dir / n for n in names if (out_dir / n).is_file() and not (out_dir / n).is_symlink()]
    current = out_dir / CURRENT
    if not plain or current.is_symlink():
        return
    legacy = out_dir / PUBLISHED / LEGACY
    shutil.rmtree(legacy, ignore_errors=True)
    _copy_set(plain, legacy, hardlink=True)
    _symlink_atomic(f"{PUBLISHED}/{LEGACY}", current)
    for path in plain:
        _symlink_atomic(f"{CURRENT}/{path.name}", path)


def current_set(out_dir: Path) -> str | None:
    """The folder name under ``.published/`` that ``current`` points to, if any."""
    current = out_dir / CURRENT
    if not current.is_symlink():
        return None
    return Path(os.readlink(current)).name


def publish_set(run_dir: Path, out_dir: Path, names: list[str], run_id: str, *, on_step: Step = _no_step) -> None:
    """Publish ``names`` from ``run_dir`` into ``out_dir`` as one set (see the module docstring)."""
    try:
        _publish(run_dir, out_dir, names, run_id, on_step)
    except OSError as exc:
        raise StorageError("publish the report into", out_dir, exc) from exc


def _publish(run_dir: Path, out_dir: Path, names: list[str], run_id: str, on_step: Step) -> None:
    shared_dir(out_dir)
    published = out_dir / PUBLISHED
    published.mkdir(exist_ok=True)
    os.chmod(published, board_dir_mode())
    _adopt_plain_files(out_dir, names)

    on_step("stage")
    staging = published / f".tmp-{run_id}"
    shutil.rmtree(staging, ignore_errors=True)
    _copy_set([run_dir / name for name in names], staging)

    on_step("seal")
    final = published / run_id
    shutil.rmtree(final, ignore_errors=True)
    os.rename(staging, final)

    on_step("links")
    for name in names:
        link = out_dir / name
        wanted = f"{CURRENT}/{name}"
        if not (link.is_symlink() and os.readlink(link) == wanted):
            _symlink_atomic(wanted, link)

    on_step("swap")
    previous = current_set(out_dir)
    _symlink_atomic(f"{PUBLISHED}/{run_id}", out_dir / CURRENT)

    on_step("prune")
    keep = {run_id, previous}
    for folder in published.iterdir():
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def published_run_id(out: Path) -> str | None:
    """The run id of the report currently published in ``out`` (from ``out/run.json``), if any."""
    try:
        run_id = json.loads((out / "run.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None
    return str(run_id) if isinstance(run_id, str) and is_run_id(run_id) else None
