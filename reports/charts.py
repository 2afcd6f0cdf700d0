"""The report's charts, drawn by matplotlib as SVG strings (crisp in print, inline in the HTML).

Figures are built with the object API (``matplotlib.figure.Figure``) on the Agg/SVG canvases: no pyplot,
no global figure registry, nothing to show or leak. Every chart uses one palette that stays readable in
greyscale (dark ink, mid accent, light band, grey for individual patients) and line styles that differ
as well as colours. Text stays text (DejaVu Sans: Debian's fonts-dejavu-core must be installed for
WeasyPrint to draw it), styles become presentation attributes, and the SVG references no URL.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

from reports import labels
from reports.formatting import as_float

INK = "#1d3557"  # medians, means, survival curves (dark in greyscale)
ACCENT = "#a63d2a"  # the second group (dark-mid grey in greyscale)
BAND = "#a9c4de"  # IQR and confidence bands (light)
PATIENT = "#ababab"  # one line per patient (light grey)
WIDTH_IN = 6.7  # the text width of an A4 page with 18 mm margins
_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_GROUP, _DEFS, _HREF = f"{{{_SVG_NS}}}g", f"{{{_SVG_NS}}}defs", f"{{{_XLINK_NS}}}href"

RC: dict[Any, Any] = {  # matplotlib types the keys as a Literal of every rcParams name
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "svg.fonttype": "none",
    "svg.hashsalt": "pelvic-outcomes",
    "text.parse_math": False,  # labels come from the study definition: a "$" is a dollar, not TeX
}


def _declarations(css: str) -> str:
    """``fill: #fff; stroke: none`` → `` fill="#fff" stroke="none"`` (SVG presentation attributes)."""
    pairs = (item.split(":", 1) for item in css.split(";") if ":" in item)
    return "".join(f' {name.strip()}="{html.escape(value.strip(), quote=True)}"' for name, value in pairs)


def _presentation_attributes(svg: str) -> str:
    """Move CSS in ``style`` attributes and the ``<style>`` rule into presentation attributes.

    Inline in HTML, an SVG's styles would go through the HTML cascade, where WeasyPrint warns about every
    SVG property; attributes are read by its SVG renderer only (and by every browser).
    """
    rule = re.search(r"<style[^>]*>\s*\*\s*\{([^}]*)\}\s*</style>", svg)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.DOTALL)
    if rule:
        svg = svg.replace("<svg ", f"<svg{_declarations(rule[1])} ", 1)
    return re.sub(r'\sstyle="([^"]*)"', lambda m: _declarations(m[1]), svg)


def _flatten(parent: ET.Element, defs: list[ET.Element]) -> None:
    """Unwrap ``parent``'s groups that have no attributes, move its definitions into ``defs``, and wrap each
    run of two or more consecutive elements clipped by the same path into one group clipped by it."""
    children: list[ET.Element] = []
    for child in parent:
        _flatten(child, defs)
        if child.tag == _DEFS:
            defs.extend(child)
        elif child.tag == _GROUP and not child.attrib:
            children.extend(child)
        else:
            children.append(child)
    merged: list[ET.Element] = []
    start = 0
    while start < len(children):
        clip = children[start].get("clip-path")
        end = start + 1
        while clip and end < len(children) and children[end].get("clip-path") == clip:
            end += 1
        if clip and end - start > 1:
            group = ET.Element(_GROUP, {"clip-path": clip})
            for element in children[start:end]:
                del element.attrib["clip-path"]
                if element.tag == _GROUP and not element.attrib:
                    group.extend(element)
                else:
                    group.append(element)
            merged.append(group)
        else:
            merged.extend(children[start:end])
        start = end
    parent[:] = merged


def _compact(svg: str) -> str:
    """The same picture in fewer elements: WeasyPrint draws an SVG element by element (style cascade, graphic
    state, clip), and matplotlib wraps every artist in a group or two and clips each line on its own.

    Groups without attributes are unwrapped, all definitions go into one ``<defs>`` up front, consecutive
    elements clipped by the same path are clipped once (one group), and identity rotations and the whitespace
    between elements are dropped. Paint order is unchanged: the pages are pixel-identical.
    """
    root = ET.fromstring(svg)  # noqa: S314  # matplotlib's own output, not outside data
    defs: list[ET.Element] = []
    _flatten(root, defs)
    if defs:
        holder = ET.Element(_DEFS)
        holder.extend(defs)
        root.insert(0, holder)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]  # the namespaces are declared once, on the root
        if _HREF in element.attrib:
            element.set("xlink:href", element.attrib.pop(_HREF))
        if element.get("transform", "").startswith("rotate(-0 "):
            del element.attrib["transform"]
        if element.tail is not None and not element.tail.strip():
            element.tail = None
        if element.tag != "text" and element.text is not None and not element.text.strip():
            element.text = None
    root.set("xmlns", _SVG_NS)
    root.set("xmlns:xlink", _XLINK_NS)
    return ET.tostring(root, encoding="unicode")


def to_svg(fig: Figure, prefix: str) -> str:
    """Serialise a figure to an SVG element without XML prolog, doctype, metadata or CSS, compacted (:func:`_compact`).

    Several charts share one HTML document, so ids must be unique in it: ids that something refers to
    (clip paths, markers) get ``prefix``; the others (matplotlib labels every group) are dropped.
    The constrained layout is computed here, once, as savefig would (SVG canvas, 72 dpi); savefig itself
    would draw the whole figure twice, the first time only to lay it out.
    """
    engine = fig.get_layout_engine()
    if engine is not None:
        FigureCanvasSVG(fig)
        dpi = fig.dpi
        fig.dpi = 72
        engine.execute(fig)
        fig.dpi = dpi
        fig.set_layout_engine("none")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.DOTALL)
    referenced = set(re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", text))
    used = {name for pair in referenced for name in pair if name}
    text = re.sub(r'\sid="([^"]+)"', lambda m: f' id="{prefix}-{m[1]}"' if m[1] in used else "", text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m[1]})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m[1]}"', text)
    return _compact(_presentation_attributes(text))


def new_figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    return Figure(figsize=(width_in, height_in), layout="constrained")


def no_data(ax: Axes, text: str) -> None:
    """Say in the panel that there is nothing to draw (an empty cohort or group), instead of bare axes."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#555555", fontsize=8)


def month_of(timepoint: str) -> float:
    """Where a timepoint without a window sits on a months axis: ``3m`` at 3, anything else at 0."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)m", timepoint)
    return float(match.group(1)) if match else 0.0


@dataclass(frozen=True)
class TimeAxis:
    """Where each timepoint sits on a months-after-surgery axis and what its tick says: a month number, or the
    timepoint's label at or before surgery (``Pre-op``)."""

    months: Mapping[str, float] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)

    def month(self, timepoint: str) -> float:
        return self.months.get(timepoint, month_of(timepoint))

    def tick(self, timepoint: str) -> str:
        month = self.month(timepoint)
        return self.names.get(timepoint, timepoint) if month <= 0 else f"{month:g}"


def _wide(measures: pd.DataFrame, instrument: str, timepoints: Sequence[str]) -> pd.DataFrame:
    """Values of one instrument, one row per patient, one column per timepoint."""
    rows = measures[measures["instrument"] == instrument]
    table = rows.pivot_table(index="study_id", columns="timepoint", values="value", aggfunc="first")
    return table.reindex(columns=list(timepoints))


def _trend_panel(
    ax: Axes, wide: pd.DataFrame, summary: dict[str, Any], timepoints: Sequence[str], *,
    scale: tuple[float, float] | None, progressed: frozenset[str], axis: TimeAxis,
) -> None:
    x = np.array([axis.month(t) for t in timepoints])
    for sid, row in wide.iterrows():
        marked = str(sid) in progressed
        ax.plot(x, row.to_numpy(dtype=float), color=ACCENT if marked else PATIENT, lw=0.9 if marked else 0.7,
                alpha=0.9 if marked else 0.8, marker="^" if marked else "o", ms=3 if marked else 2,
                ls=(0, (3, 1.5)) if marked else "-", zorder=3 if marked else 2)
    stats = [summary.get(t) or {} for t in timepoints]
    med = np.array([as_float(s.get("median")) for s in stats], dtype=float)
    q1 = np.array([as_float(s.get("q1")) for s in stats], dtype=float)
    q3 = np.array([as_float(s.get("q3")) for s in stats], dtype=float)
    ax.fill_between(x, q1, q3, color=BAND, alpha=0.55, lw=0, label="IQR", zorder=1)
    ax.plot(x, med, color=INK, lw=2, marker="s", ms=4, label="Median", zorder=4)
    ax.plot([], [], color=PATIENT, lw=0.7, label="Patients")
    if progressed & {str(s) for s in wide.index}:
        ax.plot([], [], color=ACCENT, lw=0.9, ls=(0, (3, 1.5)), marker="^", ms=3, label="Progressed")
    ax.set_xticks(x, [axis.tick(t) for t in timepoints])
    ax.set_xlabel("Months after surgery")
    if scale is not None:
        low, high = scale
        pad = 0.03 * (high - low)
        ax.set_ylim(low - pad, high + pad)
    if not wide.notna().to_numpy().any():
        no_data(ax, "No values")


def trend_chart(
    measures: pd.DataFrame,
    results: dict[str, Any],
    instruments: Sequence[tuple[str, str] | tuple[str, str, str]],
    timepoints: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    scales: dict[str, tuple[float, float]] | None = None,
    progressed: frozenset[str] = frozenset(),
    axis: TimeAxis | None = None,
) -> str:
    """The repeated instruments side by side (``instruments``: name, axis label and optionally the panel's
    title), each over its own timepoints (``timepoints``: one list for all, or one per instrument): a grey line
    per patient (patients who progressed dashed, in the accent colour),
    the median with its IQR band, each on the instrument's full scale (``scales``: the study definition's min
    and max), not cut to the data."""
    axis = axis or TimeAxis()
    with matplotlib.rc_context(RC):
        fig = new_figure(2.5)
        axes = fig.subplots(1, max(len(instruments), 1), squeeze=False)[0]
        for ax, (name, label, *title) in zip(axes, instruments, strict=False):
            times = timepoints.get(name, ()) if isinstance(timepoints, Mapping) else timepoints
            summary = ((results.get("repeated_measures") or {}).get(name) or {}).get("timepoints") or {}
            scale = (scales or {}).get(name)
            _trend_panel(ax, _wide(measures, name, times), summary, times, scale=scale, progressed=progressed,
                         axis=axis)
            ax.set_ylabel(label)
            ax.set_title(title[0] if title else labels.instrument_title(label), loc="left")
        handles, names = axes[0].get_legend_handles_labels()
        for ax in axes[1:]:
            for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
                if name not in names:
                    handles.append(handle)
                    names.append(name)
        if names:
            fig.legend(handles, names, loc="outside upper right", ncols=len(names))
        return to_svg(fig, "trends")


@dataclass(frozen=True)
class PairedPanel:
    """One panel of the paired chart: an instrument's values at two timepoints, for every patient or for the
    patients of one subgroup (``patients``: their study ids; None: all)."""

    instrument: str
    pair: tuple[str, str]
    title: str
    ticks: tuple[str, str]
    ylabel: str = ""  # "": shares the y-axis of the panel before it
    patients: frozenset[str] | None = None
    colour: str = INK


TITLE_CHAR_PT = 4.9  # the mean width of a title's character (DejaVu Sans at the title size), generously


def _paired_panel(ax: Axes, wide: pd.DataFrame, panel: PairedPanel, columns: int = 3) -> None:
    values = wide.reindex(columns=list(panel.pair)).dropna()
    x = np.array([0.0, 1.0])
    for _, row in values.iterrows():
        ax.plot(x, row.to_numpy(dtype=float), color=PATIENT, lw=0.8, marker="o", ms=3)
    if len(values):
        means = values.mean().to_numpy(dtype=float)
        sds = values.std(ddof=1).to_numpy(dtype=float) if len(values) > 1 else np.zeros(2)
        ax.errorbar(x + 0.12, means, yerr=sds, color=panel.colour, lw=1.8, marker="D", ms=4, capsize=3,
                    label="Mean ± SD")
    else:
        no_data(ax, "No patient with both values")
    ax.set_xticks(x, list(panel.ticks))
    ax.set_xlim(-0.35, 1.45)
    ax.set_title(_panel_title(f"{panel.title} (n = {len(values)})", columns), loc="left")
    if panel.ylabel:
        ax.set_ylabel(panel.ylabel)


PANELS_PER_ROW = 4


def _panel_title(title: str, columns: int) -> str:
    """A panel's title in lines that stay above its panel: the ``(n = …)`` on its own line first, then words."""
    width = max(12, int(WIDTH_IN / columns * 72 / TITLE_CHAR_PT))
    if len(title) <= width:
        return title
    head, _, n = title.rpartition(" (n = ")
    lines = textwrap.wrap(head, width, break_on_hyphens=False) if head else [title]
    return "\n".join([*lines, f"(n = {n}"] if head else lines)


def paired_chart(measures: pd.DataFrame, panels: Sequence[PairedPanel]) -> str:
    """The paired comparisons before/after, a panel per comparison overall and per subgroup (up to four panels
    a row, rows of even length); a panel without its own y-axis label shares the y-axis of the panel before it."""
    rows = max(1, -(-len(panels) // PANELS_PER_ROW))
    columns = max(1, -(-len(panels) // rows))
    with matplotlib.rc_context(RC):
        fig = new_figure(2.5 * rows)
        axes = fig.subplots(rows, columns, squeeze=False).ravel()
        for i, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
            if i and not panel.ylabel:
                ax.sharey(axes[i - 1])
            wide = _wide(measures, panel.instrument, panel.pair)
            if panel.patients is not None:
                wide = wide[wide.index.astype(str).isin(panel.patients)]
            _paired_panel(ax, wide, panel, columns)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        if panels and axes[0].get_legend_handles_labels()[0]:
            axes[0].legend(loc="lower right")
        return to_svg(fig, "paired")
