"""Publishing into the board's folder: one set at a time, whatever instant the process dies."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from service.private import private_files
from service.publish import current_set, publish_set, published_run_id

ROOT = Path(__file__).parents[2]
NAMES = ["cohort.csv", "measures.csv", "report.pdf", "run.json"]
STEPS = ["stage", "seal", "links", "swap", "prune"]

CHILD = """
import os, signal, sys
from pathlib import Path
from service.publish import publish_set
run_dir, out, run_id, die_at = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
names = sys.argv[5].split(",")

def step(name):
    if name == die_at:
        os.kill(os.getpid(), signal.SIGKILL)

publish_set(run_dir, out, names, run_id, on_step=step)
"""


def make_run(tmp_path: Path, run_id: str, names: list[str] = NAMES) -> Path:
    folder = tmp_path / "runs" / run_id
    folder.mkdir(parents=True)
    for name in names:
        if name == "run.json":
            (folder / name).write_text(f'{{"run_id": "{run_id}"}}\n')
        else:
            (folder / name).write_text(f"{name} of {run_id}\n")
    return folder


def visible(out: Path, names: list[str] = NAMES) -> set[str]:
    """The run ids of the files a reader of ``out`` sees now (missing files count as "none")."""
    seen = set()
    for name in names:
        try:
            text = (out / name).read_text()
        except FileNotFoundError:
            seen.add("none")
            continue
        seen.add(text.split('"run_id": "')[1].split('"')[0] if name == "run.json" else text.split(" of ")[1].strip())
    return seen


def test_a_published_set_is_reachable_by_its_stable_names(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_id = "20261201T020000Z-aaaaaa"
    publish_set(make_run(tmp_path, run_id), out, NAMES, run_id)
    assert visible(out) == {run_id}
    assert published_run_id(out) == run_id and current_set(out) == run_id
    assert all((out / name).is_symlink() for name in NAMES)


def test_the_previous_set_is_kept_for_readers_and_older_ones_pruned(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ids = [f"20261201T02000{i}Z-aaaaaa" for i in range(3)]
    for run_id in ids:
        publish_set(make_run(tmp_path, run_id), out, NAMES, run_id)
    assert sorted(p.name for p in (out / ".published").iterdir()) == ids[1:]
    assert visible(out) == {ids[2]}


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_any_publishing_step_leaves_the_old_set_or_the_new_one(tmp_path: Path, step: str) -> None:
    out = tmp_path / "out"
    old, new, later = "20261201T020000Z-aaaaaa", "20261202T020000Z-bbbbbb", "20261203T020000Z-cccccc"
    publish_set(make_run(tmp_path, old), out, NAMES, old)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(make_run(tmp_path, new)), str(out), new, step, ",".join(NAMES)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == -9, child.stderr  # killed at that step
    expected = {new} if step == "prune" else {old}  # the swap is the one moment the view changes
    assert visible(out) == expected

    publish_set(make_run(tmp_path, later), out, NAMES, later)  # the next run recovers
    assert visible(out) == {later}
    assert not [p for p in (out / ".published").iterdir() if p.name.startswith(".tmp-")]


def test_a_kill_during_the_first_publish_shows_no_set_at_all(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_id = "20261201T020000Z-aaaaaa"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(make_run(tmp_path, run_id)), str(out), run_id, "swap", ",".join(NAMES)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == -9
    assert visible(out) == {"none"}


def test_plain_files_of_an_older_version_are_adopted_without_a_visible_change(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    legacy = "20261101T020000Z-dddddd"
    for name in NAMES:
        source = make_run(tmp_path, legacy) if name == NAMES[0] else tmp_path / "runs" / legacy
        (out / name).write_bytes((source / name).read_bytes())
    new = "20261201T020000Z-aaaaaa"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(make_run(tmp_path, new)), str(out), new, "swap", ",".join(NAMES)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert child.returncode == -9
    assert visible(out) == {legacy} and all((out / n).is_symlink() for n in NAMES)
    publish_set(tmp_path / "runs" / new, out, NAMES, new)
    assert visible(out) == {new}


def test_published_files_follow_the_callers_umask_even_inside_a_private_run(tmp_path: Path) -> None:
    out = tmp_path / "share" / "out"
    run_id = "20261201T020000Z-aaaaaa"
    old = os.umask(0o022)
    try:
        with private_files():
            publish_set(make_run(tmp_path, run_id), out, NAMES, run_id)
    finally:
        os.umask(old)
    for name in NAMES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((out / ".published" / run_id).stat().st_mode) == 0o755
    assert stat.S_IMODE(out.stat().st_mode) == 0o755  # the board's folder itself, made inside a private run
