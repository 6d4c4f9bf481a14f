"""Exchanges with fixed values, for tests of pure logic."""

from __future__ import annotations

import json
from typing import Any

from apitape.models import Exchange, Request, Response

JSON = (("Content-Type", "application/json"),)


def json_response(
    value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = JSON
) -> Response:
    return Response(status, "OK", headers, json.dumps(value).encode())


def exchange(
    method: str = "GET",
    url: str = "http://staging.example:8000/books/1",
    response: Response | None = None,
    request_headers: tuple[tuple[str, str], ...] = (("Accept", "application/json"),),
    body: bytes = b"",
    exchange_id: str = "1",
    duration_ms: float | None = 3.0,
) -> Exchange:
    return Exchange(
        id=exchange_id,
        request=Request(method, url, request_headers, body),
        response=response or json_response({"id": 1, "title": "Dune", "price": 9.5}),
        recorded_at="2026-11-24T10:00:00.000000Z",
        duration_ms=duration_ms,
        client="127.0.0.1:50000",
        connection="conn-1",
    )
