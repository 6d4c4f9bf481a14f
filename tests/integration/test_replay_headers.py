"""The target sees the recorded request, header for header; `Connection: close` is honoured."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import apitape
from apitape.models import Exchange, Request, Response
from tests.integration.conftest import Upstream

JSON = (("Content-Type", "application/json"),)


PEER_PORTS: list[int] = []  # the client port of each request the upstream served


def echo_headers(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    PEER_PORTS.append(handler.client_address[1])
    skipped = ("host", "content-length")
    seen = {k.lower(): v for k, v in handler.headers.items() if k.lower() not in skipped}
    return 200, {"Content-Type": "application/json"}, json.dumps({"headers": seen}).encode()


def recorded(
    exchange_id: str, headers: tuple[tuple[str, str], ...], echoed: dict[str, str]
) -> Exchange:
    body = json.dumps({"headers": echoed}).encode()
    return Exchange(
        exchange_id,
        Request("GET", "http://staging:8000/echo", headers, b""),
        Response(200, "OK", JSON, body),
        client="10.0.0.1:5000",
    )


def test_a_service_echoing_request_headers_sees_them_as_recorded(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.routes[("GET", "/echo")] = echo_headers
    sent = (
        ("Accept", "*/*"),
        ("Connection", "close"),
        ("Proxy-Connection", "Keep-Alive"),
        ("X-Trace", "t1"),
    )
    echoed = {
        "accept": "*/*",
        "connection": "close",
        "proxy-connection": "Keep-Alive",
        "x-trace": "t1",
    }
    cassette = tmp_path / "echo.yaml"
    apitape.write_cassette(cassette, [recorded("1", sent, echoed), recorded("2", sent, echoed)])
    PEER_PORTS.clear()
    report = apitape.replay(cassette, upstream.url)
    assert report.ok, report.summary()
    assert upstream.hits == ["GET /echo", "GET /echo"]
    # Connection: close was honoured: the second request came on a connection of its own
    assert len(PEER_PORTS) == 2 and PEER_PORTS[0] != PEER_PORTS[1]


def test_without_connection_close_the_connection_is_kept_alive(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.routes[("GET", "/echo")] = echo_headers
    sent = (("Accept", "*/*"),)
    cassette = tmp_path / "echo.yaml"
    apitape.write_cassette(
        cassette, [recorded("1", sent, {"accept": "*/*"}), recorded("2", sent, {"accept": "*/*"})]
    )
    PEER_PORTS.clear()
    report = apitape.replay(cassette, upstream.url)
    assert report.ok, report.summary()
    assert len(PEER_PORTS) == 2 and PEER_PORTS[0] == PEER_PORTS[1]
