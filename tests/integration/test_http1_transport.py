"""The default replay transport (apitape.replay.http1) on real loopback sockets: keep-alive reuse,
framing of every kind of answer, servers that close or stall, refused connections and TLS."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from apitape.replay.http1 import Http1Transport
from tests.integration.conftest import make_certificates

Handler = Callable[["Peer", bytes], Awaitable[None]]
"""What the server does with one request head (and body) from one connection."""


@dataclass
class Peer:
    """One accepted connection, as the test server's handler sees it."""

    number: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()


@dataclass
class Server:
    """An asyncio server on loopback that hands each request to `handler`, counting
    connections and keeping every request as it arrived."""

    handler: Handler
    url: str = ""
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    peers: list[tuple[asyncio.StreamWriter, asyncio.Task[None]]] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.peers.append((writer, task))
        self.connections += 1
        peer = Peer(self.connections, reader, writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                await self.handler(peer, request)
                if writer.is_closing():
                    return
        finally:
            writer.close()


@asynccontextmanager
async def serving(
    handler: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server.serve, host, 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    server.url = f"{'https' if tls else 'http'}://{netloc}"
    try:
        yield server
    finally:
        listener.close()
        for writer, task in server.peers:  # handlers still waiting for a request: done
            writer.close()
            task.cancel()
        await asyncio.gather(*(task for _, task in server.peers), return_exceptions=True)
        await listener.wait_closed()


def answer(status: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def canned(*answers: bytes) -> Handler:
    """Answer the requests of every connection with `answers` in turn."""
    left = list(answers)

    async def handler(peer: Peer, _: bytes) -> None:
        await peer.send(left.pop(0))

    return handler


def request(method: str, url: str, body: bytes = b"", **headers: str) -> httpx.Request:
    """An httpx request with the Host (and Content-Length) the replayer sets, nothing else."""
    pairs = [("Host", httpx.URL(url).netloc.decode()), *headers.items()]
    if body:
        pairs.append(("Content-Length", str(len(body))))
    return httpx.Request(method, url, headers=pairs, stream=httpx.ByteStream(body))


async def send(transport: Http1Transport, req: httpx.Request) -> tuple[httpx.Response, bytes]:
    response = await transport.handle_async_request(req)
    return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def client_saw_the_close(transport: Http1Transport, timeout: float = 5) -> None:
    """Return once the transport has read the close of every connection it keeps idle.

    The server's side closing is not enough: the close reaches the client's socket, and its
    event loop reads it, a moment later (later still on a loaded machine).
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while not all(c.closed for idle in transport._idle.values() for c in idle):
        assert asyncio.get_running_loop().time() < deadline, "the client never saw the close"
        await asyncio.sleep(0.001)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]


def test_keep_alive_connections_are_reused_and_requests_go_out_as_given() -> None:
    async def test() -> None:
        ok = answer("200 OK", [("Content-Length", "2")], b"{}")
        async with (
            serving(canned(ok, ok, ok)) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            for i in range(3):
                req = request("POST", f"{server.url}/b?q=a%20b", b"x" * i or b"-",
                              **{"x-Trace": str(i), "COOKIE": "a=1"})  # fmt: skip
                response, body = await send(transport, req)
                assert (response.status_code, body) == (200, b"{}")
            assert server.connections == 1
            assert server.requests[2] == (
                b"POST /b?q=a%20b HTTP/1.1\r\nHost: " + server.url[7:].encode() +
                b"\r\nx-Trace: 2\r\nCOOKIE: a=1\r\nContent-Length: 2\r\n\r\nxx"
            )  # fmt: skip

    run(test)


def test_an_ipv6_target_is_reached_and_named_in_brackets() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")

    async def test() -> None:
        ok = answer("200 OK", [("Content-Length", "2")], b"v6")
        async with (
            serving(canned(ok), host="::1") as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            _, body = await send(transport, request("GET", server.url + "/"))
            assert body == b"v6"
            assert server.requests[0].startswith(b"GET / HTTP/1.1\r\nHost: [::1]:")

    run(test)


def test_a_chunked_answer_is_joined_and_its_headers_kept_in_order_with_repeats() -> None:
    async def test() -> None:
        chunked = answer(
            "201 Made It",
            [("Transfer-Encoding", "chunked"), ("Set-Cookie", "a=1"),
             ("Content-Encoding", "gzip"), ("Set-Cookie", "b=2")],
            b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n",
        )  # fmt: skip
        after = answer("200 OK", [("Content-Length", "1")], b"z")
        async with (
            serving(canned(chunked, after)) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            response, body = await send(transport, request("GET", server.url + "/"))
            assert body == b"abcdefgh"  # as sent: not gunzipped, apitape decodes itself
            assert (response.status_code, response.reason_phrase) == (201, "Made It")
            assert response.headers.raw == [
                (b"Transfer-Encoding", b"chunked"), (b"Set-Cookie", b"a=1"),
                (b"Content-Encoding", b"gzip"), (b"Set-Cookie", b"b=2"),
            ]  # fmt: skip
            _, body = await send(transport, request("GET", server.url + "/next"))
            assert body == b"z" and server.connections == 1

    run(test)


@pytest.mark.parametrize(
    ("method", "status"),
    [("HEAD", "200 OK"), ("GET", "204 No Content"), ("GET", "304 Not Modified")],
)
def test_answers_without_a_body_leave_the_connection_ready(method: str, status: str) -> None:
    async def test() -> None:
        # A HEAD answer says how long the body would be; 204 and 304 have none either way.
        empty = answer(status, [("Content-Length", "68"), ("ETag", '"v1"')])
        after = answer("200 OK", [("Content-Length", "4")], b"next")
        async with (
            serving(canned(empty, after)) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            response, body = await send(transport, request(method, server.url + "/a"))
            assert response.status_code == int(status[:3]) and body == b""
            assert response.headers["etag"] == '"v1"'
            _, body = await send(transport, request("GET", server.url + "/b"))
            assert body == b"next" and server.connections == 1

    run(test)


def test_an_informational_answer_is_skipped_for_the_final_one() -> None:
    async def test() -> None:
        both = b"HTTP/1.1 100 Continue\r\n\r\n" + answer("200 OK", [("Content-Length", "2")], b"ok")
        async with serving(canned(both)) as server, Http1Transport(limit=1, timeout=5) as transport:
            response, body = await send(transport, request("GET", server.url + "/"))
            assert (response.status_code, body) == (200, b"ok")

    run(test)


def test_an_answer_that_ends_with_the_connection_is_read_to_the_end() -> None:
    async def test() -> None:
        async def until_close(peer: Peer, _: bytes) -> None:
            await peer.send(answer("200 OK", [("Content-Type", "text/plain")], b"all of it"))
            peer.writer.close()

        async with serving(until_close) as server, Http1Transport(limit=1, timeout=5) as transport:
            _, body = await send(transport, request("GET", server.url + "/"))
            assert body == b"all of it"
            _, body = await send(transport, request("GET", server.url + "/"))
            assert body == b"all of it" and server.connections == 2

    run(test)


def test_connection_close_in_the_answer_opens_a_new_connection_next_time() -> None:
    async def test() -> None:
        closing = answer("200 OK", [("Content-Length", "1"), ("Connection", "close")], b"a")
        async with (
            serving(canned(closing, closing)) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            for _ in range(2):
                _, body = await send(transport, request("GET", server.url + "/"))
                assert body == b"a"
            assert server.connections == 2

    run(test)


def test_a_server_that_closed_an_idle_connection_gets_the_request_on_a_new_one() -> None:
    async def test() -> None:
        closed = asyncio.Event()

        async def once_per_connection(peer: Peer, _: bytes) -> None:
            await peer.send(answer("200 OK", [("Content-Length", "1")], str(peer.number).encode()))
            peer.writer.close()  # no Connection: close: the client finds out on its own
            await peer.writer.wait_closed()
            closed.set()

        async with (
            serving(once_per_connection) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            _, first = await send(transport, request("GET", server.url + "/"))
            await asyncio.wait_for(closed.wait(), 5)
            await client_saw_the_close(transport)  # while idle: the POST is not sent to it
            _, second = await send(transport, request("POST", server.url + "/", b"x"))
            assert (first, second) == (b"1", b"2")

    run(test)


def test_a_kept_alive_connection_closed_unanswered_is_retried_only_for_idempotent_methods() -> None:
    async def test() -> None:
        seen: dict[int, int] = {}

        async def answers_first_request_per_connection(peer: Peer, _: bytes) -> None:
            # The second request on a connection meets a close: the server's keep-alive
            # timeout ran out just as it was sent.
            seen[peer.number] = seen.get(peer.number, 0) + 1
            if seen[peer.number] > 1:
                peer.writer.close()
                return
            await peer.send(answer("200 OK", [("Content-Length", "2")], b"ok"))

        async with (
            serving(answers_first_request_per_connection) as server,
            Http1Transport(limit=1, timeout=5) as transport,
        ):
            await send(transport, request("GET", server.url + "/"))
            _, body = await send(transport, request("GET", server.url + "/"))
            assert (body, server.connections) == (b"ok", 2)  # sent again, on a new connection
            with pytest.raises(httpx.RemoteProtocolError, match="closed a kept-alive"):
                await send(transport, request("POST", server.url + "/", b"x"))
            assert server.connections == 2  # a POST is not sent twice

    run(test)


@pytest.mark.parametrize(
    ("sent", "reset"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", False),
        (b"HTTP/1.1 two hundred OK\r\n\r\n", False),
        (b"", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", True),
    ],
    ids=["cut-off-body", "malformed-status", "closed-unanswered", "reset-mid-answer"],
)
def test_a_broken_answer_is_a_remote_protocol_error(sent: bytes, reset: bool) -> None:
    async def test() -> None:
        async def breaks(peer: Peer, _: bytes) -> None:
            await peer.send(sent)
            if reset:  # SO_LINGER 0: the close sends a reset
                sock = peer.writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                peer.writer.transport.abort()
            else:
                peer.writer.close()

        async with serving(breaks) as server, Http1Transport(limit=1, timeout=5) as transport:
            with pytest.raises(httpx.RemoteProtocolError):
                await send(transport, request("GET", server.url + "/"))

    run(test)


def test_no_data_within_the_read_timeout_is_a_read_timeout() -> None:
    async def test() -> None:
        async def stalls(peer: Peer, _: bytes) -> None:
            await asyncio.sleep(3)

        async with serving(stalls) as server, Http1Transport(limit=1, timeout=0.2) as transport:
            with pytest.raises(httpx.ReadTimeout):
                await send(transport, request("GET", server.url + "/"))

    run(test)


def test_the_read_timeout_of_each_request_holds_on_a_reused_connection() -> None:
    async def test() -> None:
        async def second_answer_is_slow(peer: Peer, _: bytes) -> None:
            if len(server.requests) > 1:
                await asyncio.sleep(2)
            await peer.send(answer("200 OK", [("Content-Length", "2")], b"ok"))

        async with (
            serving(second_answer_is_slow) as server,
            Http1Transport(limit=1, timeout=30) as transport,
        ):
            await send(transport, request("GET", server.url + "/"))  # waits up to 30 s
            slow = request("GET", server.url + "/")
            slow.extensions["timeout"] = {"connect": 30, "read": 0.2}
            with pytest.raises(httpx.ReadTimeout):
                await send(transport, slow)
            assert server.connections == 1

    run(test)


def test_a_refused_connection_is_a_connect_error_with_the_os_reason(closed_port: int) -> None:
    async def test() -> None:
        async with Http1Transport(limit=1, timeout=5) as transport:
            with pytest.raises(httpx.ConnectError) as caught:
                await send(transport, request("GET", f"http://127.0.0.1:{closed_port}/"))
        cause = caught.value.__cause__
        assert isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED

    run(test)


def test_https_is_verified_against_the_trusted_authorities(tmp_path: Path) -> None:
    ca_pem, cert_pem, key_pem = make_certificates(tmp_path / "tls")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_pem, key_pem)
    ok = answer("200 OK", [("Content-Length", "6")], b"secure")

    async def test() -> None:
        async with serving(canned(ok, ok), tls) as server:
            trusting = Http1Transport(
                limit=1, timeout=5, ssl_context=ssl.create_default_context(cafile=ca_pem)
            )
            async with trusting:
                for _ in range(2):
                    _, body = await send(trusting, request("GET", server.url + "/"))
                    assert body == b"secure"
            assert server.connections == 1
            async with Http1Transport(limit=1, timeout=5) as default:  # the test CA is unknown
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await send(default, request("GET", server.url + "/"))

    run(test)
