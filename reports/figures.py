"""Every chart of the report, drawn from the run's files as the study's plan says: the repeated instruments'
trends (``[[analysis.repeated]]``), the paired comparisons (``[[analysis.paired]]``, overall and within the
subgroups of their ``by`` fact), the swimmer plot, and a Kaplan–Meier chart per survival endpoint of
results.json (and implant survival). A plan without repeated or paired analyses has no such chart.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from config.study import PairedSpec, StudyDefinition
from config.units import DAYS_PER_MONTH
from reports import charts, flow, kmplot, labels, sections, survival, swimmer
from reports.charts import ACCENT, INK, PairedPanel, TimeAxis
from reports.inputs import RunFiles
from reports.labels import Labels

IMPLANT = "implant"
"""The name of the implant-survival endpoint among the report's endpoints (its chart is ``km_implant``)."""


AXIS_CHARS = 42  # an axis label longer than this is replaced by the instrument's short label
TITLE_CHARS = 80  # the characters a chart row's panel titles share


def axis_label(words: Labels, name: str) -> str:
    """An instrument's full label on a y-axis, or its short label when the full one would not fit."""
    label = words.instrument_label(name)
    return label if len(label) <= AXIS_CHARS else words.instrument(name)


def panel_title(words: Labels, name: str, panels: int) -> str:
    """An instrument's title above its panel: the label without its scale, or its short label when long."""
    title = words.instrument_title(name)
    return title if len(title) <= TITLE_CHARS / max(panels, 2) else words.instrument_short(name)


def time_axis(study: StudyDefinition) -> TimeAxis:
    """Each timepoint at its window's target day (a "latest" window at its end, or its middle after surgery)
    in months, to the half month; those at or before surgery at 0, ticked with their label."""
    months = {}
    for name, window in study.timepoints.items():
        if window.target is not None:
            day = float(window.target)
        elif window.high <= 0:
            day = float(window.high)
        else:
            day = (window.low + window.high) / 2
        months[name] = max(0.0, round(2 * day / DAYS_PER_MONTH) / 2)
    return TimeAxis(months, {name: window.label for name, window in study.timepoints.items()})


def progressed(cohort: pd.DataFrame, study: StudyDefinition) -> frozenset[str]:
    """Study ids of the patients with a study event (a progression or any other [events] key) during
    follow-up."""
    events = [e for e in study.events if e in cohort.columns]
    if not events or cohort.empty:
        return frozenset()
    flags = cohort[events].apply(pd.to_numeric, errors="coerce").fillna(0)
    return frozenset(cohort.loc[(flags == 1).any(axis=1), "study_id"].astype(str))


def subgroups(cohort: pd.DataFrame, study: StudyDefinition, by: str) -> list[tuple[str, frozenset[str]]]:
    """The two subgroups of a fact as results.json names them, with their patients: a 0/1 rule fact F gives
    ``F`` (= 1) and ``no_F`` (everyone else); another fact its two levels."""
    ids = cohort["study_id"].astype(str) if "study_id" in cohort else pd.Series(dtype=str)
    values = cohort[by] if by in cohort else pd.Series(index=cohort.index, dtype=object)
    fact = study.facts.get(by)
    if fact is None or fact.is_flag:
        yes = pd.to_numeric(values, errors="coerce") == 1
        return [(by, frozenset(ids[yes])), (f"no_{by}", frozenset(ids[~yes]))]
    levels = list(fact.levels) or sorted(str(v) for v in values.dropna().unique())
    return [(level, frozenset(ids[values.astype(str) == level])) for level in levels[:2]]


def paired_panels(cohort: pd.DataFrame, study: StudyDefinition) -> list[PairedPanel]:
    """The panels of the paired chart, in plan order: a comparison's overall panel, then one per subgroup."""
    words = Labels(study)
    panels: list[PairedPanel] = []
    for spec in study.analysis.paired:
        panels += _panels(spec, cohort, study, words)
    return panels


def _panels(spec: PairedSpec, cohort: pd.DataFrame, study: StudyDefinition, words: Labels) -> list[PairedPanel]:
    pair = (spec.before, spec.after)
    ticks = (words.timepoint(spec.before), words.timepoint(spec.after))
    title = words.instrument_short(spec.instrument)
    ylabel = axis_label(words, spec.instrument)
    found = []
    if spec.overall or not spec.by:
        found.append(PairedPanel(spec.instrument, pair, title, ticks, ylabel=ylabel))
    if spec.by:
        for i, (key, patients) in enumerate(subgroups(cohort, study, spec.by)):
            group = words.group(spec.by, key, short=True)
            found.append(PairedPanel(
                spec.instrument, pair, f"{title}, {group[:1].lower() + group[1:]}", ticks,
                ylabel=ylabel if i == 0 and not found else "", patients=patients, colour=ACCENT if i == 0 else INK,
            ))
    return found


def implant_curve(results: dict[str, Any], study: StudyDefinition) -> dict[str, Any] | None:
    """results.json ``implant.survival``, unless a survival endpoint of the study is the same time to the
    first such reoperation (it is plotted and tabulated as that endpoint)."""
    implant = results.get("implant")
    node = implant.get("survival") if isinstance(implant, dict) else None
    if not isinstance(node, dict) or not isinstance(implant, dict):
        return None
    reoperation = str(implant.get("survival_endpoint") or "")
    same = [name for name, e in study.endpoints.items() if tuple(e.events) == (reoperation,)]
    return None if any(name in (results.get("survival") or {}) for name in same) else node


def _horizon(cohort: pd.DataFrame, columns: list[str]) -> float:
    """The longest time of any endpoint: the x-axis shared by every Kaplan–Meier chart."""
    times = [pd.to_numeric(cohort[column], errors="coerce").max() for column in columns if column in cohort]
    known = [float(t) for t in times if pd.notna(t)]
    return max(known, default=0.0)


def svgs(files: RunFiles, study: StudyDefinition, run: dict[str, Any] | None = None) -> dict[str, str]:
    """Every chart as an SVG string: matplotlib draws it from numbers; its only words are our labels and the
    study definition's, XML-escaped by matplotlib. Keys: ``swimmer``, ``trends`` (with repeated analyses),
    ``paired`` (with paired comparisons), ``km_<endpoint>`` and ``km_implant``."""
    words = Labels(study)
    cohort = files.cohort
    implant = files.results.get("implant")
    reoperations = [str(r.get("name")) for r in (implant.get("reoperations") or []) if isinstance(r, dict)] \
        if isinstance(implant, dict) else []
    lanes = swimmer.lanes(cohort, flow.cutoff_date(run or {}), list(study.complications), list(study.events),
                          reoperations, endpoints=swimmer.lane_endpoints(study))
    found = {"swimmer": swimmer.swimmer_chart(lanes)}
    repeated = [spec for spec in study.analysis.repeated if spec.instrument in study.instruments]
    if repeated:
        found["trends"] = charts.trend_chart(
            files.measures, files.results,
            [(spec.instrument, axis_label(words, spec.instrument), panel_title(words, spec.instrument, len(repeated)))
             for spec in repeated],
            {spec.instrument: spec.timepoints for spec in repeated},
            scales={name: (inst.min, inst.max) for name, inst in study.instruments.items()},
            progressed=progressed(cohort, study), axis=time_axis(study))
    panels = paired_panels(cohort, study)
    if panels:
        found["paired"] = charts.paired_chart(files.measures, panels)
    curves = [(name, node, f"{name}_months", f"{name}_event", words.endpoint(name))
              for name, node in sections.endpoints(study, files.results)]
    node = implant_curve(files.results, study)
    if isinstance(node, dict) and isinstance(implant, dict):
        reoperation = str(implant.get("survival_endpoint") or "")
        title = f"Implant survival (free of {labels.flag(reoperation).lower()})"
        curves.append((IMPLANT, node, f"{reoperation}_months", reoperation, title))
    horizon = _horizon(cohort, [column for _, _, column, _, _ in curves])
    for name, node, column, event, title in curves:
        km, censored = node.get("km") or [], node.get("censored_months")
        durations = cohort.get(column, pd.Series(dtype=float))
        events = cohort.get(event, pd.Series(dtype=float))
        marks = censored if isinstance(censored, list) else None
        found[f"km_{name}"] = kmplot.km_chart(km, durations, events, title, censored=marks, prefix=f"km-{name}",
                                             horizon=horizon, risk=survival.risk_table(node) or None)
    return found
