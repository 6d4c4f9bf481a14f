"""Building the replayed request, and the replayer against httpx's MockTransport."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from apitape.errors import UsageError
from apitape.models import Exchange, Request, Response, first_header
from apitape.replay.replayer import Replayer, build_request, validate_target
from tests.unit.factories import exchange


class FakeTarget(httpx.AsyncBaseTransport):
    """A target answering from a function, its response body left unread like a real socket's.

    (httpx.MockTransport reads the body itself, which real transports do not.)
    """

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        answer = self.handler(request)
        # httpx.Response(content=...) reads its body at once; hand the raw stream on unread.
        return httpx.Response(answer.status_code, headers=answer.headers, stream=answer.stream)


def test_request_is_aimed_at_the_target_with_path_and_query_kept() -> None:
    recorded = exchange(url="http://staging:8000/books/1?page=2&q=a%20b")
    request = build_request(recorded, "http://127.0.0.1:9000")
    assert request.url == "http://127.0.0.1:9000/books/1?page=2&q=a%20b"


def test_target_path_prefix_is_kept() -> None:
    request = build_request(exchange(url="http://staging/books"), "https://ci.example/api/")
    assert request.url == "https://ci.example/api/books"


def test_the_recorded_headers_go_out_except_host_lengths_and_proxy_credentials() -> None:
    headers = (
        ("Host", "staging:8000"),
        ("Connection", "close, X-Conn-Only"),
        ("X-Conn-Only", "1"),
        ("Proxy-Connection", "Keep-Alive"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
        ("Proxy-Authorization", "Basic x"),
        ("Authorization", "Bearer t"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
    )
    request = build_request(exchange("POST", request_headers=headers, body=b"hello"), "http://t")
    assert request.headers == (
        ("Connection", "close, X-Conn-Only"),
        ("X-Conn-Only", "1"),
        ("Proxy-Connection", "Keep-Alive"),
        ("Authorization", "Bearer t"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
    )
    assert request.body == b"hello"


def test_an_upgrade_is_not_replayed() -> None:
    headers = (("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Accept", "*/*"))
    request = build_request(exchange(request_headers=headers), "http://t")
    assert request.headers == (("Accept", "*/*"),)


@pytest.mark.parametrize("target", ["127.0.0.1:8000", "ftp://h", "http://", ""])
def test_bad_targets_are_usage_errors(target: str) -> None:
    with pytest.raises(UsageError, match=r"^target .* is not an http"):
        validate_target(target)


def test_replayer_sends_recorded_request_exactly_and_keeps_order() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201, headers={"Content-Type": "application/json"}, content=b'{"ok":1}'
        )

    exchanges = [
        exchange(
            "POST",
            url=f"http://staging/books/{i}",
            body=b"x",
            exchange_id=str(i),
            request_headers=(("X-A", "1"), ("Cookie", "s=1")),
        )
        for i in range(1, 6)
    ]
    replayer = Replayer(
        "http://target:1", concurrency=3, transport_factory=lambda: FakeTarget(handler)
    )
    results = replayer.replay(exchanges)
    assert [r.exchange.id for r in results] == ["1", "2", "3", "4", "5"]
    for result in results:
        assert result.response is not None
        assert (result.response.status, result.response.body) == (201, b'{"ok":1}')
        assert first_header(result.response.headers, "content-type") == "application/json"
    first = seen[0]
    # Only what was recorded, plus Host and Content-Length: no User-Agent or Accept added.
    assert sorted(first.headers.keys()) == ["content-length", "cookie", "host", "x-a"]
    assert first.headers["host"] == "target:1"


def test_redirects_are_not_followed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://elsewhere/"})

    replayer = Replayer("http://t", transport_factory=lambda: FakeTarget(handler))
    (result,) = replayer.replay([exchange()])
    assert result.response is not None and result.response.status == 302


def test_gzip_answers_are_decoded_like_recorded_ones() -> None:
    import gzip

    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(b'{"a": 1}')
        return httpx.Response(
            200,
            headers={"Content-Encoding": "gzip", "Content-Length": str(len(body))},
            content=body,
        )

    (result,) = Replayer("http://t", transport_factory=lambda: FakeTarget(handler)).replay(
        [exchange()]
    )
    assert result.response is not None
    assert result.response.body == b'{"a": 1}'
    assert first_header(result.response.headers, "content-length") == "8"
    assert first_header(result.response.headers, "content-encoding") is None


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ReadTimeout("slow"), "no response within 30 s"),
        (httpx.RemoteProtocolError("reset"), "closed or broke the connection"),
    ],
)
def test_transport_failures_become_errors_of_that_exchange(error: Exception, message: str) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise error
        return httpx.Response(200)

    replayer = Replayer("http://t", transport_factory=lambda: FakeTarget(handler))
    first, second = replayer.replay([exchange(exchange_id="1"), exchange(exchange_id="2")])
    assert first.response is None and first.error is not None and message in first.error
    assert second.error is None and second.response is not None


@pytest.mark.parametrize(("concurrency", "timeout"), [(0, 1.0), (1, 0.0)])
def test_bad_limits_are_usage_errors(concurrency: int, timeout: float) -> None:
    with pytest.raises(UsageError):
        Replayer("http://t", concurrency=concurrency, timeout=timeout)


def test_connection_errors_are_retried_but_responses_never_are() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(500)

    replayer = Replayer("http://t", retries=2, transport_factory=lambda: FakeTarget(handler))
    (result,) = replayer.replay([exchange()])
    assert result.response is not None and result.response.status == 500  # sent again once only
    assert calls == ["/books/1", "/books/1"]


def test_a_target_down_from_the_start_is_tried_once_not_for_every_exchange() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused")

    replayer = Replayer("http://t", retries=1, transport_factory=lambda: FakeTarget(handler))
    results = replayer.replay([exchange(exchange_id=str(i)) for i in range(1, 6)])
    assert calls == 2  # the first exchange and its one retry
    assert results[0].error is not None and "could not connect to t" in results[0].error
    assert all(
        r.error == "not sent: http://t was unreachable from the first request" for r in results[1:]
    )


def test_a_host_that_does_not_resolve_is_named_with_the_resolver_s_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        raise httpx.ConnectError("lookup failed") from lookup

    replayer = Replayer("http://t", retries=0, transport_factory=lambda: FakeTarget(handler))
    (result,) = replayer.replay([exchange()])
    assert result.error == "could not connect to t: name or service not known"


class FakeClock:
    """A clock that moves only when the replayer sleeps: pacing without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def paced(**options: float) -> FakeClock:
    clock = FakeClock()
    stamps = [
        "2026-11-24T10:00:00.000000Z",
        "2026-11-24T10:00:01.000000Z",
        "2026-11-24T10:00:03.000000Z",
    ]
    exchanges = [
        Exchange(
            str(i), Request("GET", f"http://s/{i}"), Response(200), recorded_at=stamp, client="c:1"
        )
        for i, stamp in enumerate(stamps)
    ]
    replayer = Replayer("http://t", transport_factory=lambda: FakeTarget(lambda r: httpx.Response(200)),
                        clock=clock, sleep=clock.sleep, **options)  # fmt: skip
    replayer.replay(exchanges)
    return clock


def test_speed_keeps_the_recorded_gaps_divided() -> None:
    assert paced(speed=1.0).sleeps == [1.0, 2.0]
    assert paced(speed=2.0).sleeps == [0.5, 1.0]
    assert paced().sleeps == []  # --speed 0: as fast as the target answers


def test_rate_spaces_requests_evenly() -> None:
    assert paced(rate=4.0).sleeps == [0.25, 0.25]
