"""docs/study-file.md's complete example is a study file that loads as it stands (a third study written from
the page alone), and the page's smaller examples are valid tables."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from config import parse_study
from mapping.codebook import codebook
from mapping.cohort import cohort_columns

DOC = Path(__file__).resolve().parents[2] / "docs" / "study-file.md"


def complete_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- complete example -->\n```toml\n(.*?)```", text, re.DOTALL)
    assert match, "docs/study-file.md has no complete example"
    return match.group(1)


def test_the_complete_example_loads_and_describes_its_columns() -> None:
    study = parse_study(tomllib.loads(complete_example()), "docs/study-file.md")
    assert study.fact_columns == ("implant", "histology", "extensor_reconstruction", "flap")
    assert cohort_columns(study)[:10] == [
        "study_id", "sex", "age_at_surgery", "surgery_date", "implant", "histology", "extensor_reconstruction",
        "flap", "followup_months", "os_months"]
    assert study.analysis.paired[0].by == "flap" and study.analysis.paired[0].overall
    assert study.analysis.survival.endpoints == ("os", "implant_survival")
    names = [row["name"] for row in codebook(study) if row["table"] == "cohort.csv"]
    assert names == cohort_columns(study)


def test_every_toml_example_of_the_page_parses() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) > 10
    for block in blocks:
        tomllib.loads(block)
