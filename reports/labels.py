"""Words for the codes of the data: timepoints, instruments, facts and their levels, endpoints, Cox terms,
results.json paths and the analysis' warning texts.

Every word a study owns comes from its study file (:class:`Labels` reads a ``StudyDefinition``): instrument
labels and short labels, timepoint labels, fact labels, short labels and level labels, endpoint labels, the
Cox reference levels. The report never prints a column name (``<fact> = 0``), a results.json path or a
library's own warning: :meth:`Labels.clinical` rewrites a warning's message in clinical words and
:meth:`Labels.describe_path` names the figure a path points to. The module-level helpers make words of keys
the study file gives no label (complication flags, reoperations).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from config.study import Fact, StudyDefinition

SEX = "sex"
"""The one built-in cohort column that is also a subgroup, log-rank factor or Cox covariate."""
BUILTIN_LABELS = {SEX: "Sex"}

# Words for the parts of a results.json path that are not a study's own names.
PATH_WORDS = {
    "repeated_measures": "", "paired": "", "survival": "", "timepoints": "", "terms": "", "overall": "",
    "friedman": "Friedman test", "pairwise": "pairwise tests", "wilcoxon": "signed-rank test",
    "rank_sum": "rank-sum test", "between_groups": "between groups", "logrank": "log-rank test",
    "cox": "Cox model", "univariable": "univariable", "multivariable": "multivariable",
    "median_months": "median", "km": "Kaplan–Meier curve", "landmarks": "landmark estimates",
    "n_patients": "the cohort", "followup": "follow-up", "events": "complications and events",
    "responders": "responders", "implant": "implant outcome", "hodges_lehmann": "Hodges–Lehmann estimate",
    "mean_difference": "mean difference", "claims": "claims",
}
PATH_PREFIXES = {"implant.survival": "Implant survival"}
FLAG_VALUES = {"0", "1", "0.0", "1.0", "yes", "no", "true", "false"}
YES = {"1", "1.0", "yes", "true"}


def flag(name: str) -> str:
    """A key without a label in words: ``deep_infection`` → ``Deep infection``."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def abbreviation(name: str) -> str:
    """``deep_infection`` → ``DI``, ``dislocation`` → ``Dis`` (for a chart's small labels)."""
    words = [w for w in name.split("_") if w]
    if len(words) == 1:
        return words[0][:3].capitalize()
    return "".join(w[0] for w in words).upper()


def acronym(label: str) -> str:
    """``Overall survival`` → ``OS``, ``Progression-free survival`` → ``PFS``; a one-word label stays as it is."""
    words = [w for w in re.split(r"[\s\-]+", label.split("(", maxsplit=1)[0]) if w]
    return "".join(w[0] for w in words).upper() if len(words) > 1 else label


def instrument_title(label: str) -> str:
    """A label without its scale: ``Pain score (0-10)`` → ``Pain score``."""
    return label.split("(", maxsplit=1)[0].strip().rstrip(",") or label


def inline(text: str) -> str:
    """A label inside a sentence: lower-case its first letter, unless it starts an acronym (``TESS``)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


LOW_VARIANCE = re.compile(
    r"lifelines warns: Column (?P<term>\S+) ha(?:ve|s) very low variance when conditioned on death event present or "
    r"not\.[^']*(?:'complete separation'\.?)?"
)
LIBRARY = re.compile(r"(?:lifelines|scipy|numpy|statsmodels) warns: [^;]*")


def _plural(match: re.Match[str]) -> str:
    count, noun = match[1], match[2]
    return f"{count} {noun}" if count == "1" else f"{count} {noun}s"


class Labels:
    """The study file's words for its keys; without a study, every key reads as itself (or as :func:`flag`)."""

    def __init__(self, study: StudyDefinition | None = None) -> None:
        self.study = study
        self.facts: Mapping[str, Fact] = study.facts if study else {}
        self.timepoints = {name: w.label for name, w in study.timepoints.items()} if study else {}
        instruments = study.instruments if study else {}
        self.instruments = {name: i.short_label for name, i in instruments.items()}
        self.instrument_labels = {name: i.label for name, i in instruments.items()}
        self.endpoints = {name: e.label for name, e in study.endpoints.items()} if study else {}
        analysis = study.analysis if study else None
        self.paired = {p.name: p for p in analysis.paired} if analysis else {}
        self.repeated = tuple(r.instrument for r in analysis.repeated) if analysis else ()
        cox = analysis.survival.cox if analysis else ()
        self.references = {c.fact: c.reference for c in cox if c.reference is not None}

    # ------------------------------------------------------------------ instruments and timepoints

    def timepoint(self, name: str) -> str:
        """A timepoint's label (``Pre-op``, ``3 months``), else its key."""
        return self.timepoints.get(name, name)

    def instrument_key(self, name: str) -> str:
        """The instrument of a repeated-measures or paired result's name (a paired comparison has its own)."""
        spec = self.paired.get(name)
        return spec.instrument if spec is not None and name not in self.instruments else name

    def instrument(self, name: str) -> str:
        """An instrument's short label (a column heading), for its key or a paired comparison's name."""
        key = self.instrument_key(name)
        return self.instruments.get(key, key)

    def instrument_label(self, name: str) -> str:
        """An instrument's full label, with its scale."""
        key = self.instrument_key(name)
        return self.instrument_labels.get(key, self.instrument(key))

    def instrument_title(self, name: str) -> str:
        """An instrument's full label without its scale."""
        return instrument_title(self.instrument_label(name))

    def instrument_short(self, name: str) -> str:
        """An instrument's short label without its unit: ``Gap (mm)`` → ``Gap``."""
        return instrument_title(self.instrument(name))

    # ------------------------------------------------------------------ facts (covariates) and levels

    def known(self, name: str) -> bool:
        return name in self.facts or name == SEX

    def is_flag(self, name: str) -> bool:
        fact = self.facts.get(name)
        return fact is not None and fact.is_flag

    def fact(self, name: str) -> str:
        """A fact's (covariate's) clinical label; ``sex`` → ``Sex``."""
        found = self.facts.get(name)
        return found.label if found else BUILTIN_LABELS.get(name, flag(name))

    def fact_short(self, name: str) -> str:
        found = self.facts.get(name)
        return found.short_label if found else self.fact(name)

    def fact_inline(self, name: str) -> str:
        """The fact's label inside a sentence."""
        return inline(self.fact(name))

    def level_label(self, name: str, value: str) -> str:
        """A value's label (``level_labels`` of the study file), else the value."""
        found = self.facts.get(name)
        return found.level_label(value) if found else value

    def level(self, name: str, value: str) -> str:
        """A fact's level in words: a flag's ``0`` → ``no <label>``; ``sex``, ``female`` → ``sex female``;
        several levels ``a, b`` → ``<label> a or b``."""
        values = [v.strip() for v in value.split(",") if v.strip()]
        if values and all(v in FLAG_VALUES for v in values):
            yes = any(v in YES for v in values)
            no = any(v not in YES for v in values)
            return self.fact_inline(name) + (" present or absent" if yes and no else "") if yes \
                else f"no {self.fact_inline(name)}"
        return f"{self.fact_inline(name)} {' or '.join(inline(self.level_label(name, v)) for v in values)}"

    def term(self, name: str) -> str:
        """A Cox term: ``<fact>=<level>`` → ``<Label>: <level> vs <reference>``; a flag → ``<Label> (yes vs no)``."""
        variable, _, value = name.partition("=")
        if not value:
            return f"{self.fact(variable)} (yes vs no)"
        reference = self.references.get(variable)
        shown = self.level_label(variable, value)
        return f"{self.fact(variable)}: {shown} vs {self.level_label(variable, reference)}" if reference \
            else f"{self.fact(variable)}: {shown}"

    def group(self, by: str, key: str, *, short: bool = False) -> str:
        """A subgroup of a paired comparison (results.json ``paired.<name>.<key>``): a flag fact F has the
        groups ``F`` and ``no_F``; another fact its levels."""
        label = self.fact_short(by) if short else self.fact(by)
        if self.is_flag(by) or key in (by, f"no_{by}"):
            found = self.facts.get(by)
            named = found.level_labels.get("0" if key.startswith("no_") else "1") if found else None
            if named:
                return named
            return f"No {inline(label)}" if key.startswith("no_") else capital(label)
        return capital(self.level_label(by, key))

    def group_phrase(self, by: str, key: str) -> str:
        """A subgroup inside a sentence: ``with <label>`` / ``without <label>`` for a flag, else the level."""
        if self.is_flag(by) or key in (by, f"no_{by}"):
            return f"without {self.fact_inline(by)}" if key.startswith("no_") else f"with {self.fact_inline(by)}"
        named = self.level_label(by, key)
        return inline(named) if named != key else f"{self.fact_inline(by)} {key}"

    def subgroup(self, name: str, key: str) -> str:
        """The subgroup ``key`` of results.json ``paired.<name>`` in a sentence, whatever the plan says."""
        spec = self.paired.get(name)
        if spec is not None and spec.by:
            return self.group_phrase(spec.by, key)
        if key.startswith("no_") and self.known(key[3:]):
            return f"without {self.fact_inline(key[3:])}"
        return f"with {self.fact_inline(key)}" if self.known(key) else inline(flag(key))

    # ------------------------------------------------------------------ endpoints

    def endpoint(self, name: str) -> str:
        """An endpoint's label (``Overall survival``)."""
        return self.endpoints.get(name, flag(name))

    def endpoint_short(self, name: str) -> str:
        """An endpoint's abbreviation for narrow places: the initials of its label (``OS``)."""
        return acronym(self.endpoint(name))

    # ------------------------------------------------------------------ results.json paths and warnings

    def _path_part(self, part: str) -> str:
        if part in PATH_WORDS:
            return PATH_WORDS[part]
        if part in self.instruments or part in self.paired:
            return self.instrument(part)
        if part in self.endpoints:
            return self.endpoint(part)
        if self.known(part):
            return self.fact_inline(part)
        if part.startswith("no_") and self.known(part[3:]):
            return f"no {self.fact_inline(part[3:])}"
        if part in self.timepoints:
            return self.timepoint(part)
        for name, fact in self.facts.items():
            if part in fact.levels:
                return f"{self.fact_inline(name)} {inline(self.level_label(name, part))}"
        return inline(flag(part))

    def describe_path(self, path: str) -> str:
        """``paired.<name>.no_<flag>.wilcoxon`` → ``<short label>, no <flag label>, signed-rank test``: the
        figure a results.json path points to, in words; an empty string for a path that names no figure."""
        head = next((p for p in PATH_PREFIXES if path == p or path.startswith(p + ".")), "")
        rest = path[len(head):].lstrip(".") if head else path
        parts = [PATH_PREFIXES[head]] if head else []
        parts += [self._path_part(p.removesuffix("[]")) for p in rest.split(".") if p]
        words = [p for p in parts if p]
        if not words:
            return ""
        return ", ".join([capital(words[0]), *words[1:]])

    def keywords(self) -> dict[str, tuple[str, ...]]:
        """Words that tie a warning without a scope to a results.json subtree: the labels of the plan's
        instruments and endpoints."""
        found: dict[str, tuple[str, ...]] = {"events": ("complication", "Clopper"), "followup": ("follow-up",)}
        for name in self.repeated:
            found[f"repeated_measures.{name}"] = self._words(name)
        for name in self.paired:
            found[f"paired.{name}"] = self._words(name)
        for name in self.endpoints:
            found[f"survival.{name}"] = tuple(dict.fromkeys((self.endpoint_short(name), self.endpoint(name))))
        return found

    def _words(self, name: str) -> tuple[str, ...]:
        words = [self.instrument_short(name), self.instrument_title(name)]
        words += [w.strip() for w in self.instrument_title(name).split(",")]
        return tuple(dict.fromkeys(w for w in words if len(w) > 1))

    def _low_variance(self, match: re.Match[str]) -> str:
        variable, _, value = match["term"].partition("=")
        who = self.level(variable, value) if value else self.fact_inline(variable)
        return (f"almost every patient with {who} had the same outcome (near-complete separation), so the model "
                "cannot be fitted reliably")

    def clinical(self, message: str, columns: tuple[str, ...] = ()) -> str:
        """A warning of the analysis in clinical words: column names and levels become labels, a library's own
        warning text a plain statement of what it means (``columns``: further cohort columns to translate)."""
        text = LOW_VARIANCE.sub(self._low_variance, message)
        text = LIBRARY.sub("the fitting library reported a numerical problem, so the model cannot be fitted "
                           "reliably", text)

        def known(name: str) -> bool:
            return self.known(name) or name in columns

        def assignment(match: re.Match[str]) -> str:
            name, value = match["name"], match["value"]
            return self.level(name, value) if known(name) else match[0]

        text = re.sub(r"\b(?P<name>[a-z][a-z0-9_]*) = (?P<value>[\w\-]+(?:, [\w\-]+)*)", assignment, text)

        def term_text(match: re.Match[str]) -> str:
            name, value = match["name"], match["value"]
            return f"{self.fact_inline(name)} {inline(self.level_label(name, value))}" if known(name) else match[0]

        text = re.sub(r"\b(?P<name>[a-z][a-z0-9_]*)=(?P<value>[\w\-]+)", term_text, text)
        text = re.sub(r"\b(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b",
                      lambda m: self.fact_inline(m["name"]) if known(m["name"]) else m[0], text)
        text = re.sub(r"\balpha = ", "α = ", text)
        text = re.sub(r"\bp_floor\b", "p-value floor", text)
        return re.sub(r"\b(\d+(?:\.\d+)?) (event|term|patient|value)\(s\)", _plural, text)
