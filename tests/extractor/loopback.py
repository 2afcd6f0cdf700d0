"""A minimal FHIR server on loopback for tests that need real sockets but not HAPI (behind the fault
proxy or the SMART authorization server): every GET is answered with an empty searchset Bundle."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fault_proxy import send

EMPTY_BUNDLE = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests += 1
        send(self, 200, [("Content-Type", "application/fhir+json")], EMPTY_BUNDLE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    requests = 0


class LoopbackFhir:
    """``with LoopbackFhir() as fhir: fhir.origin`` (scheme://host:port; the FHIR base is origin + /fhir)."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> int:
        return self._server.requests

    def __enter__(self) -> LoopbackFhir:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
