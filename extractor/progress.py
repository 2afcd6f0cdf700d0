"""Progress of a pull: a live status line on a terminal, plain log lines otherwise (cron, CI).

Only counts are shown (resources per type, pages, rate): never an id or anything else about a patient.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from typing import TextIO

log = logging.getLogger("extractor.progress")

LOG_EVERY = 30.0  # seconds between plain log lines
DRAW_EVERY = 0.2  # seconds between redraws of the terminal line


class Progress:
    """Thread-safe counters with a throttled display. ``enabled=False`` keeps only the final summary."""

    def __init__(self, enabled: bool = False, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.live = enabled and _isatty(self.stream)
        self.counts: Counter[str] = Counter()
        self.pages = 0
        self.phase = ""
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._last_log = self._start

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            if self.enabled and not self.live:
                log.info("extract: %s", phase)
            self._draw(force=True)

    def add(self, resource_type: str, n: int = 1, *, pages: int = 0) -> None:
        with self._lock:
            self.counts[resource_type] += n
            self.pages += pages
            self._draw()

    def summary(self) -> str:
        elapsed = max(time.monotonic() - self._start, 1e-9)
        total = sum(self.counts.values())
        per_type = ", ".join(f"{t} {n}" for t, n in sorted(self.counts.items())) or "nothing yet"
        return f"{total} resources ({per_type}), {self.pages} pages, {total / elapsed:.0f}/s"

    def close(self, *, failed: bool = False) -> None:
        with self._lock:
            if self.live:  # leave the final state on screen
                self.stream.write(f"\r\x1b[K{self.phase}: {self.summary()}"[:200] + "\n")
                self.stream.flush()
            if failed:
                log.info("extract stopped during %s after %s", self.phase or "start", self.summary())
            else:
                log.info("extract done: %s", self.summary())

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.live:
            if force or now - self._last_draw >= DRAW_EVERY:
                self._last_draw = now
                line = f"{self.phase}: {self.summary()}"
                self.stream.write("\r\x1b[K" + line[:200])
                self.stream.flush()
        elif now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.info("extract: %s: %s", self.phase, self.summary())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
