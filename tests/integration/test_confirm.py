"""A differing answer to a safe request is asked for again: what differs between the target's
own two answers is noise, never a regression; what it answers the same both times is reported."""

from __future__ import annotations

import itertools
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import apitape
from apitape.models import Exchange, Request, Response
from tests.integration.conftest import Upstream

JSON = (("Content-Type", "application/json"),)
TICKS = itertools.count(1)


def stats(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """A service that times its own query: `query_ms` differs on every call."""
    answer = {"id": 7, "price": "12.50", "query_ms": 3.0 + next(TICKS) / 100}
    return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def recorded(exchange_id: str, method: str, price: object) -> Exchange:
    body = json.dumps({"id": 7, "price": price, "query_ms": 3.72}).encode()
    return Exchange(
        exchange_id,
        Request(method, "http://staging:8000/stats/7", (), b""),
        Response(200, "OK", JSON, body),
        client="10.0.0.1:5000",
    )


def cassette_of(tmp_path: Path, *exchanges: Exchange) -> Path:
    path = tmp_path / "stats.yaml"
    apitape.write_cassette(path, list(exchanges))
    return path


def serve(upstream: Upstream) -> None:
    upstream.routes[("GET", "/stats/7")] = stats
    upstream.routes[("POST", "/stats/7")] = stats


def test_a_field_that_changes_on_its_own_is_confirmed_noise(
    upstream: Upstream, tmp_path: Path
) -> None:
    serve(upstream)
    cassette = cassette_of(tmp_path, recorded("1", "GET", "12.50"), recorded("2", "POST", "12.50"))
    report = apitape.replay(cassette, upstream.url)
    assert report.ok, report.summary()
    # the GET was sent twice; the POST, which is not safe to repeat, once
    assert upstream.hits == ["GET /stats/7", "GET /stats/7", "POST /stats/7"]
    assert report.confirmations == 1
    rules = {(i.endpoint, i.path): i.rule for i in report.ignored}
    assert rules[("GET /stats/{id}", "$.query_ms")].startswith("confirmed: value changed")
    # learned on the GET, it covers the POST to the same path
    assert ("POST /stats/{id}", "$.query_ms") in rules


def test_without_the_second_request_the_same_field_is_a_regression(
    upstream: Upstream, tmp_path: Path
) -> None:
    serve(upstream)
    cassette = cassette_of(tmp_path, recorded("1", "GET", "12.50"))
    report = apitape.replay(cassette, upstream.url, settings=apitape.RunSettings(confirm=False))
    assert upstream.hits == ["GET /stats/7"]
    assert report.regressions == 1
    assert [d.path for i in report.interactions for d in i.differences] == ["$.query_ms"]


def test_a_change_the_target_answers_the_same_twice_is_still_reported(
    upstream: Upstream, tmp_path: Path
) -> None:
    serve(upstream)
    cassette = cassette_of(tmp_path, recorded("1", "GET", 12.5))  # recorded a number
    report = apitape.replay(cassette, upstream.url)
    assert report.confirmations == 1
    (item,) = report.interactions
    assert [(d.path, d.kind) for d in item.differences] == [("$.price", "type_changed")]
    assert report.exit_status == 1
