"""A lean HTTP/1.1 keep-alive transport under httpx: asyncio Protocols and httptools' C parser.

httpx's own pool spends most of a request's CPU assigning requests to connections
(encode/httpx#3215), and aiohttp under httpx spends about twice a bare aiohttp loop's CPU on
its client layers. `Http1Transport` keeps httpx as the request model (an `httpx.Request` in,
an `httpx.Response` out, httpx's exception types) and does only what a replay needs: one
keep-alive connection per request in flight, parsed by httptools (llhttp). httptools is
imported here and nowhere else.

What goes on the wire is the httpx request and nothing more: its headers in order, repeats
and case as given, nothing added (the caller sets Host and Content-Length). The answer is
handed on as it came: raw headers in order, the reason phrase, the body not decompressed
(apitape decodes bodies itself), no redirect followed. HTTP/1.1 only; HTTP/2 stays with
httpx's own transport.
"""

from __future__ import annotations

import asyncio
import ssl
from types import TracebackType
from typing import cast

import httptools
import httpx

Origin = tuple[str, str, int]
"""(scheme, host, port) of a target: connections are kept per origin."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_1_1 = b"HTTP/1.1"
# Requests a server may answer again without harm (RFC 9110, section 9.2.2): sent once more on
# a new connection when a kept-alive one turns out closed before any byte of the answer came.
_IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"))


class DeadlinePassed(httpx.TimeoutException):
    """The exchange's deadline passed (connect, send, headers and body together): `phase`
    says how far it got ("the body was still arriving (1,234 bytes so far)"), and `waiting`
    whether the request went out whole and not a byte of the answer came."""

    def __init__(self, phase: str, *, waiting: bool = False) -> None:
        super().__init__(phase)
        self.phase = phase
        self.waiting = waiting


class ReadDeadline(DeadlinePassed, httpx.ReadTimeout):
    """The deadline passed while the answer was awaited or arriving."""


class WriteDeadline(DeadlinePassed, httpx.WriteTimeout):
    """The deadline passed while the request was still being sent."""


WAITING = "the target had not begun to answer"


class _Stale(Exception):
    """The connection closed (or was reset) before any byte of the answer arrived: on a
    kept-alive connection, the server had closed it while it was idle."""


class Http1Transport(httpx.AsyncBaseTransport):
    """Send httpx requests over keep-alive HTTP/1.1 connections, at most `limit` kept idle
    per target (the caller bounds how many requests are in flight: the replayer sends one
    per worker at a time, so one connection per worker).

    `timeout` is a deadline for the whole exchange: connecting, sending, the answer's headers
    and its body, however slowly the target trickles them (a `DeadlinePassed` names the
    phase it ran out in). A request carrying httpx's `timeout` extension is given its "read"
    as that deadline, and its "connect" as a bound on connecting within it. HTTPS is verified
    against the CA bundle httpx uses unless `ssl_context` is given. Connections open on
    demand in the running event loop and are closed by `aclose` (or `async with`).
    """

    def __init__(
        self, *, limit: int, timeout: float, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.limit = limit
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # httpx's default: certifi's CA bundle, verification on. Made on the first
            # https request only: loading the bundle costs about 40 ms of CPU.
            self._ssl_context = httpx.create_ssl_context(trust_env=False)
        return self._ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"cannot send {scheme or 'a URL without a scheme'}: only http and https",
                request=request,
            )
        # The ASCII (IDNA) host, as DNS and TLS need it; IPv6 without its brackets.
        origin = (scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORTS[scheme])
        timeouts = request.extensions.get("timeout") or {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeouts.get("read") or self.timeout)
        stream = request.stream
        body = b"".join(stream) if isinstance(stream, httpx.ByteStream) else await request.aread()
        method = request.method.encode("ascii")
        message = b"".join(
            [
                method,
                b" ",
                url.raw_path,
                b" HTTP/1.1\r\n",
                *[b"%s: %s\r\n" % pair for pair in request.headers.raw],
                b"\r\n",
                body,
            ]
        )
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            try:
                answer = await connection.exchange(message, method, deadline)
            except _Stale:
                if method in _IDEMPOTENT:
                    continue  # the server closed it while idle: a new connection is safe
                raise httpx.RemoteProtocolError(
                    "the target closed a kept-alive connection before answering", request=request
                ) from None
            except httpx.TransportError as exc:
                exc.request = request
                raise
            return self._response(request, origin, connection, answer)
        connect_by = min(deadline, loop.time() + (timeouts.get("connect") or self.timeout))
        connection = await self._connect(origin, connect_by, request)
        try:
            answer = await connection.exchange(message, method, deadline)
        except _Stale as exc:
            reason = "reset" if exc.__cause__ is not None else "closed"
            raise httpx.RemoteProtocolError(
                f"the target {reason} the connection without answering", request=request
            ) from exc.__cause__
        except httpx.TransportError as exc:
            exc.request = request
            raise
        return self._response(request, origin, connection, answer)

    def _response(
        self, request: httpx.Request, origin: Origin, connection: _Connection, answer: _Answer
    ) -> httpx.Response:
        status, reason, headers, body, version, keep_alive = answer
        if keep_alive and not connection.closed and not _asks_to_close(request):
            idle = self._idle.setdefault(origin, [])
            if len(idle) < self.limit:
                idle.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),  # not content=: that would add a Content-Length
            extensions={"reason_phrase": reason, "http_version": version},
            request=request,
        )

    async def _connect(self, origin: Origin, by: float, request: httpx.Request) -> _Connection:
        """A new connection to `origin`, made by the event loop's time `by`."""
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        connection = _Connection(loop)
        tls = self._tls() if scheme == "https" else None
        try:
            async with asyncio.timeout_at(by):
                await loop.create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connecting to {host}:{port} timed out", request=request
            ) from exc
        except OSError as exc:  # refused, unreachable, name not found, certificate refused
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return connection

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    async def __aenter__(self) -> Http1Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


_Answer = tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bytes, bool]
"""status, reason phrase, raw headers, body, http version, whether the connection stays open"""


class _Connection(asyncio.Protocol):
    """One connection to a target: one request at a time, its answer parsed by httptools."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[_Answer] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._sent = 0  # bytes of the request
        self._bytes = 0  # bytes of the answer so far
        self._head_only = False
        self._received = False
        self._headers_done = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self.closed = False

    async def exchange(self, message: bytes, method: bytes, deadline: float) -> _Answer:
        """Send one request and wait for its whole answer, until the event loop's time
        `deadline`.

        Raises _Stale when the connection closes before any byte of the answer arrived,
        ReadDeadline or WriteDeadline when `deadline` passes first, and httpx's
        RemoteProtocolError when the answer breaks off (closed or reset) or cannot be parsed,
        and ReadError when the network fails otherwise.
        """
        transport = self._transport
        if transport is None or self.closed:
            raise _Stale
        loop = self._loop
        waiter: asyncio.Future[_Answer] = loop.create_future()
        self._waiter = waiter
        self._head_only = method == b"HEAD"
        self._received = self._headers_done = False
        self._reason = b""
        self._headers = []
        self._body = []
        self._deadline = deadline
        self._sent = len(message)
        self._bytes = 0
        # One timer per connection, not one per request: a timer that fires early (set for
        # an earlier request) re-arms itself for the deadline then current.
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._check_timeout)
        transport.write(message)
        try:
            return await waiter
        except BaseException:
            # Timed out, broken, or the caller was cancelled: the connection is in no state
            # to carry another request.
            self.close()
            raise
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()

    def _check_timeout(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return  # idle: the next request arms it again
        # A timer set for an earlier request's deadline fires before this one's: re-arm.
        # Data arriving never moves the deadline: a target trickling its answer byte by byte
        # is bounded like a silent one.
        deadline = self._deadline
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._check_timeout)
            return
        waiter.set_exception(self._timed_out())

    def _timed_out(self) -> DeadlinePassed:
        """The error of a deadline passed, naming how far the exchange got."""
        transport = self._transport
        unsent = transport.get_write_buffer_size() if transport is not None else 0
        if unsent and not self._received:
            return WriteDeadline(
                f"the request was still being sent ({self._sent - unsent:,} of "
                f"{self._sent:,} bytes)"
            )
        if not self._received:
            return ReadDeadline(WAITING, waiting=True)
        if not self._headers_done:
            return ReadDeadline(f"the headers were still arriving ({self._bytes:,} bytes so far)")
        body = sum(map(len, self._body))
        return ReadDeadline(f"the body was still arriving ({body:,} bytes so far)")

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not necessarily an asyncio.Transport subclass (uvloop's
        # is not): a caller may run the replayer in any asyncio event loop.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:
            # Bytes nobody asked for (a 408, garbage): this connection cannot be trusted.
            self.close()
            return
        self._received = True
        self._bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"unparseable answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self.closed = True
        return False  # let the transport close; connection_lost settles a pending request

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if not self._received and (exc is None or isinstance(exc, ConnectionResetError)):
            stale = _Stale()
            stale.__cause__ = exc
            waiter.set_exception(stale)
        elif exc is not None:
            # A reset is the target breaking the connection; anything else is the network's.
            detail = str(exc) or type(exc).__name__
            error: httpx.TransportError
            if isinstance(exc, ConnectionResetError):
                error = httpx.RemoteProtocolError(f"{detail} before the answer was complete")
            else:
                error = httpx.ReadError(detail)
            error.__cause__ = exc
            waiter.set_exception(error)
        elif self._headers_done and self._body_until_close():
            self._finish(keep_alive=False)
        else:
            waiter.set_exception(
                httpx.RemoteProtocolError(
                    "the target closed the connection before the answer was complete"
                )
            )

    def _body_until_close(self) -> bool:
        """Whether the answer's body is delimited by the end of the connection (no
        Content-Length, not chunked, not a status without a body)."""
        status = self._parser.get_status_code()
        if status in (204, 304) or status < 200:
            return False
        names = {name.lower() for name, _ in self._headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    # httptools callbacks

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head_only and self._parser.get_status_code() >= 200:
            # An answer to HEAD has no body whatever its Content-Length says; llhttp cannot
            # be told, so this parser is done and the next request gets a fresh one.
            self._finish(keep_alive=self._parser.should_keep_alive())
            self._parser = httptools.HttpResponseParser(self)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        if self._parser.get_status_code() < 200:
            # 1xx (100 Continue, 103 Early Hints): the real answer follows on this connection.
            self._reason, self._headers, self._body = b"", [], []
            self._headers_done = False
            return
        self._finish(keep_alive=self._parser.should_keep_alive())

    def _finish(self, *, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        parser = self._parser
        body = self._body
        version = parser.get_http_version()
        waiter.set_result(
            (
                parser.get_status_code(),
                self._reason,
                self._headers,
                body[0] if len(body) == 1 else b"".join(body),
                _HTTP_1_1 if version == "1.1" else b"HTTP/" + version.encode("ascii"),
                keep_alive,
            )
        )


def _asks_to_close(request: httpx.Request) -> bool:
    """Whether the request said `Connection: close` (a recorded one replayed as it was sent):
    the connection then serves no other request, as it did not when recorded."""
    return any(
        b"close" in value.lower()
        for name, value in request.headers.raw
        if name.lower() == b"connection"
    )
