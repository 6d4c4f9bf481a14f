"""Compare a recorded and a replayed response: status, chosen headers, parsed bodies.

deepdiff is imported here and nowhere else; callers get apitape `Difference` values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deepdiff import DeepDiff

from apitape.bodies import ParsedBody, parse_body
from apitape.models import Difference, Headers, Response, header_values
from apitape.normalize import IdentityNormalizer, NormalizeContext, Normalizer

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
)
"""Headers whose change a client notices. Everything else (Date, Server, Content-Length after
re-encoding, Via, X-Request-Id, ...) changes on its own and is not compared by default."""

TEXT_EXCERPT = 2000
"""Characters of a text body a difference carries; reports stay readable for big bodies."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_DEEPDIFF_KINDS = {
    "values_changed": "value_changed",
    "type_changes": "type_changed",
    "dictionary_item_added": "field_added",
    "dictionary_item_removed": "field_removed",
    "iterable_item_added": "item_added",
    "iterable_item_removed": "item_removed",
}


@dataclass(frozen=True)
class DiffOptions:
    """What to compare: which headers (lower-case names)."""

    compared_headers: tuple[str, ...] = DEFAULT_COMPARED_HEADERS


def diff_responses(
    recorded: Response,
    replayed: Response,
    endpoint: str,
    options: DiffOptions | None = None,
    normalizer: Normalizer | None = None,
) -> list[Difference]:
    """Every difference between the recorded and the replayed response, status first."""
    options = options or DiffOptions()
    normalizer = normalizer or IdentityNormalizer()
    expected_ctx = NormalizeContext(endpoint, "recorded")
    actual_ctx = NormalizeContext(endpoint, "replayed")
    differences: list[Difference] = []
    if recorded.status != replayed.status:
        differences.append(Difference("status", "status_changed", recorded.status, replayed.status))
    differences += diff_headers(
        normalizer.headers(recorded.headers, expected_ctx),
        normalizer.headers(replayed.headers, actual_ctx),
        options.compared_headers,
    )
    if recorded.body == replayed.body:
        return differences  # byte-equal bodies are equal whatever the normalizer does
    expected = normalizer.body(parse_body(recorded.headers, recorded.body), expected_ctx)
    actual = normalizer.body(parse_body(replayed.headers, replayed.body), actual_ctx)
    return differences + diff_bodies(expected, actual)


def diff_headers(expected: Headers, actual: Headers, names: Sequence[str]) -> list[Difference]:
    """Differences in the named headers; repeated headers compare as their joined values."""
    differences = []
    for name in names:
        before = ", ".join(header_values(expected, name)) or None
        after = ", ".join(header_values(actual, name)) or None
        if before == after:
            continue
        kind = (
            "header_added"
            if before is None
            else "header_removed"
            if after is None
            else "header_changed"
        )
        differences.append(Difference(f"headers.{name}", kind, before, after))
    return differences


def diff_bodies(expected: ParsedBody, actual: ParsedBody) -> list[Difference]:
    """Differences between two normalized bodies."""
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
        if _canonical(expected.value) == _canonical(actual.value):
            return []  # the common case, settled without building a deepdiff tree
        return diff_values(expected.value, actual.value)
    if expected.value == actual.value:
        return []
    return [Difference("body", "body_changed", _excerpt(expected.value), _excerpt(actual.value))]


def diff_values(expected: Any, actual: Any) -> list[Difference]:
    """Structural differences between two parsed JSON values, with JSON paths."""
    tree = DeepDiff(expected, actual, view="tree", verbose_level=2)
    differences = []
    for report_type, levels in tree.items():
        kind = _DEEPDIFF_KINDS.get(report_type, report_type)
        for level in levels:
            path = json_path(level.path(output_format="list"))
            differences.append(Difference(path, kind, _present(level.t1), _present(level.t2)))
    differences.sort(key=lambda d: d.path)
    return differences


def json_path(keys: Sequence[Any]) -> str:
    """`$.items[0].price` from deepdiff's list of keys and indices."""
    parts = ["$"]
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and _IDENTIFIER.match(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key)}]")
    return "".join(parts)


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
    return f"{body.kind}: {_excerpt(_canonical(body.value))}"


def _excerpt(text: Any) -> Any:
    if isinstance(text, str) and len(text) > TEXT_EXCERPT:
        return text[:TEXT_EXCERPT] + f"... ({len(text)} characters)"
    return text
