"""Bodies captured through the real recording proxy are kept exactly.

A tiny upstream in this file writes its responses by hand (chunked frames, close-delimited
streams, compressed bytes) so the proxy sees real wire framing, not what a library chose.
Each test records through `apitape record` in reverse mode, stops it, then checks the loaded
cassette, the YAML as stored, and what the client received.
"""

from __future__ import annotations

import gzip
import json
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from apitape.cassette import Cassette, load_cassette
from apitape.http.bodies import ParsedBody, parse_body
from apitape.models import Exchange, first_header, header_values
from tests.integration.conftest import RunningProxy

T = TypeVar("T")
HeaderList = Sequence[tuple[str, str]]
RawRoute = Callable[["RawHandler", bytes], None]


# --------------------------------------------------------------------------- the upstream


class RawHandler(BaseHTTPRequestHandler):
    """Reads the request body (Content-Length or chunked), then lets the route write it all."""

    protocol_version = "HTTP/1.1"
    state: RawUpstream

    def _serve(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0]
        self.state.received.append((self.command, path, body))
        route = self.state.routes.get(path)
        if route is None:
            write_fixed(self, 404, [("Content-Type", "text/plain")], b"no route")
        else:
            route(self, body)

    do_GET = do_POST = do_PUT = do_HEAD = _serve

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class RawUpstream:
    """A real HTTP/1.1 server whose routes (by path) write their own status, headers, framing."""

    url: str = ""
    routes: dict[str, RawRoute] = field(default_factory=dict)
    received: list[tuple[str, str, bytes]] = field(default_factory=list)


@pytest.fixture
def raw_upstream() -> Iterator[RawUpstream]:
    state = RawUpstream()
    handler = type("Handler", (RawHandler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


def write_head(handler: BaseHTTPRequestHandler, status: int, headers: HeaderList) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.flush()


def write_fixed(
    handler: BaseHTTPRequestHandler, status: int, headers: HeaderList, body: bytes
) -> None:
    """A response framed by Content-Length."""
    write_head(handler, status, [*headers, ("Content-Length", str(len(body)))])
    handler.wfile.write(body)


def write_chunked(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: HeaderList,
    chunks: Sequence[bytes],
    delay: float = 0.0,
) -> None:
    """A response in Transfer-Encoding: chunked frames, each flushed, `delay` s apart."""
    write_head(handler, status, [*headers, ("Transfer-Encoding", "chunked")])
    for chunk in chunks:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.flush()
        time.sleep(delay)
    handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()


def write_until_close(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: HeaderList,
    chunks: Sequence[bytes],
    delay: float = 0.0,
) -> None:
    """A response with no length and no chunking: its end is the server closing."""
    write_head(handler, status, [*headers, ("Connection", "close")])
    for chunk in chunks:
        handler.wfile.write(chunk)
        handler.wfile.flush()
        time.sleep(delay)
    handler.close_connection = True


# --------------------------------------------------------------------------- recording


@dataclass
class Recorded:
    """What one recording session left: the loaded cassette and the YAML as stored."""

    cassette: Cassette
    text: str

    @property
    def stored(self) -> list[dict[str, Any]]:
        """The interactions as plain YAML values, before the loader decodes anything."""
        entries: list[dict[str, Any]] = yaml.safe_load(self.text)["interactions"]
        return entries

    def exchange(self, method: str, path: str) -> Exchange:
        (found,) = [
            e
            for e in self.cassette.exchanges
            if e.request.method == method and httpx.URL(e.request.url).path == path
        ]
        return found


def record(
    start_proxy: Callable[..., RunningProxy],
    upstream: RawUpstream,
    send: Callable[[httpx.Client], T],
) -> tuple[T, Recorded]:
    """Run `send` against the recording proxy, stop it, and load what it wrote."""
    proxy = start_proxy(upstream.url)
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=20) as client:
        result = send(client)
    assert proxy.stop() == 0, proxy.output()
    assert "Traceback" not in proxy.output()
    cassette = load_cassette(proxy.cassette)
    assert cassette.warnings == ()
    return result, Recorded(cassette, proxy.cassette.read_text(encoding="utf-8"))


def assert_length_agrees(exchange: Exchange) -> None:
    """Stored headers never claim a length other than the stored body's."""
    for message in (exchange.request, exchange.response):
        length = first_header(message.headers, "content-length")
        assert length is None or int(length) == len(message.body)


# --------------------------------------------------------------------------- 1, 2: chunked


CHUNKS = [b'{"items": [', b'{"id": 1, "title": "Dune"}, ', b'{"id": 2, "title": "Emma"}', b"]}"]


def test_chunked_response_is_stored_whole_without_framing(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    raw_upstream.routes["/chunked"] = lambda h, _: write_chunked(
        h, 200, [("Content-Type", "application/json")], CHUNKS
    )
    response, recorded = record(start_proxy, raw_upstream, lambda c: c.get("/chunked"))

    whole = b"".join(CHUNKS)
    assert response.content == whole
    (exchange,) = recorded.cassette.exchanges
    assert exchange.response.body == whole  # byte-exact
    assert b"\r\n" not in exchange.response.body  # no chunk-size lines or CRLFs
    assert json.loads(exchange.response.body)["items"][1]["title"] == "Emma"
    assert_length_agrees(exchange)
    # stored as readable text, exactly the payload
    assert recorded.stored[0]["response"]["body"]["string"] == whole.decode()
    assert whole.decode() in recorded.text


def test_chunked_request_body_is_stored_whole_without_framing(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    parts = [b"first line\n", b"second, longer line of the upload\n", b"\x00\x01end"]
    raw_upstream.routes["/upload"] = lambda h, body: write_fixed(
        h, 201, [("Content-Type", "application/octet-stream")], body
    )

    def send(client: httpx.Client) -> httpx.Response:
        return client.post("/upload", content=iter(parts))  # an iterator: sent chunked

    response, recorded = record(start_proxy, raw_upstream, send)

    whole = b"".join(parts)
    assert raw_upstream.received == [("POST", "/upload", whole)]
    assert response.status_code == 201 and response.content == whole
    (exchange,) = recorded.cassette.exchanges
    assert header_values(exchange.request.headers, "transfer-encoding") == ["chunked"]
    assert exchange.request.body == whole
    assert exchange.response.body == whole
    assert_length_agrees(exchange)


def test_slowly_streamed_response_is_captured_whole(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    lines = [f"line {i:02d}: {'x' * i}\n".encode() for i in range(8)]
    headers = [("Content-Type", "text/plain; charset=utf-8")]
    # 50 ms between chunks, in chunked frames and as a stream that ends when the server closes
    raw_upstream.routes["/slow-chunked"] = lambda h, _: write_chunked(h, 200, headers, lines, 0.05)
    raw_upstream.routes["/slow-close"] = lambda h, _: write_until_close(
        h, 200, headers, lines, 0.05
    )

    def send(client: httpx.Client) -> list[bytes]:
        received = []
        for path in ("/slow-chunked", "/slow-close"):
            with client.stream("GET", path) as response:
                received.append(b"".join(response.iter_bytes()))
        return received

    received, recorded = record(start_proxy, raw_upstream, send)

    whole = b"".join(lines)
    assert received == [whole, whole]
    assert len(recorded.cassette.exchanges) == 2
    for exchange in recorded.cassette.exchanges:
        assert exchange.response.body == whole
        assert_length_agrees(exchange)


# --------------------------------------------------------------------------- 3: SSE


EVENTS = [
    b"event: greeting\ndata: hello\n\n",
    b'id: 2\ndata: {"n": 2, "word": "caf\xc3\xa9"}\n\n',
    b": a comment line\ndata: first half\ndata: second half\n\n",
    b"event: bye\ndata: done\n\n",
]


SSE_HEADERS = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]


def test_server_sent_events_are_stored_as_readable_text(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    raw_upstream.routes["/events"] = lambda h, _: write_until_close(
        h, 200, SSE_HEADERS, EVENTS, 0.02
    )

    def send(client: httpx.Client) -> str:
        with client.stream("GET", "/events") as response:
            assert response.headers["content-type"] == "text/event-stream"
            return "".join(response.iter_text())

    received, recorded = record(start_proxy, raw_upstream, send)

    stream = b"".join(EVENTS)
    assert received == stream.decode()
    (exchange,) = recorded.cassette.exchanges
    assert exchange.response.body == stream
    assert parse_body(exchange.response.headers, exchange.response.body) == ParsedBody(
        "text", stream.decode()
    )
    assert recorded.stored[0]["response"]["body"]["string"] == stream.decode()  # str, not bytes
    assert "!!binary" not in recorded.text
    for line in stream.decode().splitlines():
        assert line in recorded.text  # each event line is readable in the file


def test_an_event_stream_followed_by_another_exchange_leaves_a_loadable_cassette(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    raw_upstream.routes["/events"] = lambda h, _: write_chunked(h, 200, SSE_HEADERS, EVENTS, 0.02)
    raw_upstream.routes["/after"] = lambda h, _: write_fixed(
        h, 200, [("Content-Type", "application/json")], b'{"ok": true}'
    )

    def send(client: httpx.Client) -> list[bytes]:
        return [client.get("/events").content, client.get("/after").content]

    received, recorded = record(start_proxy, raw_upstream, send)

    assert received == [b"".join(EVENTS), b'{"ok": true}']
    events, after = recorded.cassette.exchanges
    assert events.response.body == b"".join(EVENTS)
    assert after.response.body == b'{"ok": true}'


# --------------------------------------------------------------------------- 4: non-UTF-8


def test_non_utf8_text_is_kept_byte_exact(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    latin1 = b"caf\xe9 na\xefve \xa3 \xff"
    headers = [("Content-Type", "text/plain; charset=iso-8859-1")]
    raw_upstream.routes["/latin1"] = lambda h, _: write_fixed(h, 200, headers, latin1)

    def send(client: httpx.Client) -> httpx.Response:
        return client.put("/latin1", content=latin1, headers=dict(headers))

    response, recorded = record(start_proxy, raw_upstream, send)

    assert response.content == latin1  # the client got the server's bytes
    assert raw_upstream.received == [("PUT", "/latin1", latin1)]
    (exchange,) = recorded.cassette.exchanges
    assert exchange.request.body == latin1
    assert exchange.response.body == latin1
    stored = recorded.stored[0]
    assert stored["request"]["body"] == latin1  # !!binary: bytes as stored
    assert stored["response"]["body"]["string"] == latin1
    # and its declared charset still reads it as the text it is
    assert parse_body(exchange.response.headers, exchange.response.body) == ParsedBody(
        "text", "café naïve £ ÿ"
    )


# --------------------------------------------------------------------------- 5: binary


BINARY_PAYLOADS = {
    "all-256-byte-values": bytes(range(256)),
    "ascii-control-bytes": bytes(range(128)) * 2,  # valid UTF-8, so stored as text
    "1MB-random": random.Random(20261124).randbytes(1 << 20),
}


def test_binary_bodies_are_byte_exact(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    octets = [("Content-Type", "application/octet-stream")]
    raw_upstream.routes["/blob"] = lambda h, body: write_fixed(h, 200, octets, body)
    raw_upstream.routes["/blob-chunked"] = lambda h, body: write_chunked(
        h, 200, octets, [body[i : i + 65536] for i in range(0, len(body), 65536)]
    )

    def send(client: httpx.Client) -> list[httpx.Response]:
        return [
            client.post(path, content=payload, headers=dict(octets))
            for payload in BINARY_PAYLOADS.values()
            for path in ("/blob", "/blob-chunked")
        ]

    responses, recorded = record(start_proxy, raw_upstream, send)

    sent = [payload for payload in BINARY_PAYLOADS.values() for _ in range(2)]
    assert [r.content for r in responses] == sent  # the client got the server's bytes
    assert [body for _, _, body in raw_upstream.received] == sent
    exchanges = recorded.cassette.exchanges
    assert len(exchanges) == len(sent)
    for exchange, payload in zip(exchanges, sent, strict=True):
        assert exchange.request.body == payload
        assert exchange.response.body == payload
        assert_length_agrees(exchange)


# --------------------------------------------------------------------------- 6: compression


def _zstd(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    compressed: bytes = zstandard.ZstdCompressor().compress(data)
    return compressed


def _brotli(data: bytes) -> bytes:
    brotli = pytest.importorskip("brotli")
    compressed: bytes = brotli.compress(data)
    return compressed


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


PLAIN = json.dumps({"items": [{"id": i, "title": f"Book {i}"} for i in range(300)]}).encode()


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        pytest.param("gzip", gzip.compress, id="gzip"),
        pytest.param("deflate", zlib.compress, id="deflate-zlib"),
        pytest.param("deflate", _raw_deflate, id="deflate-raw"),
        pytest.param("br", _brotli, id="br"),
        pytest.param("zstd", _zstd, id="zstd"),
    ],
)
def test_compressed_response_is_stored_decoded(
    coding: str,
    compress: Callable[[bytes], bytes],
    raw_upstream: RawUpstream,
    start_proxy: Callable[..., RunningProxy],
) -> None:
    wire = compress(PLAIN)
    assert wire != PLAIN and len(wire) < len(PLAIN)
    headers = [("Content-Type", "application/json"), ("Content-Encoding", coding)]
    raw_upstream.routes["/fixed"] = lambda h, _: write_fixed(h, 200, headers, wire)
    raw_upstream.routes["/chunked"] = lambda h, _: write_chunked(
        h, 200, headers, [wire[i : i + 500] for i in range(0, len(wire), 500)]
    )

    def send(client: httpx.Client) -> list[tuple[httpx.Headers, bytes]]:
        received = []
        for path in ("/fixed", "/chunked"):
            with client.stream("GET", path, headers={"Accept-Encoding": coding}) as response:
                received.append((response.headers, b"".join(response.iter_raw())))
        return received

    received, recorded = record(start_proxy, raw_upstream, send)

    # the client got exactly the compressed bytes the server sent
    for client_headers, client_body in received:
        assert client_headers["content-encoding"] == coding
        assert client_body == wire
    assert received[0][0]["content-length"] == str(len(wire))

    assert len(recorded.cassette.exchanges) == 2
    for exchange, stored in zip(recorded.cassette.exchanges, recorded.stored, strict=True):
        assert exchange.response.body == PLAIN
        assert first_header(exchange.response.headers, "content-encoding") is None
        assert exchange.extra["response_encoding"] == coding
        assert_length_agrees(exchange)
        # decoded in the file itself, not only by the loader
        assert stored["response"]["body"]["string"] == PLAIN.decode()
        assert "Content-Encoding" not in stored["response"]["headers"]
    fixed, chunked = recorded.exchange("GET", "/fixed"), recorded.exchange("GET", "/chunked")
    assert first_header(fixed.response.headers, "content-length") == str(len(PLAIN))
    assert first_header(chunked.response.headers, "content-length") is None
    assert "!!binary" not in recorded.text


# --------------------------------------------------------------------------- 7: no body


def test_empty_bodies_head_204_and_304_are_recorded(
    raw_upstream: RawUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    text = [("Content-Type", "text/plain")]
    routes: dict[str, RawRoute] = {
        "/empty": lambda h, _: write_fixed(h, 200, text, b""),
        "/empty-chunked": lambda h, _: write_chunked(h, 200, text, []),
        # HEAD: the headers a GET would get, a length and an encoding, and no body
        "/doc": lambda h, _: write_head(
            h, 200, [*text, ("Content-Encoding", "gzip"), ("Content-Length", "1234")]
        ),
        "/gone-quiet": lambda h, _: write_head(h, 204, []),
        "/cached": lambda h, _: write_head(h, 304, [("ETag", '"v1"')]),
    }
    raw_upstream.routes.update(routes)

    def send(client: httpx.Client) -> list[httpx.Response]:
        return [
            client.get("/empty"),
            client.post("/empty", content=b""),
            client.get("/empty-chunked"),
            client.head("/doc"),
            client.put("/gone-quiet"),
            client.get("/cached", headers={"If-None-Match": '"v1"'}),
        ]

    responses, recorded = record(start_proxy, raw_upstream, send)

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 204, 304]
    assert all(r.content == b"" for r in responses)
    exchanges = recorded.cassette.exchanges
    assert [(e.request.method, e.response.status) for e in exchanges] == [
        ("GET", 200),
        ("POST", 200),
        ("GET", 200),
        ("HEAD", 200),
        ("PUT", 204),
        ("GET", 304),
    ]
    for exchange in exchanges:
        assert exchange.request.body == b""
        assert exchange.response.body == b""
    for stored in recorded.stored:
        assert stored["request"]["body"] == ""
        assert stored["response"]["body"]["string"] == ""
    # an empty body is not "decoded": HEAD keeps the length and encoding the server announced
    head = recorded.exchange("HEAD", "/doc")
    assert first_header(head.response.headers, "content-length") == "1234"
    assert first_header(head.response.headers, "content-encoding") == "gzip"
    assert "response_encoding" not in head.extra
    assert first_header(recorded.exchange("GET", "/cached").response.headers, "etag") == '"v1"'
