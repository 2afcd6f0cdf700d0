"""The result tables of the report body, as rows of display strings (the templates only lay them out).

Effect sizes stand next to every p: the Hodges–Lehmann median difference and the mean difference, each with
its 95% CI (results.json ``hodges_lehmann`` / ``mean_difference``); responders reaching an instrument's
minimal clinically important difference with an exact CI; the implant's failures by Henderson type. A figure
an older results.json lacks prints as "not available", never as a blank that reads like zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import pandas as pd

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import as_float
from reports.inputs import dig

NOT_ESTIMABLE = "not estimable"
NOT_AVAILABLE = "not available"


def describe_test(name: str, value: Any, df: Any, p: Any, n: Any = None) -> str:
    """``χ² = 17.78, df = 3, p < 0.001, n = 7``; a missing statistic says so."""
    if as_float(value) is None:
        return NOT_ESTIMABLE
    text = f"{name} = {fmt.statistic(value)}, df = {fmt.df(df)}, {fmt.p_equation(p)}"
    return text + (f", n = {fmt.integer(n)}" if as_float(n) is not None else "")


def instrument_digits(measures: pd.DataFrame, study: StudyDefinition) -> dict[str, int]:
    """The decimals each instrument is shown with: the study file's ``decimals``, else those it is recorded
    with in measures.csv (a 0-100 score in steps of 10: 0, a 0-10 scale in half points: 1). The report prints
    medians and quartiles with these, means, SDs and differences with one more. Paired comparisons' names
    get their instrument's."""
    digits = {name: 1 for name in study.instruments}
    if {"instrument", "value"} <= set(measures.columns):
        for name, values in measures.groupby("instrument")["value"]:
            digits[str(name)] = fmt.decimals_of(values)
    digits.update({name: i.decimals for name, i in study.instruments.items() if i.decimals is not None})
    digits.update({p.name: digits.get(p.instrument, 1) for p in study.analysis.paired})
    return digits


def effect(node: dict[str, Any], key: str, digits: int) -> str:
    """``−4.5 (−6.0 to −3.0)`` from ``{estimate, ci_lower, ci_upper}``; the older flat ``mean_difference``
    with ``ci_lower``/``ci_upper`` beside it is read too; "not available" where results.json has neither."""
    value = node.get(key)
    if isinstance(value, dict):
        if as_float(value.get("estimate")) is None:
            return NOT_ESTIMABLE
        level = as_float(value.get("conf_level"))
        ci = fmt.ci(value.get("ci_lower"), value.get("ci_upper"), digits)
        if ci == fmt.MISSING:
            return fmt.number(value.get("estimate"), digits)
        shown = f"{fmt.exact(100 * level, 0, 1)}% CI " if level is not None and level < 0.9495 else ""
        return f"{fmt.number(value.get('estimate'), digits)} ({shown}{ci})"
    if key == "mean_difference" and as_float(value) is not None:
        return fmt.estimate_ci(value, node.get("ci_lower"), node.get("ci_upper"), digits)
    return NOT_AVAILABLE


def _timepoint_cells(node: dict[str, Any], tp: str, digits: int) -> dict[str, str]:
    s = dig(node, f"timepoints.{tp}") or {}
    return {
        "n": fmt.integer(s.get("n")),
        "median_iqr": fmt.median_iqr(s.get("median"), s.get("q1"), s.get("q3"), digits),
        "mean_sd": fmt.mean_sd(s.get("mean"), s.get("sd"), digits + 1),
    }


def _pairs(node: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(p.get("a")), str(p.get("b"))): p for p in node.get("pairwise") or [] if isinstance(p, dict)}


def _pairwise_rows(node: dict[str, Any], digits: int, words: labels.Labels) -> list[dict[str, str]]:
    return [
        {
            "pair": f"{words.timepoint(a)} vs {words.timepoint(b)}",
            "statistic": fmt.rank_statistic(p.get("statistic")),
            "p": fmt.pvalue(p.get("p")),
            "p_adjusted": fmt.pvalue(p.get("p_adjusted")),
            "hodges_lehmann": effect(p, "hodges_lehmann", digits + 1),
            "mean_difference": effect(p, "mean_difference", digits + 1),
        }
        for (a, b), p in _pairs(node).items()
    ]


def repeated_groups(study: StudyDefinition) -> list[tuple[tuple[str, ...], list[str]]]:
    """The plan's repeated instruments grouped by their timepoints, in plan order: instruments measured at the
    same timepoints share a table (and a row per timepoint)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for spec in study.analysis.repeated:
        groups.setdefault(tuple(spec.timepoints), []).append(spec.instrument)
    return list(groups.items())


def section_title(words: labels.Labels, names: Iterable[str], what: str) -> str:
    """``A and B over time``: a section's title from the short labels of its instruments."""
    shown = list(dict.fromkeys(words.instrument_short(n) for n in names))
    if not shown:
        return ""
    joined = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else "".join(shown)
    return f"{joined} {what}".strip()


def repeated(results: dict[str, Any], study: StudyDefinition, caveats: Caveats,
             digits: dict[str, int] | None = None) -> dict[str, Any]:
    """The plan's repeated instruments side by side (one table per set of timepoints): a row per timepoint,
    the Friedman tests, and per instrument a row per pair of timepoints with its signed-rank test and effect
    sizes. ``tables`` is empty when the plan has no repeated-measures analysis."""
    digits = digits or {}
    words = labels.Labels(study)
    names = [spec.instrument for spec in study.analysis.repeated]
    tables = []
    for timepoints, group in repeated_groups(study):
        nodes = [dig(results, f"repeated_measures.{name}") or {} for name in group]
        tables.append({
            "instruments": [words.instrument_title(n) for n in group],
            "labels": [words.instrument_label(n) for n in group],
            "rows": [
                {"timepoint": words.timepoint(tp),
                 "cells": [_timepoint_cells(node, tp, digits.get(name, 1)) for name, node in zip(group, nodes,
                                                                                                 strict=True)]}
                for tp in timepoints
            ],
        })
    friedman = []
    methods = []
    pairwise: list[dict[str, Any]] = []
    for name in names:
        title = words.instrument_title(name)
        node = dig(results, f"repeated_measures.{name}") or {}
        fr = node.get("friedman") or {}
        friedman.append({"instrument": title, "text": describe_test(
            "χ²", fr.get("statistic"), fr.get("df"), fr.get("p"), fr.get("n"))})
        used = sorted({str(p.get("method")) for p in _pairs(node).values() if p.get("method")})
        if used:
            methods.append({"instrument": title, "text": "; ".join(used)})
        found = _pairwise_rows(node, digits.get(name, 1), words)
        if found:
            pairwise.append({"instrument": title, "rows": found})
    every: list[dict[str, str]] = [row for block in pairwise for row in block["rows"]]
    return {
        "title": section_title(words, names, "over time"),
        "tables": tables,
        "friedman": friedman,
        "pairwise": pairwise,
        "effects": any(r["hodges_lehmann"] != NOT_AVAILABLE or r["mean_difference"] != NOT_AVAILABLE for r in every),
        "methods": methods,
        "caveats": caveats.about(*(f"repeated_measures.{name}" for name in names)) if names else [],
    }


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit and text not in (fmt.MISSING, NOT_AVAILABLE, NOT_ESTIMABLE) else text


def _rank_test(node: Any, symbol: str) -> str:
    """``V = 28, p = 0.022 (normal approximation …)`` for a rank test in results.json, or an empty string."""
    if not isinstance(node, dict) or as_float(node.get("p")) is None:
        return ""
    method = f" ({node['method']})" if node.get("method") else ""
    return f"{symbol} = {fmt.rank_statistic(node.get('statistic'))}, {fmt.p_equation(node.get('p'))}{method}"


def _paired_row(label: str, node: dict[str, Any], digits: int) -> dict[str, str]:
    """A row of a paired table; the unit is in the table's header, not in every cell."""
    found = node.get("wilcoxon")
    wilcoxon: dict[str, Any] = found if isinstance(found, dict) else {}
    return {
        "label": label,
        "n": fmt.integer(node.get("n")),
        "before": fmt.mean_sd(node.get("mean_pre"), node.get("sd_pre"), digits + 1),
        "after": fmt.mean_sd(node.get("mean_post"), node.get("sd_post"), digits + 1),
        "difference": effect(node, "mean_difference", digits + 1),
        "hodges_lehmann": effect(node, "hodges_lehmann", digits + 1),
        "test": describe_test("t", node.get("t"), node.get("df"), node.get("p")),
        "p": fmt.pvalue(node.get("p")),
        "p_rank": fmt.pvalue(wilcoxon.get("p")),
    }


def between_groups(node: Any, groups: list[str]) -> dict[str, Any]:
    """results.json ``paired.<name>.between_groups`` as ``{groups, n, mean_change, sd_change}`` dicts by group
    (schema 3.0); the flat ``n_<group>``, ``mean_change_<group>``, ``sd_change_<group>`` of schema 2.0 read too."""
    if not isinstance(node, dict):
        return {}
    if isinstance(node.get("groups"), list):
        return node
    return {**node, "groups": groups, **{key: {g: node.get(f"{key}_{g}") for g in groups}
                                         for key in ("n", "mean_change", "sd_change")}}


def _between(node: Any, unit: str, digits: int, phrase: Callable[[str], str]) -> str:
    """The between-group comparison of the change: Welch t and the rank-sum test, when results.json has it."""
    if not isinstance(node, dict) or len(node.get("groups") or []) != 2:
        return ""
    first, second = (str(g) for g in node["groups"])

    def change(group: str) -> str:
        mean, sd = (node.get(key) or {} for key in ("mean_change", "sd_change"))
        return _with_unit(fmt.mean_sd(mean.get(group), sd.get(group), digits), unit)

    second_words = phrase(second)
    if phrase(first).startswith("with ") and second_words.startswith("without "):
        second_words = "without"  # "with <the flag> vs … without"
    text = f"mean change {change(first)} {phrase(first)} vs {change(second)} {second_words}"
    welch = describe_test("Welch t", node.get("t"), node.get("df"), node.get("p"))
    rank = _rank_test(node.get("rank_sum"), "rank-sum W")
    effects = [f"{word} {found}" for word, found in (
        ("difference in mean change", effect(node, "mean_difference", digits)),
        ("Hodges–Lehmann difference", effect(node, "hodges_lehmann", digits)),
    ) if found not in (NOT_AVAILABLE, NOT_ESTIMABLE)]
    return "; ".join([text, welch, *([rank] if rank else []), *effects])


def planned(results: dict[str, Any], key: str, names: Iterable[str]) -> list[tuple[str, Any]]:
    """The plan's entries of results.json ``key`` (``paired``, ``survival``), in plan order: a result the plan
    does not name has no place in the report, a planned one missing from results.json is left out."""
    found = results.get(key)
    found = found if isinstance(found, dict) else {}
    return [(name, found[name]) for name in dict.fromkeys(names) if name in found]


def endpoints(study: StudyDefinition, results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The plan's survival endpoints in results.json (every endpoint of the study file when the plan names none,
    every one of results.json when the study file has none)."""
    names = study.analysis.survival.endpoints or tuple(study.endpoints) or tuple(results.get("survival") or {})
    return [(name, node) for name, node in planned(results, "survival", names) if isinstance(node, dict)]


def paired_results(study: StudyDefinition, results: dict[str, Any]) -> list[tuple[str, Any]]:
    """The plan's paired comparisons in results.json, in plan order."""
    return planned(results, "paired", (p.name for p in study.analysis.paired))


def is_comparison(node: Any) -> bool:
    return isinstance(node, dict) and "mean_pre" in node


def comparisons(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """(group, comparison) of a results.json ``paired.<name>``: ``("", node)`` for one without subgroups; else
    ``overall`` (when there) first, then the subgroups in results.json order."""
    if not isinstance(node, dict):
        return []
    if is_comparison(node):
        return [("", node)]
    found = [(key, sub) for key, sub in node.items() if key != "between_groups" and is_comparison(sub)]
    return sorted(found, key=lambda item: item[0] != "overall")


def paired(results: dict[str, Any], study: StudyDefinition, caveats: Caveats,
           digits: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """One block per comparison of results.json ``paired``: its two timepoints overall, and one row per
    subgroup of its ``by`` fact with the between-group comparison of the change."""
    digits = digits or {}
    words = labels.Labels(study)
    specs = {p.name: p for p in study.analysis.paired}
    blocks = []
    for name, node in paired_results(study, results):
        found = comparisons(node)
        if not found:
            continue
        spec = specs.get(name)
        instrument = study.instruments.get(words.instrument_key(name))
        unit = instrument.unit if instrument else ""
        d = digits.get(name, 1)
        by = spec.by if spec and spec.by else ""
        rows = [_paired_row(_group_label(words, name, key, by), sub, d) for key, sub in found]
        groups = [key for key, _ in found if key not in ("", "overall")]
        between = _between(between_groups(node.get("between_groups"), groups), unit, d + 1,
                           partial(words.subgroup, name))
        first = found[0][1]
        single = found[0][0] == ""
        before = str(first.get("before") or (spec.before if spec else ""))
        after = str(first.get("after") or (spec.after if spec else ""))
        blocks.append({
            "name": name,
            "title": words.instrument_label(name),
            "subtitle": f"by {words.fact_inline(by)}" if by else "",
            "unit": unit,
            "times": (words.timepoint(before), words.timepoint(after)),
            "rows": rows,
            "hodges_lehmann": any(r["hodges_lehmann"] != NOT_AVAILABLE for r in rows),
            "wilcoxon": _rank_test(first.get("wilcoxon"), "V") if single else "",
            "between": between,
            "caveats": caveats.about(f"paired.{name}"),
        })
    return blocks


def _group_label(words: labels.Labels, name: str, key: str, by: str) -> str:
    if key in ("", "overall"):
        return "All patients"
    if by:
        return words.group(by, key)
    phrase = words.subgroup(name, key)
    return phrase[:1].upper() + phrase[1:]


# --------------------------------------------------------------------------- responders


def _entries(raw: Any, key_name: str) -> Iterable[tuple[str, dict[str, Any]]]:
    """(name, record) pairs from ``{name: record | [records]}`` or ``[{key_name: name, …}]``."""
    if isinstance(raw, dict):
        for name, value in raw.items():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    yield str(name), item
    elif isinstance(raw, list):
        for item in raw:
            if isinstance(item, dict):
                yield str(item.get(key_name) or item.get("name") or ""), item


def _share(item: dict[str, Any]) -> tuple[str, str]:
    """(``k/n``, ``percent (exact CI)``) of a count record: ``count``/``responders``, ``n``, ``percent``, CI."""
    count = item.get("count", item.get("responders", item.get("k")))
    n = item.get("n")
    percent = as_float(item.get("percent"))
    c, total = as_float(count), as_float(n)
    if percent is None and c is not None and total:
        percent = 100 * c / total
    low, high = fmt.ci_percent(percent, item.get("ci_lower"), item.get("ci_upper"), n)
    return f"{fmt.integer(count)}/{fmt.integer(n)}", fmt.percent_ci(percent, low, high)


def _comparison(item: dict[str, Any], words: labels.Labels) -> str:
    pairs = (("a", "b"), ("before", "after"), ("from", "to"))
    for first, second in pairs:
        if item.get(first) and item.get(second):
            return f"{words.timepoint(str(item[first]))} to {words.timepoint(str(item[second]))}"
    return words.timepoint(str(item["timepoint"])) if item.get("timepoint") else ""


def responders(results: dict[str, Any], study: StudyDefinition) -> list[dict[str, str]]:
    """Patients reaching the minimal clinically important difference, per instrument and timepoint
    (results.json ``responders.<instrument> {mcid, better, baseline, timepoints[]}``)."""
    words = labels.Labels(study)
    rows = []
    for name, item in _entries(results.get("responders"), "instrument"):
        instrument = study.instruments.get(name)
        nested = item.get("timepoints") or item.get("comparisons")
        records = list(_entries(nested, "timepoint")) if isinstance(nested, list | dict) else [("", item)]
        baseline = str(item.get("baseline") or "")
        better = str(item.get("better") or item.get("direction") or "")
        for _key, record in records:
            count, share = _share(record)
            mcid = as_float(record.get("mcid", item.get("mcid")))
            unit = instrument.unit if instrument else ""
            later = str(record.get("timepoint") or "")
            comparison = (f"{words.timepoint(baseline)} to {words.timepoint(later)}" if baseline and later
                          else _comparison(record, words))
            sign = "−" if better == "lower" else "+" if better == "higher" else ""
            rows.append({
                "instrument": words.instrument_title(name),
                "mcid": _with_unit(f"{sign}{fmt.exact(mcid, 0, 2)}", unit) if mcid is not None else fmt.MISSING,
                "direction": f"{better} is better" if better in ("lower", "higher") else better,
                "comparison": comparison,
                "count": count,
                "share": share,
            })
    return rows


# --------------------------------------------------------------------------- events and implant


def _timing(item: dict[str, Any]) -> str:
    """Days from surgery to onset: ``median 45 (12–120)`` from a record ``{median, min, max}`` (or its quartiles)
    or a list of days; "not available" where results.json has no timing."""
    for key in ("days_from_surgery", "timing", "onset_days", "days"):
        value = item.get(key)
        if isinstance(value, list):
            days = sorted(x for x in (as_float(v) for v in value) if x is not None)
            if not days:
                return fmt.MISSING
            middle = len(days) // 2
            median = as_float(item.get("median_days_from_surgery"))
            if median is None:
                median = days[middle] if len(days) % 2 else (days[middle - 1] + days[middle]) / 2
            value = {"median": median, "min": days[0], "max": days[-1]}
        if isinstance(value, dict):
            median = as_float(value.get("median"))
            if median is None:
                return fmt.MISSING
            low = value.get("min", value.get("q1"))
            high = value.get("max", value.get("q3"))
            spread = fmt.interval(low, high, 0)
            return fmt.exact(median, 0) if spread == fmt.MISSING or as_float(low) == as_float(high) \
                else f"{fmt.exact(median, 0)} ({spread})"
    median = as_float(item.get("median_days"))
    if median is not None:
        return f"{fmt.exact(median, 0)} ({fmt.interval(item.get('min_days'), item.get('max_days'), 0)})"
    return NOT_AVAILABLE


def events(results: dict[str, Any], study: StudyDefinition, caveats: Caveats) -> list[dict[str, str]]:
    """Complications, then events, each with count/n, percent, the exact 95% CI and the days from surgery."""
    rows = []
    for item in results.get("events") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name", ""))
        count = as_float(item.get("count"))
        rows.append({
            "name": labels.flag(name),
            "kind": "complication" if name in study.complications else "event",
            "count": f"{fmt.integer(item.get('count'))}/{fmt.integer(item.get('n'))}",
            "percent": fmt.percent(item.get("percent")),
            "ci": fmt.ci(
                *fmt.ci_percent(item.get("percent"), item.get("ci_lower"), item.get("ci_upper"), item.get("n")), 1
            ),
            "timing": _timing(item) if count else "",
        })
    rows.sort(key=lambda r: r["kind"] != "complication")
    return rows


HENDERSON = {
    1: "Type 1, soft-tissue failure",
    2: "Type 2, aseptic loosening",
    3: "Type 3, structural failure",
    4: "Type 4, infection",
    5: "Type 5, tumour progression",
}


def _henderson_type(name: str, item: dict[str, Any]) -> int | None:
    for value in (item.get("type"), item.get("henderson"), name):
        number = as_float(value)
        if number is not None and int(number) in HENDERSON:
            return int(number)
    return None


def _failure_row(name: str, item: dict[str, Any]) -> dict[str, Any]:
    number = _henderson_type(name, item)
    count, share = _share(item)
    flags = [labels.flag(str(f)).lower() for f in item.get("flags") or []]
    title = HENDERSON.get(number, "") if number else ""
    return {
        "type": title or labels.flag(str(item.get("name") or name)),
        "detail": ", ".join(flags) or str(item.get("name") or ""),
        "count": count,
        "share": share,
        "order": number or 99,
    }


def implant(results: dict[str, Any]) -> dict[str, Any]:
    """Failures by Henderson type (and any type), reoperations with their timing, and the implant-survival
    endpoint's name; ``available`` False for an older run without results.json ``implant``."""
    node = results.get("implant")
    if not isinstance(node, dict):
        return {"available": False, "failures": [], "any_failure": None, "reoperations": [], "endpoint": "",
                "survival": None}
    failures = sorted((_failure_row(name, item) for name, item in _entries(node.get("failure_types"), "type")),
                      key=lambda r: r["order"])
    anything = node.get("any_failure")
    reoperations = []
    for name, item in _entries(node.get("reoperations"), "name"):
        count, share = _share(item)
        reoperations.append({"what": labels.flag(name) if name else "Reoperation", "count": count, "share": share,
                             "timing": _timing(item) if as_float(item.get("count")) else ""})
    endpoint = str(node.get("survival_endpoint") or "")
    survival = node.get("survival") if isinstance(node.get("survival"), dict) else None
    return {
        "available": True,
        "failures": failures,
        "any_failure": _failure_row("any", anything) if isinstance(anything, dict) else None,
        "reoperations": reoperations,
        "endpoint": labels.flag(endpoint).lower() if endpoint else "",
        "survival": survival,
    }
