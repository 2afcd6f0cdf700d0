"""results.json has every key docs/results.md lists (its ``layout`` block), named by the study file's plan."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analysis import SCHEMA_VERSION, AnalysisPlan, analyse, plan_from_study
from analysis.plan import Paired, Subgroups
from config.study import load_study
from tests.analysis.conftest import ReferenceCohort, read_cohort

DOC = Path(__file__).resolve().parents[2] / "docs" / "results.md"


def layout() -> list[str]:
    """The lines of docs/results.md's ``layout`` block."""
    found = re.search(r"```layout\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert found, f"{DOC} has no ```layout block"
    return [line.strip() for line in found.group(1).splitlines() if line.strip()]


def expand(pattern: str) -> list[str]:
    """Brace expansion: a.{b,c}.d → a.b.d, a.c.d (a list element's keys, ``x[] {k}``, become ``x[].k``)."""
    pattern = re.sub(r"\[\] \{", "[].{", pattern.strip())
    parts = re.split(r"(\{[^{}]*\})", pattern)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    out = ["".join(c) for c in itertools.product(*choices)]
    return [x for o in out for x in (expand(o) if "{" in o else [o])]


def bindings(plan: AnalysisPlan) -> dict[str, list[dict[str, str]]]:
    """Each placeholder's values under the plan; a placeholder with dependants binds them together."""
    def split(spec: Paired, by: Subgroups) -> list[dict[str, str]]:
        return [{"split": spec.name, "group": group} for group in by.names]

    return {
        "instrument": [{"instrument": r.instrument, "timepoint": tp} for r in plan.repeated for tp in r.timepoints],
        "comparison": [{"comparison": p.name} for p in plan.paired if p.by is None],
        "split": [b for p in plan.paired if p.by is not None for b in split(p, p.by)],
        "category": [{"category": f.name} for f in plan.table1 if not f.flag],
        "flag": [{"flag": f.name} for f in plan.table1 if f.flag],
        "endpoint": [{"endpoint": e.name, "factor": c.name} for e in plan.endpoints for c in plan.logrank]
        or [{"endpoint": e.name} for e in plan.endpoints],
        "mcid": [{"mcid": m.instrument} for m in plan.mcids],
    }


def substitute(line: str, plan: AnalysisPlan) -> Iterator[str]:
    names = re.findall(r"<(\w+)>", line)
    if not names:
        yield line
        return
    for binding in bindings(plan)[names[0]]:
        text = line
        for name, value in binding.items():
            text = text.replace(f"<{name}>", value)
        assert "<" not in text, f"unbound placeholder in {line!r}"
        yield text


def paths(plan: AnalysisPlan) -> list[str]:
    first, *rest = layout()
    top = [key.strip() for key in first.split(",")]
    found = [p for line in rest for text in substitute(line, plan) for p in expand(text)]
    return list(dict.fromkeys(top + found))


def lookup(document: Any, path: str) -> None:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = document[head[:-2]]
        assert isinstance(items, list), path
        for item in items:
            lookup(item, rest)
        return
    assert isinstance(document, dict) and head in document, f"missing key {head!r} on the way to {path}"
    if rest:
        lookup(document[head], rest)


PLAN = plan_from_study(load_study())


def test_the_layout_expands_over_the_study_files_names() -> None:
    found = paths(PLAN)
    assert "repeated_measures.kps.timepoints.6m.sd" in found
    assert "paired.sij_contralateral_mm.between_groups.mean_change.no_zone_iv" in found
    assert "paired.msts93.hodges_lehmann.conf_level" in found
    assert "survival.pfs.logrank.zone_iv.events" in found
    assert "table1.zone_iv.percent" in found and "table1.enneking_zones[].level" in found
    assert "survival.os.km[].at_risk" in found and "responders.msts93.timepoints[].ci_lower" in found
    assert not [p for p in found if "<" in p or "{" in p]


@pytest.mark.parametrize("path", paths(PLAN))
def test_results_json_has_every_key_of_the_layout(reference_cohort: ReferenceCohort, path: str) -> None:
    lookup(reference_cohort.results, path)


def test_the_results_have_no_key_the_layout_does_not_name(demo: ReferenceCohort) -> None:
    """Every leaf of the demo's results.json is a path of the layout (lists: their elements' keys)."""
    listed = set(paths(PLAN))

    def leaves(node: Any, path: str) -> Iterator[str]:
        if isinstance(node, dict) and path not in listed:
            for key, value in node.items():
                yield from leaves(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list) and node and all(isinstance(i, dict) for i in node) and path not in listed:
            for item in node:
                yield from leaves(item, f"{path}[]")
        else:
            yield path

    unlisted = sorted({p for p in leaves(demo.results, "") if p not in listed})
    assert unlisted == []


def test_lists_that_carry_keys_are_not_empty(reference_cohort: ReferenceCohort) -> None:
    results = reference_cohort.results
    assert results["events"] and results["warnings"]  # a 7-patient cohort always carries small-n warnings
    for endpoint in results["survival"]:
        assert results["survival"][endpoint]["km"]
        assert results["survival"][endpoint]["cox"]["univariable"]
        assert results["survival"][endpoint]["cox"]["multivariable"]["terms"]


def test_schema_version_is_3_1_since_issue_15_and_first() -> None:
    assert SCHEMA_VERSION == "3.1"  # 3.0 (issue 13) + the Cox models' strata (issue 15)
    assert f'`"{SCHEMA_VERSION}"`' in DOC.read_text(encoding="utf-8")


def test_schema_version_and_table1_are_present(reference_cohort: ReferenceCohort) -> None:
    results = reference_cohort.results
    assert results["schema_version"] == SCHEMA_VERSION
    assert next(iter(results)) == "schema_version"
    assert set(results["table1"]) == {"n", "sex", "age", "diagnosis", "tumor_category", "enneking_zones",
                                      "zone_iv", "resection_margin", "reconstruction"}  # 2.0's keys


def test_a_split_has_its_two_groups_and_between_groups_and_no_overall(demo: ReferenceCohort) -> None:
    sij = demo.results["paired"]["sij_contralateral_mm"]
    assert list(sij) == ["zone_iv", "no_zone_iv", "between_groups"]
    assert sij["between_groups"]["groups"] == ["zone_iv", "no_zone_iv"]
    assert sij["between_groups"]["n"] == {"zone_iv": sij["zone_iv"]["n"], "no_zone_iv": sij["no_zone_iv"]["n"]}


def test_a_split_with_overall_has_the_comparison_on_every_patient_too() -> None:
    patients, measures = read_cohort("demo")
    sij = next(p for p in PLAN.paired if p.by is not None)
    plain = Paired("all", sij.instrument, sij.before, sij.after)
    both = Paired("both", sij.instrument, sij.before, sij.after, sij.by, overall=True)
    plan = AnalysisPlan(**{**vars(PLAN), "paired": (plain, both, sij)})
    paired = analyse(patients, measures, plan).to_dict()["paired"]
    assert list(paired["both"]) == ["overall", "zone_iv", "no_zone_iv", "between_groups"]
    assert paired["both"]["overall"] == paired["all"]
    assert {k: v for k, v in paired["both"].items() if k != "overall"} == paired[sij.name]


def test_cox_terms_are_named_with_their_reference_levels(generated: ReferenceCohort) -> None:
    terms = [t["term"] for t in generated.results["survival"]["os"]["cox"]["univariable"]]
    assert terms == ["sex=female", "tumor_category=secondary", "resection_margin=marginal",
                     "resection_margin=intralesional", "zone_iv"]
    multivariable = generated.results["survival"]["os"]["cox"]["multivariable"]["terms"]
    assert [t["term"] for t in multivariable] == terms
