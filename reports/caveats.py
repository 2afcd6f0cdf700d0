"""The warnings of ``results.json``, numbered once and cited next to the figures they qualify.

A warning is ``{code, message, scope}``; ``scope`` is the dotted results.json path it is about, e.g.
``survival.<endpoint>.cox.multivariable``. A figure at path P is qualified by every warning whose scope is P,
an ancestor of P (``survival.<endpoint>`` qualifies the endpoint's median) or a descendant of P
(``survival.<endpoint>.logrank.sex`` qualifies "the log-rank tests"). Warnings with the same code and message
are one caveat with several scopes, so "log-rank test on n = 7" is printed once, not eight times. Warnings
without a scope are matched by the words a reader would search for: the labels of the plan's instruments and
endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reports.labels import Labels

KINDS = {"small_n": "small sample", "p_value_floor": "p-value floor", "few_events": "few events"}


@dataclass(frozen=True)
class Caveat:
    number: int
    code: str
    message: str
    scopes: tuple[str, ...]
    words: Labels = field(default_factory=Labels, compare=False, repr=False)

    @property
    def kind(self) -> str:
        """The warning's code in words: ``small_n`` → ``small sample``."""
        return KINDS.get(self.code, self.code.replace("_", " "))

    @property
    def scope_text(self) -> str:
        """The figures the caveat qualifies, in words (never a results.json path)."""
        groups: dict[str, list[str]] = {}
        for scope in self.scopes:
            parent, _, last = scope.rpartition(".")
            groups.setdefault(parent if parent else scope, []).append(last if parent else "")
        described = []
        for parent, leaves in groups.items():
            if len(leaves) == 1:
                described.append(self.words.describe_path(f"{parent}.{leaves[0]}" if leaves[0] else parent))
            else:
                words = [self.words.describe_path(leaf) for leaf in leaves]
                words = [w[:1].lower() + w[1:] if w[1:2].islower() else w for w in words]
                head = self.words.describe_path(parent)
                described.append(f"{head}: {', '.join(words)}" if head else ", ".join(words))
        return "; ".join(dict.fromkeys(described))


def _scope_of(item: dict[str, Any]) -> str:
    for key in ("scope", "path", "where"):
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def on_path(scope: str, path: str) -> bool:
    """``scope`` is ``path``, above it or below it."""
    return scope == path or scope.startswith(path + ".") or path.startswith(scope + ".")


def _mentions(message: str, path: str, keywords: dict[str, tuple[str, ...]]) -> bool:
    for key, words in keywords.items():
        if on_path(key, path) and any(re.search(rf"\b{re.escape(w)}\b", message, re.IGNORECASE) for w in words):
            return True
    return False


def _grouped(warnings: Any) -> dict[tuple[str, str], list[str]]:
    groups: dict[tuple[str, str], list[str]] = {}
    for item in warnings if isinstance(warnings, list) else []:
        if isinstance(item, dict):
            key, scope = (str(item.get("code", "")), str(item.get("message", ""))), _scope_of(item)
        else:
            key, scope = ("", str(item)), ""
        scopes = groups.setdefault(key, [])
        if scope not in scopes:
            scopes.append(scope)
    return groups


class Caveats:
    """The numbered, de-duplicated warnings of one run, in the study's words (``words``)."""

    def __init__(self, warnings: Any, words: Labels | None = None) -> None:
        self.words = words or Labels()
        self.keywords = self.words.keywords()
        self.all: list[Caveat] = [
            Caveat(number, code, self.words.clinical(message), tuple(s for s in scopes if s), self.words)
            for number, ((code, message), scopes) in enumerate(_grouped(warnings).items(), start=1)
        ]

    def _applies(self, caveat: Caveat, path: str) -> bool:
        if caveat.scopes:
            return any(on_path(scope, path) for scope in caveat.scopes)
        return _mentions(caveat.message, path, self.keywords)

    def about(self, *paths: str) -> list[Caveat]:
        """The caveats that qualify the figure(s) at any of ``paths``, in number order."""
        return [c for c in self.all if any(self._applies(c, p) for p in paths)]

    def refs(self, *paths: str) -> str:
        """``[3, 5]``, or an empty string."""
        numbers = [str(c.number) for c in self.about(*paths)]
        return f"[{', '.join(numbers)}]" if numbers else ""

    def reason(self, *paths: str, fallback: str = "no reason was given") -> str:
        """Why a figure is missing: the messages of its caveats, or ``fallback``."""
        found = self.about(*paths)
        return "; ".join(c.message for c in found) if found else fallback

    def cited(self, refs: Iterable[str]) -> list[Caveat]:
        """The caveats whose numbers appear in any of the ``[n, m]`` strings given."""
        numbers = {int(n) for text in refs for n in re.findall(r"\d+", text)}
        return [c for c in self.all if c.number in numbers]
