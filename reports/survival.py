"""Survival tables: medians, log-rank tests and Cox models for OS and PFS, "not estimable" where so."""

from __future__ import annotations

from typing import Any

from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import as_float
from reports.inputs import dig
from reports.sections import NOT_ESTIMABLE

NOT_REACHED = "not reached"


def count_of(value: Any, noun: str) -> str:
    """``1 event``, ``3 events``."""
    text = fmt.integer(value)
    return f"{text} {noun}" if text == "1" else f"{text} {noun}s"


def median_text(node: dict[str, Any]) -> str:
    """The median in months, ``not reached`` when the curve stays above 0.5, else ``not estimable``."""
    median = as_float(node.get("median_months"))
    if median is not None:
        return f"{fmt.months(median)} months"
    if as_float(node.get("n")) == 0:
        return NOT_ESTIMABLE  # no patient: there is no curve
    if "median_reached" in node:
        return NOT_ESTIMABLE if node["median_reached"] else NOT_REACHED
    survival = [as_float(p.get("survival")) for p in node.get("km") or [] if isinstance(p, dict)]
    lowest = min((s for s in survival if s is not None), default=1.0)
    return NOT_REACHED if lowest > 0.5 else NOT_ESTIMABLE


def _logrank(node: dict[str, Any], path: str, caveats: Caveats) -> list[dict[str, str]]:
    rows = []
    for name, found in (node.get("logrank") or {}).items():
        test = found if isinstance(found, dict) else {}
        missing = as_float(test.get("statistic")) is None
        rows.append({
            "covariate": labels.covariate(name),
            "statistic": NOT_ESTIMABLE if missing else fmt.statistic(test.get("statistic")),
            "df": fmt.df(test.get("df")),
            "p": fmt.pvalue(test.get("p")),
            "refs": caveats.refs(f"{path}.logrank.{name}"),
        })
    return rows


def _terms(terms: Any, path: str, caveats: Caveats, per_covariate: bool) -> list[dict[str, str]]:
    """Rows of HR (95% CI) and p; a missing HR is "not estimable", citing the caveats of its model."""
    rows = []
    for item in terms if isinstance(terms, list) else []:
        if not isinstance(item, dict):
            continue
        term = str(item.get("term", ""))
        covariate = str(item.get("covariate") or term.partition("=")[0])
        missing = as_float(item.get("hr")) is None
        hr = fmt.hazard_ratio(item.get("hr"), item.get("ci_lower"), item.get("ci_upper"))
        model = f"{path}.{covariate}" if per_covariate else path
        rows.append({
            "term": labels.term(term),
            "hr": NOT_ESTIMABLE if missing else hr,
            "p": fmt.pvalue(item.get("p")),
            "ph_p": fmt.pvalue(item.get("ph_p")),
            "refs": caveats.refs(model),
        })
    return rows


def endpoint(results: dict[str, Any], name: str, caveats: Caveats) -> dict[str, Any]:
    path = f"survival.{name}"
    node = dig(results, path) or {}
    multi = dig(node, "cox.multivariable") or {}
    estimable = bool(multi.get("estimable")) and bool(multi.get("terms"))
    reason = str(multi.get("reason") or "") or caveats.reason(f"{path}.cox.multivariable")
    return {
        "name": name,
        "title": labels.ENDPOINTS.get(name, name.upper()),
        "n": fmt.integer(node.get("n")),
        "events": count_of(node.get("events"), "event"),
        "median": median_text(node),
        "logrank": _logrank(node, path, caveats),
        "univariable": _terms(dig(node, "cox.univariable"), f"{path}.cox.univariable", caveats, True),
        "multivariable": {
            "estimable": estimable,
            "reason": "" if estimable else reason,
            "terms": _terms(multi.get("terms"), f"{path}.cox.multivariable", caveats, False) if estimable else [],
            "refs": caveats.refs(f"{path}.cox.multivariable"),
        },
        "caveats": caveats.about(path),
    }


def reverse_km_text(node: dict[str, Any]) -> str:
    """The reverse Kaplan–Meier median follow-up: months, ``not reached``, or ``not estimable`` without patients."""
    reverse = fmt.months(node.get("reverse_km_median_months"))
    if reverse != fmt.MISSING:
        return reverse
    if as_float(node.get("n")) == 0:
        return NOT_ESTIMABLE
    return NOT_REACHED if node.get("reverse_km_median_reached") is False else reverse


def followup(results: dict[str, Any]) -> dict[str, str]:
    node = results.get("followup") or {}
    reverse = reverse_km_text(node)
    return {
        "mean": fmt.months(node.get("mean_months")),
        "median": fmt.months(node.get("median_months")),
        "range": fmt.interval(node.get("min_months"), node.get("max_months"), 1),
        "reverse_km": reverse,
    }
