"""The analysis plan's validation and the input checks: errors that name the problem and the fix."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analysis import AnalysisPlan, Covariate, Paired, Repeated, Subgroups, analyse, plan_from_study
from analysis.cox import fit_cox, term_names
from analysis.plan import KEPT_SETTINGS
from analysis.warnings import WarningLog
from config.errors import AnalysisError, ConfigError
from config.study import AnalysisSettings, CoxSpec, load_study
from tests.analysis.conftest import read_cohort


def test_defaults_are_the_papers_rules_and_nothing_study_specific() -> None:
    plan = AnalysisPlan()
    assert (plan.quantile_type, plan.quantile_method, plan.alpha) == (7, "linear", 0.05)
    assert (plan.min_n_for_test, plan.min_events_per_covariate) == (10, 10)
    assert (plan.repeated, plan.paired, plan.endpoints, plan.logrank, plan.survival_covariates, plan.table1,
            plan.event_flags) == ((), (), (), (), (), (), ())


def test_the_plans_defaults_are_the_study_files_defaults() -> None:
    settings = AnalysisSettings()
    plan = AnalysisPlan()
    assert all(getattr(plan, name) == getattr(settings, name) for name in KEPT_SETTINGS)


def test_the_plan_copies_the_study_files_settings() -> None:
    study = load_study()
    plan = plan_from_study(study)
    assert all(getattr(plan, name) == getattr(study.analysis, name) for name in KEPT_SETTINGS)


def test_the_plan_of_the_bundled_study_has_its_analyses() -> None:
    plan = plan_from_study(load_study())
    assert plan.repeated == (Repeated("vas", ("pre", "1m", "3m", "6m")), Repeated("kps", ("pre", "1m", "3m", "6m")))
    msts, sij = plan.paired
    assert (msts.name, msts.timepoints, msts.by, msts.overall) == ("msts93", ("pre", "3m"), None, True)
    assert (sij.name, sij.timepoints, sij.overall) == ("sij_contralateral_mm", ("pre", "6m"), False)
    assert sij.by == Subgroups.of_flag("zone_iv", "Zone IV involvement")
    assert sij.by.names == ("zone_iv", "no_zone_iv")
    assert [(e.name, e.columns) for e in plan.endpoints] == [("os", ("os_months", "os_event")),
                                                              ("pfs", ("pfs_months", "pfs_event"))]
    expected = [Covariate("sex", "male", ("female",)), Covariate("tumor_category", "primary", ("secondary",)),
                Covariate("resection_margin", "wide", ("marginal", "intralesional", "radical")),
                Covariate("zone_iv")]
    assert list(plan.survival_covariates) == expected and list(plan.logrank) == expected
    assert [(f.name, f.flag) for f in plan.table1] == [
        ("tumor_category", False), ("diagnosis", False), ("enneking_zones", False), ("zone_iv", True),
        ("resection_margin", False), ("reconstruction", False)]
    assert plan.table1[-1].levels == ("standard", "screw-connected")
    assert plan.table1[2].levels == ()  # "+"-joined zones: combinations, listed by count


def test_a_categorical_fact_splits_into_its_two_levels() -> None:
    study = load_study()
    spec = study.analysis.paired[0]
    changed = dataclasses.replace(study, analysis=dataclasses.replace(
        study.analysis, paired=(dataclasses.replace(spec, by="tumor_category", overall=True),)))
    (paired,) = plan_from_study(changed).paired
    assert paired.by is not None and paired.by.names == ("primary", "secondary") and not paired.by.flag
    assert paired.overall


def test_a_subgroup_fact_needs_two_levels() -> None:
    study = load_study()
    spec = dataclasses.replace(study.analysis.paired[0], by="resection_margin")
    changed = dataclasses.replace(study, analysis=dataclasses.replace(study.analysis, paired=(spec,)))
    with pytest.raises(ConfigError, match="exactly two"):
        plan_from_study(changed)


def test_a_cox_covariate_without_reference_takes_the_facts_first_level() -> None:
    study = load_study()
    survival = dataclasses.replace(study.analysis.survival,
                                   cox=(CoxSpec("resection_margin"), CoxSpec("zone_iv")))
    changed = dataclasses.replace(study, analysis=dataclasses.replace(study.analysis, survival=survival))
    assert plan_from_study(changed).survival_covariates == (
        Covariate("resection_margin", "wide", ("marginal", "intralesional", "radical")), Covariate("zone_iv"))


def test_an_unknown_fact_is_a_config_error_naming_the_table() -> None:
    study = load_study()
    survival = dataclasses.replace(study.analysis.survival, logrank=("no_such_fact",))
    changed = dataclasses.replace(study, analysis=dataclasses.replace(study.analysis, survival=survival))
    with pytest.raises(ConfigError, match=r"analysis\.survival\.logrank"):
        plan_from_study(changed)


def test_subgroups_may_not_shadow_the_comparisons_own_keys() -> None:
    by = Subgroups.of_levels("arm", ("overall", "other"))
    with pytest.raises(ConfigError, match="between_groups and overall"):
        AnalysisPlan(paired=(Paired("x", "score", "pre", "post", by),))


def test_a_site_factor_joins_the_log_rank_tests_and_the_cox_models() -> None:
    plan = plan_from_study(load_study()).with_factor(Covariate("site", "a", ("b",)))
    assert plan.logrank[-1] == plan.survival_covariates[-1] == Covariate("site", "a", ("b",))


@pytest.mark.parametrize("quantile_type", [0, 10])
def test_unknown_quantile_type_names_the_field(quantile_type: int) -> None:
    with pytest.raises(ConfigError, match=r"analysis\.quantile_type"):
        AnalysisPlan(quantile_type=quantile_type)


def test_alpha_outside_zero_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"analysis\.alpha"):
        AnalysisPlan(alpha=5)


@pytest.mark.parametrize("column", ["zone_iv", "diagnosis", "pfs_event", "screw_fracture", "death"])
def test_missing_column_is_named_with_the_fix(column: str) -> None:
    patients, measures = read_cohort("small")
    with pytest.raises(AnalysisError, match=f"lacks column\\(s\\) {column}:"):
        analyse(patients.drop(columns=column), measures, plan_from_study(load_study()))


def test_the_empty_plan_needs_only_the_built_in_columns() -> None:
    patients, measures = read_cohort("small")
    built_in = ["study_id", "sex", "age_at_surgery", "followup_months", "death"]
    results = analyse(patients[built_in], measures).to_dict()
    assert list(results["table1"]) == ["n", "sex", "age"]
    assert (results["repeated_measures"], results["paired"], results["survival"], results["events"]) == ({}, {}, {}, [])


def test_duplicate_measures_are_refused() -> None:
    patients, measures = read_cohort("small")
    with pytest.raises(AnalysisError, match="1 repeated"):
        analyse(patients, pd.concat([measures, measures.iloc[[0]]]))


def test_radical_margin_gets_its_own_term() -> None:
    data = pd.DataFrame({"resection_margin": ["wide", "marginal", "radical", "wide"]})
    covariate = Covariate("resection_margin", "wide", ("marginal", "intralesional", "radical"))
    assert term_names(data, covariate) == ["resection_margin=marginal", "resection_margin=radical"]


def test_absent_reference_level_is_not_estimable() -> None:
    margins = ["marginal", "marginal", "radical", "radical"]
    data = pd.DataFrame({"time": [1.0, 2, 3, 4], "event": [1, 1, 0, 1], "resection_margin": margins})
    model = fit_cox(data, (Covariate("resection_margin", "wide", ("marginal",)),), AnalysisPlan(), WarningLog(), "x")
    assert not model.estimable and model.reason == "reference level resection_margin = wide is absent"


def test_the_plan_of_the_bundled_study_takes_everything_study_specific_from_the_file() -> None:
    from analysis import FailureMode, Mcid

    plan = plan_from_study(load_study())
    assert plan.landmark_months == (6.0, 12.0, 24.0) and plan.risk_table_every_months == 3.0
    assert plan.timepoints == ("pre", "1m", "3m", "6m") and plan.baseline == "pre"
    assert Mcid("vas", 2.0, "lower") in plan.mcids and len(plan.mcids) == 3
    assert plan.failure_modes[0] == FailureMode(1, ("dislocation", "delayed_wound_healing"))
    assert plan.failure_modes[0].name == "soft tissue"
    assert (plan.reoperation_flags, plan.implant_endpoint) == (("revision",), "revision")
    assert plan.event_flags[-1] == "death"


def test_the_default_plan_has_no_study_specific_outcomes() -> None:
    plan = AnalysisPlan()
    assert (plan.mcids, plan.failure_modes, plan.reoperation_flags, plan.implant_endpoint) == ((), (), (), None)


def test_an_implant_endpoint_must_be_a_reoperation() -> None:
    with pytest.raises(ConfigError, match=r"implant\.survival_endpoint"):
        AnalysisPlan(implant_endpoint="revision")


def test_results_of_a_cohort_table_without_reoperation_columns_say_why_implant_survival_is_missing() -> None:
    patients, measures = read_cohort("small")
    results = analyse(patients.drop(columns=["revision", "revision_months"]), measures,
                      plan_from_study(load_study())).to_dict()
    assert results["implant"]["survival"] is None
    assert any(w["scope"] == "implant.survival" for w in results["warnings"])
    assert results["implant"]["failure_types"][0]["n"] == 7
