"""The reasons written to the data-quality log, in one place (docs/mapping.md lists them).

Fixed phrases, so that ``data_quality.json`` counts group like with like; a few carry a status, code,
instrument, timepoint, fact or diagnosis-group name (or a fact's label), never a patient value or identifier.
"""

from __future__ import annotations

# resources and references
DUPLICATE_ID = "duplicate resource id: first copy kept"
PATIENT_WITHOUT_ID = "Patient without id: cannot be linked"
NO_SUBJECT = "no Patient subject"
MISSING_PATIENT = "subject refers to a Patient that is not in the pull"
INVALID_PATIENT = "subject Patient is invalid or unusable: resource not used"
DUPLICATE_STUDY_ID = "duplicate study identifier: Patient not used"
NO_STUDY_ID = "no study identifier: keyed-hash pseudonym used"
NOT_IN_COHORT = "no index procedure: patient not in the cohort"
SEVERAL_INDEX = "several index procedures: the earliest is the index"
INDEX_WITHOUT_DATE = "index procedure without a usable performed date"
REOPERATION_WITHOUT_DATE = "reoperation without a usable performed date: cannot be placed after surgery"
UNMAPPED = "could not be mapped ({})"

# statuses
EXCLUDED_STATUS = "excluded: status {}"
EXCLUDED_VERIFICATION = "excluded: verificationStatus {}"
USED_STATUS = "status {}: used"
USED_VERIFICATION = "verificationStatus {}: used"

# codes
UNKNOWN_LOCAL_CODE = "code {} of the study's CodeSystem is not in the study definition"
CODINGS_DISAGREE = "codings name different {}: the first is used"

# dates
PARTIAL_DATE = "partial date ({} precision): {} assumed"
NO_EFFECTIVE_DATE = "no usable effective date"
YEAR_ONLY = "partial date (year precision): too imprecise for a timepoint window"
NOT_AN_OBJECT = "not a JSON object"
NO_ONSET = "no onset or recorded date: cannot be placed after surgery"

# patients
NO_GENDER = "no gender"
NO_BIRTH_DATE = "no birth date: age unknown"
DEATH_WITHOUT_DATE = "deceased without a usable date: death date set to last contact"
DEATH_BEFORE_SURGERY = "death date before surgery: date ignored"
DATES_AFTER_DEATH = "clinical dates after the death date: last contact is the death date"

# values
OUT_OF_RANGE = "value outside the range of {} ({})"
MM_SCALE_BY_UNIT = "{} on a 0-100 mm scale (unit mm) converted to 0-10"
MM_SCALE_BY_RANGE = "{} on a 0-100 mm scale (by range) converted to 0-10"
UNIT_CONVERTED = "{}: {} converted to {}"
UNIT_ASSUMED = "{}: no unit, {} assumed"
NOT_A_LENGTH = "{}: unit is not a length convertible to {}"
NOT_A_SCORE = "{}: unit is not a score unit"

# measures
DUPLICATE_VALUE = "duplicate value (same instrument, day and value): one kept"
SUPERSEDED = "superseded by a final or amended value the same day"
SAME_DAY_CONFLICT = "conflicting values the same day: the latest is kept"
NOT_SELECTED = "not selected: another value was chosen for timepoint {}"
PRELIMINARY_USED = "preliminary value used (no final value that day)"
OUTSIDE_WINDOWS = "outside every timepoint window"

# events and cohort variables
NOT_AFTER_SURGERY = "date not after surgery: not counted as an event"
PARTIAL_SPANS_SURGERY = "partial date spans the surgery date: not counted"
RELAPSE_WITHOUT_DATE = "relapse without a date after surgery: not counted"
PROGRESSION_NOT_MAPPED = "{0} progression not mapped: the study file's [progression] names no {0} event"
WORSENED_WITHOUT_QUALIFIER = "disease status worsened without a local or distant qualifier: not counted"
UNKNOWN_EVENT = "event {} is not a column of this study: not counted"
NO_FACT_VALUE = "no {} recorded"  # a fact's label (see inline)
FACT_CONFLICT = "conflicting {} values: the one nearest surgery is used"
FACT_VALUE_UNKNOWN = "{} value not in the study definition"
NO_DIAGNOSIS = "no diagnosis Condition"
SEVERAL_DIAGNOSES = "several diagnoses: the latest before surgery is used"
NO_HISTOLOGY = "{} tumour without a known histology"  # the diagnosis group
SITE_BY_ELIMINATION = "related primary not referenced: the patient's only primary-site Condition used"
SITE_UNKNOWN = "primary site of the {} tumour unknown"  # the diagnosis group

# impossible dates (docs/mapping.md, "Impossible dates")
BIRTH_AFTER_SURGERY = "birth date after surgery: age unknown"
AGE_ABOVE_LIMIT = "age at surgery above {} years: age unknown"
SURGERY_AFTER_CUTOFF = "surgery after the data cut-off: patient not in the cohort"
INDEX_AFTER_CUTOFF = "index procedure dated after the data cut-off: not used"
AFTER_CUTOFF = "dated after the data cut-off: not used"
EVENT_AFTER_CUTOFF = "dated after the data cut-off: not counted as an event"
LATEST_AFTER_CUTOFF = "date after the data cut-off: not used as last contact"
BEFORE_BIRTH = "dated before the birth date: value not used"
AFTER_DEATH = "dated after the death date: value not used"
DEATH_AFTER_CUTOFF = "death date after the data cut-off: not a death within follow-up"


def inline(label: str) -> str:
    """A fact's label inside a sentence: ``Tumour size`` -> ``tumour size`` (an all-capital first word, an
    abbreviation, stays as it is)."""
    first = label.split(" ", 1)[0]
    return label if first.isupper() else label[:1].lower() + label[1:]
