"""The service's folders: run ids are ids, the two folders never overlap, old runs are pruned."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.errors import UsageError
from service.layout import Layout, check_run_id, new_run_id
from service.retention import prune_runs


def test_new_run_ids_pass_the_check_and_paths_do_not() -> None:
    run_id = new_run_id(datetime(2026, 12, 1, 2, 30, tzinfo=UTC))
    assert run_id.startswith("20261201T023000Z-") and check_run_id(run_id) == run_id
    for bad in ("", "..", "../x", "/etc/passwd", f"{run_id}/..", f"{run_id}\n", "20261201T023000Z-ABCDEF"):
        with pytest.raises(UsageError, match="is not a run id"):
            check_run_id(bad)
    with pytest.raises(UsageError):
        Layout.plain(Path("/tmp/out")).run_dir("../../etc")


def test_a_data_folder_inside_the_boards_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="overlaps the board's folder"):
        Layout(tmp_path / "out", tmp_path / "out" / "data").check()
    with pytest.raises(UsageError, match="overlaps"):
        Layout(tmp_path / "x", tmp_path / "x").check()
    Layout(tmp_path / "out", tmp_path / "data").check()


def test_plain_runs_keep_private_data_beside_the_out_folder(tmp_path: Path) -> None:
    layout = Layout.plain(tmp_path / "reports" / "out")
    assert layout.data_dir == tmp_path / "reports" / "data"
    assert layout.raw_dir("20261201T023000Z-abcdef") == tmp_path / "reports/data/runs/20261201T023000Z-abcdef/raw"


def runs(layout: Layout, ids: list[str]) -> None:
    for run_id in ids:
        (layout.runs_dir / run_id / "raw").mkdir(parents=True)


def test_retention_keeps_the_newest_runs_and_always_the_kept_ones(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "out", tmp_path / "data", keep_runs=2)
    ids = [f"2026110{day}T023000Z-aaaaaa" for day in range(1, 6)]
    runs(layout, ids)
    (layout.runs_dir / "not-a-run").mkdir()
    removed = prune_runs(layout, keep={ids[0]})  # ids[0]: the published last good run
    assert removed == ids[1:3]
    assert sorted(p.name for p in layout.runs_dir.iterdir()) == [ids[0], *ids[3:], "not-a-run"]


def test_retention_by_age_removes_old_runs_but_never_the_last_good_one(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "out", tmp_path / "data", keep_runs=100, keep_days=7)
    ids = ["20261101T023000Z-aaaaaa", "20261120T023000Z-bbbbbb", "20261129T023000Z-cccccc"]
    runs(layout, ids)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert prune_runs(layout, keep={ids[0]}, now=now) == [ids[1]]
    assert sorted(p.name for p in layout.runs_dir.iterdir()) == [ids[0], ids[2]]
