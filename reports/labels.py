"""Words for the codes of the data: timepoints, flags, covariates and Cox terms."""

from __future__ import annotations

import re

COVARIATES = {
    "sex": "Sex",
    "tumor_category": "Tumour category",
    "resection_margin": "Resection margin",
    "zone_iv": "Zone IV involvement",
}
REFERENCES = {"sex": "male", "tumor_category": "primary", "resection_margin": "wide"}
INSTRUMENTS = {"vas": "VAS", "kps": "KPS", "msts93": "MSTS 93", "sij_contralateral_mm": "SIJ (mm)"}
ENDPOINTS = {"os": "Overall survival", "pfs": "Progression-free survival"}


def timepoint(name: str) -> str:
    """``pre`` → ``Pre-op``, ``3m`` → ``3 months``."""
    if name == "pre":
        return "Pre-op"
    match = re.fullmatch(r"(\d+)m", name)
    if match:
        n = int(match.group(1))
        return f"{n} month" if n == 1 else f"{n} months"
    return name


def instrument(name: str) -> str:
    """A short column heading: ``vas`` → ``VAS``, ``sij_contralateral_mm`` → ``SIJ (mm)``."""
    return INSTRUMENTS.get(name, name.upper())


def flag(name: str) -> str:
    """``heterotopic_ossification`` → ``Heterotopic ossification``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def covariate(name: str) -> str:
    return COVARIATES.get(name, flag(name))


def covariate_inline(name: str) -> str:
    """The covariate's name inside a sentence: ``tumour category``, ``zone IV involvement``."""
    text = covariate(name)
    return text[:1].lower() + text[1:]


def term(name: str) -> str:
    """``resection_margin=marginal`` → ``Resection margin: marginal vs wide``; ``zone_iv`` → ``… (yes vs no)``."""
    variable, _, level = name.partition("=")
    if not level:
        return f"{covariate(variable)} (yes vs no)"
    reference = REFERENCES.get(variable)
    return f"{covariate(variable)}: {level} vs {reference}" if reference else f"{covariate(variable)}: {level}"


def instrument_title(label: str) -> str:
    """The label without its scale: ``Pain, VAS (0-10)`` → ``Pain, VAS``."""
    return label.split("(", maxsplit=1)[0].strip().rstrip(",") or label
