"""The seed paper's inferential claims, judged against this cohort's results.

Pure: takes the ``results.json`` document and the study's claims, returns plain verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from config.study import Claim

SUPPORTED = "supported"
NOT_SUPPORTED = "not supported"
NOT_ASSESSABLE = "cannot be assessed"


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    verdict: str
    evidence: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def values_at(document: Any, path: str) -> list[Any]:
    """Every value at a dotted path; ``name[]`` fans out over a list. Missing parts give no values."""
    current = [document]
    for part in path.split("."):
        fan_out = part.endswith("[]")
        key = part[:-2] if fan_out else part
        step = []
        for node in current:
            value = node.get(key) if isinstance(node, dict) else None
            if fan_out and isinstance(value, list):
                step.extend(value)
            elif not fan_out and value is not None:
                step.append(value)
        current = step
    return current


def _passes(value: float, claim: Claim) -> bool:
    return value < claim.threshold if claim.test == "below" else value >= claim.threshold


def assess_claim(results: dict[str, Any], claim: Claim) -> ClaimVerdict:
    values = values_at(results, claim.path)
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    relation = "<" if claim.test == "below" else "≥"
    if not numbers or len(numbers) != len(values):
        evidence = f"no value at {claim.path} (see warnings: not computable on these data)"
        return ClaimVerdict(claim.text, NOT_ASSESSABLE, evidence, claim.path)
    shown = ", ".join(f"{v:.3g}" for v in numbers)
    label = "p" if len(numbers) == 1 else "p values"
    every = "every one " if len(numbers) > 1 else ""
    evidence = f"{label} {shown}; the claim needs {every}{relation} {claim.threshold:g}"
    verdict = SUPPORTED if all(_passes(v, claim) for v in numbers) else NOT_SUPPORTED
    return ClaimVerdict(claim.text, verdict, evidence, claim.path)


def assess_claims(results: dict[str, Any], claims: Sequence[Claim]) -> list[ClaimVerdict]:
    """A verdict for each claim: supported, not supported, or cannot be assessed (with the figures)."""
    return [assess_claim(results, claim) for claim in claims]
