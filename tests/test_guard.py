"""The guard (issue 13): no study-specific name of either bundled study in the code.

Everything study-specific lives in the study files (config/study.toml, config/study-proximal-femur.toml) and
their demo generators (extractor/demo/, extractor/demo_femur/). The names are derived from both study files,
so a third bundled study is guarded by adding its file to STUDY_FILES:

* names: the keys of [facts], [instruments], [complications], [events], [reoperations], [endpoints] and the
  names of [[analysis.paired]]. Found in identifiers and string literals as a word, where ``_`` also separates
  words (``n_zone_iv``, ``"paired.msts93.p"``), and, for keys of two or more words, spelt with spaces in
  string literals and templates (``"Zone IV"``, ``"deep infection"``), case-insensitively.
* values (longer than 3 characters): what the facts take: the [index_procedure] variants, [facts.*] values,
  levels and rule values, the [diagnosis] group names and their histology / primary site keys, and the
  timepoint keys. Found as a whole string literal (``"wide"``, ``"screw-connected"``, ``"6m"``), not inside
  prose ("standard deviation") nor as an identifier (a variable ``wide``).
* labels: the study's title and short title, the labels and short labels of instruments, facts, their
  levels and the endpoints, when they have several words or are an abbreviation ("MSTS 93", "HHS"). Found
  in string literals and template text as words, case-insensitively.

Searched: the Python files and templates under config/ extractor/ mapping/ analysis/ reports/ service/
templates/, except the demo generators. Docstrings and comments are prose and not searched; Jinja and HTML
comments neither. GENERIC are the built-ins the code may name (docs/study-file.md): they are left out; so are
the retired study-file fields (RETIRED) the loader names to point at their replacements.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDY_FILES = (ROOT / "config" / "study.toml", ROOT / "config" / "study-proximal-femur.toml")
SEARCHED = ("config", "extractor", "mapping", "analysis", "reports", "service", "templates")
EXCLUDED = ("extractor/demo", "extractor/demo_femur")
TEMPLATE_SUFFIXES = (".html",)

GENERIC = frozenset({
    # the cohort's built-in columns and the death event (spec: the code may name them)
    "study_id", "sex", "age_at_surgery", "surgery_date", "followup_months", "death", "last_contact",
    # the default endpoint keys, read from the file as data
    "os", "pfs",
    # the baseline timepoint every study has
    "pre",
    # a table of the study file ([diagnosis.GROUP]), and the pelvic fact named after it
    "diagnosis",
    # the reoperation of implant studies, in both bundled files; the implant report speaks of it in prose
    "revision",
})
"""Generic built-ins: never study-specific, whichever study file names them."""
GENERIC_LABELS = frozenset({"overall survival", "progression-free survival"})
LOADER = "config/study.py"
RETIRED = frozenset({"msts_timepoints", "sij_timepoints", "repeated_instruments", "repeated_timepoints",
                     "enneking_zones", "resection_margin"})
"""Fields and tables the study file had before issue 13: the loader (LOADER only) may name them, as whole string
literals, to say where they went."""
MIN_VALUE_LENGTH = 4


@dataclass(frozen=True)
class Terms:
    names: frozenset[str]
    values: frozenset[str]
    labels: frozenset[str]


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    term: str
    kind: str  # name, value, label
    where: str  # identifier, string, template
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind} {self.term!r} in {self.where}: {self.text}"


# ------------------------------------------------------------------------------------------ the terms


def _keys(table: Any) -> list[str]:
    return [str(k) for k in table] if isinstance(table, dict) else []


def _is_label(text: str) -> bool:
    """Several words, or an abbreviation (no lower-case letter): specific enough to search in prose."""
    return " " in text.strip() or (any(c.isalpha() for c in text) and not any(c.islower() for c in text))


def study_terms(raw: dict[str, Any]) -> Terms:
    names: set[str] = set()
    values: set[str] = set()
    labels: set[str] = set()
    for table in ("facts", "instruments", "complications", "events", "reoperations", "endpoints"):
        names.update(_keys(raw.get(table)))
    analysis = raw.get("analysis", {})
    names.update(str(p.get("name") or p.get("instrument")) for p in analysis.get("paired", []))

    values.update(_keys(raw.get("index_procedure")))
    values.update(_keys(raw.get("timepoints")))
    for fact in raw.get("facts", {}).values():
        values.update(_keys(fact.get("values")))
        values.update(str(v) for v in fact.get("levels", []))
        values.update(_keys(fact.get("level_labels")))
        values.update(str(fact[op]) for op in ("equals", "contains") if op in fact)
        values.update(str(v) for v in fact.get("in", []))
        labels.update(str(fact[k]) for k in ("label", "short_label") if k in fact)
        labels.update(str(v) for v in fact.get("level_labels", {}).values())
    for group, spec in raw.get("diagnosis", {}).items():
        values.add(group)
        values.update(_keys(spec.get("histology")))
        values.update(_keys(spec.get("primary_site")))
    # the pre-issue-13 tables, while a study file still has them
    values.update(_keys(raw.get("enneking_zones")))
    values.update(_keys(raw.get("resection_margin", {}).get("values")))

    for spec in raw.get("instruments", {}).values():
        labels.update(str(spec[k]) for k in ("label", "short_label") if k in spec)
    for spec in raw.get("endpoints", {}).values():
        labels.update(str(spec[k]) for k in ("label",) if k in spec)
    study = raw.get("study", {})
    labels.update(str(study[k]) for k in ("title", "short_title") if k in study)

    names -= GENERIC
    values = {v for v in values if len(v) >= MIN_VALUE_LENGTH and v not in GENERIC} | {
        v for v in values if re.fullmatch(r"\d+m", v)  # timepoint keys: 1m, 3m, 12m, ...
    }
    spaced = {n.replace("_", " ") for n in names if "_" in n}
    labels = {lab for lab in labels | spaced if _is_label(lab) and lab.lower() not in GENERIC_LABELS}
    return Terms(frozenset(names), frozenset(values), frozenset(labels))


@cache
def terms() -> Terms:
    found = [study_terms(tomllib.loads(path.read_text(encoding="utf-8"))) for path in STUDY_FILES]
    return Terms(
        frozenset().union(*(t.names for t in found)),
        frozenset().union(*(t.values for t in found)),
        frozenset().union(*(t.labels for t in found)),
    )


def _word(term: str) -> re.Pattern[str]:
    """The term as a word: not inside a longer run of letters and digits (``_`` separates words)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(term)}(?![A-Za-z0-9])", re.IGNORECASE)


@cache
def patterns() -> tuple[list[tuple[str, re.Pattern[str]]], list[tuple[str, re.Pattern[str]]], dict[str, str]]:
    t = terms()
    names = [(n, _word(n)) for n in sorted(t.names)]
    labels = [(lab, _word(lab)) for lab in sorted(t.labels)]
    values: dict[str, str] = {}
    for v in sorted(t.values):
        for variant in (v, v.replace("-", "_"), v.replace("-", " ")):
            values.setdefault(variant.lower(), v)
    return names, labels, values


# ------------------------------------------------------------------------------------------ the search


def searched_files() -> list[Path]:
    files: list[Path] = []
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel == e or rel.startswith(e + "/") for e in EXCLUDED) or "__pycache__" in rel:
                continue
            if path.suffix == ".py" or (top == "templates" and path.suffix in TEMPLATE_SUFFIXES):
                files.append(path)
    return files


def _docstring_ids(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are statements on their own: docstrings and string 'comments'."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.add(id(node.value))
    return out


def python_tokens(source: str) -> Iterator[tuple[int, str, str]]:
    """(line, "identifier" | "string", text) for every identifier and non-docstring string literal."""
    tree = ast.parse(source)
    prose = _docstring_ids(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            yield line, "string", node.value
        elif isinstance(node, ast.Name):
            yield line, "identifier", node.id
        elif isinstance(node, ast.Attribute):
            yield node.end_lineno or line, "identifier", node.attr
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, "identifier", node.name
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            yield line, "identifier", str(node.arg)
        elif isinstance(node, ast.alias):
            yield line, "identifier", node.asname or node.name


def _comment_free(text: str) -> str:
    """Jinja and HTML comments blanked out, line breaks kept."""
    def blank(match: re.Match[str]) -> str:
        return "\n" * match.group(0).count("\n")

    return re.sub(r"\{#.*?#\}|<!--.*?-->", blank, text, flags=re.DOTALL)


def template_tokens(text: str) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(_comment_free(text).splitlines(), start=1):
        yield number, "template", line


QUOTED = re.compile(r"""(["'])(.*?)\1""")


def hits_in(kind: str, text: str) -> Iterator[tuple[str, str]]:
    """(term, term kind) found in one identifier, string literal or template line."""
    names, labels, values = patterns()
    for term, pattern in names:
        if pattern.search(text):
            yield term, "name"
    if kind in ("string", "template"):
        for term, pattern in labels:
            if pattern.search(text):
                yield term, "label"
    candidates = {"identifier": [], "string": [text], "template": [m.group(2) for m in QUOTED.finditer(text)]}[kind]
    for candidate in candidates:
        value = values.get(candidate.strip().lower())
        if value is not None:
            yield value, "value"


def find_hits() -> list[Hit]:
    hits: list[Hit] = []
    for path in searched_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        tokens = python_tokens(text) if path.suffix == ".py" else template_tokens(text)
        seen: set[tuple[int, str]] = set()
        for line, where, token in tokens:
            if rel == LOADER and where == "string" and token.strip() in RETIRED:
                continue
            for term, kind in hits_in(where, token):
                if (line, term.lower()) in seen:
                    continue
                seen.add((line, term.lower()))
                hits.append(Hit(rel, line, term, kind, where, token.strip()[:100]))
    return sorted(hits, key=lambda h: (h.path, h.line, h.term))


# ------------------------------------------------------------------------------------------ the tests


def test_no_study_specific_name_outside_the_study_files_and_their_demos():
    hits = find_hits()
    listing = "\n".join(str(hit) for hit in hits)
    assert not hits, f"{len(hits)} study-specific name(s) in code (move them to the study file):\n{listing}"


def test_the_terms_come_from_both_study_files():
    t = terms()
    for name in ("msts93", "zone_iv", "tumor_category", "resection_margin", "vas", "kps", "tess", "msts",
                 "harris_hip", "fixation", "long_resection", "local_recurrence"):
        assert name in t.names, name
    for value in ("wide", "screw-connected", "osteosarcoma", "cemented", "uncemented", "sarcoma", "6m", "24m"):
        assert value in t.values, value
    for label in ("zone iv", "MSTS 93", "HHS", "TESS"):
        assert label.lower() in {lab.lower() for lab in t.labels}, label
    assert not (t.names | t.values) & GENERIC


def test_the_search_finds_what_it_should_and_not_prose(tmp_path):
    source = '''
"""A docstring naming zone_iv and MSTS 93 is prose."""
def f(study):
    # a comment naming msts93 is prose
    n_zone_iv = 1
    label = "Zone IV involved"
    key = f"paired.{study}.msts93.p"
    margin = "wide"
    text = "standard deviations of a wide table"
    return study.harris_hip
'''
    found = {(line, term.lower()) for line, where, token in python_tokens(source) for term, _ in hits_in(where, token)}
    assert found == {(5, "zone_iv"), (6, "zone iv"), (6, "zone iv involved"), (7, "msts93"), (8, "wide"),
                     (10, "harris_hip")}
    template = '{# zone_iv in a comment #}\n<h2>MSTS 93</h2>\n{% if margin == "wide" %}standard{% endif %}\n'
    found = {(line, term) for line, where, token in template_tokens(template) for term, _ in hits_in(where, token)}
    assert found == {(2, "MSTS 93"), (2, "msts"), (3, "wide")}
