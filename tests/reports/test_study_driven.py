"""The report follows the study file (issue 13): its labels, its plan's sections, Table 1's facts, the codebook.

The pelvic study is the test data; other plans are made from it with ``dataclasses.replace``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import appendix, figures, sections
from reports.caveats import Caveats
from reports.changes import ChangeLog
from reports.context import build_context
from reports.inputs import read_run_files
from reports.labels import Labels
from reports.render import render_html
from reports.table1 import table1
from tests.reports.conftest import FIXTURES, make_run_dir, manifest


def _cohort() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "cohort.csv", dtype={"study_id": str})


def _results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "results.json").read_text(encoding="utf-8"))
    return data


def _plan(study: StudyDefinition, **changes: Any) -> StudyDefinition:
    return dataclasses.replace(study, analysis=dataclasses.replace(study.analysis, **changes))


def _html(tmp_path: Path, study: StudyDefinition) -> str:
    """The report's HTML (no PDF) of the fixture run for ``study``."""
    files = read_run_files(make_run_dir(tmp_path / "run"))
    svgs = figures.svgs(files, study, manifest())
    return render_html(build_context(files, study, manifest(), ChangeLog(), svgs))


# --------------------------------------------------------------------------- labels


def test_labels_come_from_the_study_file(study: StudyDefinition) -> None:
    said = Labels(study)
    assert said.timepoint("3m") == "3 months" and said.instrument("kps") == "KPS"
    assert said.instrument_label("kps") == "Karnofsky Performance Status (0-100)"
    assert said.instrument_short("sij_contralateral_mm") == "SIJ"
    assert said.endpoint("pfs") == "Progression-free survival" and said.endpoint_short("pfs") == "PFS"
    assert said.fact("zone_iv") == "Zone IV involvement" and said.fact("sex") == "Sex"
    assert said.term("resection_margin=marginal") == "Resection margin: marginal vs wide"
    assert said.term("zone_iv") == "Zone IV involvement (yes vs no)"
    assert said.group("zone_iv", "no_zone_iv") == "No zone IV involvement"
    assert said.subgroup("sij_contralateral_mm", "zone_iv") == "with zone IV involvement"


def test_level_labels_name_levels_subgroups_and_cox_terms(study: StudyDefinition) -> None:
    facts = dict(study.facts)
    facts["resection_margin"] = dataclasses.replace(
        study.facts["resection_margin"], level_labels={"wide": "Wide (R0)", "marginal": "Marginal"})
    said = Labels(dataclasses.replace(study, facts=facts))
    assert said.term("resection_margin=marginal") == "Resection margin: Marginal vs Wide (R0)"
    assert said.group("resection_margin", "wide") == "Wide (R0)"
    assert said.group_phrase("resection_margin", "wide") == "wide (R0)"
    assert said.group_phrase("resection_margin", "radical") == "resection margin radical"
    assert said.clinical("no events among patients with resection_margin = wide") == \
        "no events among patients with resection margin wide (R0)"


# --------------------------------------------------------------------------- Table 1 and the listing


def test_table1_rows_follow_the_plans_facts(study: StudyDefinition) -> None:
    rows = table1(_cohort(), study)
    headings = [r["label"] for r in rows if r["level"] == 0]
    assert headings == ["Patients", "Sex", "Age at surgery, years", "Tumour category", "Diagnosis", "Enneking zones",
                        "Resection margin", "Reconstruction"]
    zones = [r["label"] for r in rows].index("Enneking zones")
    flag = next(r for r in rows if r["label"] == "Zone IV involved")
    assert flag["level"] == 1 and rows.index(flag) > zones  # nested under the zones it is a rule over
    assert flag["value"] == "3 (42.9%)"
    margins = [r["label"] for r in rows[[r["label"] for r in rows].index("Resection margin") + 1:]][:3]
    assert margins == ["wide", "marginal", "intralesional"]  # the study file's level order
    assert any(r["label"] == "osteosarcoma (primary)" for r in rows)  # the diagnosis with its group


def test_table1_puts_a_flag_on_its_own_row_and_uses_level_labels(study: StudyDefinition) -> None:
    facts = dict(study.facts)
    facts["reconstruction"] = dataclasses.replace(study.facts["reconstruction"],
                                                  level_labels={"standard": "Standard prosthesis"})
    changed = _plan(dataclasses.replace(study, facts=facts), table1_facts=("zone_iv", "reconstruction"))
    rows = table1(_cohort(), changed)
    assert [(r["label"], r["level"]) for r in rows[7:]] == [
        ("Zone IV involvement", 0), ("Reconstruction", 0), ("Standard prosthesis", 1), ("screw-connected", 1)]
    assert rows[7]["value"] == "3 (42.9%)"


def test_the_patient_listing_has_a_column_per_listed_fact_and_endpoint(study: StudyDefinition) -> None:
    cohort = _cohort()
    columns = appendix.listing_columns(cohort, study)
    assert [c["header"] for c in columns] == ["Study id", "Surgery", "Sex, age", "Diagnosis", "Enneking zones",
                                              "Resection margin", "Reconstruction", "OS, months", "PFS, months",
                                              "Complications and events"]
    assert sum(c["width"] or 0 for c in columns) <= appendix.TEXT_WIDTH_MM - appendix.FLAGS_MM
    row = appendix.patient_listing(cohort, study)[0]
    assert row["cells"][:4] == ["osteosarcoma", "I+II+IV", "wide", "standard"]
    assert appendix.listing_caption(study).startswith(
        "Surgery: year and month. OS and PFS: months from surgery to the event or to the last contact; † died, "
        "▲ local recurrence, distant metastasis or death (the PFS event).")
    assert appendix.measure_columns(study)[-2:] == [("sij_contralateral_mm", "pre"), ("sij_contralateral_mm", "6m")]


# --------------------------------------------------------------------------- sections follow the plan


def test_paired_blocks_read_schema_3_and_the_flat_between_groups_of_2(study: StudyDefinition) -> None:
    results = _results()
    new = sections.paired(results, study, Caveats([]))
    old = copy.deepcopy(results)
    between = old["paired"]["sij_contralateral_mm"]["between_groups"]
    for key in ("n", "mean_change", "sd_change"):
        for group, value in between.pop(key).items():
            between[f"{key}_{group}"] = value
    del between["groups"]
    assert sections.paired(old, study, Caveats([])) == new
    sij = new[1]
    assert [r["label"] for r in sij["rows"]] == ["Zone IV involvement", "No zone IV involvement"]
    assert sij["between"].startswith("mean change −0.63 ± 0.12 mm with zone IV involvement vs −0.02 ± 0.10 mm "
                                     "without; Welch t = −7.41, df = 3.90")


def test_a_plan_without_paired_comparisons_has_no_paired_page(tmp_path: Path, study: StudyDefinition) -> None:
    html = _html(tmp_path, _plan(study, paired=()))
    assert 'id="paired"' not in html and "before and after" not in html
    assert 'id="repeated"' in html and "VAS and KPS over time" in html


def test_a_plan_without_repeated_measures_keeps_the_responders(tmp_path: Path, study: StudyDefinition) -> None:
    html = _html(tmp_path, _plan(study, repeated=()))
    assert "over time</h2>" not in html and "Friedman test on complete cases" not in html
    assert 'id="repeated"' in html and "<h2>Responders</h2>" in html
    assert "Responders: patients reaching the minimal clinically important difference" in html
    assert 'id="paired"' in html and "MSTS 93 and SIJ before and after" in html


def test_repeated_instruments_at_other_timepoints_get_their_own_table(study: StudyDefinition) -> None:
    kps = dataclasses.replace(study.analysis.repeated[1], timepoints=("pre", "3m", "6m"))
    changed = _plan(study, repeated=(study.analysis.repeated[0], kps))
    found = sections.repeated(_results(), changed, Caveats([]))
    assert [t["labels"] for t in found["tables"]] == [["Pain, VAS (0-10)"], ["Karnofsky Performance Status (0-100)"]]
    assert [r["timepoint"] for r in found["tables"][1]["rows"]] == ["Pre-op", "3 months", "6 months"]


# --------------------------------------------------------------------------- the codebook page


def test_the_appendix_prints_the_codebook_of_the_study_file(tmp_path: Path, study: StudyDefinition) -> None:
    book = appendix.codebook(study)
    assert [t["title"].split(":")[0] for t in book["tables"]] == ["cohort.csv", "measures.csv"]
    names = [r["name"] for r in book["tables"][0]["rows"]]
    assert names[:4] == ["study_id", "sex", "age_at_surgery", "surgery_date"] and "zone_iv" in names
    zone = next(r for r in book["tables"][0]["rows"] if r["name"] == "zone_iv")
    assert (zone["label"], zone["type"], zone["allowed"]) == ("Zone IV involvement", "0-1 flag", "0; 1")
    assert "enneking_zones" in zone["derivation"]
    html = _html(tmp_path, study)
    assert "F. Codebook of the tables" in html and "value, instrument = msts93" in html
