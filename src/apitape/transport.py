"""An httpx transport that sends requests with aiohttp: httpx's API, aiohttp's connection pool.

httpx's own pool spends most of a request's CPU assigning requests to connections
(encode/httpx#3215): a replay reached 0.1-0.2x of what the service could answer.
`AiohttpTransport` keeps httpx as the request model (an `httpx.Request` in, an
`httpx.Response` out, httpx's exception types) and sends over one shared aiohttp
`TCPConnector`. aiohttp is imported here and nowhere else.

What goes on the wire is the httpx request and nothing more: no User-Agent, Accept,
Accept-Encoding or Content-Type added, header order and repeats kept, no cookie jar, no
proxy from the environment, no redirects followed. The answer is handed on as it came: raw
headers in order, the body not decompressed (apitape decodes bodies itself). HTTP/1.1 only:
aiohttp has no HTTP/2 client, so HTTP/2 stays with httpx's own transport.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import aiohttp
import httpx
from multidict import CIMultiDict
from yarl import URL

# Headers aiohttp would add to every request; the replayed request carries only its own.
_SKIP_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send httpx requests over one aiohttp connection pool of at most `limit` connections.

    `timeout` bounds connecting and each wait for data from the target, like httpx's
    connect and read timeouts. HTTPS is verified against the same CA bundle httpx uses.
    The pool is opened on the first request, in the running event loop, and closed by
    `aclose` (or `async with`).
    """

    def __init__(
        self, *, limit: int, timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.limit = limit
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # httpx's default: certifi's CA bundle, verification on. Made on the first
            # https request only: loading the bundle costs about 40 ms of CPU.
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return self._ssl_context

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.limit, limit_per_host=0, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=None, sock_connect=self.timeout, sock_read=self.timeout
            ),
            raise_for_status=False,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        headers = CIMultiDict(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        )
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),  # sent as httpx encoded it, not requoted
                headers=headers,
                data=body or None,
                allow_redirects=False,
                ssl=self._tls() if request.url.scheme == "https" else True,
            ) as answer:
                raw = await answer.read()
        except aiohttp.ClientError as exc:
            raise _as_httpx_error(exc, request) from exc
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out waiting for the target", request=request) from exc
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            stream=httpx.ByteStream(raw),  # not content=: that would add a Content-Length
            extensions={
                "reason_phrase": (answer.reason or "").encode("latin-1", "replace"),
                "http_version": b"HTTP/%d.%d" % tuple(answer.version or (1, 1)),
            },
            request=request,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> AiohttpTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


def _as_httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.HTTPError:
    """The httpx exception that stands for an aiohttp one, so callers handle httpx's only.

    Raised `from` the aiohttp error, whose errno says why a connect failed.
    """
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(detail, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(detail, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # an OSError: "connection refused"
        return httpx.ConnectError(detail, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(detail, request=request)
    if isinstance(exc, aiohttp.ClientResponseError):  # a status line or header aiohttp refused
        return httpx.RemoteProtocolError(detail, request=request)
    if isinstance(exc, aiohttp.ClientOSError):
        return httpx.ReadError(detail, request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(detail, request=request)
    return httpx.TransportError(detail, request=request)
