"""Data never becomes markup, and the renderer fetches nothing but its own template assets.

A real HTTP server on loopback counts requests, so "not fetched" is observed, not assumed.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from pypdf import PdfReader

import reports.render
from config.study import StudyDefinition
from reports import render_report
from reports.fetcher import AssetFetcher, URLRefused
from reports.render import environment, render_pdf
from tests.reports.conftest import make_run_dir, manifest, pdf_pages

PASSWD = '<img src="file:///etc/passwd">'


class CountingHandler(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        CountingHandler.requests.append(self.path)
        body = b"\x89PNG fetched"
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """Base URL of a loopback HTTP server that records every request."""
    CountingHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), CountingHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class SpyFetcher(AssetFetcher):
    """The real fetcher, recording every URL WeasyPrint asks it for."""

    calls: ClassVar[list[str]] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
        SpyFetcher.calls.append(url)
        return super().fetch(url, headers)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> type[SpyFetcher]:
    SpyFetcher.calls = []
    monkeypatch.setattr(reports.render, "AssetFetcher", SpyFetcher)
    return SpyFetcher


def _image_xobjects(pdf: Path) -> int:
    count = 0
    for page in PdfReader(pdf).pages:
        xobjects = (page.get("/Resources") or {}).get("/XObject") or {}
        for ref in xobjects.values():
            count += ref.get_object().get("/Subtype") == "/Image"
    return count


def _hostile_run(folder: Path, url: str) -> Path:
    run_dir = make_run_dir(folder)
    cohort = pd.read_csv(run_dir / "cohort.csv", dtype={"study_id": str})
    cohort.loc[0, "diagnosis"] = f"osteosarcoma {PASSWD}"
    cohort.loc[1, "diagnosis"] = f'chondrosarcoma <img src="{url}/diagnosis.png"> {url}/plain-link'
    cohort.to_csv(run_dir / "cohort.csv", index=False)
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    results["warnings"].append({"code": "small_n", "scope": "repeated_measures.vas",
                                "message": f'<link rel="stylesheet" href="{url}/x.css"> see {url}/warn.png {PASSWD}'})
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    quality = json.loads((run_dir / "data_quality.json").read_text(encoding="utf-8"))
    quality["mapping"]["detail"].append({"resource_type": "Observation", "field": "note", "count": 1,
                                         "reason": f'<object data="{url}/obj"></object> {PASSWD}'})
    quality["extraction"]["by_file"][f'<img src="{url}/file.png">.ndjson'] = {f"not JSON {PASSWD}": 1}
    (run_dir / "data_quality.json").write_text(json.dumps(quality), encoding="utf-8")
    return run_dir


def test_markup_and_urls_in_data_are_escaped_never_fetched_nor_embedded(
    tmp_path: Path, study: StudyDefinition, server: str, spy: type[SpyFetcher]
) -> None:
    run_dir = _hostile_run(tmp_path / "run", server)
    run = manifest()
    run["warnings"].append(f'<img src="{server}/run-warning.png"> {PASSWD}')
    hostile_study = dataclasses.replace(study, short_title=f"Pelvic {PASSWD}", title=f"Study <b>{server}/t</b>")

    render_report(run_dir, study=hostile_study, run=run, previous=None)

    assert spy.calls == []  # WeasyPrint never asked for a URL
    assert CountingHandler.requests == []  # and nothing reached the server
    text = " ".join(pdf_pages(run_dir / "report.pdf"))
    # shown as the characters it is (a narrow column may wrap the long token after a "/")
    assert f"osteosarcoma{PASSWD}".replace(" ", "") in text.replace(" ", "")
    assert f"{server}/warn.png" in text
    assert "root:" not in text and b"root:x:0:0" not in (run_dir / "report.pdf").read_bytes()
    assert _image_xobjects(run_dir / "report.pdf") == 0
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "&lt;img src=&#34;file:///etc/passwd&#34;&gt;" in html
    assert "<img" not in html and "<link" not in html and "<object" not in html and "<b>" not in html


def test_unescaped_urls_reaching_weasyprint_are_refused_by_the_fetcher(server: str) -> None:
    """The positive control: if markup did get through, the fetcher would be asked and would refuse."""
    fetcher = SpyFetcher()
    SpyFetcher.calls = []
    html = (
        f'<html><head><link rel="stylesheet" href="{server}/x.css"></head><body>'
        f'<img src="file:///etc/passwd"><img src="{server}/a.png">'
        '<img src="data:image/png;base64,iVBORw0KGgo=">'
        '<p style="background: url(file:///etc/hostname)">control</p></body></html>'
    )
    pdf = render_pdf(html, fetcher)
    assert any(u.startswith("file:///etc/passwd") for u in SpyFetcher.calls)
    assert any(u.startswith(server) for u in SpyFetcher.calls)
    assert set(SpyFetcher.calls) == set(fetcher.refused)
    assert CountingHandler.requests == []
    assert b"root:x:0:0" not in pdf
    reader = PdfReader(io.BytesIO(pdf))
    assert "control" in reader.pages[0].extract_text()


@pytest.mark.parametrize("url", [
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "https://example.org/logo.png",
    "data:text/css,body{color:red}",
    "ftp://example.org/x",
    "asset:../config/study.toml",
    "asset:/etc/passwd",
    "asset:report.html",
    "asset:missing.css",
    "report.css",
    "",
])
def test_fetcher_refuses_everything_but_template_assets(url: str) -> None:
    fetcher = AssetFetcher()
    with pytest.raises(URLRefused):
        fetcher.fetch(url)
    with pytest.raises(URLRefused):
        fetcher(url)
    assert fetcher.refused


def test_fetcher_refuses_http_without_contacting_the_server(server: str) -> None:
    with pytest.raises(URLRefused):
        AssetFetcher().fetch(f"{server}/x.png")
    assert CountingHandler.requests == []


def test_fetcher_serves_our_own_stylesheet() -> None:
    response = AssetFetcher().fetch("asset:report.css")
    try:
        assert response.content_type == "text/css"
        assert b"@page" in response.read()
    finally:
        response.close()


def test_autoescaping_is_on_for_every_template() -> None:
    env = environment()
    assert env.autoescape is True  # not select_autoescape by extension: every template, whatever its name
    assert env.from_string("{{ value }}").render(value=PASSWD) == "&lt;img src=&#34;file:///etc/passwd&#34;&gt;"
    assert env.loader is not None and "report.html" in env.loader.list_templates()
