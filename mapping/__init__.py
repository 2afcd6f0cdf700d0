"""Mapping: raw FHIR resources -> the study's cohort tables, with a data-quality log.

``map_cohort(source, study, source_id=..., pseudonym_key=..., cutoff=None)`` is the one entry point; rules
in ``docs/mapping.md``.
"""

from mapping.cohort import Cohort, ResourceSource, build_cohort, cohort_columns, map_cohort
from mapping.patients import pseudonym
from mapping.quality import QualityEntry, QualityLog

__all__ = [
    "Cohort",
    "QualityEntry",
    "QualityLog",
    "ResourceSource",
    "build_cohort",
    "cohort_columns",
    "map_cohort",
    "pseudonym",
]
