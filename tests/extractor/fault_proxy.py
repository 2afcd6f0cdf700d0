"""A fault-injecting reverse proxy on loopback, between the extractor and a real FHIR server.

Requests are forwarded unchanged (the Host header too, so the server writes next links that point back
at the proxy). Rules, tried in order, can inject for matching requests:

* ``latency``  - wait ``delay`` seconds, then forward;
* ``status``   - answer ``status`` (e.g. 429 with ``retry_after``, 500, 503) without forwarding;
* ``drop``     - close the connection without any answer;
* ``truncate`` - forward, then send the full Content-Length but only half of the body and close;
* ``garbage``  - answer 200 with a body that is not JSON.

A rule applies to requests whose method and path+query match (``pattern`` is a regular expression), on
every ``every``-th match, at most ``times`` times (``None`` = always).

Usage::

    with FaultProxy("http://127.0.0.1:8091") as proxy:
        proxy.add(Rule("status", r"Observation", status=429, retry_after="1", times=3))
        url = proxy.base_url + "/fhir"
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


@dataclass
class Rule:
    action: str  # latency | status | drop | truncate | garbage
    pattern: str = ".*"
    method: str | None = None
    status: int = 503
    retry_after: str | None = None
    delay: float = 0.0
    every: int = 1
    times: int | None = None
    matched: int = 0
    applied: int = 0

    def fires(self, method: str, target: str) -> bool:
        if self.method and self.method != method:
            return False
        if not re.search(self.pattern, target):
            return False
        self.matched += 1
        if self.matched % self.every:
            return False
        if self.times is not None and self.applied >= self.times:
            return False
        self.applied += 1
        return True


def forward(handler: BaseHTTPRequestHandler, upstream: str, body: bytes | None) -> tuple[int, list[tuple[str, str]],
                                                                                           bytes]:
    """Send the handler's request to ``upstream`` (scheme://host:port); return status, headers, body."""
    parts = urlsplit(upstream)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=300)
    try:
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn.request(handler.command, handler.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        return resp.status, out_headers, data
    finally:
        conn.close()


def read_body(handler: BaseHTTPRequestHandler) -> bytes | None:
    length = handler.headers.get("Content-Length")
    return handler.rfile.read(int(length)) if length else None


def send(handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    handler.send_response(status)
    for key, value in headers:
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = read_body(self)
        rule = proxy.pick(self.command, self.path)
        proxy.log.append((self.command, self.path, rule.action if rule else "forward"))
        if rule is not None and rule.action == "latency":
            time.sleep(rule.delay)
            rule = None
        if rule is None:
            send(self, *forward(self, proxy.upstream, body))
            return
        if rule.action == "status":
            headers = [("Content-Type", "application/fhir+json")]
            if rule.retry_after is not None:
                headers.append(("Retry-After", rule.retry_after))
            outcome = b'{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"transient"}]}'
            send(self, rule.status, headers, outcome)
        elif rule.action == "drop":
            self.close_connection = True
        elif rule.action == "garbage":
            send(self, 200, [("Content-Type", "application/fhir+json")], b'{"resourceType":"Bundle","entry":[{')
        elif rule.action == "truncate":
            status, headers, data = forward(self, proxy.upstream, body)
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: FaultProxy


@dataclass
class FaultProxy:
    upstream: str  # scheme://host:port of the real server
    rules: list[Rule] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.log.clear()

    def pick(self, method: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.fires(method, target):
                    return rule
        return None

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
