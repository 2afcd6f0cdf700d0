"""Words for the codes of the data: timepoints, flags, covariates, Cox terms, results.json paths and the
analysis' warning texts.

The report never prints a column name (``tumor_category = primary``, ``zone_iv = 0``), a results.json path
(``paired.sij_contralateral_mm.no_zone_iv``) or a library's own warning: :func:`clinical` rewrites a
warning's message in clinical words and :func:`describe_path` names the figure a path points to.
"""

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
SHORT_ENDPOINTS = {"os": "OS", "pfs": "PFS"}

# Words for the parts of a results.json path that are not a study's own names.
PATH_WORDS = {
    "repeated_measures": "", "paired": "", "survival": "", "timepoints": "", "terms": "",
    "friedman": "Friedman test", "pairwise": "pairwise tests", "wilcoxon": "signed-rank test",
    "rank_sum": "rank-sum test", "between_groups": "between groups", "logrank": "log-rank test",
    "cox": "Cox model", "univariable": "univariable", "multivariable": "multivariable",
    "median_months": "median", "km": "Kaplan–Meier curve", "landmarks": "landmark estimates",
    "n_patients": "the cohort", "followup": "follow-up", "events": "complications and events",
    "responders": "responders", "implant": "implant outcome", "hodges_lehmann": "Hodges–Lehmann estimate",
    "mean_difference": "mean difference", "claims": "claims",
}


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


def abbreviation(name: str) -> str:
    """``heterotopic_ossification`` → ``HO``, ``dislocation`` → ``Dis`` (for a chart's small labels)."""
    words = [w for w in name.split("_") if w]
    if len(words) == 1:
        return words[0][:3].capitalize()
    return "".join(w[0] for w in words).upper()


def covariate(name: str) -> str:
    return COVARIATES.get(name, flag(name))


def covariate_inline(name: str) -> str:
    """The covariate's name inside a sentence: ``tumour category``, ``zone IV involvement``."""
    text = covariate(name)
    return text[:1].lower() + text[1:]


def level(name: str, value: str) -> str:
    """A covariate's level in words: ``zone_iv``, ``0`` → ``no zone IV involvement``; ``sex``, ``female`` →
    ``sex female``; several levels ``marginal, wide`` → ``resection margin marginal or wide``."""
    values = [v.strip() for v in value.split(",") if v.strip()]
    if values and all(v in {"0", "1", "0.0", "1.0", "yes", "no", "true", "false"} for v in values):
        yes = any(v in {"1", "1.0", "yes", "true"} for v in values)
        no = any(v in {"0", "0.0", "no", "false"} for v in values)
        return covariate_inline(name) + (" present or absent" if yes and no else "") if yes \
            else f"no {covariate_inline(name)}"
    return f"{covariate_inline(name)} {' or '.join(values)}"


def term(name: str) -> str:
    """``resection_margin=marginal`` → ``Resection margin: marginal vs wide``; ``zone_iv`` → ``… (yes vs no)``."""
    variable, _, value = name.partition("=")
    if not value:
        return f"{covariate(variable)} (yes vs no)"
    reference = REFERENCES.get(variable)
    return f"{covariate(variable)}: {value} vs {reference}" if reference else f"{covariate(variable)}: {value}"


def instrument_title(label: str) -> str:
    """The label without its scale: ``Pain, VAS (0-10)`` → ``Pain, VAS``."""
    return label.split("(", maxsplit=1)[0].strip().rstrip(",") or label


def _known(name: str, extra: tuple[str, ...]) -> bool:
    return name in COVARIATES or name in extra


LOW_VARIANCE = re.compile(
    r"lifelines warns: Column (?P<term>\S+) ha(?:ve|s) very low variance when conditioned on death event present or "
    r"not\.[^']*(?:'complete separation'\.?)?"
)
LIBRARY = re.compile(r"(?:lifelines|scipy|numpy|statsmodels) warns: [^;]*")


def _low_variance(match: re.Match[str]) -> str:
    variable, _, value = match["term"].partition("=")
    who = level(variable, value) if value else covariate_inline(variable)
    return (f"almost every patient with {who} had the same outcome (near-complete separation), so the model "
            "cannot be fitted reliably")


def clinical(message: str, columns: tuple[str, ...] = ()) -> str:
    """A warning of the analysis in clinical words: column names and levels become labels, a library's own
    warning text a plain statement of what it means (``columns``: further cohort columns to translate)."""
    text = LOW_VARIANCE.sub(_low_variance, message)
    text = LIBRARY.sub("the fitting library reported a numerical problem, so the model cannot be fitted reliably",
                       text)

    def assignment(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        return level(name, value) if _known(name, columns) else match[0]

    text = re.sub(r"\b(?P<name>[a-z][a-z0-9_]*) = (?P<value>[\w\-]+(?:, [\w\-]+)*)", assignment, text)

    def term_text(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        return f"{covariate_inline(name)} {value}" if _known(name, columns) else match[0]

    text = re.sub(r"\b(?P<name>[a-z][a-z0-9_]*)=(?P<value>[\w\-]+)", term_text, text)
    text = re.sub(r"\b(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b",
                  lambda m: covariate_inline(m["name"]) if _known(m["name"], columns) else m[0], text)
    text = re.sub(r"\balpha = ", "α = ", text)
    text = re.sub(r"\bp_floor\b", "p-value floor", text)
    return re.sub(r"\b(\d+(?:\.\d+)?) (event|term|patient|value)\(s\)", _plural, text)


def _plural(match: re.Match[str]) -> str:
    count, noun = match[1], match[2]
    return f"{count} {noun}" if count == "1" else f"{count} {noun}s"


def _inline(word: str) -> str:
    """Lower-case a word's first letter inside a sentence, unless it starts an acronym (``VAS``, ``MSTS 93``)."""
    return word[:1].lower() + word[1:] if word[1:2].islower() else word


def _path_part(part: str, instruments: dict[str, str]) -> str:
    if part in PATH_WORDS:
        return PATH_WORDS[part]
    if part in instruments:
        return instruments[part]
    if part in ENDPOINTS:
        return ENDPOINTS[part]
    if part in COVARIATES:
        return covariate_inline(part)
    if part.startswith("no_") and part[3:] in COVARIATES:
        return f"no {covariate_inline(part[3:])}"
    if re.fullmatch(r"\d+m|pre", part):
        return timepoint(part)
    return _inline(flag(part))


PATH_PREFIXES = {"implant.survival": "Implant survival"}


def describe_path(path: str, instruments: dict[str, str] | None = None) -> str:
    """``paired.sij_contralateral_mm.no_zone_iv.wilcoxon`` → ``SIJ (mm), no zone IV involvement, signed-rank
    test``: the figure a results.json path points to, in words (``instruments``: names → short labels); an
    empty string for a path that names no figure (``repeated_measures``)."""
    names = {**INSTRUMENTS, **(instruments or {})}
    head = next((p for p in PATH_PREFIXES if path == p or path.startswith(p + ".")), "")
    rest = path[len(head):].lstrip(".") if head else path
    parts = [PATH_PREFIXES[head]] if head else []
    parts += [_path_part(p.removesuffix("[]"), names) for p in rest.split(".") if p]
    words = [p for p in parts if p]
    if not words:
        return ""
    first = words[0]
    return ", ".join([first[:1].upper() + first[1:], *words[1:]])
