"""Path parameters learned from a capture: produced values and crowded positions are
parameters; names, client-chosen values and coincidences are not."""

from __future__ import annotations

import gc
import json
import tracemalloc

import pytest

from apitape.http.endpoints import EndpointNamer, Template
from apitape.http.path_parameters import (
    PathParameterLearner,
    PathParameters,
    is_name,
    learn_path_parameters,
)
from apitape.models import Exchange, Response
from tests.unit.factories import exchange, json_response

BASE = "http://svc.example"
NOT_FOUND = Response(404, "Not Found", (), b"")


def call(method: str, path: str, answer: object = None, body: object = None) -> Exchange:
    """An exchange: `answer` is the JSON the service answered (None: an empty 404)."""
    response = NOT_FOUND if answer is None else json_response(answer)
    sent = json.dumps(body).encode() if body is not None else b""
    headers = (("Content-Type", "application/json"),) if body is not None else ()
    return exchange(method, BASE + path, response, headers, sent)


def named(capture: list[Exchange], method: str, path: str) -> str:
    return EndpointNamer((), learn_path_parameters(capture))(method, BASE + path)


# (what the capture shows, the request named, the endpoint expected)
CASES = [
    pytest.param(
        [call("POST", "/posts", {"id": "3QiPNqZ"}), call("GET", "/posts/3QiPNqZ", {"id": 1})],
        "/posts/3QiPNqZ",
        "/posts/{id}",
        id="a short random id the service produced",
    ),
    pytest.param(
        [call("GET", "/posts", [{"id": "aBcDeFg"}]), call("DELETE", "/posts/aBcDeFg", {})],
        "/posts/aBcDeFg/comments",
        "/posts/{id}/comments",
        id="produced in a list, the segment below keeps its name",
    ),
    pytest.param(
        [call("GET", "/posts/17", {}), call("GET", "/posts/x9Kq", {})],
        "/posts/x9Kq",
        "/posts/{id}",
        id="beside an id by its shape",
    ),
    pytest.param(
        [call("GET", "/posts/17", {}), call("GET", "/posts/search", {})],
        "/posts/search",
        "/posts/search",
        id="a word beside ids stays a name",
    ),
    pytest.param(
        [call("GET", f"/files/{key}", {}) for key in ("aB3", "Zq9", "k2Lm", "P0o", "x7Y")],
        "/files/aB3",
        "/files/{id}",
        id="five distinct keys at one position",
    ),
    pytest.param(
        [call("GET", f"/files/{key}", {}) for key in ("aB3", "Zq9", "k2Lm", "P0o")],
        "/files/aB3",
        "/files/aB3",
        id="four keys are not enough",
    ),
    pytest.param(
        [call("GET", f"/api/{name}", {}) for name in ("users", "books", "orders", "health", "me")],
        "/api/users",
        "/api/users",
        id="many names at one position stay names",
    ),
    pytest.param(
        [call("GET", f"/{key}", {}) for key in ("aB3", "Zq9", "k2Lm", "P0o", "x7Y", "Q1w")],
        "/aB3",
        "/aB3",
        id="the first segment is never a parameter by count",
    ),
    pytest.param(
        [
            call("POST", "/buckets", {"name": "k3yZ"}, body={"name": "k3yZ"}),
            call("GET", "/buckets/k3yZ", {}),
        ],
        "/buckets/k3yZ",
        "/buckets/k3yZ",
        id="the client chose it: echoed back, not produced",
    ),
    pytest.param(
        [call("GET", "/tags/a1B2", {}), call("GET", "/tags", ["a1B2"])],
        "/tags/a1B2",
        "/tags/a1B2",
        id="sent before any answer held it",
    ),
    pytest.param(
        [
            call("GET", "/users", [{"name": "alice"}, {"name": "bob"}]),
            call("GET", "/users/alice", {}),
            call("GET", "/users/bob", {}),
        ],
        "/users/alice",
        "/users/{id}",
        id="two produced words",
    ),
    pytest.param(
        [call("GET", "/settings", {"mode": "dark"}), call("GET", "/themes/dark", {})],
        "/themes/dark",
        "/themes/dark",
        id="one produced word is a coincidence",
    ),
    pytest.param(
        [call("GET", "/api/2.0/runs/17", {}), call("GET", "/api/2.0/runs/aK9z", {})],
        "/api/2.0/runs/aK9z",
        "/api/2.0/runs/{id}",
        id="a dotted API version stays a name",
    ),
    pytest.param(
        [call("GET", "/pkg/1.0.0", {}), call("GET", "/pkg/-/pkg-1.0.0.tgz", {})],
        "/pkg/-/pkg-1.0.0.tgz",
        "/pkg/-/{id}",
        id="punctuation beside ids stays a name (npm's tarball route)",
    ),
    pytest.param(
        [call("GET", "/v1/x/17", {}), call("GET", "/v2/x/17", {}), call("GET", "/77/x", {})],
        "/v2/x/17",
        "/v2/x/{id}",
        id="a v2 version stays a name beside ids",
    ),
]


@pytest.mark.parametrize(("capture", "path", "expected"), CASES)
def test_learned_endpoint_names(capture: list[Exchange], path: str, expected: str) -> None:
    assert named(capture, "GET", path) == f"GET {expected}"


def test_a_location_header_produces_its_segments() -> None:
    created = Response(201, "Created", (("Location", "/posts/Yt7q"),), b"")
    capture = [exchange("POST", BASE + "/posts", created), call("GET", "/posts/Yt7q", {})]
    assert named(capture, "GET", "/posts/Yt7q") == "GET /posts/{id}"


def test_explicit_templates_still_win() -> None:
    capture = [call("POST", "/posts", {"id": "3QiPNqZ"}), call("GET", "/posts/3QiPNqZ", {})]
    namer = EndpointNamer(
        (Template(None, ("", "posts", "{slug}")),), learn_path_parameters(capture)
    )
    assert namer("GET", BASE + "/posts/3QiPNqZ") == "GET /posts/{slug}"


def test_the_learned_positions_say_why() -> None:
    capture = [call("POST", "/posts", {"id": "3QiPNqZ"}), call("GET", "/posts/3QiPNqZ", {})]
    learned = learn_path_parameters(capture).learned
    assert [p.template for p in learned] == ["/posts/{id}"]
    assert "produced by earlier answers (e.g. 3QiPNqZ)" in learned[0].reason


def test_ids_by_shape_alone_are_not_reported_as_learned() -> None:
    capture = [call("GET", "/books/1", {}), call("GET", "/books/2", {})]
    parameters = learn_path_parameters(capture)
    assert parameters.learned == ()
    assert parameters.template("/books/3") == "/books/{id}"


def test_nothing_learned_names_as_the_guess() -> None:
    assert PathParameters().template("/books/17/reviews") == "/books/{id}/reviews"


def test_names_are_words_versions_and_files() -> None:
    for segment in ("search", "index.html", "README", "user-settings", "v2", "About", "-"):
        assert is_name(["", segment], 1), segment
    for segment in ("3QiPNqZ", "aBcDeF", "k3yZ", "@scope%2fpkg"):
        assert not is_name(["", segment], 1), segment


JSON = (("Content-Type", "application/json"),)


def test_learning_keeps_no_big_answer_after_the_exchange_is_gone() -> None:
    """The learner remembers recent exchanges to skip exact repeats; it must not do so by
    holding their bodies: 40 answers of 1 MB each once stayed in memory to the end."""
    learner = PathParameterLearner()
    body = json.dumps([{"id": n, "text": "x" * 100} for n in range(9000)]).encode()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(40):
            answer = body + b" " * n  # each a distinct 1 MB answer, as a capture has
            learner.observe(
                exchange(url=f"http://s/books/{n}", response=Response(200, "OK", JSON, answer))
            )
            del answer
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(body) > 1_000_000
    assert after - before < 5_000_000  # 40 MB when every answer was kept


def test_an_exact_repeat_with_a_big_body_is_still_told_apart() -> None:
    """Two big answers of the same length that differ are not repeats: the second still
    teaches what it holds."""
    learner = PathParameterLearner()
    filler = "x" * 2000
    first = json.dumps({"token": "alpha-0001", "pad": filler}).encode()
    second = json.dumps({"token": "bravo-0002", "pad": filler}).encode()
    assert len(first) == len(second) > 1024
    for answer in (first, second):
        learner.observe(exchange(url="http://s/login", response=Response(200, "OK", JSON, answer)))
    learner.observe(exchange(url="http://s/sessions/bravo-0002"))
    learned = learner.result()
    assert learned is not None and "bravo-0002" in learned.produced
