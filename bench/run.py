"""Benchmark: one whole run (extract, map, analyse, render, publish), its time and peak memory per phase.

    .venv/bin/python bench/run.py                      # 500 synthetic patients from files, 3 rounds
    .venv/bin/python bench/run.py --patients 64 --rounds 5
    .venv/bin/python bench/run.py --source DIR         # any folder of <Type>.ndjson files

The cohort is ``extractor.demo.synthetic`` (seeded: the same resources every time) with 10 % noise patients
(no index procedure), written once as NDJSON files. Each round runs ``python -m service run --source ...``
in a fresh process and samples the resident memory of that process and its children (``/proc``) every
20 ms; the phase lines the run logs ("extracting", "mapping", "analysing", "rendering", "publishing") split
the wall time and give each phase its peak. Figures are medians over the rounds (peak: the largest).
The goal of issue 16 is a 500-patient run in 30 s and 400 MiB on a 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("extracting", "mapping", "analysing", "rendering", "publishing")


def _rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in KiB (0 once it has gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return total


def one_run(source: Path, work: Path) -> tuple[dict[str, float], dict[str, int], float]:
    """(seconds per phase, peak KiB per phase, total seconds) of one run in a fresh process."""
    out, data = work / "out", work / "data"
    env = {**os.environ, "PELVIC_PSEUDONYM_KEY": "bench-" + "k" * 40, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "run", "--source", str(source), "--out", str(out), "--data-dir", str(data)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    marks: list[tuple[str, float]] = [("start", started)]
    peaks: dict[str, int] = {}
    phase = ["start"]

    def sample() -> None:
        while process.poll() is None:
            peaks[phase[0]] = max(peaks.get(phase[0], 0), _rss_kib(process.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    assert process.stderr is not None
    for line in process.stderr:
        found = next((name for name in PHASES if f"service.run: {name}" in line), None)
        if found is not None:
            marks.append((found, time.perf_counter()))
            phase[0] = found
    code = process.wait()
    ended = time.perf_counter()
    sampler.join()
    if code != 0:
        raise SystemExit(f"the run failed with exit code {code}")
    marks.append(("end", ended))
    seconds = {name: later - at for (name, at), (_, later) in itertools.pairwise(marks)}
    return seconds, peaks, ended - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--source", type=Path, help="a folder of <Type>.ndjson files instead of the synthetic cohort")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        source = args.source
        if source is None:
            source = Path(tmp) / "source"
            subprocess.run([sys.executable, "-m", "extractor.demo.synthetic", "--patients", str(args.patients),
                            "--noise", str(max(1, args.patients // 10)), "--out", str(source)],
                           cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        resources = sum(1 for path in source.glob("*.ndjson") for _ in path.open(encoding="utf-8"))
        print(f"whole run: {source if args.source else f'{args.patients} synthetic patients'}, "
              f"{resources} resources, {args.rounds} rounds, {os.cpu_count()} CPUs")
        rounds = [one_run(source, Path(tmp) / f"round-{number}") for number in range(args.rounds)]
    print(f"{'phase':<12}{'median s':>10}{'peak MiB':>10}")
    for name in ("start", *PHASES):
        times = [seconds.get(name) for seconds, _, _ in rounds]
        if all(t is None for t in times):
            continue
        peak = max(peaks.get(name, 0) for _, peaks, _ in rounds) / 1024
        print(f"{name:<12}{statistics.median(t or 0.0 for t in times):>10.2f}{peak:>10.0f}")
    total = statistics.median(t for _, _, t in rounds)
    peak_all = max(max(peaks.values(), default=0) for _, peaks, _ in rounds) / 1024
    print(f"{'total':<12}{total:>10.2f}{peak_all:>10.0f}")
    print(f"goal (issue 16, 500 patients): 30 s, 400 MiB; this run: {total / 30:.2f}x the time, "
          f"{peak_all / 400:.2f}x the memory")


if __name__ == "__main__":
    main()
