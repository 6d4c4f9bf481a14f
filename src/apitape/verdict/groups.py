"""Severity of each difference, and differences grouped by endpoint and field for reports.

breaking   the status class changed (2xx -> 5xx), a field or header disappeared, a value
           changed type, the body no longer parses as it did, or the exchange breaks the
           OpenAPI document (contract_status, contract_body, contract_header, contract_request)
changed    a value, a status within its class, a header, a list's items, the latency
additive   a new field or header
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from apitape.jsonpath import generalize
from apitape.models import Difference, InteractionReport, Outcome, RunReport
from apitape.models import Example as Example  # re-exported: groups are made here
from apitape.models import Group as Group

SEVERITIES = ("breaking", "changed", "additive")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
CONTRACT_KINDS = ("contract_status", "contract_body", "contract_header", "contract_request")
_BREAKING_KINDS = {
    "field_removed",
    "type_changed",
    "body_format_changed",
    "header_removed",
    *CONTRACT_KINDS,
}
_ADDITIVE_KINDS = {"field_added", "header_added"}


def severity(difference: Difference) -> str:
    """How much a difference matters to a client: breaking, changed or additive."""
    if difference.kind == "status_changed":
        before, after = difference.expected, difference.actual
        same_class = (
            isinstance(before, int) and isinstance(after, int) and before // 100 == after // 100
        )
        return "changed" if same_class else "breaking"
    if difference.kind in _BREAKING_KINDS:
        return "breaking"
    if difference.kind in _ADDITIVE_KINDS:
        return "additive"
    return "changed"


def at_least(level: str, threshold: str) -> bool:
    """Whether severity `level` is `threshold` or worse."""
    return _RANK[level] <= _RANK[threshold]


def _detail(difference: Difference) -> str:
    if difference.kind == "type_changed":
        return f"{_type(difference.expected)} -> {_type(difference.actual)}"
    if difference.kind == "status_changed":
        return f"{difference.expected} -> {difference.actual}"
    if difference.kind.startswith("contract_"):
        return _contract_detail(difference)
    return ""


def _contract_detail(difference: Difference) -> str:
    """`(number expected, string found)`, `(200 not documented)`, `(required, missing)`."""
    expected, actual = difference.expected, difference.actual
    if difference.kind == "contract_status":
        return f"({actual} not documented)"
    if expected == "required" and actual is None:
        return "(required, missing)"
    if isinstance(expected, str) and isinstance(actual, str) and " " not in expected:
        return f"({expected} expected, {actual} found)"  # a JSON type, a media type
    return f"({expected} expected)" if expected is not None else ""


def _shown(difference: Difference) -> tuple[Any, Any]:
    """The example's values; milliseconds of latency rounded, every other value exact."""
    if difference.kind != "latency_increased":
        return difference.expected, difference.actual
    return _ms(difference.expected), _ms(difference.actual)


def _ms(value: Any) -> Any:
    return round(value, 1) if isinstance(value, float) else value


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_Key = tuple[str, str, str, str]  # endpoint, field, kind, detail


def group_differences(interactions: Iterable[InteractionReport], examples: int = 3) -> list[Group]:
    """Differences grouped by endpoint, field (list indices as [*]), kind and detail; worst
    severity first, then the most widespread."""
    grouper = Grouper(examples)
    for item in interactions:
        grouper.add(item)
    return grouper.groups()


class Grouper:
    """Groups differences one exchange at a time; keeps counts and the first examples only,
    so a million exchanges with the same difference take no more memory than three."""

    def __init__(self, examples: int = 3) -> None:
        self._examples = examples
        self._totals: defaultdict[str, int] = defaultdict(int)
        self._counts: defaultdict[_Key, int] = defaultdict(int)
        self._first: dict[_Key, list[tuple[str, Difference]]] = {}

    def add(self, item: InteractionReport) -> None:
        """Count one exchange: its endpoint's total and each group it belongs to (once)."""
        if item.outcome is Outcome.ERROR:
            return
        self._totals[item.endpoint] += 1
        seen: set[_Key] = set()
        for difference in item.differences:
            key = (item.endpoint, generalize(difference.path), difference.kind, _detail(difference))
            if key in seen:  # one exchange counts once per group ($.items[0..9].isbn)
                continue
            seen.add(key)
            self._counts[key] += 1
            first = self._first.setdefault(key, [])
            if len(first) < self._examples:
                first.append((item.id, difference))

    def groups(self) -> list[Group]:
        """The groups, worst severity first, then the most widespread."""
        groups = [
            Group(
                endpoint,
                path,
                kind,
                severity(first[0][1]),
                self._counts[key],
                self._totals[endpoint],
                tuple(
                    Example(i, *_shown(d), d.expected_present, d.actual_present) for i, d in first
                ),
                detail,
            )
            for key, first in self._first.items()
            for endpoint, path, kind, detail in (key,)
        ]
        groups.sort(
            key=lambda g: (_RANK[g.severity], -g.count / max(g.total, 1), g.endpoint, g.path)
        )
        return groups


def report_groups(report: RunReport) -> list[Group]:
    """The groups of a report: counted when it was judged, else from its interactions."""
    if report.groups is not None:
        return list(report.groups)
    return group_differences(report.interactions)
