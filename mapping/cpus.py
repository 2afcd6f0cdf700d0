"""How many CPUs are free for worker processes, measured while this process is busy anyway.

The sample window is the time this process spends reading the first jobs of a phase: the CPUs' idle share
in that window (``/proc/stat``) plus the one CPU this process itself kept busy is what workers could use.
Where ``/proc/stat`` is missing, the 1-minute load average stands in.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_STAT = Path("/proc/stat")
MIN_TICKS_PER_CPU = 3  # below this the window was too short to say anything


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _ticks() -> tuple[int, int] | None:
    """(idle, total) clock ticks summed over all CPUs since boot."""
    try:
        fields = PROC_STAT.read_text(encoding="ascii").split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    values = [int(value) for value in fields[1:9]]
    return values[3] + values[4], sum(values)


class FreeCpus:
    """Start the window on construction; :meth:`count` ends it."""

    def __init__(self) -> None:
        self.cpus = cpu_count()
        self._start = _ticks()

    def count(self) -> int:
        end = _ticks()
        if self._start is not None and end is not None:
            idle, total = end[0] - self._start[0], end[1] - self._start[1]
            if total >= MIN_TICKS_PER_CPU * self.cpus:
                return min(self.cpus, int(self.cpus * idle / total + 1.5))
        if hasattr(os, "getloadavg"):
            others = max(0.0, os.getloadavg()[0] - 1)  # the load minus this process
            return max(1, min(self.cpus, int(self.cpus - others + 0.5)))
        return self.cpus
