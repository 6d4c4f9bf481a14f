"""Send recorded requests to a target with httpx and collect what it answers.

httpx is imported here and in `http1` (the HTTP/1.1 transport under it) only.
Redirects are never followed, no proxy from the environment is used (nothing goes anywhere
but the target), and a request that fails becomes an error for that exchange instead of
stopping the run. Exchanges stream through: a million-exchange cassette read lazily is
replayed with a bounded number of exchanges in memory.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import socket
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import httpx

from apitape.config import Login
from apitape.errors import UsageError
from apitape.http.encoding import decoded
from apitape.http.endpoints import endpoint_name
from apitape.http.sessions import SessionKey, session_key
from apitape.jsonpath import PathPattern, first_match
from apitape.models import (
    Exchange,
    Headers,
    Request,
    Response,
    Substitution,
    header_values,
    without_headers,
)
from apitape.redaction.redact import (
    PLACEHOLDER,
    Redactor,
    SecretFiller,
    placeholder_labels,
)
from apitape.replay.correlate import Correlator, SessionValues
from apitape.replay.http1 import DeadlinePassed, Http1Transport, ReadDeadline, WriteDeadline
from apitape.replay.tls import TlsOptions, diagnose, explain, ssl_error

NOT_REPLAYED_HEADERS = (
    "host",  # the target's
    "content-length",  # of the body as sent
    "transfer-encoding",  # the body is sent whole, with its length
    "upgrade",  # another protocol (WebSocket, h2c): not replayed
    "proxy-authorization",  # a credential for a proxy, never for the target
    "proxy-authenticate",
)
"""The recorded headers a replay does not send as recorded; every other header goes out
header for header, `Connection: close` included (the transport then closes after the
answer, as it did when recorded), so a service that reads or echoes them sees the same."""


@dataclass(frozen=True)
class ReplayResult:
    """What the target answered to one recorded exchange, or why it did not.

    `endpoint` is the exchange's endpoint as the run names it (`GET /books/{id}`);
    `substitutions` are the learned values the request carried instead of recorded ones;
    `session_values` are what its session learned (and goes on learning), to tell the
    differences those values explain.
    `confirmation` is the target's second answer to the same safe request, asked for
    because the first differed from the recording: what differs between the two is the
    target's own noise.
    """

    exchange: Exchange
    request: Request
    response: Response | None
    duration_ms: float | None
    error: str | None = None
    substitutions: tuple[Substitution, ...] = ()
    session_values: SessionValues | None = field(default=None, compare=False, repr=False)
    credential_refreshed: bool = False
    unfilled_secrets: tuple[str, ...] = ()
    confirmation: Response | None = field(default=None, compare=False, repr=False)
    endpoint: str = ""  # the run's name for the exchange's endpoint, named once, by the replayer


def validate_target(target: str) -> str:
    """The target URL without a trailing slash; raise UsageError if it is not http(s)://host."""
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"{target!r} is not an http:// or https:// URL with a host, "
            "for example http://127.0.0.1:8000",
            "target",
        )
    return target.rstrip("/")


def build_request(exchange: Exchange, target: str) -> Request:
    """The request to send: the recorded one, aimed at `target`, with the headers it sends.

    A path in `target` (http://host/api) is put in front of the recorded path.
    """
    return Request(
        exchange.request.method,
        target_url(exchange.request.url, target),
        _replayable(exchange.request.headers),
        exchange.request.body,
    )


def target_url(recorded_url: str, target: str) -> str:
    """The recorded URL's path and query on `target` (its path, if any, in front)."""
    recorded = urlsplit(recorded_url)
    base = urlsplit(target)
    path = base.path.rstrip("/") + (recorded.path or "/")
    return urlunsplit((base.scheme, base.netloc, path, recorded.query, ""))


_NOT_REPLAYED = frozenset(NOT_REPLAYED_HEADERS)

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
"""Methods a replay may send twice: asking again changes nothing on the target (RFC 9110 9.2.1)."""


def _replayable(headers: Headers) -> Headers:
    """The recorded headers minus those recomputed for the replayed request; a Connection
    header keeps its close / keep-alive and loses the Upgrade it can no longer mean."""
    if not any(
        name.lower() in _NOT_REPLAYED or name.lower() == "connection" for name, _ in headers
    ):
        return headers
    kept = []
    for name, value in headers:
        lower = name.lower()
        if lower in _NOT_REPLAYED:
            continue
        if lower == "connection":
            tokens = [t.strip() for t in value.split(",") if t.strip().lower() != "upgrade"]
            if not tokens:
                continue
            value = ", ".join(tokens)
        kept.append((name, value))
    return tuple(kept)


Transport = httpx.AsyncBaseTransport
"""What a replay sends through: httpx's transport seam (a MockTransport, an ASGITransport)."""

TransportFactory = Callable[[], Transport]

_PARSED_URLS = 4096

LOOKAHEAD_BYTES = 32 * 1024 * 1024
"""Bytes of recorded bodies a stream reads ahead of the answers at most (beyond one exchange
per worker): a session of big answers is not read whole before its first is sent."""

REMEMBERED_SESSIONS = 10_000
"""Sessions whose state (learned ids, credential) a stream keeps after their last exchange
so far; one that comes back after more than this many others starts afresh."""


class Replayer:
    """Replays exchanges against one target, session by session.

    Exchanges are grouped into sessions (`session_by`); each session replays in recorded
    order, each request after the previous answer, carrying forward the ids and tokens the
    target hands out (`correlate`). Up to `concurrency` sessions run side by side over one
    pool of keep-alive HTTP/1.1 connections (`http1.Http1Transport`, one per session in
    flight; httpx's own pool spends most of its CPU assigning requests to connections,
    encode/httpx#3215; see benchmarks/README.md).
    `http2=True` uses httpx's own transport with HTTP/2 instead, one connection per worker;
    `transport_factory` gives each worker its own httpx transport (tests use it).
    `confirm(exchange, answer)` says whether an answer to a safe request differs from the
    recording; such a request is sent once more and both answers are kept.
    Connection failures are retried `retries` times with backoff; a response, whatever its
    status, never is.
    """

    def __init__(
        self,
        target: str,
        *,
        concurrency: int = 1,
        timeout: float = 30.0,
        retries: int = 2,
        session_by: str = "client",
        correlate: bool = True,
        extract: tuple[tuple[str, PathPattern], ...] = (),
        extra_headers: Headers = (),
        endpoint_of: Callable[[Exchange], str] | None = None,
        login: Login | None = None,
        rate: float | None = None,
        speed: float = 0.0,
        secrets: SecretFiller | None = None,
        redactor: Redactor | None = None,
        http2: bool = False,
        tls: TlsOptions | None = None,
        transport_factory: TransportFactory | None = None,
        lookahead: int | None = None,
        confirm: Callable[[Exchange, Response], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        before_unfilled: Callable[[tuple[str, ...]], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise UsageError(f"must be 1 or more, not {concurrency}", "concurrency")
        if timeout <= 0:
            raise UsageError(f"must be a positive number of seconds, not {timeout}", "timeout")
        if retries < 0:
            raise UsageError(f"must be 0 or more, not {retries}", "retries")
        if rate is not None and rate <= 0:
            raise UsageError(
                f"must be a positive number of requests per second, not {rate}", "rate"
            )
        if speed < 0:
            raise UsageError(f"must be 0 (as fast as possible) or more, not {speed}", "speed")
        self.target = validate_target(target)
        self.concurrency = concurrency
        self.timeout = timeout
        self.retries = retries
        self.session_key: SessionKey = session_key(session_by)
        # Every exchange its own session: none comes back, so no state is worth keeping.
        self._remember_sessions = 0 if session_by == "exchange" else REMEMBERED_SESSIONS
        self.correlate = correlate
        self.extract = extract
        self.extra_headers = extra_headers
        self._extra_names = [name for name, _ in extra_headers]
        self.login = login
        self.rate = rate
        self.speed = speed
        self.secrets = secrets
        # What the result keeps of the request sent and the answer, for reports and saved
        # responses: with the secrets the target handed out (or we filled in) redacted.
        self.redactor = redactor
        self.http2 = http2
        # What HTTPS trusts and presents: made now, so an unusable --ca or --cert stops the
        # run before anything is sent (and certifi's bundle is loaded only for https).
        self.tls = tls or TlsOptions()
        self._ssl_context: ssl.SSLContext | None = None
        if self.target.startswith("https:") or self.tls != TlsOptions():
            self._ssl_context = self.tls.context()
        self._tls_failure: asyncio.Future[str | None] | None = None
        # How many exchanges `stream` reads ahead of the ones answered: enough to keep
        # `concurrency` sessions busy, small enough that memory does not grow with the input.
        self.lookahead = lookahead or max(256, 16 * concurrency)
        self._sleep = sleep
        self._next_slot = 0.0
        self._started = 0.0
        self._first_recorded: float | None = None
        self._endpoint_of = endpoint_of or (
            lambda e: endpoint_name(e.request.method, e.request.url)
        )
        self._transport_factory = transport_factory
        self._confirm = confirm
        # Told the labels of the placeholders a request still carries, before it is sent.
        self.before_unfilled = before_unfilled
        self.confirmations = 0  # safe requests sent a second time
        self._clock = clock
        self._unreachable: str | None = None
        self._answered = False
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        # httpx parses a URL in about 10 us, most of a request's own cost; replays repeat them.
        self._urls: dict[str, tuple[httpx.URL, str]] = {}
        self._targets: dict[str, str] = {}  # recorded URL -> URL on the target
        # httpx normalizes headers one by one (about 3 us a request); replays repeat them.
        self._headers: dict[tuple[str, int, Headers], httpx.Headers] = {}

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

        def keep(index: int, result: ReplayResult) -> None:
            results[index] = result
            if on_result is not None:
                on_result(result)

        # Everything is in memory already: read it all ahead, so every session is known
        # before the first request and sessions spread over the workers from the start.
        await self._run(iter(exchanges), keep, lookahead=None)
        return [r for r in results if r is not None]

    def stream(
        self, exchanges: Iterable[Exchange], on_result: Callable[[int, ReplayResult], None]
    ) -> None:
        """Replay exchanges read lazily from `exchanges`, calling `on_result(place, result)`
        for each result as it completes (not in input order; `place` is the exchange's
        0-based position in `exchanges`). At most `lookahead` exchanges are held at once,
        however long the input; nothing is kept after `on_result` returns."""
        asyncio.run(self.stream_async(exchanges, on_result))

    async def stream_async(
        self, exchanges: Iterable[Exchange], on_result: Callable[[int, ReplayResult], None]
    ) -> None:
        """The async form of `stream`, for callers that already run an event loop."""
        await self._run(iter(exchanges), on_result, self.lookahead)

    async def _run(
        self,
        exchanges: Iterator[Exchange],
        on_result: Callable[[int, ReplayResult], None],
        lookahead: int | None,
    ) -> None:
        schedule = _Schedule(
            exchanges, self.session_key, lookahead, self._remember_sessions, self.concurrency
        )
        if self.speed > 0:
            schedule.on_stamp = self._note_recorded
        self._unreachable, self._answered = None, False
        self._tls_failure = None  # a future of the previous run's event loop
        self._started = self._next_slot = self._clock()
        self._first_recorded = None

        async def worker(transport: httpx.AsyncBaseTransport) -> None:
            while True:
                session = schedule.take()
                if session is None:
                    if schedule.exhausted:
                        return
                    await schedule.idle()
                    continue
                state = session.state
                if state is None:
                    correlator = Correlator(extract=self.extract) if self.correlate else None
                    state = session.state = _SessionState(correlator)
                    if self.login is not None:
                        state.credential, state.login_error = await self._log_in(transport)
                pending = session.pending
                while pending:
                    index, exchange = pending.popleft()
                    result = await self._replay_one(transport, exchange, state)
                    schedule.answered(exchange)
                    on_result(index, result)
                schedule.release(session)

        transports = self._transports()
        tasks = [
            asyncio.ensure_future(worker(transports[i % len(transports)]))
            for i in range(self.concurrency)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for transport in transports:
                await transport.aclose()

    def _transports(self) -> list[httpx.AsyncBaseTransport]:
        """One shared HTTP/1.1 keep-alive pool, or one httpx transport per worker."""
        if self._transport_factory is not None:
            return [self._transport_factory() for _ in range(self.concurrency)]
        if self.http2:
            return [
                _WithDeadline(
                    httpx.AsyncHTTPTransport(
                        http2=True,
                        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                        trust_env=False,  # no proxy; the CAs of SSL_CERT_FILE are in the context
                        verify=self._ssl_context if self._ssl_context is not None else True,
                    ),
                    self.timeout,
                )
                for _ in range(self.concurrency)
            ]
        return [
            Http1Transport(
                limit=self.concurrency, timeout=self.timeout, ssl_context=self._ssl_context
            )
        ]

    def _note_recorded(self, exchange: Exchange) -> None:
        """--speed counts from the earliest recorded moment among the exchanges read so far."""
        stamp = _epoch(exchange.recorded_at)
        if stamp is not None and (self._first_recorded is None or stamp < self._first_recorded):
            self._first_recorded = stamp

    async def _replay_one(
        self, transport: httpx.AsyncBaseTransport, exchange: Exchange, state: _SessionState
    ) -> ReplayResult:
        correlator = state.correlator
        recorded = exchange.request
        endpoint = self._endpoint_of(exchange)
        url = self._targets.get(recorded.url)
        if url is None:
            if len(self._targets) >= _PARSED_URLS:
                self._targets.clear()
            url = self._targets[recorded.url] = target_url(recorded.url, self.target)
        request = Request(recorded.method, url, _replayable(recorded.headers), recorded.body)
        substitutions: list[Substitution] = []
        if correlator is not None:
            # First: a placeholder a response of this session gave a new value to is that.
            request, substitutions = correlator.rewrite(request, exchange.id)
        if self.secrets:
            request, _ = self.secrets.fill(request)
        if self.extra_headers:
            request = replace(
                request,
                headers=without_headers(request.headers, self._extra_names) + self.extra_headers,
            )
        carried = tuple(substitutions)
        if state.login_error is not None:
            return self._result(
                exchange, endpoint, request, None, None, state.login_error, carried, state
            )
        if self._unreachable is not None:
            skipped = f"not sent: {self.target} was unreachable from the first request"
            if self._unreachable.startswith("TLS:"):
                skipped = f"not sent: the first request's TLS handshake with {self.target} failed"
            return self._result(exchange, endpoint, request, None, None, skipped, carried, state)
        if self.speed > 0 or self.rate is not None:
            await self._pace(exchange)
        sent = self._with_credential(request, state)
        # Placeholders nothing replaced go out as they are: the report says which.
        unfilled = placeholder_labels(sent)
        if unfilled and self.before_unfilled is not None:
            self.before_unfilled(unfilled)
        response, elapsed_ms, error = await self._send(transport, sent)
        refreshed = False
        if response is not None and response.status == 401 and self.login is not None:
            # The session's credential expired: log in again and send this request once more.
            credential, login_error = await self._log_in(transport)
            if login_error is None:
                state.credential, refreshed = credential, True
                request = sent = self._with_credential(request, state)
                response, elapsed_ms, error = await self._send(transport, sent)
        confirmation = None
        if (
            response is not None
            and self._confirm is not None
            and sent.method in SAFE_METHODS
            and self._confirm(exchange, response)
        ):
            # The answer differs: ask again. What differs between the target's own two
            # answers is its noise, never a regression (the Judge compares them).
            self.confirmations += 1
            confirmation, _, _ = await self._send(transport, sent)
        if (
            response is not None
            and correlator is not None
            and correlator.can_learn(exchange.response, response)
        ):
            correlator.learn(exchange, endpoint, response)
        return self._result(
            exchange,
            endpoint,
            request,
            response,
            elapsed_ms,
            error,
            carried,
            state,
            refreshed,
            unfilled,
            confirmation,
        )

    def _result(
        self,
        exchange: Exchange,
        endpoint: str,
        request: Request,
        response: Response | None,
        elapsed_ms: float | None,
        error: str | None,
        carried: tuple[Substitution, ...],
        state: _SessionState,
        refreshed: bool = False,
        unfilled: tuple[str, ...] = (),
        confirmation: Response | None = None,
    ) -> ReplayResult:
        if self.redactor is not None:
            request = self.redactor.request(request)
            response = self.redactor.response(response) if response is not None else None
            if confirmation is not None:
                confirmation = self.redactor.response(confirmation)
            carried = tuple(self._redacted(s) for s in carried)
        return ReplayResult(
            exchange,
            request,
            response,
            elapsed_ms,
            error,
            carried,
            state.correlator,
            refreshed,
            unfilled,
            confirmation,
            endpoint,
        )

    def _redacted(self, substitution: Substitution) -> Substitution:
        """A carried value stands in the report as a placeholder when it replaced one."""
        recorded, replayed = substitution.recorded, substitution.replayed
        placeholder = PLACEHOLDER.fullmatch(recorded) if isinstance(recorded, str) else None
        if self.redactor is None or placeholder is None:
            return substitution
        label = placeholder[1]
        return replace(substitution, replayed=self.redactor.placeholder(str(replayed), label))

    async def _pace(self, exchange: Exchange) -> None:
        """Wait for the exchange's turn: its recorded moment divided by --speed, and a free
        slot under --rate. Either way never more than --concurrency in flight."""
        wait_until = self._clock()
        recorded = _epoch(exchange.recorded_at) if self.speed > 0 else None
        if recorded is not None and self._first_recorded is not None:
            wait_until = max(
                wait_until, self._started + (recorded - self._first_recorded) / self.speed
            )
        if self.rate is not None:
            slot = max(self._next_slot, wait_until)
            self._next_slot = slot + 1.0 / self.rate
            wait_until = slot
        delay = wait_until - self._clock()
        if delay > 0:
            await self._sleep(delay)

    def _with_credential(self, request: Request, state: _SessionState) -> Request:
        # Only where the recorded request carried a credential: one recorded without it
        # (to see the 401) must go without it again.
        if self.login is None or state.credential is None:
            return request
        header = self.login.header
        if not header_values(request.headers, header):
            return request
        return replace(
            request,
            headers=(*without_headers(request.headers, [header]), (header, state.credential)),
        )

    async def _log_in(self, transport: httpx.AsyncBaseTransport) -> tuple[str | None, str | None]:
        """Run the login step: (the credential header value, None) or (None, why it failed)."""
        login = self.login
        assert login is not None
        request = Request(
            login.method,
            self.target + login.path,
            tuple((n, os.path.expandvars(v)) for n, v in login.headers),
            os.path.expandvars(login.body).encode(),
        )
        response, _, error = await self._send(transport, request)
        if response is None:
            return None, f"login step failed: {error}"
        if not 200 <= response.status < 300:
            return (
                None,
                f"login step failed: {login.method} {login.path} answered {response.status}",
            )
        try:
            token = first_match(json.loads(response.body), login.token)
        except ValueError:
            token = None
        if not isinstance(token, str | int) or token == "":
            return None, f"login step failed: no token at {login.token.text} in the answer"
        return login.format.replace("{token}", str(token)), None

    def _outgoing(self, request: Request) -> httpx.Request:
        """The httpx request for `request`: its headers after Host and Content-Length, as
        httpx would put them, built without httpx's per-request header passes."""
        parsed = self._urls.get(request.url)
        if parsed is None:
            if len(self._urls) >= _PARSED_URLS:
                self._urls.clear()
            url = httpx.URL(request.url)  # validates and encodes, once per distinct URL
            parsed = self._urls[request.url] = (url, url.netloc.decode("ascii"))
        url, host = parsed
        body = request.body
        key = (host, len(body), request.headers)
        headers = self._headers.get(key)
        if headers is None:
            names = {name.lower() for name, _ in request.headers}
            first: list[tuple[str, str]] = []
            if "host" not in names:
                first.append(("Host", host))
            if body and "content-length" not in names and "transfer-encoding" not in names:
                first.append(("Content-Length", str(len(body))))
            if len(self._headers) >= _PARSED_URLS:
                self._headers.clear()
            # UTF-8, as recording decoded them: the recorded bytes (httpx's ascii would fail)
            headers = self._headers[key] = httpx.Headers([*first, *request.headers], "utf-8")
        return httpx.Request(
            request.method,
            url,
            headers=headers,  # copied by httpx.Request: the cached one stays as it is
            stream=httpx.ByteStream(body),
            extensions={"timeout": self._timeouts},
        )

    async def _send(
        self, transport: httpx.AsyncBaseTransport, request: Request
    ) -> tuple[Response | None, float | None, str | None]:
        # Straight to the transport, not through an AsyncClient: no default headers, no
        # cookie jar, no proxy, no redirects, so the target sees the recorded request only.
        outgoing = self._outgoing(request)
        for attempt in range(self.retries + 1):
            started = self._clock()
            try:
                try:
                    response = await transport.handle_async_request(outgoing)
                    stream = response.stream
                    if isinstance(stream, httpx.ByteStream):
                        raw = b"".join(stream)  # read already: nothing to release
                    else:
                        try:
                            raw = b"".join([chunk async for chunk in response.aiter_raw()])
                        finally:
                            await response.aclose()
                except httpx.RequestError as exc:
                    exc.request = outgoing  # as AsyncClient.send does: describe_error names it
                    raise
            except httpx.HTTPError as exc:
                failure = await self._tls_failed(exc, outgoing.url)
                if failure is not None:
                    # A certificate or a handshake refused: every retry, and every later
                    # request, would meet the same.
                    if not self._answered:
                        self._unreachable = failure
                    return None, None, failure
                if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                    return None, None, describe_error(exc, self.timeout, self.tls)
                # Nothing reached the target: safe to try again, even for a POST.
                if attempt < self.retries:
                    await asyncio.sleep(0.1 * 2**attempt)
                    continue
                message = describe_error(exc, self.timeout, self.tls)
                if not self._answered:
                    self._unreachable = message
                return None, None, message
            break
        self._answered = True
        elapsed_ms = (self._clock() - started) * 1000.0
        headers: Headers = tuple(
            (_header_text(name), _header_text(value)) for name, value in response.headers.raw
        )
        headers, body, _ = decoded(headers, raw)
        return (
            Response(response.status_code, response.reason_phrase, headers, body),
            elapsed_ms,
            None,
        )

    async def _tls_failed(self, exc: httpx.HTTPError, url: httpx.URL) -> str | None:
        """What TLS has to say against a failed request to an https target; None when TLS
        is not the cause. Before the target's first answer the handshake is made once more
        to see (`tls.diagnose`: a refused client certificate often arrives as a reset, and
        an untrusted certificate is named by its subject); later, only an ssl error under
        `exc` counts."""
        if url.scheme != "https" or isinstance(exc, httpx.TimeoutException):
            return None
        error = ssl_error(exc)
        context = self._ssl_context
        if self._answered or context is None or self._transport_factory is not None:
            return explain(error, _where(url), self.tls) if error is not None else None
        if self._tls_failure is None:
            # Once per run: sessions failing side by side wait for the same diagnosis.
            host, port = url.raw_host.decode("ascii"), url.port or 443
            self._tls_failure = asyncio.ensure_future(
                diagnose(host, port, context, self.tls, self.timeout)
            )
        return await asyncio.shield(self._tls_failure)


class _WithDeadline(httpx.AsyncBaseTransport):
    """httpx's own transport with `timeout` as a deadline for the whole exchange: connect,
    send, headers and body (httpx's timeouts bound each read, and a target trickling a byte
    at a time never trips them). The body is read whole before the answer is handed on; a
    request's httpx `timeout` extension gives its "read" as the deadline. The phase it ran
    out in comes from httpcore's `trace` events."""

    def __init__(self, inner: httpx.AsyncBaseTransport, timeout: float) -> None:
        self._inner = inner
        self.timeout = timeout
        # httpcore loads anyio's asyncio backend at its first connection, inside the first
        # exchange's deadline: 60 ms idle, over 2 s on a loaded CI machine, which then read
        # as "connect timed out" and marked the target unreachable. Load it now.
        importlib.import_module("anyio._backends._asyncio")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout") or {}
        phase = ["connecting"]
        received = [0]

        async def trace(event: str, info: object) -> None:
            # Not once the body is read: closing the response (as the deadline cancels the
            # read) has events of its own.
            if event.endswith(".started") and phase[0] != "body":
                phase[0] = event

        request.extensions = {**request.extensions, "trace": trace}
        try:
            async with asyncio.timeout(timeouts.get("read") or self.timeout):
                response = await self._inner.handle_async_request(request)
                phase[0] = "body"
                chunks = []
                try:
                    async for chunk in response.stream:  # type: ignore[union-attr]
                        chunks.append(chunk)
                        received[0] += len(chunk)
                finally:
                    await response.aclose()
        except TimeoutError as exc:
            error = _deadline_error(phase[0], received[0], request.url)
            error.request = request
            raise error from exc
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw,
            stream=httpx.ByteStream(b"".join(chunks)),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _deadline_error(event: str, received: int, url: httpx.URL) -> httpx.TimeoutException:
    """The error of a deadline that passed during httpcore's trace `event` (or "body")."""
    if event == "body":
        return ReadDeadline(f"the body was still arriving ({received:,} bytes so far)")
    if "connect" in event or "start_tls" in event or "connection_init" in event:
        return httpx.ConnectTimeout(f"connecting to {_where(url)} timed out")
    if "send_request" in event:
        return WriteDeadline("the request was still being sent")
    # httpcore reads the status line and headers in one step: not begun, or not all there.
    return ReadDeadline("the answer's headers had not all arrived")


def _where(url: httpx.URL) -> str:
    """host:port of a URL, the port given even when it is the scheme's default."""
    host = url.raw_host.decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def _header_text(raw: bytes) -> str:
    """A header's bytes as text, the way recording stores them: UTF-8, else latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _epoch(stamp: str | None) -> float | None:
    """Seconds since 1970 of a cassette's ISO-8601 `recorded_at`."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class _SessionState:
    """What one session carries from request to request."""

    correlator: Correlator | None
    credential: str | None = None
    login_error: str | None = None


def describe_error(exc: httpx.HTTPError, timeout: float, tls: TlsOptions | None = None) -> str:
    """A one-line account of a failed request that a user can act on; a TLS failure is
    worded as one, with the option that fixes it (`tls`: what the replay trusted)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timed out after {timeout:g} s"
    if isinstance(exc, DeadlinePassed) and not exc.waiting:
        # The deadline bounds the whole exchange: say how far it got.
        return f"no complete answer within {timeout:g} s: {exc.phase}"
    if isinstance(exc, httpx.TimeoutException):
        return f"no response within {timeout:g} s (raise the timeout if the target is just slow)"
    error = ssl_error(exc)
    if error is not None and isinstance(exc, httpx.RequestError):
        # Before the errno below: an ssl error's errno 1 would read "operation not permitted".
        return explain(error, _where(exc.request.url), tls or TlsOptions())
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
        if isinstance(cause, ssl.SSLError):
            return None  # its errno is OpenSSL's, not the OS's: describe_error words it
        if isinstance(cause, socket.gaierror) and cause.strerror:
            # A name lookup's codes are getaddrinfo's, not errno's: os.strerror(-2) would say
            # "unknown error -2" for "name or service not known".
            return cause.strerror.lower()
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return None


@dataclass
class _Session:
    """A session with exchanges read and not yet answered; one worker at a time holds it."""

    key: str
    pending: deque[tuple[int, Exchange]]
    state: _SessionState | None  # None: not started, or forgotten; log in first


class _Schedule:
    """Hands sessions to workers while reading exchanges lazily, at most `lookahead` ahead.

    Sessions with exchanges read and not answered are kept by key; a new key makes a new
    session, ready for the next free worker; a known key joins its session's queue, so a
    session's exchanges replay in recorded order, one worker at a time. A session whose queue
    drains is dropped, its state remembered (up to `remember` sessions, least recently used
    first out) for when its key comes back. `lookahead=None` reads everything at once;
    otherwise reading also stops at `LOOKAHEAD_BYTES` of bodies once `workers` exchanges are
    read, so a session of big answers is read as it is sent.
    """

    def __init__(
        self,
        exchanges: Iterator[Exchange],
        key: SessionKey,
        lookahead: int | None,
        remember: int,
        workers: int = 1,
    ) -> None:
        self._source = exchanges
        self._key = key
        self._lookahead = lookahead
        self._remember = remember
        self._index = 0
        self._active: dict[str, _Session] = {}
        self._ready: deque[_Session] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._buffered = 0
        self._bytes = 0  # of the bodies of the exchanges buffered
        self._workers = workers
        self._states: OrderedDict[str, _SessionState] = OrderedDict()
        self.exhausted = False
        self.on_stamp: Callable[[Exchange], None] | None = None

    def take(self) -> _Session | None:
        """A session with exchanges to replay that no worker holds; None if there is none now
        (everything is read and held, or `lookahead` exchanges wait already)."""
        ready = self._ready
        if not ready and not self.exhausted:
            self._read()
        if not ready:
            return None
        session = ready.popleft()
        if ready and self._idle:
            self._wake()  # more sessions are ready: let another idle worker take one
        return session

    def _read(self) -> None:
        limit = self._lookahead
        ready, active, key, on_stamp = self._ready, self._active, self._key, self.on_stamp
        while not ready or limit is None:
            if limit is not None and (
                self._buffered >= limit
                or (self._bytes >= LOOKAHEAD_BYTES and self._buffered >= self._workers)
            ):
                return
            exchange = next(self._source, None)
            if exchange is None:
                self.exhausted = True
                while self._idle:
                    self._wake()  # nothing more will come: idle workers can finish
                return
            if on_stamp is not None:
                on_stamp(exchange)
            name = key(self._index, exchange)
            session = active.get(name)
            if session is None:
                state = self._states.pop(name, None) if self._states else None
                session = active[name] = _Session(name, deque(), state)
                ready.append(session)
            session.pending.append((self._index, exchange))
            self._index += 1
            self._buffered += 1
            self._bytes += len(exchange.request.body) + len(exchange.response.body)

    def answered(self, exchange: Exchange) -> None:
        """One exchange is done: room to read one more."""
        self._buffered -= 1
        self._bytes -= len(exchange.request.body) + len(exchange.response.body)
        if self._idle:
            self._wake()

    def release(self, session: _Session) -> None:
        """A worker has answered the session's every exchange read so far."""
        del self._active[session.key]
        if self._remember and session.state is not None:
            self._states[session.key] = session.state
            if len(self._states) > self._remember:
                self._states.popitem(last=False)

    async def idle(self) -> None:
        """Wait until an exchange is answered or the input ends."""
        waiter = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        await waiter

    def _wake(self) -> None:
        waiter = self._idle.popleft()
        if not waiter.done():
            waiter.set_result(None)
