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
