"""results.json has every key issue 6 lists (the block below is copied from the issue verbatim)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from analysis import SCHEMA_VERSION
from tests.analysis.conftest import ReferenceCohort

ISSUE_6_LAYOUT = """
schema_version, n_patients,
repeated_measures.{vas,kps}.timepoints.{pre,1m,3m,6m}.{n,median,q1,q3,mean,sd}
repeated_measures.{vas,kps}.friedman.{statistic,df,p,n}
repeated_measures.{vas,kps}.pairwise[] {a,b,statistic,p,p_adjusted,method}
paired.msts93.{mean_pre,sd_pre,mean_post,sd_post,n,t,df,p}
paired.sij_contralateral_mm.{zone_iv,no_zone_iv}.{mean_pre,sd_pre,mean_post,sd_post,n,t,df,p}
events[] {name,count,n,percent,ci_lower,ci_upper}
followup.{mean_months,median_months,min_months,max_months,reverse_km_median_months}
survival.{os,pfs}.{n,events,median_months,km[] {time_months,survival,ci_lower,ci_upper,at_risk}}
survival.{os,pfs}.logrank.{sex,tumor_category,resection_margin,zone_iv}.{statistic,df,p}
survival.{os,pfs}.cox.univariable[] {term,hr,ci_lower,ci_upper,p}
survival.{os,pfs}.cox.multivariable.{estimable,reason,terms[] {term,hr,ci_lower,ci_upper,p}}
warnings[] {code,message}
"""


def expand(pattern: str) -> list[str]:
    """Brace expansion: a.{b,c}.d → a.b.d, a.c.d (a list element's keys, ``x[] {k}``, become ``x[].k``)."""
    pattern = re.sub(r"\[\] \{", "[].{", pattern.strip())
    parts = re.split(r"(\{[^{}]*\})", pattern)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    out = ["".join(c) for c in itertools.product(*choices)]
    return [x for o in out for x in (expand(o) if "{" in o else [o])]


def paths() -> list[str]:
    lines = ISSUE_6_LAYOUT.strip().splitlines()
    first = [key.strip() for key in lines[0].split(",") if key.strip()]
    # inner braces expand first, so a nested group yields repeats: keep the first of each
    return list(dict.fromkeys(first + [p for line in lines[1:] for p in expand(line)]))


def lookup(document: Any, path: str) -> None:
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        items = document[head[:-2]]
        assert isinstance(items, list), path
        for item in items:
            lookup(item, rest)
        return
    assert head in document, f"missing key {head!r} on the way to {path}"
    if rest:
        lookup(document[head], rest)


def test_the_layout_expands_to_every_listed_key() -> None:
    found = paths()
    assert "repeated_measures.kps.timepoints.6m.sd" in found
    assert "survival.pfs.cox.multivariable.terms[].p" in found
    assert "survival.os.km[].at_risk" in found
    assert len(found) == 2 + 48 + 8 + 12 + 8 + 16 + 6 + 5 + 16 + 24 + 10 + 14 + 2


@pytest.mark.parametrize("path", paths())
def test_results_json_has_every_key_of_issue_6(reference_cohort: ReferenceCohort, path: str) -> None:
    lookup(reference_cohort.results, path)


def test_lists_that_carry_keys_are_not_empty(reference_cohort: ReferenceCohort) -> None:
    results = reference_cohort.results
    assert results["events"] and results["warnings"]  # a 7-patient cohort always carries small-n warnings
    for endpoint in ("os", "pfs"):
        assert results["survival"][endpoint]["km"]
        assert results["survival"][endpoint]["cox"]["univariable"]
        assert results["survival"][endpoint]["cox"]["multivariable"]["terms"]


def test_schema_version_and_table1_are_present(reference_cohort: ReferenceCohort) -> None:
    results = reference_cohort.results
    assert results["schema_version"] == SCHEMA_VERSION
    assert next(iter(results)) == "schema_version"
    assert set(results["table1"]) >= {"n", "sex", "age", "diagnosis", "tumor_category", "enneking_zones",
                                      "zone_iv", "resection_margin", "reconstruction"}


def test_cox_terms_are_named_with_their_reference_levels(generated: ReferenceCohort) -> None:
    terms = [t["term"] for t in generated.results["survival"]["os"]["cox"]["univariable"]]
    assert terms == ["sex=female", "tumor_category=secondary", "resection_margin=marginal",
                     "resection_margin=intralesional", "zone_iv"]
    multivariable = generated.results["survival"]["os"]["cox"]["multivariable"]["terms"]
    assert [t["term"] for t in multivariable] == terms


ISSUE_12_LAYOUT = """
survival.{os,pfs}.{median_ci_lower,median_ci_upper,landmarks[] {months,survival,ci_lower,ci_upper,at_risk}}
survival.{os,pfs}.at_risk_table[] {months,at_risk,cumulative_events}
survival.{os,pfs}.logrank.{sex,tumor_category,resection_margin,zone_iv}.events
followup.{completeness,completeness_cutoff,completeness_cutoff_rule,observed_months,potential_months}
repeated_measures.{vas,kps}.pairwise[] {hodges_lehmann,mean_difference}
repeated_measures.{vas,kps}.pairwise[].{hodges_lehmann,mean_difference}.{estimate,ci_lower,ci_upper,conf_level,method}
paired.msts93.hodges_lehmann.{estimate,ci_lower,ci_upper,conf_level,method}
paired.sij_contralateral_mm.{zone_iv,no_zone_iv}.hodges_lehmann.{estimate,ci_lower,ci_upper,conf_level,method}
paired.sij_contralateral_mm.between_groups.{hodges_lehmann,mean_difference}.{estimate,ci_lower,ci_upper,conf_level}
responders.{vas,kps,msts93}.{mcid,better,baseline,timepoints[] {timepoint,n,count,percent,ci_lower,ci_upper}}
implant.failure_types[] {type,name,flags,count,n,percent,ci_lower,ci_upper}
implant.any_failure.{count,n,percent,ci_lower,ci_upper}
implant.reoperations[] {name,count,n,percent,ci_lower,ci_upper,days_from_surgery,median_days_from_surgery}
implant.{survival_endpoint,survival}
implant.survival.{n,events,median_months,median_ci_lower,median_ci_upper,km,landmarks,at_risk_table}
events[] {days_from_surgery,median_days_from_surgery}
"""


def issue_12_paths() -> list[str]:
    return list(dict.fromkeys(p for line in ISSUE_12_LAYOUT.strip().splitlines() for p in expand(line)))


@pytest.mark.parametrize("path", issue_12_paths())
def test_results_json_has_every_key_of_issue_12(reference_cohort: ReferenceCohort, path: str) -> None:
    lookup(reference_cohort.results, path)


def test_schema_version_is_2_since_issue_12() -> None:
    assert SCHEMA_VERSION == "2.0"
