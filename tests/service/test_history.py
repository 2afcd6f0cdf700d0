"""The run history in SQLite."""

from __future__ import annotations

from pathlib import Path

from service.history import History, RunRecord, format_table, recipients_hash


def record(run_id: str, started: str, status: str = "succeeded", patients: int = 7) -> RunRecord:
    return RunRecord(
        run_id=run_id, trigger="schedule", started_at=started, finished_at=started, status=status,
        counts={"resources": 90, "unmappable": 1, "patients": patients, "measures": 60}, input_sha256="f" * 64,
        report_path=f"/out/runs/{run_id}/report.pdf", recipients=("a@h.test", "b@h.test"), email="sent",
    )


def test_runs_are_listed_newest_first_with_every_field(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    history.record(record("R1", "2026-11-22T02:30:00+00:00"))
    history.record(record("R2", "2026-11-23T02:30:00+00:00", status="failed"))
    assert [r.run_id for r in history.recent()] == ["R2", "R1"]
    assert history.get("R1") == record("R1", "2026-11-22T02:30:00+00:00")
    assert history.last_succeeded() == record("R1", "2026-11-22T02:30:00+00:00")
    assert History(tmp_path / "history.sqlite").recent(limit=1)[0].run_id == "R2"  # persisted


def test_a_delivery_is_remembered_per_report_and_recipient_list(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    history.mark_delivered("input-1", ["a@h.test", "b@h.test"], "R1", "2026-11-22T02:31:00+00:00")
    assert history.delivered_in("input-1", ["B@h.test", "a@h.test"]) == "R1"  # same list, any order or case
    assert history.delivered_in("input-1", ["a@h.test"]) is None
    assert history.delivered_in("input-2", ["a@h.test", "b@h.test"]) is None
    assert recipients_hash(["a@h.test"]) != recipients_hash(["a@h.test", "b@h.test"])


def test_the_table_shows_one_line_per_run(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    assert "(no runs yet)" in format_table(history.recent())
    history.record(record("R1", "2026-11-22T02:30:00+00:00"))
    lines = format_table(history.recent()).splitlines()
    assert lines[0].startswith("RUN ID")
    assert lines[1].split()[:6] == ["R1", "schedule", "2026-11-22T02:30:00", "succeeded", "7", "sent"]


def test_a_run_left_running_is_marked_interrupted_and_ids_are_shown_whole(tmp_path: Path) -> None:
    history = History(tmp_path / "history.sqlite")
    long_id = "20261130T023000Z-abcdef-site-a"
    history.start(long_id, "schedule", "2026-11-30T02:30:00+00:00")
    assert history.recent()[0].status == "running"
    assert history.mark_interrupted("2026-12-01T02:30:00+00:00") == [long_id]
    (run,) = history.recent()
    assert (run.status, run.finished_at) == ("interrupted", "2026-12-01T02:30:00+00:00")
    assert "interrupted" in run.error
    assert history.mark_interrupted("2026-12-01T02:31:00+00:00") == []
    assert format_table(history.recent()).splitlines()[1].split()[0] == long_id
