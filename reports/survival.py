"""Survival tables: medians with their CI, landmark estimates, log-rank tests and Cox models for each endpoint,
"not estimable" where so, and "not available" where results.json (an older run) lacks a figure.

A test on an endpoint with a single event is printed with that caveat, never as a finding.
"""

from __future__ import annotations

from typing import Any

from reports import formatting as fmt
from reports import labels
from reports.caveats import Caveats
from reports.formatting import as_float
from reports.inputs import dig
from reports.sections import NOT_ESTIMABLE

NOT_REACHED = "not reached"
NOT_AVAILABLE = "not available"
LANDMARK_MONTHS = (6, 12, 24)
ONE_EVENT = "rests on {} event: not interpretable as a finding"


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


def median_ci_text(node: dict[str, Any]) -> str:
    """The median's 95% CI: ``4.2 to not reached``; empty when results.json has no such keys (older runs)."""
    if "median_ci_lower" not in node and "median_ci_upper" not in node:
        return ""
    if as_float(node.get("events")) == 0:
        return ""  # no event: the median is not reached and its interval says nothing more
    lower, upper = as_float(node.get("median_ci_lower")), as_float(node.get("median_ci_upper"))
    if lower is None and upper is None:
        return NOT_ESTIMABLE if as_float(node.get("n")) in (None, 0.0) else f"{NOT_ESTIMABLE} to {NOT_REACHED}"
    low = fmt.months(lower) if lower is not None else NOT_ESTIMABLE
    high = fmt.months(upper) if upper is not None else NOT_REACHED
    return f"{low} to {high}"


def median_with_ci(node: dict[str, Any]) -> str:
    """``9.9 months (95% CI 4.2 to not reached)``, or the median alone when results.json has no CI."""
    ci, median = median_ci_text(node), median_text(node)
    return f"{median} (95% CI {ci})" if ci and not (median == NOT_ESTIMABLE == ci) else median


def _proportion(value: Any) -> float | None:
    """A survival probability as a percentage, whether results.json gives 0–1 (its convention) or percent."""
    x = as_float(value)
    return None if x is None else 100 * x if x <= 1.0 else x


def landmark_cells(node: dict[str, Any], months: tuple[int, ...] = LANDMARK_MONTHS) -> list[dict[str, str]]:
    """S(t) in percent with its 95% CI and the number at risk at each landmark month of results.json
    (``landmarks[]``); ``months`` marked "not available" for an older run without them."""
    found = {m: p for p in node.get("landmarks") or [] if isinstance(p, dict)
             if (m := as_float(p.get("months"))) is not None}
    if not found:
        return [{"months": str(m), "estimate": NOT_AVAILABLE, "at_risk": fmt.MISSING} for m in months]
    cells = []
    for month, point in sorted(found.items()):
        estimate = _proportion(point.get("survival"))
        at_risk = fmt.integer(point.get("at_risk"))
        if estimate is None:
            text = "no patient followed this long" if at_risk in ("0", fmt.MISSING) else NOT_ESTIMABLE
        else:
            low, high = _proportion(point.get("ci_lower")), _proportion(point.get("ci_upper"))
            degenerate = low is None or high is None or low == high  # S = 1 before any event: no interval
            text = fmt.percent(estimate) if degenerate else fmt.percent_ci(estimate, low, high)
        cells.append({"months": fmt.exact(month, 0, 1), "estimate": text, "at_risk": at_risk})
    return cells


RISK_KEYS = ("at_risk_table", "numbers_at_risk", "at_risk", "risk_table")


def risk_table(node: dict[str, Any]) -> dict[float, int]:
    """Numbers at risk by month from results.json (``[{months, at_risk}]`` or ``{months: n}``), if it has them."""
    for key in RISK_KEYS:
        value = node.get(key)
        rows = [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []
        items = value.items() if isinstance(value, dict) else (
            (p.get("months", p.get("time_months")), p.get("at_risk", p.get("n"))) for p in rows
        )
        table = {float(m): int(n) for m, n in ((as_float(a), as_float(b)) for a, b in items)
                 if m is not None and n is not None}
        if table:
            return table
    return {}


def one_event_note(node: dict[str, Any]) -> str:
    """``rests on 1 event: …`` when a test or model of this endpoint has one event (or none) behind it."""
    events = as_float(node.get("events"))
    return ONE_EVENT.format(fmt.integer(events)) if events is not None and 0 < events <= 1 else ""


def _logrank(node: dict[str, Any], path: str, caveats: Caveats) -> list[dict[str, Any]]:
    rows = []
    for name, found in (node.get("logrank") or {}).items():
        test = found if isinstance(found, dict) else {}
        missing = as_float(test.get("statistic")) is None
        events = as_float(test.get("events"))
        rows.append({
            "covariate": caveats.words.fact(name),
            "events": fmt.integer(events),
            "one_event": events is not None and events <= 1 and not missing,
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
            "term": caveats.words.term(term),
            "hr": NOT_ESTIMABLE if missing else hr,
            "p": fmt.pvalue(item.get("p")),
            "ph_p": fmt.pvalue(item.get("ph_p")),
            "refs": caveats.refs(model),
        })
    return rows


def endpoint(results: dict[str, Any], name: str, caveats: Caveats, *, path: str = "",
             title: str = "") -> dict[str, Any]:
    """One endpoint's figures: results.json ``survival.<name>``, or the Kaplan–Meier record at ``path``
    (``implant.survival``) with ``title``."""
    path = path or f"survival.{name}"
    node = dig(results, path) or {}
    multi = dig(node, "cox.multivariable") or {}
    estimable = bool(multi.get("estimable")) and bool(multi.get("terms"))
    reason = caveats.words.clinical(str(multi.get("reason") or "")) or caveats.reason(f"{path}.cox.multivariable")
    return {
        "name": name,
        "title": title or caveats.words.endpoints.get(name) or str(node.get("label") or labels.flag(name)),
        "n": fmt.integer(node.get("n")),
        "events": count_of(node.get("events"), "event"),
        "events_n": f"{fmt.integer(node.get('events'))}/{fmt.integer(node.get('n'))}",
        "median": median_text(node),
        "median_ci": median_ci_text(node) or NOT_AVAILABLE,
        "landmarks": landmark_cells(node),
        "one_event": one_event_note(node),
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


def completeness(node: dict[str, Any]) -> str:
    """Clark's completeness of follow-up C in percent (results.json ``followup.completeness``, 0–1 or a record
    with ``value``/``estimate``), or ``not available`` for an older run."""
    value = node.get("completeness")
    if isinstance(value, dict):
        value = value.get("value", value.get("estimate", value.get("c")))
    x = _proportion(value)
    return fmt.percent(x) if x is not None else NOT_AVAILABLE


def followup(results: dict[str, Any]) -> dict[str, str]:
    node = results.get("followup") or {}
    reverse = reverse_km_text(node)
    return {
        "mean": fmt.months(node.get("mean_months")),
        "median": fmt.months(node.get("median_months")),
        "range": fmt.interval(node.get("min_months"), node.get("max_months"), 1),
        "reverse_km": reverse,
        "completeness": completeness(node),
    }
