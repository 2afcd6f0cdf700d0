"""Data-quality gates: each one that trips says what it saw, the limit and the setting."""

from __future__ import annotations

from config.study import QualityGates
from service.gates import gate_problems

GATES = QualityGates(max_unmappable_percent=20.0, max_cohort_shrink=2)
COUNTS = {"resources": 100, "unmappable": 5, "patients": 10, "measures": 40}


def test_a_sound_run_passes_every_gate() -> None:
    assert gate_problems(COUNTS, GATES, previous_patients=11) == []
    assert gate_problems(COUNTS, GATES, previous_patients=None) == []


def test_too_many_unmappable_resources_block_the_run() -> None:
    (problem,) = gate_problems({**COUNTS, "unmappable": 21}, GATES, None)
    assert problem == (
        "21.0% of resources are unmappable (21 of 100), above the limit of 20% (quality_gates.max_unmappable_percent)"
    )
    assert gate_problems({**COUNTS, "unmappable": 20}, GATES, None) == []


def test_a_cohort_that_shrank_by_more_than_the_limit_blocks_the_run() -> None:
    (problem,) = gate_problems(COUNTS, GATES, previous_patients=13)
    assert "shrank from 13 to 10 patients" in problem and "quality_gates.max_cohort_shrink" in problem
    assert gate_problems(COUNTS, GATES, previous_patients=12) == []


def test_an_empty_extraction_is_blocked_for_every_reason_that_applies() -> None:
    problems = gate_problems({"resources": 0, "unmappable": 0, "patients": 0}, GATES, previous_patients=7)
    assert problems == [
        "no resources were extracted",
        "the cohort is empty",
        "the cohort shrank from 7 to 0 patients since the last successful run, more than the limit of 2 "
        "(quality_gates.max_cohort_shrink)",
    ]
