"""Following a FHIR search through its pages (``Bundle.link[relation=next]``).

Next links may be absolute or relative (resolved against the service base). A next link that leaves the
server's origin (scheme, host, port) is refused with a :class:`FhirError`: the extractor never sends a
request, or credentials, to a stranger. A next link already visited (a loop) is refused too. When a
server states ``Bundle.total``, a search that delivers a different number of matches fails the pull.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from config.errors import FhirError
from extractor.http import HttpClient, InvalidPayload, JsonResponse, safe_url
from extractor.values import parse_instant

_DEFAULT_PORTS = {"http": 80, "https": 443}
NO_CACHE = {"Cache-Control": "no-cache"}


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)


def resolve_link(href: str, base_url: str) -> str:
    """Resolve a Bundle link; relative links are relative to the service base."""
    return urljoin(base_url.rstrip("/") + "/", href)


def validate_bundle(body: dict[str, Any]) -> None:
    """Reject (so the page is retried) anything that is not a Bundle of resources."""
    if body.get("resourceType") != "Bundle":
        raise InvalidPayload(f"expected a Bundle, got {str(body.get('resourceType'))[:40]!r}")
    entries = body.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidPayload("Bundle.entry is not a list")
    for index, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if entry_mode(entry) == "outcome":
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise InvalidPayload(f"Bundle.entry[{index}] holds no FHIR resource")
        if not isinstance(resource.get("id"), str) or not resource["id"]:
            raise InvalidPayload(f"Bundle.entry[{index}] resource has no id")


def entry_mode(entry: Any) -> str:
    search = entry.get("search") if isinstance(entry, dict) else None
    mode = search.get("mode") if isinstance(search, dict) else None
    if mode is None and isinstance(entry, dict):
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
            return "outcome"
    return str(mode or "match")


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def bundle_time(page: JsonResponse) -> datetime | None:
    """Server time of a search page: ``Bundle.meta.lastUpdated``, else the ``Date`` header."""
    meta = page.body.get("meta")
    stamp = parse_instant(meta.get("lastUpdated")) if isinstance(meta, dict) else None
    return stamp if stamp is not None else page.date


@dataclass
class SearchResult:
    """Bookkeeping for one followed search."""

    pages: int = 0
    matches: int = 0
    total: int | None = None
    started: datetime | None = None  # server time of the first page


def _following(page: JsonResponse, base_url: str, seen: set[str]) -> str | None:
    """The checked next-page URL of ``page``, or None on the last page."""
    href = next_link(page.body)
    if href is None:
        return None
    following = resolve_link(href, base_url)
    if not same_origin(following, base_url):
        scheme, host, port = origin(following)
        raise FhirError(
            f"refusing to follow a next link to another origin ({scheme}://{host}:{port}); "
            "the server's base URL may be misconfigured (check its proxy/base-URL settings)",
            safe_url(page.url),
        )
    if following in seen:
        raise FhirError("the server's next links loop back to a page already read", safe_url(following))
    seen.add(following)
    return following


def iter_pages(
    client: HttpClient,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    result: SearchResult | None = None,
    validate: Callable[[dict[str, Any]], None] = validate_bundle,
) -> Iterator[JsonResponse]:
    """Yield every page of a search, first to last; raise when paging goes wrong.

    While the caller works on page N, page N+1 is already being fetched (one request in flight per search,
    sent only after page N arrived, so a sequential pull still uses one connection); this hides our own
    processing behind the server's. ``Cache-Control: no-cache`` asks servers that cache search results
    (HAPI does, for a minute by default) for the current state, which incremental pulls depend on.
    """
    base_url = client.settings.base_url
    result = result if result is not None else SearchResult()
    seen: set[str] = set()

    def fetch(target: str, query: Mapping[str, str] | None) -> JsonResponse:
        return client.get_json(target, query, validate=validate, headers=NO_CACHE)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhir-page") as prefetcher:
        pending: Future[JsonResponse] | None = None
        try:
            page = fetch(url, params)
            while True:
                result.pages += 1
                if result.pages == 1:
                    result.started = bundle_time(page)
                    total = page.body.get("total")
                    result.total = total if isinstance(total, int) and not isinstance(total, bool) else None
                result.matches += sum(1 for e in page.body.get("entry") or [] if entry_mode(e) == "match")
                following = _following(page, base_url, seen)
                pending = prefetcher.submit(fetch, following, None) if following else None
                yield page
                if pending is None:
                    break
                page, pending = pending.result(), None
        finally:
            if pending is not None:
                pending.cancel()
    if result.total is not None and result.total != result.matches:
        raise FhirError(
            f"search delivered {result.matches} matches but the server reported total {result.total}; "
            "refusing a short or inconsistent pull",
            safe_url(url),
        )


def iter_resources(
    client: HttpClient,
    url: str,
    params: Mapping[str, str] | None = None,
    *,
    result: SearchResult | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield the matched resources of every page (``search.mode`` outcome/include entries are skipped)."""
    for page in iter_pages(client, url, params, result=result):
        for entry in page.body.get("entry") or []:
            if entry_mode(entry) == "match":
                yield entry["resource"]
