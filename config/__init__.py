"""Typed, validated settings: the study definition and the deployment settings."""

from config.errors import (
    AnalysisError,
    ConfigError,
    DeliveryError,
    FhirError,
    FhirHTTPError,
    FhirTimeout,
    MappingError,
    PelvicOutcomesError,
    QualityGateError,
    ReportError,
    RunLockedError,
)
from config.study import (
    AnalysisSettings,
    Claim,
    Coding,
    Instrument,
    QualityGates,
    StudyDefinition,
    TimepointWindow,
    load_study,
    parse_study,
)

__all__ = [
    "AnalysisError",
    "AnalysisSettings",
    "Claim",
    "Coding",
    "ConfigError",
    "DeliveryError",
    "FhirError",
    "FhirHTTPError",
    "FhirTimeout",
    "Instrument",
    "MappingError",
    "PelvicOutcomesError",
    "QualityGateError",
    "QualityGates",
    "ReportError",
    "RunLockedError",
    "StudyDefinition",
    "TimepointWindow",
    "load_study",
    "parse_study",
]
