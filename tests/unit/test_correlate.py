"""Sessions and correlation on realistic flows: what is carried forward, and what is not."""

from __future__ import annotations

import json

import pytest

from apitape.errors import UsageError
from apitape.http.sessions import group_sessions, session_key
from apitape.models import Difference, Exchange, Request, Response
from apitape.replay.correlate import Correlator, is_strong

JSON = (("Content-Type", "application/json"),)
TOKEN_OLD = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiaWF0IjoxfQ.c2lnMQ"
TOKEN_NEW = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIiwiaWF0IjoyfQ.c2lnMg"


def ex(
    method: str,
    path: str,
    *,
    response: object = None,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    body: object = None,
    response_headers: tuple[tuple[str, str], ...] = (),
    id: str = "1",
    client: str = "10.0.0.1:5000",
) -> Exchange:
    request_body = json.dumps(body).encode() if body is not None else b""
    request_headers = headers + (JSON if body is not None else ())
    response_body = json.dumps(response).encode() if response is not None else b""
    return Exchange(id, Request(method, f"http://staging:8000{path}", request_headers, request_body),
                    Response(status, "", JSON + response_headers, response_body), client=client, connection="c1")  # fmt: skip


def answer(body: object, headers: tuple[tuple[str, str], ...] = (), status: int = 200) -> Response:
    return Response(status, "", JSON + headers, json.dumps(body).encode())


def test_create_then_read_carries_the_new_id_into_the_path() -> None:
    correlator = Correlator()
    create = ex("POST", "/books", response={"id": 31, "title": "Dune"}, status=201)
    correlator.learn(create, "POST /books", answer({"id": 131, "title": "Dune"}, status=201))
    read = ex("GET", "/books/31")
    request, made = correlator.rewrite(read.request, "2")
    assert request.url == "http://staging:8000/books/131"
    assert [(s.recorded, s.replayed, s.used_in) for s in made] == [("31", 131, "path segment 2")]
    assert made[0].learned_from == "#1 POST /books response $.id"
    # the create response's own new id is explained, once a request has carried it
    assert correlator.explains(Difference("$.id", "value_changed", 31, 131))


def test_location_header_teaches_the_path_segment() -> None:
    correlator = Correlator()
    create = ex(
        "POST",
        "/orders",
        response={},
        status=201,
        response_headers=(("Location", "http://staging:8000/orders/4711"),),
    )
    correlator.learn(
        create, "POST /orders", answer({}, (("Location", "http://ci:9000/orders/5002"),), 201)
    )
    request, _ = correlator.rewrite(ex("DELETE", "/orders/4711/items/4711").request, "2")
    # only the segment in the learned position changes; the same digits elsewhere stay
    assert request.url == "http://staging:8000/orders/5002/items/4711"


def test_token_from_login_replaces_the_bearer_header() -> None:
    correlator = Correlator()
    login = ex("POST", "/login", response={"token": TOKEN_OLD})
    correlator.learn(login, "POST /login", answer({"token": TOKEN_NEW}))
    later = ex("GET", "/me", headers=(("Authorization", f"Bearer {TOKEN_OLD}"),))
    request, made = correlator.rewrite(later.request, "2")
    assert request.headers == (("Authorization", f"Bearer {TOKEN_NEW}"),)
    assert made[0].used_in == "header authorization"


def test_cookie_from_set_cookie_is_carried() -> None:
    correlator = Correlator()
    login = ex(
        "POST",
        "/session",
        response={},
        response_headers=(("Set-Cookie", "sid=a1; Path=/; HttpOnly"),),
    )
    correlator.learn(login, "POST /session", answer({}, (("Set-Cookie", "sid=b2; Path=/"),)))
    request, made = correlator.rewrite(
        ex("GET", "/cart", headers=(("Cookie", "theme=dark; sid=a1"),)).request, "2"
    )
    assert request.headers == (("Cookie", "theme=dark; sid=b2"),)
    assert made[0].used_in == "cookie sid"


def test_long_id_inside_a_json_body_and_a_query_string() -> None:
    correlator = Correlator()
    uuid_old, uuid_new = (
        "0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f",
        "7a1c9e2b-3f4d-4e5a-8b6c-1d2e3f4a5b6c",
    )
    correlator.learn(
        ex("POST", "/carts", response={"cart": {"id": uuid_old}}),
        "POST /carts",
        answer({"cart": {"id": uuid_new}}),
    )
    add = ex("POST", f"/items?cart={uuid_old}", body={"cart_id": uuid_old, "qty": 1})
    request, made = correlator.rewrite(add.request, "2")
    assert request.url == f"http://staging:8000/items?cart={uuid_new}"
    assert json.loads(request.body) == {"cart_id": uuid_new, "qty": 1}
    assert sorted(s.used_in for s in made) == ["body $.cart_id", "query cart"]


def test_a_coincidental_short_number_is_not_substituted() -> None:
    correlator = Correlator()
    # "count": 1 -> 2 in a list response must not turn every 1 of later requests into 2
    correlator.learn(
        ex("GET", "/books", response={"count": 1, "page": 1}),
        "GET /books",
        answer({"count": 2, "page": 1}),
    )
    later = ex("GET", "/books/1?page=1", body={"qty": 1})
    request, made = correlator.rewrite(later.request, "2")
    assert request == later.request
    assert made == []
    assert not correlator.explains(Difference("$.count", "value_changed", 1, 2))


def test_a_learned_value_no_request_used_explains_nothing() -> None:
    correlator = Correlator()
    correlator.learn(
        ex("GET", "/stats", response={"hits": 123456}), "GET /stats", answer({"hits": 654321})
    )
    assert not correlator.explains(Difference("$.hits", "value_changed", 123456, 654321))


@pytest.mark.parametrize(("value", "strong"), [(1, False), (31, False), (4711, False), (123456, True), ("alice", False),
                                                ("a1b2c3d4e5", True), (TOKEN_OLD, True), (True, False)])  # fmt: skip
def test_strong_values(value: object, strong: bool) -> None:
    assert is_strong(value) is strong


def test_sessions_group_by_client_address_by_default() -> None:
    exchanges = [ex("GET", "/a", client="10.0.0.1:5000"), ex("GET", "/b", client="10.0.0.2:6000"),
                 ex("GET", "/c", client="10.0.0.1:5001")]  # fmt: skip
    assert group_sessions(exchanges, session_key("client")) == [[0, 2], [1]]
    assert group_sessions(exchanges, session_key("exchange")) == [[0], [1], [2]]
    keyed = [ex("GET", "/a", headers=(("X-User", "u1"),)), ex("GET", "/b", headers=(("X-User", "u2"),)),
             ex("GET", "/c", headers=(("X-User", "u1"),))]  # fmt: skip
    assert group_sessions(keyed, session_key("header:X-User")) == [[0, 2], [1]]
    with pytest.raises(UsageError, match="session_by 'user' is not one of"):
        session_key("user")


def test_differences_of_objects_and_lists_are_never_explained() -> None:
    correlator = Correlator()
    assert not correlator.explains(Difference("$", "value_changed", {"ok": True}, {"ok": False}))
    assert not correlator.explains(Difference("$.tags", "value_changed", ["a"], ["b"]))


def test_an_extract_rule_carries_a_short_value_the_heuristic_would_not() -> None:
    from apitape.config import parse_config

    config = parse_config(
        'correlation:\n  extract:\n    - {endpoint: "POST /carts", path: "$.label"}\n',
        "apitape.yaml",
    )
    assert config.correlation is True
    guarded, named = Correlator(), Correlator(extract=config.extract)
    for correlator in (guarded, named):
        correlator.learn(
            ex("POST", "/carts", response={"label": "c7"}), "POST /carts", answer({"label": "c9"})
        )
    later = ex("GET", "/checkout?cart=c7", headers=(("X-Cart", "c7"),))
    # "c7" under a key that names no resource, and short: only the rule says to carry it
    assert guarded.rewrite(later.request, "2")[1] == []
    request, made = named.rewrite(later.request, "2")
    assert request.url == "http://staging:8000/checkout?cart=c9"
    assert request.headers == (("X-Cart", "c9"),)
    assert {s.used_in for s in made} == {"query cart", "header x-cart"}


def test_correlation_can_be_switched_off_in_config() -> None:
    from apitape.config import parse_config

    assert parse_config("correlation: false\n", "apitape.yaml").correlation is False
    assert parse_config("correlation: {enabled: false}\n", "apitape.yaml").correlation is False


def test_pairing_by_id_then_by_request_and_order() -> None:
    from apitape.compare.pairing import pair_exchanges

    first = [
        ex("GET", "/a", id="1"),
        ex("GET", "/b", id="2"),
        ex("GET", "/b", id="3"),
        ex("GET", "/gone", id="4"),
    ]
    second = [
        ex("GET", "/b", id="7"),
        ex("GET", "/a", id="1"),
        ex("GET", "/b", id="9"),
        ex("GET", "/new", id="10"),
    ]
    pairs, unmatched = pair_exchanges(first, second)
    assert [(a.id, b.id if b else None) for a, b in pairs] == [
        ("1", "1"),
        ("2", "7"),
        ("3", "9"),
        ("4", None),
    ]
    assert [e.id for e in unmatched] == ["10"]
