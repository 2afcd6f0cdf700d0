"""Data-quality gates: a run whose data look wrong is not sent to the tumour board.

The limits live in the study definition (``[quality_gates]``). Each gate that trips returns one
sentence saying what was seen, the limit, and the setting that holds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from config.study import QualityGates


def gate_problems(
    counts: Mapping[str, int],
    gates: QualityGates,
    previous_patients: int | None,
    examples: Sequence[str] = (),
) -> list[str]:
    """Why this run must not be sent; empty when every gate passes.

    ``previous_patients`` is the cohort size of the last successful run (``None``: no such run);
    ``examples`` are the first few extraction problems (``file:line reason``), quoted when that gate trips.
    """
    problems: list[str] = []
    read = int(counts.get("read", 0))
    broken = int(counts.get("extraction_problems", 0))
    resources = int(counts.get("resources", 0))
    unmappable = int(counts.get("unmappable", 0))
    patients = int(counts.get("patients", 0))
    if read > 0 and 100.0 * broken / read > gates.max_extraction_problem_percent:
        first = f"; first: {', '.join(examples)}" if examples else ""
        problems.append(
            f"{100.0 * broken / read:.1f}% of what was read could not be used ({broken} of {read} lines or "
            f"resources), above the limit of {gates.max_extraction_problem_percent:g}% "
            f"(quality_gates.max_extraction_problem_percent){first}"
        )
    if resources <= 0:
        problems.append("no resources were extracted")
    else:
        percent = 100.0 * unmappable / resources
        if percent > gates.max_unmappable_percent:
            problems.append(
                f"{percent:.1f}% of resources are unmappable ({unmappable} of {resources}), above the limit of "
                f"{gates.max_unmappable_percent:g}% (quality_gates.max_unmappable_percent)"
            )
    if patients <= 0:
        problems.append("the cohort is empty")
    if previous_patients is not None and previous_patients - patients > gates.max_cohort_shrink:
        problems.append(
            f"the cohort shrank from {previous_patients} to {patients} patients since the last successful run, "
            f"more than the limit of {gates.max_cohort_shrink} (quality_gates.max_cohort_shrink)"
        )
    return problems
