"""The codebook: one row per cohort.csv column and per instrument, from the study file, enough to open the
tables in R or Stata without asking."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from config.study import load_study, parse_study
from mapping.codebook import CODEBOOK_COLUMNS, TYPES, codebook
from tests.config.test_study import default_raw

DEMO = Path(__file__).resolve().parents[1] / "reference" / "demo"


@pytest.fixture(scope="module")
def book() -> pd.DataFrame:
    return pd.DataFrame(codebook(load_study()), columns=list(CODEBOOK_COLUMNS))


def rows_of(book: pd.DataFrame, table: str, kind: str = "column") -> pd.DataFrame:
    return book[(book["table"] == table) & (book["kind"] == kind)].set_index("name")


def test_every_cohort_column_of_the_demo_has_exactly_one_row_in_cohort_order(book: pd.DataFrame) -> None:
    columns = list(pd.read_csv(DEMO / "cohort.csv", nrows=0).columns)
    cohort = book[book["table"] == "cohort.csv"]
    assert list(cohort["name"]) == columns


def test_every_measures_column_and_instrument_has_one_row(book: pd.DataFrame) -> None:
    measures = pd.read_csv(DEMO / "measures.csv")
    assert list(rows_of(book, "measures.csv").index) == list(measures.columns)
    assert list(rows_of(book, "measures.csv", "instrument").index) == list(load_study().instruments)
    assert set(measures["instrument"]) <= set(rows_of(book, "measures.csv", "instrument").index)


def test_instrument_ranges_labels_and_codes_match_the_study_file(book: pd.DataFrame) -> None:
    instruments = rows_of(book, "measures.csv", "instrument")
    for name, spec in load_study().instruments.items():
        row = instruments.loc[name]
        assert (row["min"], row["max"], row["label"], row["unit"]) == (spec.min, spec.max, spec.label, spec.unit)
        assert row["values"] == f"{spec.min:g} to {spec.max:g}"
    assert instruments.loc["vas", "fhir_codes"] == "loinc|38208-5; loinc|38214-3; loinc|72514-3"
    measures = pd.read_csv(DEMO / "measures.csv")
    for name, values in measures.groupby("instrument")["value"]:
        assert values.between(instruments.loc[name, "min"], instruments.loc[name, "max"]).all()


def test_every_row_has_a_type_label_and_derivation(book: pd.DataFrame) -> None:
    assert set(book["type"]) <= set(TYPES)
    assert (book["label"] != "").all() and (book["derivation"] != "").all()


def test_the_demos_values_are_among_the_allowed_values(book: pd.DataFrame) -> None:
    cohort = pd.read_csv(DEMO / "cohort.csv")
    described = rows_of(book, "cohort.csv")
    for column in ("sex", "tumor_category", "resection_margin", "reconstruction", "diagnosis"):
        allowed = described.loc[column, "values"].split("; ")
        assert set(cohort[column].dropna()) <= set(allowed), column
    zones = set(load_study().facts["enneking_zones"].values)
    assert all(set(text.split("+")) <= zones for text in cohort["enneking_zones"].dropna())
    for column in described.index[described["type"] == "0-1 flag"]:
        assert set(cohort[column]) <= {0, 1}, column
    for column in described.index[described["type"] == "integer"]:
        assert (cohort[column].dropna() % 1 == 0).all(), column


def test_values_and_codes_come_from_the_study_file() -> None:
    raw = default_raw()
    raw["facts"]["resection_margin"]["values"] = {"R0": ["local|r0"], "R1": ["local|r1"]}
    raw["analysis"]["survival"]["cox"][2] = {"fact": "resection_margin"}
    raw["complications"] = {"wound_dehiscence": ["snomed|225553008"]}
    raw["implant"] = {}
    raw["reoperations"] = {"removal": ["local|implant-removal"]}
    rows = {row["name"]: row for row in codebook(parse_study(raw)) if row["table"] == "cohort.csv"}
    assert rows["resection_margin"]["values"] == "R0; R1"
    assert rows["wound_dehiscence"]["label"] == "Wound dehiscence"
    assert rows["wound_dehiscence"]["fhir_codes"] == "snomed|225553008"
    assert (rows["removal"]["type"], rows["removal_months"]["unit"]) == ("0-1 flag", "months")
    assert "revision" not in rows and "heterotopic_ossification" not in rows


def test_the_codebook_writes_as_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "codebook.csv"
    pd.DataFrame(codebook(load_study()), columns=list(CODEBOOK_COLUMNS)).to_csv(path, index=False)
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == list(CODEBOOK_COLUMNS) and len(back) > 30
