"""The follow-up worklist through a service run: to the coordinator only, the lookup private, the gate."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from config.deployment import load_deployment
from extractor import demo_source
from service.cli import main
from tests.service.conftest import TEST_ENV, SmtpServer, WriteDeployment

BOARD = ["board-a@hospital.test", "board-b@hospital.test"]
COORDINATOR = ["coordinator@hospital.test"]
KPS = "89243-0"


def without_kps_of_one_patient(folder: Path) -> Path:
    """The demo cohort (complete follow-up) with every KPS value of demo-p1 missing: 4 overdue items."""
    shutil.copytree(demo_source(), folder)
    lines = (folder / "Observation.ndjson").read_text().splitlines()
    kept = [line for line in lines if not (KPS in line and '"Patient/demo-p1"' in line)]
    assert len(lines) - len(kept) == 4
    (folder / "Observation.ndjson").write_text("\n".join(kept) + "\n")
    return folder


def test_the_coordinator_gets_the_worklist_the_board_does_not_and_the_lookup_stays_private(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    email = {"sender": "po@hospital.test", "recipients": BOARD, "admin": "admin@hospital.test",
             "coordinator": COORDINATOR[0]}
    source = without_kps_of_one_patient(tmp_path / "export")
    config = write_deployment(smtp_server, email=email, followup={"lookup_file": True}, source=str(source))
    assert main(["run", "--config", str(config)]) == 0
    deployment = load_deployment(config, TEST_ENV)

    assert sorted(sorted(e.rcpt_tos) for e in smtp_server.inbox.envelopes) == [BOARD, COORDINATOR]
    worklist_mail = next(smtp_server.inbox.message(i) for i, e in enumerate(smtp_server.inbox.envelopes)
                         if e.rcpt_tos == COORDINATOR)
    body = worklist_mail.get_content()
    assert "follow-up worklist" in worklist_mail["Subject"]
    overdue = [line for line in body.splitlines() if " overdue " in line]
    assert len(overdue) == 4 and all(" kps " in line for line in overdue)
    assert len({line.split()[2] for line in overdue}) == 1  # one patient, by study id
    assert "DEMO-0001" not in body and "demo-p1" not in body  # MRNs and FHIR ids stay on the server
    board_mail = next(smtp_server.inbox.message(i) for i, e in enumerate(smtp_server.inbox.envelopes)
                      if sorted(e.rcpt_tos) == BOARD)
    board_body = board_mail.get_body(("plain",))
    assert board_body is not None and "worklist" not in board_body.get_content().lower()

    run_id = json.loads((deployment.paths.out_dir / "run.json").read_text())["run_id"]
    run_dir = deployment.paths.data_dir / "runs" / run_id
    lookup = run_dir / "coordinator_lookup.csv"
    assert "DEMO-0001" in lookup.read_text() and stat.S_IMODE(lookup.stat().st_mode) == 0o600
    assert (run_dir / "worklist.csv").read_text().startswith("study_id,site,instrument,timepoint")
    board_files = [p.name for p in deployment.paths.out_dir.rglob("*")]
    assert not [name for name in board_files if "lookup" in name or "worklist" in name]
    completeness = json.loads((deployment.paths.out_dir / "results.json").read_text())["followup_completeness"]
    kps_pre = next(c for c in completeness if (c["instrument"], c["timepoint"]) == ("kps", "pre"))
    assert (kps_pre["done"], kps_pre["expected"], kps_pre["previous_percent"]) == (6, 7, None)


def test_a_completeness_gate_holds_the_report(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    source = without_kps_of_one_patient(tmp_path / "export")
    config = write_deployment(smtp_server, followup={"min_completeness_percent": 90}, source=str(source))
    assert main(["run", "--config", str(config)]) == 8
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [["admin@hospital.test"]]
    alert = smtp_server.inbox.message(0).get_content()
    assert "kps at pre is 86% complete (6 of 7), below 90%" in alert and "followup.min_completeness_percent" in alert


def test_a_withdrawn_patient_is_not_applicable_not_overdue(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    source = without_kps_of_one_patient(tmp_path / "export")
    withdrawn = tmp_path / "withdrawn.csv"
    withdrawn.write_text("study_id,date,reason\n")
    config = write_deployment(smtp_server, followup={"withdrawn_file": str(withdrawn)}, source=str(source))
    assert main(["run", "--config", str(config)]) == 0
    deployment = load_deployment(config, TEST_ENV)

    def worklist() -> list[list[str]]:
        run_id = json.loads((deployment.paths.out_dir / "run.json").read_text())["run_id"]
        lines = (deployment.paths.data_dir / "runs" / run_id / "worklist.csv").read_text().splitlines()[1:]
        return [line.split(",") for line in lines]

    overdue = [row for row in worklist() if row[-1] == "overdue"]
    assert len(overdue) == 4
    patient = overdue[0][0]
    withdrawn.write_text(f"study_id,date,reason\n{patient},2024-01-10,consent withdrawn\n")
    assert main(["run", "--config", str(config)]) == 0

    mine = [row for row in worklist() if row[0] == patient]
    assert mine and not [row for row in mine if row[-1] == "overdue"]
    assert {row[-1] for row in mine if row[2] == "kps"} == {"not applicable"}
    completeness = json.loads((deployment.paths.out_dir / "results.json").read_text())["followup_completeness"]
    kps_pre = next(c for c in completeness if (c["instrument"], c["timepoint"]) == ("kps", "pre"))
    assert (kps_pre["done"], kps_pre["expected"]) == (6, 6)


def test_a_missing_withdrawal_list_is_a_configuration_error(
    write_deployment: WriteDeployment, smtp_server: SmtpServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_deployment(smtp_server, followup={"withdrawn_file": str(tmp_path / "nowhere.csv")})
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "followup.withdrawn_file" in err and "header line 'study_id'" in err and "Traceback" not in err
