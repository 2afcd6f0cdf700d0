"""The seed paper's claims, judged against this cohort's results.

Pure: takes the ``results.json`` document and the study's claims, returns plain verdicts, each one of
:data:`VERDICTS` with a one-sentence reason:

- **reproduced**: a claimed difference is significant here at the claimed level (every p below it); a
  printed proportion is this cohort's count (or, on another cohort, lies inside its exact 95 % CI).
- **contradicted**: the test could have reached the claimed level and did not; a claim of no effect whose
  test is significant; a proportion that disagrees with the cohort.
- **unattainable**: the design cannot give the claimed result: the smallest p the test can give with these
  patients (``p_floor`` / ``p_adjusted_floor``) is at or above the claimed threshold, a model cannot be
  estimated (too few events, separation), or the figure cannot be computed on these data.
- **inconclusive**: a claim of *no* effect backed only by a non-significant test — absence of evidence,
  not evidence of absence; the effect estimate with its CI (``effect`` path) is shown instead.
- **arithmetic error**: the claim's own figures disagree: the printed percentage is not numerator ÷
  denominator (beyond one unit of its last printed digit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from config.study import Claim

REPRODUCED = "reproduced"
CONTRADICTED = "contradicted"
UNATTAINABLE = "unattainable"
INCONCLUSIVE = "inconclusive"
ARITHMETIC_ERROR = "arithmetic error"
VERDICTS = (REPRODUCED, CONTRADICTED, UNATTAINABLE, INCONCLUSIVE, ARITHMETIC_ERROR)


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    verdict: str
    evidence: str
    path: str
    reason: str = ""
    kind: str = ""
    effects: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- reading results.json


def values_at(document: Any, path: str) -> list[Any]:
    """Every value at a dotted path; ``name[]`` fans out over a list, ``name[key=value]`` keeps the list's
    elements whose ``key`` is ``value``. Missing parts give no values."""
    current = [document]
    for part in path.split("."):
        key, selector = _split(part)
        step: list[Any] = []
        for node in current:
            value = node.get(key) if isinstance(node, dict) else None
            if selector is not None and isinstance(value, list):
                step.extend(item for item in value if _selected(item, selector))
            elif selector is None and value is not None:
                step.append(value)
        current = step
    return current


def _split(part: str) -> tuple[str, tuple[str, str] | tuple[()] | None]:
    if not part.endswith("]") or "[" not in part:
        return part, None
    key, _, inside = part[:-1].partition("[")
    if not inside:
        return key, ()
    name, _, wanted = inside.partition("=")
    return key, (name, wanted)


def _selected(item: Any, selector: tuple[str, str] | tuple[()]) -> bool:
    if not selector:
        return True
    name, wanted = selector
    return isinstance(item, dict) and str(item.get(name)) == wanted


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _floor_path(path: str) -> str:
    """``…pairwise[].p_adjusted`` → ``…pairwise[].p_adjusted_floor``; ``….p`` → ``….p_floor``."""
    return f"{path}_floor"


def _p(value: float) -> str:
    return f"{value:.3g}"


# --------------------------------------------------------------------------- verdicts


def assess_claim(results: dict[str, Any], claim: Claim) -> ClaimVerdict:
    if claim.kind == "proportion":
        return _proportion(results, claim)
    if claim.kind == "model":
        return _model(results, claim)
    return _test(results, claim, values_at(results, claim.path), _floors(results, claim.path), claim.path)


def assess_claims(results: dict[str, Any], claims: Sequence[Claim]) -> list[ClaimVerdict]:
    """A verdict for each claim, with its figures (``evidence``) and a one-sentence ``reason``."""
    return [assess_claim(results, claim) for claim in claims]


def _verdict(claim: Claim, verdict: str, evidence: str, reason: str,
             effects: list[dict[str, Any]] | None = None) -> ClaimVerdict:
    return ClaimVerdict(claim.text, verdict, evidence, claim.path, reason, claim.kind, effects or [])


def _floors(results: dict[str, Any], path: str) -> list[float | None]:
    found = values_at(results, _floor_path(path))
    return [_number(v) for v in found]


def _printed(claim: Claim) -> str:
    return f" (printed P = {claim.printed_p:g})" if claim.printed_p is not None else ""


def _test(results: dict[str, Any], claim: Claim, values: list[Any], floors: list[float | None],
          where: str) -> ClaimVerdict:
    numbers = [_number(v) for v in values]
    relation = "<" if claim.test == "below" else "≥"
    if not numbers or any(v is None for v in numbers):
        return _verdict(claim, UNATTAINABLE, f"no value at {where}",
                        "The figure the claim rests on cannot be computed on these data (see the warnings).")
    ps = [v for v in numbers if v is not None]
    every = "every one " if len(ps) > 1 else ""
    evidence = f"{'p' if len(ps) == 1 else 'p values'} {', '.join(_p(v) for v in ps)}; the claim needs {every}" \
               f"{relation} {claim.threshold:g}{_printed(claim)}"
    significant = [v < claim.threshold for v in ps]
    if claim.test == "below":
        return _difference(claim, ps, significant, floors, evidence)
    return _no_difference(results, claim, ps, significant, evidence)


def _difference(claim: Claim, ps: list[float], significant: list[bool], floors: list[float | None],
                evidence: str) -> ClaimVerdict:
    if all(significant):
        return _verdict(claim, REPRODUCED, evidence,
                        f"Significant here at the claimed level (p < {claim.threshold:g}).")
    blocked = [f for f, ok in zip(floors, significant, strict=False) if not ok and f is not None
               and f >= claim.threshold]
    if blocked and len(floors) == len(ps):
        floor = min(blocked)
        return _verdict(claim, UNATTAINABLE, f"{evidence}; smallest attainable p {_p(floor)}",
                        f"With these patients the test cannot give p below {_p(floor)}, so p < {claim.threshold:g} "
                        "is out of reach whatever the data: the design cannot support the claim.")
    return _verdict(claim, CONTRADICTED, evidence,
                    "Not significant at the claimed level here, although the test could have reached it.")


def _no_difference(results: dict[str, Any], claim: Claim, ps: list[float], significant: list[bool],
                   evidence: str) -> ClaimVerdict:
    effects = _effects(results, claim.effect) if claim.effect else []
    if any(significant):
        return _verdict(claim, CONTRADICTED, evidence,
                        f"The test is significant here (p < {claim.threshold:g}): the data show an effect.", effects)
    shown = "; ".join(_effect_text(e) for e in effects)
    size = _size(effects)
    reason = (f"The test is not significant{size}, but a non-significant test does not show that there is no "
              "effect")
    reason += f": the estimate is {shown}." if shown else "."
    return _verdict(claim, INCONCLUSIVE, evidence, reason, effects)


def _size(effects: list[dict[str, Any]]) -> str:
    sizes = [(e.get("n"), e.get("events")) for e in effects if e.get("n") is not None]
    if not sizes:
        return ""
    n, events = sizes[0]
    if events is None:
        return f" on {n} patients"
    return f" on {n} patients with {events} event{'s' if events != 1 else ''}"


def _effects(results: dict[str, Any], path: str) -> list[dict[str, Any]]:
    """Effect estimates at ``path``: Cox terms (hazard ratios) or objects with ``estimate``."""
    out = []
    for node in values_at(results, path):
        if not isinstance(node, dict):
            continue
        if "hr" in node:
            out.append({"label": node.get("term", ""), "measure": "HR", "estimate": node.get("hr"),
                        "ci_lower": node.get("ci_lower"), "ci_upper": node.get("ci_upper"),
                        "n": node.get("n"), "events": node.get("events"),
                        "estimable": node.get("estimable", node.get("hr") is not None),
                        "reason": node.get("reason")})
        elif "estimate" in node:
            out.append({"label": str(node.get("method", "")), "measure": "estimate", "estimate": node.get("estimate"),
                        "ci_lower": node.get("ci_lower"), "ci_upper": node.get("ci_upper"), "n": None,
                        "events": None, "estimable": node.get("estimate") is not None, "reason": None})
    return out


def _effect_text(effect: dict[str, Any]) -> str:
    label = f"{effect['label']}: " if effect["label"] else ""
    estimate, low, high = (_number(effect.get(k)) for k in ("estimate", "ci_lower", "ci_upper"))
    if estimate is None:
        why = f" ({effect['reason']})" if effect.get("reason") else ""
        return f"{label}{effect['measure']} not estimable{why}"
    interval = f" (CI {_p(low)} to {_p(high)})" if low is not None and high is not None else ""
    return f"{label}{effect['measure']} {_p(estimate)}{interval}"


def _model(results: dict[str, Any], claim: Claim) -> ClaimVerdict:
    models = [m for m in values_at(results, claim.path) if isinstance(m, dict)]
    if len(models) != 1:
        return _verdict(claim, UNATTAINABLE, f"no model at {claim.path}",
                        "The model the claim rests on is not in the results.")
    model = models[0]
    terms = [t for t in model.get("terms") or [] if isinstance(t, dict)]
    if not model.get("estimable"):
        events, n_terms = model.get("events"), len(terms)
        evidence = f"not estimable: {model.get('reason') or 'no reason given'}"
        return _verdict(claim, UNATTAINABLE, evidence,
                        f"The model cannot be estimated on these data ({events} events for {n_terms} terms): "
                        "the design cannot support the claim either way.")
    effects = [{"label": t.get("term", ""), "measure": "HR", "estimate": t.get("hr"), "ci_lower": t.get("ci_lower"),
                "ci_upper": t.get("ci_upper"), "n": model.get("n"), "events": model.get("events"),
                "estimable": True, "reason": None} for t in terms]
    verdict = _test(results, claim, [t.get("p") for t in terms], [], f"{claim.path}.terms[].p")
    if verdict.verdict == INCONCLUSIVE:
        shown = "; ".join(_effect_text(e) for e in effects)
        reason = (f"No term is significant{_size(effects)}, but a non-significant model does not show that there "
                  f"is no effect: {shown}.")
        return _verdict(claim, INCONCLUSIVE, verdict.evidence, reason, effects)
    return _verdict(claim, verdict.verdict, verdict.evidence, verdict.reason, effects)


def _decimals(value: float) -> int:
    text = repr(float(value))
    return len(text.split(".")[1].rstrip("0")) if "." in text and "e" not in text else 0


def _proportion(results: dict[str, Any], claim: Claim) -> ClaimVerdict:
    assert claim.numerator is not None and claim.denominator is not None
    num, den = claim.numerator, claim.denominator
    computed = 100.0 * num / den
    printed = f"{num}/{den}" + (f" ({claim.percent:g}%)" if claim.percent is not None else "")
    rates = [r for r in values_at(results, claim.path) if isinstance(r, dict)]
    rate = rates[0] if len(rates) == 1 else {}
    count, n = rate.get("count"), rate.get("n")
    ours = f"no rate at {claim.path}"
    if isinstance(count, int) and isinstance(n, int):
        ours = f"this cohort {count}/{n}" + (f" ({100.0 * count / n:.1f}%)" if n else "")
    evidence = f"printed {printed}; {ours}"
    if claim.percent is not None:
        step = 10.0 ** -_decimals(claim.percent)
        if abs(computed - claim.percent) > step + 1e-9:
            reason = f"The claim's own figures disagree: {num}/{den} is {computed:.1f}%, not {claim.percent:g}%."
            return _verdict(claim, ARITHMETIC_ERROR, evidence, reason)
    if not isinstance(count, int) or not isinstance(n, int) or n == 0:
        return _verdict(claim, UNATTAINABLE, evidence, "The rate cannot be computed on these data (see the warnings).")
    if n == den:
        if count == num:
            return _verdict(claim, REPRODUCED, evidence, f"This cohort has the printed {num} of {den}.")
        return _verdict(claim, CONTRADICTED, evidence, f"This cohort has {count} of {n}, not the printed {num}.")
    low, high = _number(rate.get("ci_lower")), _number(rate.get("ci_upper"))
    if low is None or high is None:
        return _verdict(claim, UNATTAINABLE, evidence, "The rate's confidence interval cannot be computed here.")
    inside = low <= num / den <= high
    interval = f"{100 * low:.1f}% to {100 * high:.1f}%"
    if inside:
        return _verdict(claim, REPRODUCED, evidence,
                        f"The printed {computed:.1f}% lies inside this cohort's CI ({interval}).")
    return _verdict(claim, CONTRADICTED, evidence,
                    f"The printed {computed:.1f}% lies outside this cohort's CI ({interval}).")
