"""Several sites in one run: each its own snapshot, study ids namespaced by site, patients at two sites
reported not merged, a failing site blocking or left out as the deployment says, pooling of exports."""

from __future__ import annotations

import csv
import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from extractor import demo_source
from service.cli import main


def site(folder: Path) -> Path:
    """A copy of the demo cohort: the same FHIR ids as every other copy."""
    shutil.copytree(demo_source(), folder)
    (folder / "manifest.json").unlink()
    return folder


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_two_sites_with_the_same_fhir_ids_give_distinct_patients_with_a_site_column(tmp_path: Path) -> None:
    north, south = site(tmp_path / "north"), site(tmp_path / "south")
    out = tmp_path / "out"
    assert main(["run", "--source", str(north), "--source", str(south), "--out", str(out)]) == 0
    cohort = rows(out / "cohort.csv")
    assert list(cohort[0])[:2] == ["study_id", "site"]
    assert sorted({r["site"] for r in cohort}) == ["north", "south"] and len(cohort) == 14
    assert len({r["study_id"] for r in cohort}) == 14  # Patient/demo-p1 at two servers: two study ids
    run = json.loads((out / "run.json").read_text())
    assert set(run["sites"]) == {"north", "south"} and all(s["status"] == "ok" for s in run["sites"].values())
    raw = tmp_path / "data" / "runs" / run["run_id"] / "raw"
    assert (raw / "north" / "manifest.json").exists() and (raw / "south" / "manifest.json").exists()
    quality = json.loads((out / "data_quality.json").read_text())
    assert set(quality["sites"]) == {"north", "south"}
    results = json.loads((out / "results.json").read_text())
    assert "site" in results["survival"]["pfs"]["logrank"]  # site is a factor of the log-rank tests

    again = tmp_path / "again"  # the stored multi-site snapshot re-runs to the same tables
    assert main(["run", "--source", str(raw), "--out", str(again)]) == 0
    assert (again / "cohort.csv").read_text() == (out / "cohort.csv").read_text()


def test_a_patient_with_the_same_study_identifier_at_two_sites_is_counted_once_and_reported(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    text = resources.files("config").joinpath("study.toml").read_text(encoding="utf-8")
    study.write_text(text.replace('study_id_system = ""', 'study_id_system = "https://example.org/fhir/sid/demo-mrn"'))
    north, south = site(tmp_path / "north"), site(tmp_path / "south")
    out = tmp_path / "out"
    assert main(["run", "--study", str(study), "--source", str(north), "--source", str(south), "--out", str(out)]) == 0
    cohort = rows(out / "cohort.csv")
    assert len(cohort) == 7 and {r["site"] for r in cohort} == {"north"}
    counts = json.loads((out / "data_quality.json").read_text())["mapping"]["counts"]
    assert counts["patient at two sites (same study identifier): counted once, at the first site"] == 7


def deployment(tmp_path: Path, sources: str, on_failure: str) -> Path:
    path = tmp_path / "deployment.toml"
    path.write_text(
        f'on_site_failure = "{on_failure}"\n{sources}\n'
        '[schedule]\ncron = "30 2 * * *"\ntimezone = "UTC"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 25\nsecurity = "none"\n'
        '[email]\nsender = "po@h.test"\nrecipients = ["board@h.test"]\nadmin = "admin@h.test"\n'
        f'[paths]\nout_dir = "{tmp_path / "out"}"\ndata_dir = "{tmp_path / "data"}"\n'
    )
    return path


SOURCES = '[[sources]]\nsite = "north"\npath = "north"\n[[sources]]\nsite = "south"\npath = "gone"\n'


def test_a_failing_site_blocks_the_run_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", "k" * 40)
    site(tmp_path / "north")
    assert main(["run", "--config", str(deployment(tmp_path, SOURCES, "block")), "--no-email"]) == 3
    assert "site south" in capsys.readouterr().err
    assert not (tmp_path / "out" / "report.pdf").exists()


def test_publish_without_leaves_the_failing_site_out_and_says_since_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PELVIC_PSEUDONYM_KEY", "k" * 40)
    site(tmp_path / "north")
    config = deployment(tmp_path, SOURCES, "publish_without")
    assert main(["run", "--config", str(config), "--no-email"]) == 0
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    south = run["sites"]["south"]
    assert south["status"] == "failed" and "source does not exist" in south["error"]
    assert {r["site"] for r in rows(tmp_path / "out" / "cohort.csv")} == {"north"}
    assert any("site south is missing" in w for w in run["warnings"])
    first_missing = south["missing_since"]
    assert main(["run", "--config", str(config), "--no-email"]) == 0  # still missing: since the first time
    assert json.loads((tmp_path / "out" / "run.json").read_text())["sites"]["south"]["missing_since"] == first_missing


def test_pooling_reads_the_sites_pseudonymised_exports_and_checks_their_hashes(tmp_path: Path) -> None:
    for name in ("north", "south"):
        assert main(["run", "--source", str(site(tmp_path / f"{name}-fhir")), "--out", str(tmp_path / name),
                     "--data-dir", str(tmp_path / f"{name}-private")]) == 0
        export = json.loads((tmp_path / name / "export.json").read_text())
        assert set(export["files"]) == {"cohort.csv", "measures.csv", "codebook.csv", "run.json"}
    pooled = tmp_path / "pooled"
    assert main(["run", "--source", str(tmp_path / "north"), "--source", str(tmp_path / "south"),
                 "--out", str(pooled)]) == 0
    cohort = rows(pooled / "cohort.csv")
    assert len(cohort) == 14 and {r["site"] for r in cohort} == {"north", "south"}
    assert json.loads((pooled / "run.json").read_text())["sites"]["north"]["source"]["kind"] == "export"

    tampered = tmp_path / "south" / "cohort.csv"
    tampered.write_text(tampered.resolve().read_text().replace(",female,", ",male,", 1))
    assert main(["run", "--source", str(tmp_path / "north"), "--source", str(tmp_path / "south"),
                 "--out", str(tmp_path / "pooled2")]) == 4


def test_the_study_file_can_make_the_site_a_cox_stratum_not_a_term(tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    text = resources.files("config").joinpath("study.toml").read_text(encoding="utf-8")
    assert text.count("[analysis.survival]\n") == 1
    study.write_text(text.replace("[analysis.survival]\n", '[analysis.survival]\nsite = "stratum"\n'))
    north, south = site(tmp_path / "north"), site(tmp_path / "south")
    out = tmp_path / "out"
    assert main(["run", "--study", str(study), "--source", str(north), "--source", str(south), "--out", str(out)]) == 0
    survival = json.loads((out / "results.json").read_text())["survival"]
    for endpoint in ("os", "pfs"):
        cox = survival[endpoint]["cox"]
        assert "site" in survival[endpoint]["logrank"]  # still a log-rank factor
        assert cox["multivariable"]["strata"] == ["site"]
        assert all(term["strata"] == ["site"] for term in cox["univariable"])
        assert not [t for t in cox["multivariable"]["terms"] if t["covariate"] == "site"]
        assert not [t for t in cox["univariable"] if t["covariate"] == "site"]

    default = tmp_path / "default"
    assert main(["run", "--source", str(north), "--source", str(south), "--out", str(default)]) == 0
    cox = json.loads((default / "results.json").read_text())["survival"]["pfs"]["cox"]
    assert cox["multivariable"]["strata"] == [] and [t for t in cox["univariable"] if t["covariate"] == "site"]
