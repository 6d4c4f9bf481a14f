"""Differences between normalized responses: status, chosen headers, parsed bodies.

deepdiff is imported here and nowhere else; callers get apitape `Difference` values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from deepdiff import DeepDiff

from apitape.compare.masks import Masked, unmasked
from apitape.fastjson import canonical
from apitape.http.bodies import ParsedBody
from apitape.jsonpath import json_path
from apitape.models import Difference, Headers, header_values

DEFAULT_COMPARED_HEADERS: tuple[str, ...] = (
    "content-type",
    "location",
    "cache-control",
    "content-disposition",
    "content-language",
    "www-authenticate",
    "allow",
    "vary",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
    "access-control-allow-credentials",  # a browser sends no cookies to a CORS answer without it
)
"""Headers whose change a client notices. Everything else (Date, Server, Content-Length after
re-encoding, Via, X-Request-Id, ...) changes on its own and is not compared by default."""

TEXT_EXCERPT = 2000
"""Characters of a text body a difference carries; reports stay readable for big bodies."""

_DEEPDIFF_KINDS = {
    "values_changed": "value_changed",
    "type_changes": "type_changed",
    "dictionary_item_added": "field_added",
    "dictionary_item_removed": "field_removed",
    "iterable_item_added": "item_added",
    "iterable_item_removed": "item_removed",
}


def diff_status(expected: int, actual: int) -> list[Difference]:
    """A status difference, or none."""
    return [] if expected == actual else [Difference("status", "status_changed", expected, actual)]


def diff_headers(
    expected: Headers,
    actual: Headers,
    names: Sequence[str],
    expected_shown: Headers | None = None,
    actual_shown: Headers | None = None,
) -> list[Difference]:
    """Differences in the named headers, compared as normalized, shown as they were sent.

    Repeated headers compare as their joined values.
    """

    def joined(headers: Headers, name: str) -> str | None:
        return ", ".join(header_values(headers, name)) or None

    differences = []
    for name in names:
        before, after = joined(expected, name), joined(actual, name)
        if before == after:
            continue
        kind = (
            "header_added"
            if before is None
            else "header_removed"
            if after is None
            else "header_changed"
        )
        differences.append(
            Difference(
                f"headers.{name}",
                kind,
                joined(expected_shown or expected, name),
                joined(actual_shown or actual, name),
            )
        )
    return differences


def diff_bodies(expected: ParsedBody, actual: ParsedBody) -> list[Difference]:
    """Differences between two normalized bodies; values are shown unmasked."""
    if expected.kind != actual.kind:
        return [
            Difference(
                "body",
                "body_format_changed",
                _describe(expected),
                _describe(actual),
            )
        ]
    if expected.kind in ("json", "form"):
        if canonical(expected.value) == canonical(actual.value):
            return []  # the common case, settled without building a deepdiff tree
        return diff_values(expected.value, actual.value)
    if expected.value == actual.value:
        return []
    before, after = unmasked(expected.value), unmasked(actual.value)
    start = _excerpt_start(before, after)
    return [Difference("body", "body_changed", _excerpt(before, start), _excerpt(after, start))]


def diff_values(expected: Any, actual: Any) -> list[Difference]:
    """Structural differences between two normalized JSON values, with JSON paths.

    A masked value is compared by its placeholder but reported by its original, and the kind
    follows the originals: `<uuid>` that became 5 is a type change. Objects are walked here,
    and deepdiff runs only on the lists and values that differ (its fixed cost per call is
    what a mostly-equal replay would otherwise pay for every field).
    """
    differences: list[Difference] = []
    _diff_into(differences, expected, actual, ())
    differences.sort(key=lambda d: d.path)
    return differences


_SCALARS = frozenset({str, int, float, bool, type(None)})
"""JSON's leaf types as parsed; masked values are not among them and go to deepdiff."""


def _diff_into(found: list[Difference], expected: Any, actual: Any, keys: tuple[Any, ...]) -> None:
    if type(expected) is dict and type(actual) is dict:
        for key, value in expected.items():
            if key not in actual:
                found.append(
                    Difference(json_path((*keys, key)), "field_removed", _plain(value), None)
                )
            elif canonical(value) != canonical(actual[key]):
                _diff_into(found, value, actual[key], (*keys, key))
        for key, value in actual.items():
            if key not in expected:
                found.append(
                    Difference(json_path((*keys, key)), "field_added", None, _plain(value))
                )
        return
    if type(expected) in _SCALARS and type(actual) in _SCALARS:
        # Two differing leaves (the usual change: a price, a name): reported as deepdiff
        # reports them, without its fixed cost of about 0.2 ms per call.
        if type(expected) is type(actual):
            if expected != actual:  # -0.0 and 0.0 differ in text, not to deepdiff
                found.append(Difference(json_path(keys), "value_changed", expected, actual))
        else:
            found.append(Difference(json_path(keys), "type_changed", expected, actual))
        return
    tree = DeepDiff(expected, actual, view="tree", verbose_level=2)
    for report_type, levels in tree.items():
        for level in levels:
            before, after = unmasked(_present(level.t1)), unmasked(_present(level.t2))
            kind = _DEEPDIFF_KINDS.get(report_type, report_type)
            if kind in ("value_changed", "type_changed"):
                kind = "value_changed" if type(before) is type(after) else "type_changed"
            path = json_path((*keys, *level.path(output_format="list")))
            found.append(Difference(path, kind, _plain(before), _plain(after)))


def _plain(value: Any) -> Any:
    """A value fit for a report: masked placeholders inside containers replaced by originals."""
    if isinstance(value, Masked):
        return value.original
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _canonical(value: Any) -> str:
    # json.dumps tells 1, 1.0 and True apart, which == does not ({"a": 1} == {"a": True}).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _present(value: Any) -> Any:
    # deepdiff marks the missing side of an added/removed item with its own sentinel.
    return None if type(value).__name__ == "NotPresent" else value


def _describe(body: ParsedBody) -> str:
    if body.kind == "empty":
        return "empty body"
    if body.kind == "binary":
        return f"binary {body.value}"
    if body.kind == "text":
        return f"text: {_excerpt(body.value)}"
    return f"{body.kind}: {_excerpt(_canonical(_plain(body.value)))}"


def _excerpt_start(expected: Any, actual: Any) -> int:
    """Where excerpts of two long texts begin: 0, or a quarter of an excerpt before their
    first differing character, so the excerpts show what differs rather than what is equal."""
    if not isinstance(expected, str) or not isinstance(actual, str):
        return 0
    if len(expected) <= TEXT_EXCERPT and len(actual) <= TEXT_EXCERPT:
        return 0
    at = _common_prefix(expected, actual)
    lead = TEXT_EXCERPT // 4
    return 0 if at < TEXT_EXCERPT - lead else at - lead


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common beginning of `a` and `b`."""
    # Halving with slice comparisons (done in C): a body of megabytes takes microseconds.
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _excerpt(text: Any, start: int = 0) -> Any:
    """At most TEXT_EXCERPT characters of a text from `start`, saying what was left out."""
    text = unmasked(text)
    if not isinstance(text, str) or len(text) <= TEXT_EXCERPT:
        return text
    start = min(start, len(text) - TEXT_EXCERPT)
    end = start + TEXT_EXCERPT
    if start == 0:
        return text[:end] + f"... ({len(text)} characters)"
    tail = "..." if end < len(text) else ""
    return f"...{text[start:end]}{tail} (characters {start + 1} to {end} of {len(text)})"
