"""The diff: status, chosen headers, bodies by content type, JSON paths and kinds."""

from __future__ import annotations

import pytest

from apitape.compare.comparer import Comparer
from apitape.jsonpath import json_path
from apitape.models import Difference, Response
from tests.unit.factories import JSON, json_response


def diff(a: Response, b: Response) -> list[Difference]:
    return Comparer().compare("1", "GET /books/{id}", a, b)


def test_equal_responses_have_no_difference() -> None:
    assert (
        diff(json_response({"a": [1, {"b": None}]}), json_response({"a": [1, {"b": None}]})) == []
    )


def test_key_order_and_whitespace_do_not_matter_in_json() -> None:
    a = Response(200, "", JSON, b'{"a": 1, "b": 2}')
    b = Response(200, "", JSON, b'{"b":2,"a":1}')
    assert diff(a, b) == []


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"price": 12.5}, {"price": "12.50"}, Difference("$.price", "type_changed", 12.5, "12.50")),
        ({"n": 1}, {"n": True}, Difference("$.n", "type_changed", 1, True)),
        ({"n": 1}, {"n": 1.0}, Difference("$.n", "type_changed", 1, 1.0)),
        ({"n": 1}, {"n": 2}, Difference("$.n", "value_changed", 1, 2)),
        ({"isbn": "x", "t": 1}, {"t": 1}, Difference("$.isbn", "field_removed", "x", None)),
        ({"t": 1}, {"t": 1, "new": [1]}, Difference("$.new", "field_added", None, [1])),
        (
            {"items": [{"isbn": "x"}]},
            {"items": [{}]},
            Difference("$.items[0].isbn", "field_removed", "x", None),
        ),
        ([1, 2], [1, 2, 3], Difference("$[2]", "item_added", None, 3)),
        ([1, 2], [1], Difference("$[1]", "item_removed", 2, None)),
        ({"a b": 1}, {"a b": 2}, Difference('$["a b"]', "value_changed", 1, 2)),
        ({"t": "x"}, {"t": None}, Difference("$.t", "type_changed", "x", None)),
    ],
)
def test_json_differences_carry_path_kind_and_values(
    before: object, after: object, expected: Difference
) -> None:
    assert diff(json_response(before), json_response(after)) == [expected]


def test_status_is_reported_first() -> None:
    result = diff(json_response({"a": 1}, 201), json_response({"a": 2}, 200))
    assert result[0] == Difference("status", "status_changed", 201, 200)
    assert result[1].path == "$.a"


def test_only_meaningful_headers_are_compared() -> None:
    a = Response(
        200,
        "",
        (("Date", "Mon"), ("Server", "a"), ("Location", "/x"), ("Cache-Control", "no-store")),
        b"",
    )
    b = Response(200, "", (("Date", "Tue"), ("Server", "b"), ("Location", "/y")), b"")
    assert diff(a, b) == [
        Difference("headers.location", "header_changed", "/x", "/y"),
        Difference("headers.cache-control", "header_removed", "no-store", None),
    ]


def test_text_bodies_compare_as_text() -> None:
    a = Response(200, "", (("Content-Type", "text/plain"),), b"hello")
    b = Response(200, "", (("Content-Type", "text/plain"),), b"hullo")
    assert diff(a, b) == [Difference("body", "body_changed", "hello", "hullo")]


def test_binary_bodies_compare_by_hash() -> None:
    a = Response(200, "", (("Content-Type", "image/png"),), b"\x89PNG\x00\x01")
    b = Response(200, "", (("Content-Type", "image/png"),), b"\x89PNG\x00\x02")
    (difference,) = diff(a, b)
    assert difference.kind == "body_changed"
    assert difference.expected.startswith("sha256:") and difference.expected.endswith("(6 bytes)")
    assert difference.expected != difference.actual


def test_json_that_became_html_is_a_format_change() -> None:
    a = json_response({"a": 1})
    b = Response(500, "", (("Content-Type", "text/html"),), b"<h1>Internal Server Error</h1>")
    kinds = [(d.path, d.kind) for d in diff(a, b)]
    assert kinds == [
        ("status", "status_changed"),
        ("headers.content-type", "header_changed"),
        ("body", "body_format_changed"),
    ]


def test_form_bodies_compare_field_by_field() -> None:
    form = (("Content-Type", "application/x-www-form-urlencoded"),)
    a = Response(200, "", form, b"a=1&b=2")
    b = Response(200, "", form, b"b=2&a=3")
    assert diff(a, b) == [Difference("$.a[0]", "value_changed", "1", "3")]


def test_long_text_is_cut_in_the_difference() -> None:
    a = Response(200, "", (("Content-Type", "text/plain"),), b"x" * 5000)
    b = Response(200, "", (("Content-Type", "text/plain"),), b"y" * 5000)
    (difference,) = diff(a, b)
    assert difference.expected.endswith("... (5000 characters)")
    assert len(difference.expected) < 2100


def test_json_path_formats_keys_and_indices() -> None:
    assert json_path(["items", 0, "price"]) == "$.items[0].price"
    assert json_path(["a-b", 1]) == '$["a-b"][1]'
    assert json_path([]) == "$"
