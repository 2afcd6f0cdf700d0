"""Rendering: run files → template context → HTML (Jinja2, autoescaped) → PDF (WeasyPrint), written atomically.

``render_report`` is the package's one entry point. It reads the run's files, builds the charts and the
context, renders both documents in memory, and only then replaces ``report.html`` and ``report.pdf``
(each through a temporary file and a rename). Any failure becomes :class:`ReportError` and leaves the
files already in ``run_dir`` as they were.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from config.errors import ReportError
from config.study import StudyDefinition
from reports import figures
from reports.changes import compare_runs, require_unique_ids
from reports.context import build_context, pseudonym_flag
from reports.fetcher import AssetFetcher
from reports.inputs import RunFiles, read_run_files

log = logging.getLogger(__name__)

TEMPLATE = "report.html"
STYLESHEET = "report.css"
DEATH_FLAGS = ("death",)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from the ``templates`` package, autoescaping on for every template."""
    folder = Path(str(resources.files("templates")))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def stylesheet() -> Markup:
    """Our own stylesheet, inlined so report.html is one self-contained file."""
    return Markup(resources.files("templates").joinpath(STYLESHEET).read_text(encoding="utf-8"))  # noqa: S704


def build_charts(files: RunFiles, study: StudyDefinition, run: dict[str, Any] | None = None) -> dict[str, Markup]:
    """Every chart as inline SVG (:func:`reports.figures.svgs`, as the study's plan says), marked safe:
    matplotlib draws it from numbers; its only words are our labels and the study definition's, XML-escaped
    by matplotlib."""
    return {key: Markup(svg) for key, svg in figures.svgs(files, study, run).items()}  # noqa: S704


def render_html(context: dict[str, Any]) -> str:
    return environment().get_template(TEMPLATE).render(**context, stylesheet=stylesheet())


def render_pdf(html: str, fetcher: AssetFetcher | None = None) -> bytes:
    """The PDF of an HTML string; URLs go only through the asset fetcher (everything else is refused)."""
    from weasyprint import HTML  # imported late: it is slow to import

    fetcher = fetcher or AssetFetcher()
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    if fetcher.refused:
        log.warning("the report asked for %d URL(s) outside its assets; all were refused", len(fetcher.refused))
    return pdf


def umask_mode() -> int:
    """The mode a plainly created file gets (0o666 less the umask); mkstemp's own 0o600 is too strict to share."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, umask_mode())
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _render(run_dir: Path, study: StudyDefinition, run: dict[str, Any], previous: Path | None) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    files = read_run_files(run_dir)
    require_unique_ids(files.cohort)
    changes = compare_runs(files.cohort, files.measures, previous, (*study.flag_columns, *DEATH_FLAGS),
                           ids_comparable=not pseudonym_flag(run, "key_changed"))
    svgs = build_charts(files, study, run)
    timings["charts_seconds"] = time.perf_counter() - started
    html = render_html(build_context(files, study, run, changes, svgs))
    mark = time.perf_counter()
    pdf = render_pdf(html)
    timings["pdf_seconds"] = time.perf_counter() - mark
    write_atomic(run_dir / "report.html", html.encode("utf-8"))
    write_atomic(run_dir / "report.pdf", pdf)
    timings["render_seconds"] = time.perf_counter() - started
    return {key: round(value, 3) for key, value in timings.items()}


def render_report(
    run_dir: Path, *, study: StudyDefinition, run: dict[str, Any], previous: Path | None
) -> dict[str, float]:
    """Write ``report.html`` and ``report.pdf`` into ``run_dir`` from the run's files; return timings.

    Raises :class:`ReportError` on any failure; the files already in ``run_dir`` are then untouched.
    """
    try:
        return _render(Path(run_dir), study, run, previous)
    except ReportError:
        raise
    except jinja2.TemplateError as exc:
        raise ReportError(f"report template error: {exc}") from exc
    except OSError as exc:
        raise ReportError(f"cannot write the report in {run_dir}: {exc.strerror or exc}") from exc
    except Exception as exc:  # WeasyPrint, matplotlib and pandas raise many types; all mean "no report"
        raise ReportError(f"rendering the report failed: {type(exc).__name__}: {exc}") from exc
