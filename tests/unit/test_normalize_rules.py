"""Comparisons under masks and apitape.yaml rules: equal where volatile, different where real."""

from __future__ import annotations

import json

import pytest

from apitape.compare.comparer import Comparer
from apitape.config import parse_config
from apitape.jsonpath import PathSyntaxError, generalize, parse_path, path_keys
from apitape.models import Difference, Response

JSON = (("Content-Type", "application/json"),)
UUID_A = "0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f"
UUID_B = "7a1c9e2b-3f4d-4e5a-8b6c-1d2e3f4a5b6c"


def response(
    body: object, headers: tuple[tuple[str, str], ...] = JSON, status: int = 200
) -> Response:
    return Response(status, "", headers, json.dumps(body).encode())


def compare(
    a: Response,
    b: Response,
    config: str = "",
    origins: tuple[str | None, str | None] = (None, None),
) -> list[Difference]:
    return Comparer(parse_config(config, "apitape.yaml")).compare(
        "1", "GET /books/{id}", a, b, origins
    )


def test_new_volatile_values_of_the_same_shape_are_equal() -> None:
    a = response(
        {
            "id": UUID_A,
            "at": "2026-11-24T03:18:17Z",
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.x",
        }
    )
    b = response(
        {
            "id": UUID_B,
            "at": "2026-11-25T10:00:00.5Z",
            "token": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.y",
        }
    )
    assert compare(a, b) == []


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (UUID_A, 17, "type_changed"),  # a UUID that became an integer
        ("2026-11-24T03:18:17Z", None, "type_changed"),  # a timestamp that became null
        (
            "2026-11-24T03:18:17Z",
            "Tue, 24 Nov 2026 03:18:16 GMT",
            "value_changed",
        ),  # format changed
        (UUID_A, "not-a-uuid", "value_changed"),
    ],
)
def test_a_changed_shape_is_still_a_difference_shown_with_real_values(
    before: object, after: object, kind: str
) -> None:
    assert compare(response({"v": before}), response({"v": after})) == [
        Difference("$.v", kind, before, after)
    ]


def test_the_services_own_address_is_the_same_as_the_targets() -> None:
    a = response(
        {"self": "http://staging:8000/books/1"},
        (*JSON, ("Location", "http://staging:8000/books/1")),
    )
    b = response(
        {"self": "http://127.0.0.1:9000/books/1"},
        (*JSON, ("Location", "http://127.0.0.1:9000/books/1")),
    )
    assert compare(a, b, origins=("http://staging:8000", "http://127.0.0.1:9000")) == []
    moved = response(
        {"self": "http://127.0.0.1:9000/books/2"},
        (*JSON, ("Location", "http://127.0.0.1:9000/books/1")),
    )
    assert compare(a, moved, origins=("http://staging:8000", "http://127.0.0.1:9000")) == [
        Difference(
            "$.self",
            "value_changed",
            "http://staging:8000/books/1",
            "http://127.0.0.1:9000/books/2",
        )
    ]


def test_etag_header_is_masked() -> None:
    a = Response(200, "", (("ETag", '"abc"'), ("Cache-Control", "max-age=60")), b"")
    b = Response(200, "", (("ETag", '"xyz"'), ("Cache-Control", "max-age=60")), b"")
    assert compare(a, b, "rules: {compare_headers: [etag]}") == []


RULES = """
rules:
  ignore: ["$.meta.request_id", "$..trace"]
  mask: ["$.session"]
  unordered: ["$.tags"]
  tolerance: {"$.price": 0.01}
  ignore_headers: [cache-control]
  compare_headers: [x-version]
endpoints:
  "GET /books/{id}":
    ignore: ["$.stock"]
  "GET /other":
    ignore: ["$.title"]
"""


def test_rules_ignore_mask_reorder_and_tolerate() -> None:
    a = response(
        {
            "meta": {"request_id": 1},
            "items": [{"trace": "a"}],
            "session": "s1",
            "tags": ["a", "b"],
            "price": 9.99,
            "stock": 3,
            "title": "Dune",
        },
        (*JSON, ("Cache-Control", "no-store"), ("X-Version", "1")),
    )
    b = response(
        {
            "meta": {"request_id": 2},
            "items": [{"trace": "b"}],
            "session": "s2",
            "tags": ["b", "a"],
            "price": 10.0,
            "stock": 4,
            "title": "Dune",
        },
        (*JSON, ("Cache-Control", "max-age=1"), ("X-Version", "1")),
    )
    comparer = Comparer(parse_config(RULES, "apitape.yaml"))
    assert comparer.compare("1", "GET /books/{id}", a, b) == []
    logged = {(path, rule) for _, path, rule, _ in comparer.mask_log.entries()}
    assert {("$.meta.request_id", "ignore"), ("$.items[*].trace", "ignore"), ("$.session", "mask"),
            ("$.tags", "unordered"), ("$.price", "tolerance 0.01"), ("$.stock", "ignore")} <= logged  # fmt: skip


def test_rules_do_not_hide_what_they_do_not_name() -> None:
    a = response({"price": 9.99, "title": "Dune", "tags": ["a"]}, (*JSON, ("X-Version", "1")))
    b = response(
        {"price": 9.9, "title": "Dune Messiah", "tags": ["a", "c"]}, (*JSON, ("X-Version", "2"))
    )
    found = {
        (d.path, d.kind)
        for d in Comparer(parse_config(RULES, "apitape.yaml")).compare("1", "GET /books/{id}", a, b)
    }
    assert found == {("headers.x-version", "header_changed"), ("$.price", "value_changed"),
                     ("$.title", "value_changed"), ("$.tags[1]", "item_added")}  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("$.price", ("price",), True),
        ("$.price", ("prices",), False),
        ("$.items[*].isbn", ("items", 4, "isbn"), True),
        ("$.items[0].isbn", ("items", 4, "isbn"), False),
        ("$..created_at", ("data", "items", 0, "created_at"), True),
        ("$..created_at", ("created_at",), True),
        ("$.*.id", ("book", "id"), True),
        ("$.*.id", (0, "id"), False),
        ('$["x-trace"]', ("x-trace",), True),
        ("$.x-trace", ("x-trace",), True),
    ],
)
def test_path_syntax(pattern: str, path: tuple[object, ...], matches: bool) -> None:
    assert parse_path(pattern).matches(path) is matches


@pytest.mark.parametrize("bad", ["price", "$.", "$[x]", "$.a[", "$..", '$["unterminated]'])
def test_bad_paths_say_where(bad: str) -> None:
    with pytest.raises(PathSyntaxError, match="path"):
        parse_path(bad)


def test_concrete_paths_round_trip_and_generalize() -> None:
    assert path_keys('$.items[3]["a b"].c') == ("items", 3, "a b", "c")
    assert path_keys("status") is None
    assert generalize("$.items[3].tags[0]") == "$.items[*].tags[*]"
