"""Numeric search behind the demo cohort's values.

The seed abstract prints, for 7 patients, medians/IQRs of VAS and KPS at four timepoints, the Friedman
chi-squared of each score, the MSTS 93 mean ± SD before and 3 months after surgery, and a paired t-test
P value for the contralateral sacroiliac joint (SIJ) space in the Zone IV group. This module finds
admissible values that reproduce all of them:

* VAS / KPS: every sorted column (timepoint) whose R type 7 median and quartiles match the print is
  enumerated; a seeded simulated annealing then picks one column per timepoint and the order of the
  values across patients so that the Friedman chi-squared rounds to the printed value, while
  penalising implausible trajectories (pain going up, KPS going down, big jumps).
* MSTS 93: integer multisets whose sum and sum of squares give the printed mean and SD.
* SIJ: 0.1 mm differences whose paired t-test P rounds to the printed value.

``python -m extractor.demo.search`` prints the solutions; ``extractor/demo/generate.py`` holds the chosen
rows (assigned to patients by hand) as a table. Nothing here is run by the generator itself.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement, pairwise

from scipy import stats

Column = tuple[float, ...]
Rows = list[list[float]]
Undo = tuple[int, Column | None, tuple[int, int] | None]  # timepoint, replaced column, swapped patients

N_PATIENTS = 7
N_TIMEPOINTS = 4
CHI2_TOLERANCE = 0.004  # |chi2 - printed| <= 0.004 rounds to the printed two decimals


@dataclass(frozen=True)
class Summary:
    """A printed 'median (Q1-Q3)'."""

    median: float
    q1: float
    q3: float


@dataclass(frozen=True)
class ScoreProblem:
    """One score (VAS or KPS) measured at four timepoints."""

    name: str
    columns: tuple[tuple[Column, ...], ...]  # admissible sorted columns per timepoint
    target_chi2: float
    direction: int  # -1: lower is better (VAS), +1: higher is better (KPS)
    unit: float  # smallest step of the scale


@dataclass(frozen=True)
class Solution:
    score: float
    chi2: float
    rows: tuple[tuple[float, ...], ...]  # one row per patient, one value per timepoint


def r7_quantile(sorted_values: Sequence[float], q: float) -> float:
    """R's default quantile (type 7), numpy's 'linear'."""
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def sorted_columns(grid: Sequence[float], summary: Summary, lo: float, hi: float) -> list[Column]:
    """All sorted 7-value columns on ``grid`` within [lo, hi] with the printed R-7 median and IQR.

    With n = 7, type 7 gives median = x4, Q1 = (x2 + x3) / 2 and Q3 = (x5 + x6) / 2.
    """
    values = [v for v in grid if lo <= v <= hi]
    allowed = set(values)
    out: list[Column] = []
    for x2 in values:
        x3 = 2 * summary.q1 - x2
        if x3 not in allowed or not x2 <= x3 <= summary.median:
            continue
        for x5 in values:
            x6 = 2 * summary.q3 - x5
            if x6 not in allowed or not summary.median <= x5 <= x6:
                continue
            for x1 in (v for v in values if v <= x2):
                out.extend((x1, x2, x3, summary.median, x5, x6, x7) for x7 in values if x7 >= x6)
    return out


def _row_ranks(row: Sequence[float]) -> tuple[list[float], int]:
    """Mid-ranks of one row and its tie term sum(t^3 - t)."""
    order = sorted(range(len(row)), key=lambda j: row[j])
    ranks = [0.0] * len(row)
    ties = 0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and row[order[j + 1]] == row[order[i]]:
            j += 1
        for t in range(i, j + 1):
            ranks[order[t]] = (i + j) / 2 + 1
        ties += (j - i + 1) ** 3 - (j - i + 1)
        i = j + 1
    return ranks, ties


def friedman_chi2(rows: Sequence[Sequence[float]]) -> float:
    """Friedman chi-squared with tie correction (same as scipy.stats.friedmanchisquare, R friedman.test)."""
    n, k = len(rows), len(rows[0])
    rank_sums = [0.0] * k
    ties = 0
    for row in rows:
        ranks, row_ties = _row_ranks(row)
        ties += row_ties
        rank_sums = [a + b for a, b in zip(rank_sums, ranks, strict=True)]
    raw = 12 / (n * k * (k + 1)) * sum(r * r for r in rank_sums) - 3 * n * (k + 1)
    return raw / (1 - ties / (k * (k * k - 1) * n))


def _step_penalty(a: float, b: float, direction: int, unit: float) -> float:
    worse = (a - b) * direction  # > 0 when the step goes the wrong way
    penalty = 3 + worse / unit if worse > 0 else (0.2 if worse == 0 else 0.0)
    if direction > 0 and abs(b - a) > 3 * unit:
        penalty += abs(b - a) / unit - 3
    return penalty


def trajectory_penalty(rows: Sequence[Sequence[float]], direction: int, unit: float) -> float:
    """How implausible the per-patient trajectories are (0 = strictly improving at every step)."""
    total = 0.0
    for row in rows:
        total += sum(_step_penalty(a, b, direction, unit) for a, b in pairwise(row))
        overall = (row[-1] - row[0]) * direction
        total += 10.0 if overall < 0 else (3.0 if overall == 0 else 0.0)
    return total


def _spread(columns: Sequence[Column], unit: float) -> float:
    """Prefer columns without far outliers beyond the quartiles."""
    return sum((c[1] - c[0] + c[6] - c[5]) / unit for c in columns)


def _rows(columns: Sequence[Column], order: Sequence[Sequence[int]]) -> Rows:
    return [[columns[t][order[t][i]] for t in range(N_TIMEPOINTS)] for i in range(N_PATIENTS)]


def _score(problem: ScoreProblem, columns: Sequence[Column], order: Sequence[Sequence[int]]) -> Solution:
    rows = _rows(columns, order)
    chi2 = friedman_chi2(rows)
    miss = max(0.0, abs(chi2 - problem.target_chi2) - CHI2_TOLERANCE)
    score = (
        1000 * miss
        + trajectory_penalty(rows, problem.direction, problem.unit)
        + 0.05 * _spread(columns, problem.unit)
    )
    return Solution(score, chi2, tuple(tuple(r) for r in rows))


def anneal(problem: ScoreProblem, seed: int, iterations: int) -> Solution:
    """Seeded simulated annealing over column choices and patient orderings."""
    rnd = random.Random(seed)
    columns = [rnd.choice(c) for c in problem.columns]
    order = [list(range(N_PATIENTS)) for _ in range(N_TIMEPOINTS)]
    current = _score(problem, columns, order)
    best = current
    for it in range(iterations):
        temperature = 5.0 * (1 - it / iterations) + 0.01
        t = rnd.randrange(N_TIMEPOINTS)
        undo: Undo
        if rnd.random() < 0.3:
            old_column = columns[t]
            columns[t] = rnd.choice(problem.columns[t])
            undo = (t, old_column, None)
        else:
            i, j = rnd.sample(range(N_PATIENTS), 2)
            order[t][i], order[t][j] = order[t][j], order[t][i]
            undo = (t, None, (i, j))
        candidate = _score(problem, columns, order)
        delta = current.score - candidate.score
        if delta >= 0 or rnd.random() < math.exp(delta / temperature):
            current = candidate
        else:
            _undo(columns, order, undo)
        if current.score < best.score:
            best = current
    return best


def _undo(columns: list[Column], order: list[list[int]], undo: Undo) -> None:
    t, old_column, swap = undo
    if old_column is not None:
        columns[t] = old_column
    if swap is not None:
        i, j = swap
        order[t][i], order[t][j] = order[t][j], order[t][i]


def best_of(problem: ScoreProblem, seeds: Sequence[int], iterations: int) -> tuple[int, Solution]:
    """Best solution over several seeds (ties go to the lower seed)."""
    results = [(seed, anneal(problem, seed, iterations)) for seed in seeds]
    return min(results, key=lambda r: (r[1].score, r[0]))


VAS_GRID = [i / 2 for i in range(21)]
KPS_GRID = [float(v) for v in range(0, 101, 10)]


def vas_problem() -> ScoreProblem:
    """VAS: 7.0 (6.0-8.5), 4.0 (3.5-5.0), 3.0 (2.0-4.5), 2.5 (2.0-3.5); chi2 9.46."""
    summaries = [Summary(7.0, 6.0, 8.5), Summary(4.0, 3.5, 5.0), Summary(3.0, 2.0, 4.5), Summary(2.5, 2.0, 3.5)]
    bounds = [(3.0, 10.0), (0.0, 9.0), (0.0, 8.0), (0.0, 7.0)]
    columns = tuple(
        tuple(sorted_columns(VAS_GRID, s, lo, hi)) for s, (lo, hi) in zip(summaries, bounds, strict=True)
    )
    return ScoreProblem("VAS", columns, 9.46, -1, 0.5)


def kps_problem() -> ScoreProblem:
    """KPS: 60 (40-60), 60 (50-70), 70 (60-80), 80 (70-80); chi2 13.36. No KPS below 30 (operable)."""
    summaries = [
        Summary(60.0, 40.0, 60.0), Summary(60.0, 50.0, 70.0), Summary(70.0, 60.0, 80.0), Summary(80.0, 70.0, 80.0)
    ]
    columns = tuple(tuple(sorted_columns(KPS_GRID, s, 30.0, 100.0)) for s in summaries)
    return ScoreProblem("KPS", columns, 13.36, 1, 10.0)


def integer_multisets(total: int, sum_squares: int, lo: int, hi: int, n: int = N_PATIENTS) -> Iterator[Column]:
    """Sorted n-tuples of integers in [lo, hi] with the given sum and sum of squares."""
    for combo in combinations_with_replacement(range(lo, hi + 1), n):
        if sum(combo) == total and sum(v * v for v in combo) == sum_squares:
            yield tuple(float(v) for v in combo)


def msts_sums(mean: float, sd: float, n: int = N_PATIENTS) -> tuple[int, int]:
    """Integer sum and sum of squares reproducing a printed mean ± SD (2 decimals, SD with ddof=1)."""
    total = round(mean * n)
    for sum_squares in range(total * total // n, total * total // n + 2000):
        ssd = sum_squares - total * total / n
        if ssd >= 0 and round(math.sqrt(ssd / (n - 1)), 2) == sd:
            return total, sum_squares
    raise ValueError("no integer solution")


def evenness(column: Column) -> float:
    """Largest gap between consecutive sorted values (smaller = more evenly spread)."""
    return max(b - a for a, b in pairwise(column))


def msts_columns() -> tuple[Column, Column]:
    """The most evenly spread MSTS columns: 11.00 ± 4.20 pre-op (range 3-20), 23.86 ± 4.06 at 3 months."""
    pre = min(integer_multisets(*msts_sums(11.00, 4.20), 3, 20), key=lambda c: (evenness(c), c))
    post = min(integer_multisets(*msts_sums(23.86, 4.06), 12, 30), key=lambda c: (evenness(c), c))
    return pre, post


def paired_t_p(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided paired t-test P (as scipy.stats.ttest_rel); 0.0 when all differences are equal."""
    diffs = [b - a for a, b in zip(before, after, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    if sd < 1e-12:
        return 0.0
    t = mean / (sd / math.sqrt(n))
    return float(2 * stats.t.sf(abs(t), n - 1))


def sij_iv_differences(target_p: float = 0.048) -> tuple[float, float, float]:
    """Zone IV widenings (0.1-1.0 mm, 0.1 mm steps) whose paired t-test P is closest to the printed 0.048.

    Ties go to the smallest mean widening, then lexicographically.
    """
    grid = [i / 10 for i in range(1, 11)]
    triples = list(combinations_with_replacement(grid, 3))
    best = min(triples, key=lambda d: (abs(paired_t_p([0.0] * 3, d) - target_p), sum(d), d))
    return best[0], best[1], best[2]


def _print_solution(problem: ScoreProblem, seed: int, solution: Solution) -> None:
    print(f"{problem.name}: chi2 = {solution.chi2:.4f} (target {problem.target_chi2}), seed {seed}, "
          f"penalty {solution.score:.2f}")
    for row in sorted(solution.rows, reverse=problem.direction < 0):
        print("   ", row)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=400_000)
    args = parser.parse_args(argv)
    for problem in (vas_problem(), kps_problem()):
        seed, solution = best_of(problem, range(args.seeds), args.iterations)
        _print_solution(problem, seed, solution)
    pre, post = msts_columns()
    print("MSTS pre:", pre, "3m:", post)
    print("SIJ Zone IV widening (mm):", sij_iv_differences())


if __name__ == "__main__":
    main()
