"""apitape.testing: the factories, and the matchers that let a live secret meet its placeholder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from vcr.request import Request as VcrRequest

from apitape.models import Exchange, Request, Response
from apitape.redaction.redact import Redactor
from apitape.testing import (
    DEFAULT_MATCH_ON,
    MATCHERS,
    RECORDED_AT,
    exchange,
    header_matcher,
    json_response,
    matches_text,
    request,
)

KEY = "redacted-api_key-5de15a437b9bc871"
TOKEN = "redacted-token-0123456789abcdef"
OTHER = "redacted-token-fedcba9876543210"
BASE = "http://api.example:8000"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def vcr_request(
    url: str, body: bytes | str = b"", headers: dict[str, str] | None = None, method: str = "GET"
) -> Any:
    return VcrRequest(method, url, body, headers or {})


def matched(matcher: str, live: Any, recorded: Any) -> bool:
    try:
        MATCHERS[matcher](live, recorded)
    except AssertionError:
        return False
    return True


# --------------------------------------------------------------------------- factories


def test_factories_build_frozen_models_with_fixed_times() -> None:
    made = exchange("POST", f"{BASE}/books", json_response({"id": 7}, 201), body=b"{}")
    assert isinstance(made, Exchange)
    assert (made.recorded_at, made.duration_ms, made.client) == (
        RECORDED_AT,
        3.0,
        "127.0.0.1:50000",
    )
    assert made.response == Response(
        201, "Created", (("Content-Type", "application/json"),), b'{"id": 7}'
    )
    assert made == exchange("POST", f"{BASE}/books", json_response({"id": 7}, 201), body=b"{}")
    with pytest.raises(AttributeError):
        made.id = "2"  # type: ignore[misc]


def test_default_exchange_is_a_json_book() -> None:
    made = exchange()
    assert made.request == Request(
        "GET", "http://staging.example:8000/books/1", (("Accept", "application/json"),)
    )
    assert json.loads(made.response.body) == {"id": 1, "title": "Dune", "price": 9.5}


@pytest.mark.parametrize(
    ("value", "headers", "expected_headers"),
    [
        ({"a": 1}, (), (("Content-Type", "application/json"),)),
        (None, (), (("Content-Type", "application/json"),)),  # null is JSON too
        (
            [1],
            (("content-type", "application/vnd.x+json"),),
            (("content-type", "application/vnd.x+json"),),
        ),
    ],
)
def test_request_json_encodes_the_body(value: Any, headers: Any, expected_headers: Any) -> None:
    made = request("POST", f"{BASE}/x", headers, json=value)
    assert (json.loads(made.body), made.headers) == (value, expected_headers)


@pytest.mark.parametrize(("status", "reason"), [(200, "OK"), (404, "Not Found"), (599, "")])
def test_json_response_reason_follows_the_status(status: int, reason: str) -> None:
    assert json_response({}, status).reason == reason


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("recorded", "live", "expected"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        (KEY, "sk_live_real", True),
        (KEY, "", False),  # a placeholder stands for a secret, never for nothing
        (f"Bearer {TOKEN}", "Bearer eyJ.real.token", True),
        (f"Bearer {TOKEN}", "Basic eyJ.real.token", False),
        (f"session={TOKEN}; theme=dark", "session=s3cr3t; theme=dark", True),
        (f"session={TOKEN}; theme=dark", "session=s3cr3t; theme=light", False),
        (f"{TOKEN}:{TOKEN}", "same:same", True),  # one placeholder, one secret
        (f"{TOKEN}:{TOKEN}", "one:other", False),
        (f"{TOKEN}:{OTHER}", "one:other", True),
        ("redacted-", "anything", False),  # not a placeholder: compared as text
        ("a.c (x)", "abc (x)", False),  # literal text is not a regex
        (KEY, KEY, True),
    ],
)
def test_matches_text(recorded: str, live: str, expected: bool) -> None:
    assert matches_text(recorded, live) is expected


# --------------------------------------------------------------------------- query and path


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        ("/books?page=1", "/books?page=1", True),
        ("/books?page=2", "/books?page=1", False),  # a different non-secret value
        ("/books?page=1&sort=title", "/books?sort=title&page=1", True),  # order of names
        ("/books?page=1", "/books?page=1&sort=title", False),
        ("/books?page=1&sort=title", "/books?page=1", False),
        ("/books?tag=b&tag=a", "/books?tag=a&tag=b", True),  # as vcrpy: repeats unordered
        ("/books?tag=a", "/books?tag=a&tag=a", False),
        ("/books?flag=", "/books", False),  # a blank value is still a parameter
        ("/search?q=dune&api_key=sk_live_abc", f"/search?q=dune&api_key={KEY}", True),
        ("/search?q=dune&api_key=other", f"/search?q=dune&api_key={KEY}", True),
        ("/search?q=dune&api_key=sk%20live%2Fx", f"/search?q=dune&api_key={KEY}", True),
        ("/search?q=dune", f"/search?q=dune&api_key={KEY}", False),  # the key must be sent
        ("/search?q=dune&api_key=", f"/search?q=dune&api_key={KEY}", False),
        ("/search?q=dunes&api_key=sk_live_abc", f"/search?q=dune&api_key={KEY}", False),
        (f"/search?api_key={KEY}", "/search?api_key=sk_live_abc", False),  # only the recording's
    ],
)
def test_query_matcher(live: str, recorded: str, expected: bool) -> None:
    assert matched("query", vcr_request(BASE + live), vcr_request(BASE + recorded)) is expected


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        ("/books/1", "/books/1", True),
        ("/books/2", "/books/1", False),
        ("", "/", True),  # as vcrpy: an empty path is "/"
        ("/tokens/ghp_real", f"/tokens/{TOKEN}", True),
        ("/tokens/ghp_real/x", f"/tokens/{TOKEN}", True),  # a secret may hold a slash
        ("/keys/ghp_real", f"/tokens/{TOKEN}", False),
    ],
)
def test_path_matcher(live: str, recorded: str, expected: bool) -> None:
    assert matched("path", vcr_request(BASE + live), vcr_request(BASE + recorded)) is expected


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        (f"{BASE}/s?api_key=real", f"{BASE}/s?api_key={KEY}", True),
        (f"{BASE}/s?api_key=real", f"https://api.example:8000/s?api_key={KEY}", False),
        (f"{BASE}/s?api_key=real", f"http://api.example:8001/s?api_key={KEY}", False),
        (f"{BASE}/s?api_key=real", f"http://other.example:8000/s?api_key={KEY}", False),
        (f"{BASE}/t?api_key=real", f"{BASE}/s?api_key={KEY}", False),
        ("http://api.example/s", "http://api.example:80/s", True),
    ],
)
def test_uri_matcher(live: str, recorded: str, expected: bool) -> None:
    assert matched("uri", vcr_request(live), vcr_request(recorded)) is expected


# --------------------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("live", "recorded", "headers", "expected"),
    [
        # JSON: parsed values, so spacing and key order do not matter
        ('{"a": 1, "b": [1, 2]}', '{"b":[1,2],"a":1}', JSON, True),
        ('{"a": 1}', '{"a": 2}', JSON, False),
        ('{"a": 1}', '{"a": 1, "b": 2}', JSON, False),
        ('{"a": [1, 2]}', '{"a": [1]}', JSON, False),
        ('{"a": true}', '{"a": 1}', JSON, False),  # true is not 1 in JSON
        ('{"a": 1.0}', '{"a": 1}', JSON, True),  # the same number
        ('{"a": "1"}', '{"a": 1}', JSON, False),
        # a placeholder field matches the live secret, the other fields must be equal
        (
            '{"user": "alice", "password": "wonderland"}',
            f'{{"user": "alice", "password": "{KEY}"}}',
            JSON,
            True,
        ),
        (
            '{"user": "bob", "password": "wonderland"}',
            f'{{"user": "alice", "password": "{KEY}"}}',
            JSON,
            False,
        ),
        ('{"user": "alice"}', f'{{"user": "alice", "password": "{KEY}"}}', JSON, False),
        (
            '{"auth": {"pin": 1234}}',
            f'{{"auth": {{"pin": "{KEY}"}}}}',
            JSON,
            True,
        ),  # numbers were redacted as strings
        ('{"auth": {"pin": null}}', f'{{"auth": {{"pin": "{KEY}"}}}}', JSON, False),
        ('{"auth": {"pin": {"x": 1}}}', f'{{"auth": {{"pin": "{KEY}"}}}}', JSON, False),
        ('[{"note": "token eyJ.abc here"}]', f'[{{"note": "token {TOKEN} here"}}]', JSON, True),
        ('[{"note": "token eyJ.abc there"}]', f'[{{"note": "token {TOKEN} here"}}]', JSON, False),
        ('{"a": 1}', '{"a": 1}', {"Content-Type": "application/problem+json; charset=utf-8"}, True),
        ('{"a": 1 }', '{"a":1}', {}, True),  # no Content-Type, but it looks like JSON
        ("{not json", "{not json", JSON, True),
        ("{not json", "{not jsom", JSON, False),
        # forms: fields by name, placeholders as wildcards
        ("user=alice&password=wonderland", f"user=alice&password={KEY}", FORM, True),
        ("password=wonderland&user=alice", f"user=alice&password={KEY}", FORM, True),
        ("user=bob&password=wonderland", f"user=alice&password={KEY}", FORM, False),
        ("user=alice", f"user=alice&password={KEY}", FORM, False),
        # other text: placeholders as wildcards, the rest exact
        ("key: s3cr3t", f"key: {KEY}", {"Content-Type": "text/plain"}, True),
        ("kex: s3cr3t", f"key: {KEY}", {"Content-Type": "text/plain"}, False),
        ("", "", {}, True),
        ("x", "", {}, False),
        (b"\xff\x00", b"\xff\x00", {"Content-Type": "application/octet-stream"}, True),
        (b"\xff\x01", b"\xff\x00", {"Content-Type": "application/octet-stream"}, False),
    ],
)
def test_body_matcher(
    live: str | bytes, recorded: str | bytes, headers: dict[str, str], expected: bool
) -> None:
    live_request = vcr_request(f"{BASE}/x", live, headers, "POST")
    recorded_request = vcr_request(f"{BASE}/x", recorded, headers, "POST")
    assert matched("body", live_request, recorded_request) is expected


def test_body_matcher_reads_files_and_a_missing_body() -> None:
    import io

    assert matched(
        "body",
        vcr_request(f"{BASE}/x", io.BytesIO(b'{"a": 1}'), JSON),
        vcr_request(f"{BASE}/x", '{"a":1}', JSON),
    )
    assert matched("body", vcr_request(f"{BASE}/x", None), vcr_request(f"{BASE}/x", ""))  # type: ignore[arg-type]


def test_mismatch_messages_say_where() -> None:
    cases = [
        ("query", vcr_request(f"{BASE}/b?page=2"), vcr_request(f"{BASE}/b?page=1"), "parameter page: '2' != recorded '1'"),
        ("query", vcr_request(f"{BASE}/b"), vcr_request(f"{BASE}/b?page=1"), "parameter names differ (not sent: ['page'], not recorded: [])"),
        ("body", vcr_request(f"{BASE}/b", '{"items": [{"id": 2}]}', JSON), vcr_request(f"{BASE}/b", '{"items": [{"id": 1}]}', JSON), "JSON body $.items[0].id: 2 != recorded 1"),
        ("body", vcr_request(f"{BASE}/b", "user=bob", FORM), vcr_request(f"{BASE}/b", "user=alice", FORM), "form field user: 'bob' != recorded 'alice'"),
    ]  # fmt: skip
    for name, live, recorded, message in cases:
        with pytest.raises(AssertionError) as caught:
            MATCHERS[name](live, recorded)
        assert str(caught.value) == message


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize(
    ("live", "recorded", "expected"),
    [
        ({"X-Api-Key": "sk_live_abc"}, {"X-Api-Key": KEY}, True),
        ({"x-api-key": "sk_live_abc"}, {"X-API-KEY": KEY}, True),  # names in any case
        ({}, {"X-Api-Key": KEY}, False),
        ({"X-Api-Key": "sk_live_abc"}, {}, False),
        ({}, {}, True),
        ({"X-Api-Key": "v1"}, {"X-Api-Key": "v2"}, False),
    ],
)
def test_header_matcher(live: dict[str, str], recorded: dict[str, str], expected: bool) -> None:
    matcher = header_matcher("X-Api-Key")
    assert matcher.__name__ == "header:x-api-key"
    try:
        matcher(vcr_request(BASE, headers=live), vcr_request(BASE, headers=recorded))
    except AssertionError:
        assert not expected
    else:
        assert expected


def test_default_matching_is_placeholder_aware_where_secrets_go() -> None:
    assert DEFAULT_MATCH_ON == ("method", "scheme", "host", "port", "path", "query", "body")
    assert {"path", "query", "body"} <= MATCHERS.keys()


def test_what_the_redactor_writes_matches_what_it_was_given() -> None:
    # The real recorder's placeholders, not hand-written ones: every part it redacts
    sent = Request(
        "POST",
        f"{BASE}/orders?api_key=sk_live_0123456789abcdefghij&page=1",
        (("Authorization", "Bearer s3cr3t-access-token"), ("Content-Type", "application/json")),
        b'{"card": {"number": "4111", "pin_code": 1234}, "password": "hunter22", "note": "ok"}',
    )
    recorded = Redactor(b"k" * 32).request(sent)
    assert recorded != sent
    live = vcr_request(sent.url, sent.body, dict(sent.headers), "POST")
    stored = vcr_request(recorded.url, recorded.body, dict(recorded.headers), "POST")
    for name in ("path", "query", "body"):
        assert matched(name, live, stored), name
    header_matcher("Authorization")(live, stored)
