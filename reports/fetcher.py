"""The only door WeasyPrint has to the outside world, and it opens onto our own template assets.

The report is rendered from a self-contained HTML string (inline CSS, inline SVG charts), so a normal
render fetches nothing. Should anything ask for a URL anyway (a template bug, or markup that slipped
past autoescaping), this fetcher answers only ``asset:NAME`` for a static file shipped in the
``templates`` package, and refuses every other URL: ``file://``, ``http(s)://``, ``data:``, ``ftp:``,
relative paths and anything else. Refused URLs are recorded (without contacting anything) so that the
renderer can log them.
"""

from __future__ import annotations

import re
from importlib import resources

from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSET_SCHEME = "asset:"
ASSET_TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class URLRefused(ValueError):
    """The report's fetcher does not serve this URL."""


def asset_names() -> frozenset[str]:
    """The static files of the ``templates`` package that the fetcher may serve."""
    root = resources.files("templates")
    return frozenset(
        entry.name for entry in root.iterdir() if entry.is_file() and any(entry.name.endswith(s) for s in ASSET_TYPES)
    )


class AssetFetcher(URLFetcher):  # type: ignore[misc]  # weasyprint ships no type hints
    """Serves ``asset:NAME`` from the templates package; refuses every other URL."""

    def __init__(self) -> None:
        super().__init__(timeout=1, allowed_protocols=["asset"], allow_redirects=False)
        self.allowed = asset_names()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        name = url[len(ASSET_SCHEME) :].lstrip("/") if url.startswith(ASSET_SCHEME) else ""
        if not name or not _ASSET_NAME.fullmatch(name) or name not in self.allowed:
            self.refused.append(url[:200])
            raise URLRefused(f"the report renderer serves only its own template assets, not {url[:80]!r}")
        body = resources.files("templates").joinpath(name).read_bytes()
        suffix = name[name.rfind(".") :]
        return URLFetcherResponse(url, body=body, headers={"Content-Type": ASSET_TYPES[suffix]})
