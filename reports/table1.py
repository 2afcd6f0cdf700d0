"""Table 1 (patient characteristics), counted from cohort.csv: sex, age and the facts the study file's
``[analysis.table1]`` names, with their labels and level labels.

Categories are listed in the order of the study definition where it defines one, then alphabetically;
percentages are of all patients. A missing value is counted as "not recorded", never dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from config.study import Fact, StudyDefinition
from reports import formatting as fmt
from reports import labels

NOT_RECORDED = "not recorded"


def _count(n: int, total: int) -> str:
    return f"{n} ({fmt.percent(100 * n / total)})" if total else str(n)


def _categorical(title: str, values: pd.Series, order: Iterable[str] = (),
                 names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    text = values.fillna(NOT_RECORDED).astype(str)
    counts = text.value_counts()
    known = [c for c in order if c in counts.index]
    rest = sorted(c for c in counts.index if c not in known and c != NOT_RECORDED)
    levels = known + rest + ([NOT_RECORDED] if NOT_RECORDED in counts.index else [])
    rows: list[dict[str, Any]] = [{"label": title, "value": "", "level": 0}]
    rows += [{"label": (names or {}).get(level, level), "value": _count(int(counts[level]), len(values)), "level": 1}
             for level in levels]
    return rows


def _age(values: pd.Series) -> list[dict[str, Any]]:
    ages = pd.to_numeric(values, errors="coerce").dropna()
    sd = ages.std(ddof=1) if len(ages) > 1 else None
    return [
        {"label": "Age at surgery, years", "value": "", "level": 0},
        {"label": "mean ± SD", "value": fmt.mean_sd(ages.mean() if len(ages) else None, sd, 1), "level": 1},
        {"label": "range", "value": fmt.interval(ages.min(), ages.max(), 0) if len(ages) else fmt.MISSING, "level": 1},
    ]


def _details(fact: Fact, detail: pd.Series, group: Fact, groups: pd.Series) -> list[dict[str, Any]]:
    """A diagnosis detail with its group beside it (``osteosarcoma (primary)``), in the group's level order."""
    pairs = pd.DataFrame({"group": groups.fillna(NOT_RECORDED).astype(str),
                          "detail": detail.fillna(NOT_RECORDED).astype(str)})
    order = {level: i for i, level in enumerate(group.levels)}
    counts = pairs.value_counts()
    keys = sorted((key for key in counts.index if isinstance(key, tuple)),
                  key=lambda k: (order.get(str(k[0]), len(order)), str(k[0]) == NOT_RECORDED, str(k[0]), str(k[1])))
    rows: list[dict[str, Any]] = [{"label": fact.label, "value": "", "level": 0}]
    for grp, text in keys:
        shown = labels.inline(group.level_label(str(grp))) if grp != NOT_RECORDED else NOT_RECORDED
        rows.append({"label": f"{fact.level_label(str(text))} ({shown})", "value": _count(int(counts[(grp, text)]),
                                                                                           len(pairs)), "level": 1})
    return rows


def _flag(fact: Fact, values: pd.Series, nested: bool) -> dict[str, Any]:
    """A 0/1 rule fact as one row, ``n (%)``; under the fact it is derived from when it follows it."""
    flags = pd.to_numeric(values, errors="coerce")
    return {"label": fact.short_label if nested else fact.label, "value": _count(int((flags == 1).sum()), len(values)),
            "level": 1 if nested else 0}


def table1(cohort: pd.DataFrame, study: StudyDefinition) -> list[dict[str, Any]]:
    """Rows ``{label, value, level}``: level 0 is a heading row, level 1 a category under it. After sex and
    age, the facts of the plan's ``[analysis.table1]`` (every fact when it names none) in its order: a 0/1 flag
    as ``n (%)`` (nested under the fact it is a rule over when it follows that fact), any other fact by its
    levels in the study file's order, then alphabetically; a diagnosis detail with its diagnosis group."""
    names = [name for name in (study.analysis.table1_facts or tuple(study.facts)) if name in study.facts]
    frame = cohort.reindex(columns=[labels.SEX, "age_at_surgery", *study.facts])  # absent: "not recorded"
    group = next((f for f in study.facts.values() if f.source == "diagnosis_group" and f.name in cohort), None)
    rows: list[dict[str, Any]] = [{"label": "Patients", "value": str(len(cohort)), "level": 0}]
    rows += _categorical(labels.BUILTIN_LABELS[labels.SEX], frame[labels.SEX], ["male", "female"])
    rows += _age(frame["age_at_surgery"])
    previous = ""
    for name in names:
        fact = study.facts[name]
        if fact.is_flag:
            rows.append(_flag(fact, frame[name], nested=bool(previous) and fact.rule_fact == previous))
            continue  # a flag does not interrupt the fact it is nested under
        if fact.source == "diagnosis_detail" and group is not None:
            rows += _details(fact, frame[name], group, frame[group.name])
        else:
            rows += _categorical(fact.label, frame[name], fact.levels, fact.level_labels)
        previous = name
    return rows


def halves(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Table 1 in two columns side by side, split at the heading row nearest the middle (half a page, not one)."""
    starts = [i for i, row in enumerate(rows) if row["level"] == 0 and i > 0]
    if not starts:
        return [rows]
    cut = min(starts, key=lambda i: abs(2 * i - len(rows)))
    return [rows[:cut], rows[cut:]]
