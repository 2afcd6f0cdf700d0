"""The analysis plan's validation and the input checks: errors that name the problem and the fix."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from analysis import AnalysisPlan, Covariate, analyse
from analysis.cox import fit_cox, term_names
from analysis.warnings import WarningLog
from config.errors import AnalysisError, ConfigError
from config.study import AnalysisSettings
from tests.analysis.conftest import read_cohort


def test_defaults_are_the_papers() -> None:
    plan = AnalysisPlan()
    assert (plan.quantile_type, plan.quantile_method, plan.alpha) == (7, "linear", 0.05)
    assert plan.repeated_timepoints == ("pre", "1m", "3m", "6m")
    assert (plan.msts_timepoints, plan.sij_timepoints) == (("pre", "3m"), ("pre", "6m"))
    assert (plan.min_n_for_test, plan.min_events_per_covariate) == (10, 10)
    assert [c.name for c in plan.survival_covariates] == ["sex", "tumor_category", "resection_margin", "zone_iv"]


def test_plan_accepts_the_study_definitions_analysis_settings() -> None:
    settings = AnalysisSettings()
    plan = AnalysisPlan(**dataclasses.asdict(settings))
    assert plan.quantile_type == settings.quantile_type


def test_the_plan_extends_the_settings_instead_of_restating_them() -> None:
    from analysis import plan_from_study
    from config.study import load_study

    own = set(AnalysisPlan.__annotations__)
    assert not own & {item.name for item in dataclasses.fields(AnalysisSettings)}
    study = load_study()
    plan = plan_from_study(study)
    assert isinstance(plan, AnalysisSettings)
    assert all(getattr(plan, item.name) == getattr(study.analysis, item.name)
               for item in dataclasses.fields(AnalysisSettings))


@pytest.mark.parametrize("quantile_type", [0, 10])
def test_unknown_quantile_type_names_the_field(quantile_type: int) -> None:
    with pytest.raises(ConfigError, match=r"analysis\.quantile_type"):
        AnalysisPlan(quantile_type=quantile_type)


def test_alpha_outside_zero_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"analysis\.alpha"):
        AnalysisPlan(alpha=5)


def test_missing_column_is_named_with_the_fix() -> None:
    patients, measures = read_cohort("small")
    with pytest.raises(AnalysisError, match="lacks column\\(s\\) zone_iv"):
        analyse(patients.drop(columns="zone_iv"), measures)


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
    from analysis import FailureMode, Mcid, plan_from_study
    from config.study import load_study

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
    from analysis import plan_from_study
    from config.study import load_study

    patients, measures = read_cohort("small")
    results = analyse(patients.drop(columns=["revision", "revision_months"]), measures,
                      plan_from_study(load_study())).to_dict()
    assert results["implant"]["survival"] is None
    assert any(w["scope"] == "implant.survival" for w in results["warnings"])
    assert results["implant"]["failure_types"][0]["n"] == 7
