"""The tumour-board report: charts (matplotlib SVG) and rendering (Jinja2 → HTML → WeasyPrint PDF).

One public entry point, :func:`render_report`, called by the pipeline with the run's folder.
"""

from reports.render import render_report

__all__ = ["render_report"]
