"""Worker processes give exactly the in-process result (order of rows and of the data-quality log included)."""

from __future__ import annotations

from conftest import LOCAL, LOINC, SNOMED


def _cohort_resources(fhir, n: int) -> list[dict]:
    resources: list[dict] = []
    for i in range(n):
        pid = f"p{i}"
        month = 1 + i % 12
        surgery = f"2022-{month:02d}-10"
        resources += fhir.basic(pid, date=surgery, zones=("I", "II", "IV") if i % 3 == 0 else ("II", "III"))
        resources += [
            fhir.vas(pid, f"2022-{month:02d}-01", 7 + i % 3),
            fhir.vas(pid, f"2022-{month:02d}-01T10:00:00Z", 5),  # same-day conflict
            fhir.kps(pid, "2023-06-01", 60),
            fhir.complication(pid, "heterotopic-ossification", "2023-05-01"),
            fhir.observation(pid, (LOINC, "8867-4"), "2023-08-01", valueInteger=70),
            fhir.observation(pid, (LOCAL, "msts93"), "2021-01-01", valueString="twelve"),
            fhir.status(pid, "2023-07-01", (SNOMED, "399409002")),
        ]
    resources.append(fhir.vas("ghost", "2022-06-01", 5))
    return resources


def test_parallel_workers_give_the_same_cohort_as_in_process(fhir, run):
    resources = _cohort_resources(fhir, 40)
    serial = run(resources, workers=0)
    parallel = run(resources, workers=2)
    assert len(serial.patients) == 40
    assert parallel.patients.equals(serial.patients)
    assert parallel.measures.equals(serial.measures)
    assert parallel.events.equals(serial.events)
    assert parallel.quality.to_dict() == serial.quality.to_dict()
    assert (parallel.n_resources, parallel.n_unmappable) == (serial.n_resources, serial.n_unmappable)
