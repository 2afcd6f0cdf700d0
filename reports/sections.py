"""The result tables of the report body, as rows of display strings (the templates only lay them out)."""

from __future__ import annotations

from typing import Any

from config.study import StudyDefinition
from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import as_float
from reports.inputs import dig

NOT_ESTIMABLE = "not estimable"


def describe_test(name: str, value: Any, df: Any, p: Any, n: Any = None) -> str:
    """``χ² = 17.78, df = 3, p < 0.001, n = 7``; a missing statistic says so."""
    if as_float(value) is None:
        return NOT_ESTIMABLE
    text = f"{name} = {fmt.statistic(value)}, df = {fmt.df(df)}, {fmt.p_equation(p)}"
    return text + (f", n = {fmt.integer(n)}" if as_float(n) is not None else "")


def _timepoint_cells(node: dict[str, Any], tp: str) -> dict[str, str]:
    s = dig(node, f"timepoints.{tp}") or {}
    return {
        "n": fmt.integer(s.get("n")),
        "median_iqr": fmt.median_iqr(s.get("median"), s.get("q1"), s.get("q3")),
        "mean_sd": fmt.mean_sd(s.get("mean"), s.get("sd")),
    }


def _pairs(node: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(p.get("a")), str(p.get("b"))): p for p in node.get("pairwise") or [] if isinstance(p, dict)}


def repeated(results: dict[str, Any], study: StudyDefinition, caveats: Caveats) -> dict[str, Any]:
    """VAS and KPS side by side: a row per timepoint, the Friedman tests, a row per pair of timepoints."""
    names = list(study.analysis.repeated_instruments)
    nodes = [dig(results, f"repeated_measures.{name}") or {} for name in names]
    titles = [labels.instrument_title(study.instruments[n].label) if n in study.instruments else n for n in names]
    rows = [
        {"timepoint": labels.timepoint(tp), "cells": [_timepoint_cells(node, tp) for node in nodes]}
        for tp in study.analysis.repeated_timepoints
    ]
    pairs = [_pairs(node) for node in nodes]
    order = list(dict.fromkeys(key for found in pairs for key in found))
    pairwise = [
        {
            "pair": f"{labels.timepoint(a)} vs {labels.timepoint(b)}",
            "cells": [
                {
                    "statistic": fmt.statistic((found.get((a, b)) or {}).get("statistic")),
                    "p": fmt.pvalue((found.get((a, b)) or {}).get("p")),
                    "p_adjusted": fmt.pvalue((found.get((a, b)) or {}).get("p_adjusted")),
                }
                for found in pairs
            ],
        }
        for a, b in order
    ]
    friedman = []
    methods = []
    for title, node in zip(titles, nodes, strict=True):
        fr = node.get("friedman") or {}
        friedman.append({"instrument": title, "text": describe_test(
            "χ²", fr.get("statistic"), fr.get("df"), fr.get("p"), fr.get("n"))})
        used = sorted({str(p.get("method")) for p in _pairs(node).values() if p.get("method")})
        if used:
            methods.append({"instrument": title, "text": "; ".join(used)})
    return {
        "instruments": titles,
        "labels": [study.instruments[n].label if n in study.instruments else n for n in names],
        "rows": rows,
        "friedman": friedman,
        "pairwise": pairwise,
        "methods": methods,
        "caveats": caveats.about("repeated_measures"),
    }


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit and text != fmt.MISSING else text


def _difference(node: dict[str, Any], unit: str) -> str:
    """Mean difference after − before with its 95% CI, when results.json gives it."""
    if as_float(node.get("mean_difference")) is None:
        return fmt.MISSING
    text = f"{fmt.number(node['mean_difference'], 2)} ({fmt.interval(node.get('ci_lower'), node.get('ci_upper'), 2)})"
    return _with_unit(text, unit)


def _paired_row(label: str, node: dict[str, Any], unit: str) -> dict[str, str]:
    return {
        "label": label,
        "n": fmt.integer(node.get("n")),
        "before": _with_unit(fmt.mean_sd(node.get("mean_pre"), node.get("sd_pre")), unit),
        "after": _with_unit(fmt.mean_sd(node.get("mean_post"), node.get("sd_post")), unit),
        "difference": _difference(node, unit),
        "test": describe_test("t", node.get("t"), node.get("df"), node.get("p")),
    }


def _rank_test(node: Any, symbol: str) -> str:
    """``V = 0.00, p = 0.018 (exact)`` for a rank test in results.json, or an empty string."""
    if not isinstance(node, dict) or as_float(node.get("p")) is None:
        return ""
    method = f" ({node['method']})" if node.get("method") else ""
    return f"{symbol} = {fmt.statistic(node.get('statistic'))}, {fmt.p_equation(node.get('p'))}{method}"


def _between(node: Any, unit: str) -> str:
    """The between-group comparison of the change: Welch t and the rank-sum test, when results.json has it."""
    if not isinstance(node, dict):
        return ""
    with_iv = _with_unit(fmt.mean_sd(node.get("mean_change_zone_iv"), node.get("sd_change_zone_iv")), unit)
    without = _with_unit(fmt.mean_sd(node.get("mean_change_no_zone_iv"), node.get("sd_change_no_zone_iv")), unit)
    change = f"mean change {with_iv} with zone IV vs {without} without"
    welch = describe_test("Welch t", node.get("t"), node.get("df"), node.get("p"))
    rank = _rank_test(node.get("rank_sum"), "rank-sum W")
    return f"{change}; {welch}" + (f"; {rank}" if rank else "")


def paired(results: dict[str, Any], study: StudyDefinition, caveats: Caveats) -> dict[str, Any]:
    msts = dig(results, "paired.msts93") or {}
    sij = dig(results, "paired.sij_contralateral_mm") or {}
    unit = study.instruments["sij_contralateral_mm"].unit if "sij_contralateral_mm" in study.instruments else "mm"
    a_m, b_m = study.analysis.msts_timepoints
    a_s, b_s = study.analysis.sij_timepoints
    return {
        "msts_times": (labels.timepoint(a_m), labels.timepoint(b_m)),
        "sij_times": (labels.timepoint(a_s), labels.timepoint(b_s)),
        "msts": _paired_row("All patients", msts, ""),
        "msts_wilcoxon": _rank_test(msts.get("wilcoxon"), "V"),
        "sij": [
            _paired_row("Zone IV", sij.get("zone_iv") or {}, unit),
            _paired_row("No zone IV", sij.get("no_zone_iv") or {}, unit),
        ],
        "sij_between": _between(sij.get("between_groups"), unit),
        "caveats": caveats.about("paired"),
    }


def events(results: dict[str, Any], study: StudyDefinition, caveats: Caveats) -> list[dict[str, str]]:
    """Complications, then events, each with count/n, percent and the exact 95% CI."""
    rows = []
    for item in results.get("events") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name", ""))
        rows.append({
            "name": labels.flag(name),
            "kind": "complication" if name in study.complications else "event",
            "count": f"{fmt.integer(item.get('count'))}/{fmt.integer(item.get('n'))}",
            "percent": fmt.percent(item.get("percent")),
            "ci": fmt.interval(
                *fmt.ci_percent(item.get("percent"), item.get("ci_lower"), item.get("ci_upper"), item.get("n")), 1
            ),
        })
    rows.sort(key=lambda r: r["kind"] != "complication")
    return rows
