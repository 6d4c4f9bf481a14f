"""Severity of each difference, and differences grouped by endpoint and field for reports.

breaking   the status class changed (2xx -> 5xx), a field or header disappeared, a value
           changed type, the body no longer parses as it did, or the exchange breaks the
           OpenAPI document (contract_status, contract_body, contract_header, contract_request)
changed    a value, a status within its class, a header, a list's items, the latency
additive   a new field or header
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
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

CONTENT_TYPE = "headers.content-type"


def cause_of(differences: Iterable[Difference]) -> Difference | None:
    """The difference the others of an answer follow from: a status change, else a change
    of content type; None when there is neither."""
    content_type = None
    for difference in differences:
        if difference.kind == "status_changed":
            return difference
        if content_type is None and difference.path == CONTENT_TYPE:
            content_type = difference
    return content_type


def follows_from(difference: Difference, cause: Difference) -> bool:
    """Whether `difference` is an echo of `cause`: a body difference follows from a status
    or content-type change, a header difference from a status change. Latency and the
    OpenAPI checks stand on their own."""
    if difference is cause or difference.kind == "latency_increased":
        return False
    if difference.kind.startswith("contract_"):
        return False
    if difference.path.startswith("$") or difference.path == "body":
        return True
    return cause.kind == "status_changed" and difference.path.startswith("headers.")


def group_differences(interactions: Iterable[InteractionReport], examples: int = 3) -> list[Group]:
    """Differences grouped by endpoint, field (list indices as [*]), kind and detail; worst
    severity first, then the most widespread. What follows from a status or content-type
    change is folded under it (`Group.consequences`)."""
    grouper = Grouper(examples)
    for item in interactions:
        grouper.add(item)
    return grouper.groups()


class _Tally:
    """Counts and first examples per key: the examples of the lowest places, whatever
    order the exchanges come in."""

    def __init__(self) -> None:
        self.counts: defaultdict[_Key, int] = defaultdict(int)
        self.first: dict[_Key, list[tuple[int, str, Difference]]] = {}

    def add(self, key: _Key, place: int, id: str, difference: Difference, examples: int) -> None:
        self.counts[key] += 1
        first = self.first.setdefault(key, [])
        if len(first) < examples or place < first[-1][0]:
            bisect.insort(first, (place, id, difference), key=_place)
            del first[examples:]

    def absorb(self, other: _Tally, examples: int) -> None:
        for key, count in other.counts.items():
            self.counts[key] += count
        for key, theirs in other.first.items():
            self.first[key] = sorted([*self.first.get(key, ()), *theirs], key=_place)[:examples]

    def relocated(self, places: Sequence[int]) -> _Tally:
        moved = _Tally()
        moved.counts = self.counts
        moved.first = {
            key: [(places[place], id, d) for place, id, d in first]
            for key, first in self.first.items()
        }
        return moved


def _place(example: tuple[int, str, Difference]) -> int:
    return example[0]


class Grouper:
    """Groups differences one exchange at a time; keeps counts and the first examples only,
    so a million exchanges with the same difference take no more memory than three.

    Causes first: when an answer's status changed, its body and header differences are
    counted under the status change's group, not as groups of their own (every field of a
    412's body differs from the 200's); likewise a content-type change's body differences.

    Exchanges may come in any order when each comes with its place (the examples are those
    of the lowest places), and groupers of parts of a run add up (`absorb`): a judge groups
    as it judges, and a shard's grouping is added to the driver's.
    """

    def __init__(self, examples: int = 3) -> None:
        self._examples = examples
        self._totals: defaultdict[str, int] = defaultdict(int)
        self._top = _Tally()
        self._under: dict[_Key, _Tally] = {}
        self._added = 0

    def add(self, item: InteractionReport, place: int | None = None) -> None:
        """Count one exchange: its endpoint's total and each group it belongs to (once).
        Without a place, it comes after every exchange added before it."""
        if place is None:
            place = self._added
        self._added += 1
        if item.outcome is Outcome.ERROR:
            return
        self._totals[item.endpoint] += 1
        if not item.differences:
            return
        cause = cause_of(item.differences)
        cause_key = None if cause is None else _key(item.endpoint, cause)
        seen: set[_Key] = set()
        folded: set[_Key] = set()
        for difference in item.differences:
            key = _key(item.endpoint, difference)
            if cause is not None and cause_key is not None and follows_from(difference, cause):
                if key not in folded:  # one exchange counts once per group
                    folded.add(key)
                    tally = self._under.setdefault(cause_key, _Tally())
                    tally.add(key, place, item.id, difference, self._examples)
                continue
            if key in seen:  # one exchange counts once per group ($.items[0..9].isbn)
                continue
            seen.add(key)
            self._top.add(key, place, item.id, difference, self._examples)

    def absorb(self, other: Grouper) -> None:
        """Add another part's grouping to this one (their places in the same run)."""
        for endpoint, total in other._totals.items():
            self._totals[endpoint] += total
        self._top.absorb(other._top, self._examples)
        for key, tally in other._under.items():
            self._under.setdefault(key, _Tally()).absorb(tally, self._examples)
        self._added += other._added

    def relocated(self, places: Sequence[int]) -> Grouper:
        """This grouping with each example's place `p` moved to `places[p]` (a shard's
        places in the inputs)."""
        moved = Grouper(self._examples)
        moved._totals = self._totals
        moved._top = self._top.relocated(places)
        moved._under = {key: tally.relocated(places) for key, tally in self._under.items()}
        moved._added = self._added
        return moved

    def groups(self) -> list[Group]:
        """The groups, worst severity first, then the most widespread; a cause's severity
        is the worst of its own and its consequences'."""
        groups = []
        for key, first in self._top.first.items():
            under = self._under.get(key)
            consequences = self._made(under) if under is not None else []
            group = self._group(key, first, self._top.counts[key])
            worst = min((group, *consequences), key=lambda g: _RANK[g.severity]).severity
            groups.append(replace(group, severity=worst, consequences=tuple(consequences)))
        return _sorted(groups)

    def _made(self, tally: _Tally) -> list[Group]:
        return _sorted([self._group(k, f, tally.counts[k]) for k, f in tally.first.items()])

    def _group(self, key: _Key, first: list[tuple[int, str, Difference]], count: int) -> Group:
        endpoint, path, kind, detail = key
        return Group(
            endpoint,
            path,
            kind,
            severity(first[0][2]),
            count,
            self._totals[endpoint],
            tuple(
                Example(i, *_shown(d), d.expected_present, d.actual_present) for _, i, d in first
            ),
            detail,
        )


def _key(endpoint: str, difference: Difference) -> _Key:
    return (endpoint, generalize(difference.path), difference.kind, _detail(difference))


def _sorted(groups: list[Group]) -> list[Group]:
    groups.sort(key=lambda g: (_RANK[g.severity], -g.count / max(g.total, 1), g.endpoint, g.path))
    return groups


def report_groups(report: RunReport) -> list[Group]:
    """The groups of a report: counted when it was judged, else from its interactions."""
    if report.groups is not None:
        return list(report.groups)
    return group_differences(report.interactions)
