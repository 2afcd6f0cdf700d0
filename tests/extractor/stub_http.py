"""A stub HTTP layer for unit tests: a requests.Session whose answers come from a Python function,
a fake clock, and a tiny in-memory FHIR search server."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from requests.structures import CaseInsensitiveDict

from config.fhir import FhirSettings

BASE = "http://fhir.test/fhir"


@dataclass
class Call:
    method: str
    url: str
    headers: dict[str, str]
    data: Any
    timeout: Any


Handler = Callable[[Call], "requests.Response | BaseException"]


def response(status: int = 200, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None,
             url: str = BASE) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
                   404: "Not Found", 429: "Too Many Requests", 500: "Server Error", 503: "Service Unavailable"}.get(
        status, "Status")
    resp._content = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
    resp._content_consumed = True
    resp.raw = io.BytesIO(resp._content)
    resp.headers = CaseInsensitiveDict({"Content-Type": "application/fhir+json;charset=UTF-8", **(headers or {})})
    resp.url = url
    return resp


class StubSession(requests.Session):
    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.calls: list[Call] = []

    def request(self, method, url, params=None, headers=None, data=None, timeout=None, **kwargs):  # type: ignore[override]
        full = url + ("?" + urlencode(params) if params else "")
        call = Call(method, full, dict(headers or {}), data, timeout)
        self.calls.append(call)
        out = self.handler(call)
        if isinstance(out, BaseException):
            raise out
        if not out.url or out.url == BASE:
            out.url = full
        return out


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.mono = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.mono += seconds


def settings(**overrides: Any) -> FhirSettings:
    values: dict[str, Any] = {"base_url": BASE, "max_attempts": 4, "backoff_base": 0.5, "backoff_cap": 8.0}
    values.update(overrides)
    return FhirSettings(**values)


def sequence(*answers: requests.Response | BaseException) -> Handler:
    """Answer with each item in turn; the last one repeats."""
    items = list(answers)

    def handler(call: Call) -> requests.Response | BaseException:
        item = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(item, requests.Response):  # fresh copy so .url can be set per call
            return response(item.status_code, raw=item.content, headers=dict(item.headers))
        return item

    return handler


def bundle(resources: list[dict[str, Any]], next_url: str | None = None, total: int | None = None,
           last_updated: str = "2026-01-01T00:00:00.000+00:00") -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Bundle", "type": "searchset", "meta": {"lastUpdated": last_updated},
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
        "link": [{"relation": "self", "url": BASE}],
    }
    if next_url:
        body["link"].append({"relation": "next", "url": next_url})
    if total is not None:
        body["total"] = total
    return body


class FakeFhirServer:
    """Enough FHIR search for the extractor: code / _id / patient / _lastUpdated=gt filters, _count paging,
    ``_summary=count`` (unless ``counts=False``), transactions.

    ``_lastUpdated`` compares with ``meta.lastUpdated`` as text; a resource without one is older than any.
    """

    def __init__(
        self, resources: list[dict[str, Any]] | None = None, *, ignore_patient: bool = False, counts: bool = True
    ) -> None:
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        for resource in resources or []:
            self.store[(resource["resourceType"], resource["id"])] = resource
        self.ignore_patient = ignore_patient
        self.counts = counts
        self.transactions: list[dict[str, Any]] = []

    def __call__(self, call: Call) -> requests.Response:
        parts = urlsplit(call.url)
        path = parts.path[len(urlsplit(BASE).path):].strip("/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if call.method == "POST" and path == "":
            return self._transaction(json.loads(call.data))
        return self._search(path, query)

    def _transaction(self, body: dict[str, Any]) -> requests.Response:
        self.transactions.append(body)
        out = []
        for entry in body["entry"]:
            resource = entry["resource"]
            key = (resource["resourceType"], resource["id"])
            status = "200 OK" if key in self.store else "201 Created"
            self.store[key] = resource
            out.append({"response": {"status": status}})
        return response(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": out})

    def _matches(self, rtype: str, resource: dict[str, Any], query: dict[str, str]) -> bool:
        if "_id" in query and resource["id"] not in query["_id"].split(","):
            return False
        if "patient" in query and not self.ignore_patient:
            ref = (resource.get("subject") or {}).get("reference", "")
            if ref.removeprefix("Patient/") not in query["patient"].split(","):
                return False
        if "_lastUpdated" in query:
            stamp = (resource.get("meta") or {}).get("lastUpdated", "")
            if not stamp > query["_lastUpdated"].removeprefix("gt"):
                return False
        if "code" in query:
            wanted = set(query["code"].split(","))
            codings = (resource.get("code") or {}).get("coding") or []
            if not any(f"{c.get('system')}|{c.get('code')}" in wanted for c in codings):
                return False
        return True

    def _search(self, rtype: str, query: dict[str, str]) -> requests.Response:
        matches = [r for (t, _), r in sorted(self.store.items()) if t == rtype and self._matches(t, r, query)]
        if query.get("_summary") == "count":
            return response(200, bundle([], total=len(matches) if self.counts else None))
        count = int(query.get("_count", "20"))
        offset = int(query.get("_offset", "0"))
        page = matches[offset: offset + count]
        next_url = None
        if offset + count < len(matches):
            rest = {k: v for k, v in query.items() if k != "_offset"}
            next_url = f"{BASE}/{rtype}?{urlencode({**rest, '_offset': offset + count})}"
        return response(200, bundle(page, next_url, total=len(matches)))


def cohort_resources(n_patients: int, *, noise: int = 0, index_code: tuple[str, str]) -> list[dict[str, Any]]:
    """Patients with an index Procedure, a Condition and two Observations; noise patients without one."""
    out: list[dict[str, Any]] = []
    system, code = index_code
    for i in range(n_patients + noise):
        pid = f"p{i:04d}"
        subject = {"reference": f"Patient/{pid}"}
        out.append({"resourceType": "Patient", "id": pid})
        proc_code = code if i < n_patients else "other-procedure"
        out.append({"resourceType": "Procedure", "id": f"{pid}-proc", "subject": subject,
                    "code": {"coding": [{"system": system, "code": proc_code}]}})
        out.append({"resourceType": "Condition", "id": f"{pid}-cond", "subject": subject})
        for j in range(2):
            out.append({"resourceType": "Observation", "id": f"{pid}-obs{j}", "subject": subject})
    return out
