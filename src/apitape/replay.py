"""Send recorded requests to a target with httpx and collect what it answers.

httpx is imported here and nowhere else. Redirects are never followed, no proxy from the
environment is used (nothing goes anywhere but the target), and a request that fails becomes
an error for that exchange instead of stopping the run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from apitape.encoding import decoded
from apitape.errors import UsageError
from apitape.models import Exchange, Headers, Request, Response, header_values, without_headers

HOP_BY_HOP_HEADERS = (
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
)
"""Headers that belong to one connection, not to the request; never replayed."""

RECOMPUTED_HEADERS = ("host", "content-length")
"""Headers httpx sets for the replayed request: Host of the target, length of the body."""


@dataclass(frozen=True)
class ReplayResult:
    """What the target answered to one recorded exchange, or why it did not."""

    exchange: Exchange
    request: Request
    response: Response | None
    duration_ms: float | None
    error: str | None = None


def validate_target(target: str) -> str:
    """The target URL without a trailing slash; raise UsageError if it is not http(s)://host."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"--target {target!r} is not an http:// or https:// URL with a host, "
            "for example http://127.0.0.1:8000"
        )
    return target.rstrip("/")


def build_request(exchange: Exchange, target: str) -> Request:
    """The request to send: the recorded one, aimed at `target`, minus per-connection headers.

    A path in `target` (http://host/api) is put in front of the recorded path.
    """
    recorded = urlsplit(exchange.request.url)
    base = urlsplit(target)
    path = base.path.rstrip("/") + (recorded.path or "/")
    url = urlunsplit((base.scheme, base.netloc, path, recorded.query, ""))
    headers = exchange.request.headers
    # Headers named in Connection are hop-by-hop too (RFC 9110, section 7.6.1).
    named = [n.strip() for v in header_values(headers, "connection") for n in v.split(",")]
    headers = without_headers(headers, (*HOP_BY_HOP_HEADERS, *RECOMPUTED_HEADERS, *named))
    return Request(exchange.request.method, url, headers, exchange.request.body)


TransportFactory = Callable[[], httpx.AsyncBaseTransport]


class Replayer:
    """Replays exchanges against one target with up to `concurrency` requests in flight.

    Each worker has its own client with one connection: a shared httpx pool spends most of
    its CPU assigning requests to connections (encode/httpx#3215). With concurrency 1 every
    request waits for the previous response, in recorded order.
    """

    def __init__(
        self,
        target: str,
        *,
        concurrency: int = 1,
        timeout: float = 30.0,
        transport_factory: TransportFactory | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if concurrency < 1:
            raise UsageError(f"--concurrency must be 1 or more, not {concurrency}")
        if timeout <= 0:
            raise UsageError(f"--timeout must be a positive number of seconds, not {timeout}")
        self.target = validate_target(target)
        self.concurrency = concurrency
        self.timeout = timeout
        self._transport_factory = transport_factory
        self._clock = clock

    def replay(
        self,
        exchanges: Iterable[Exchange],
        on_result: Callable[[ReplayResult], None] | None = None,
    ) -> list[ReplayResult]:
        """Replay every exchange; results come back in the order the exchanges were given."""
        return asyncio.run(self.replay_async(list(exchanges), on_result))

    async def replay_async(
        self,
        exchanges: Sequence[Exchange],
        on_result: Callable[[ReplayResult], None] | None = None,
    ) -> list[ReplayResult]:
        """The async form of `replay`, for callers that already run an event loop."""
        results: list[ReplayResult | None] = [None] * len(exchanges)
        pending = iter(enumerate(exchanges))

        async def worker() -> None:
            async with self._client() as client:
                for index, exchange in pending:
                    result = await self._send(client, exchange)
                    results[index] = result
                    if on_result is not None:
                        on_result(result)

        workers = min(self.concurrency, len(exchanges))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return [r for r in results if r is not None]

    def _client(self) -> httpx.AsyncClient:
        transport = self._transport_factory() if self._transport_factory else None
        return httpx.AsyncClient(
            transport=transport,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=self.timeout,
            follow_redirects=False,
            trust_env=False,  # never route replay traffic through a proxy from the environment
        )

    async def _send(self, client: httpx.AsyncClient, exchange: Exchange) -> ReplayResult:
        request = build_request(exchange, self.target)
        # httpx.Request, not client.build_request: no default headers, no cookie jar merged in,
        # so the target sees the recorded headers and nothing else.
        outgoing = httpx.Request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
        started = self._clock()
        try:
            response = await client.send(outgoing, stream=True)
            try:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            return ReplayResult(exchange, request, None, None, describe_error(exc, self.timeout))
        elapsed_ms = (self._clock() - started) * 1000.0
        headers: Headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in response.headers.raw
        )
        headers, body, _ = decoded(headers, raw)
        replayed = Response(response.status_code, response.reason_phrase, headers, body)
        return ReplayResult(exchange, request, replayed, elapsed_ms)


def describe_error(exc: httpx.HTTPError, timeout: float) -> str:
    """A one-line account of a failed request that a user can act on."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after {timeout:g} s"
    if isinstance(exc, httpx.TimeoutException):
        return f"no response within {timeout:g} s (raise --timeout if the target is just slow)"
    if isinstance(exc, httpx.ConnectError):
        return (
            f"could not connect to {exc.request.url.netloc.decode()}: {_root_cause(exc) or detail}"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the target closed or broke the connection: {detail}"
    if isinstance(exc, httpx.NetworkError):
        return f"network error: {detail}"
    return f"{type(exc).__name__}: {detail}"


def _root_cause(exc: BaseException) -> str | None:
    """The OS-level reason under httpx's wrapping ("connection refused"), if there is one."""
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return None
