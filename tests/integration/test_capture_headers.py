"""Non-ASCII header bytes: recorded readably, replayed as the same bytes (YAML and JSON lines)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apitape.cassette import load_cassette
from apitape.models import first_header
from tests.integration.conftest import RunningProxy, Upstream, run_apitape

FILENAME = "résumé.pdf"
SENT = [  # (name, value) as the client sends them, UTF-8 on the wire
    (b"X-Filename", FILENAME.encode()),
    (b"X-Plain", b"ascii"),
]
NAMED = [("X-Naïve".encode(), b"oui")]
"""A non-ASCII header name: mitmproxy answers 400 to it (a request-smuggling check) unless
its validate_inbound_headers option is off."""
DISPOSITION = f'attachment; filename="{FILENAME}"'


class HeaderEcho(socketserver.ThreadingTCPServer):
    """A service on loopback that answers with the bytes of the X- headers it got (hex) and
    a UTF-8 header of its own, and keeps every request's raw headers. Raw sockets: Python's
    http.server stops parsing headers at a non-ASCII name."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.received: list[list[tuple[bytes, bytes]]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            lines = []
            while (line := self.rfile.readline()) not in (b"\r\n", b""):
                lines.append(line.rstrip(b"\r\n"))
            if not lines:
                return  # a connection opened ahead of a request (mitmproxy's eager connect)
            raw = [tuple(line.split(b": ", 1)) for line in lines[1:]]
            server = self.server
            assert isinstance(server, HeaderEcho)
            server.received.append(raw)  # type: ignore[arg-type]
            echoed = {n.hex(): v.hex() for n, v in raw if n.lower().startswith(b"x-")}
            body = json.dumps(echoed, sort_keys=True).encode()
            head = [
                b"HTTP/1.1 200 OK",
                b"Content-Type: application/json",
                b"Content-Disposition: " + DISPOSITION.encode(),
                b"Content-Length: " + str(len(body)).encode(),
                b"Connection: close",
            ]
            self.wfile.write(b"\r\n".join([*head, b"", body]))


@pytest.fixture
def echo_service() -> Iterator[Callable[[], HeaderEcho]]:
    started: list[HeaderEcho] = []

    def start() -> HeaderEcho:
        server = HeaderEcho()
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def raw_get(base_url: str, path: str, headers: list[tuple[bytes, bytes]]) -> bytes:
    """A GET written byte for byte on a socket (clients such as httpx refuse non-ASCII
    header names); the whole answer."""
    host, port = base_url.removeprefix("http://").split(":")
    lines = [f"GET {path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode()]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Connection: close", b"", b""]
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(b"\r\n".join(lines))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("via", "suffix", "names"),
    [("apitape", ".yaml", False), ("apitape", ".jsonl", False), ("mitmdump", ".jsonl", True)],
)
def test_utf8_headers_are_recorded_readably_and_replayed_as_the_same_bytes(
    via: str,
    suffix: str,
    names: bool,
    echo_service: Callable[[], HeaderEcho],
    start_proxy: Callable[..., RunningProxy],
    tmp_path: Path,
) -> None:
    sent = SENT + NAMED if names else SENT
    upstream = echo_service()
    extra = ("--set", "validate_inbound_headers=false") if names else ()
    proxy = start_proxy(
        upstream.url, via=via, cassette=tmp_path / f"headers{suffix}", extra_args=extra
    )
    answer = raw_get(proxy.url, "/upload", sent)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert f'filename="{FILENAME}"'.encode() in answer  # the client got the UTF-8 bytes
    assert proxy.stop() == 0
    (seen_by_service,) = upstream.received
    assert all(pair in seen_by_service for pair in sent)  # the proxy passed them on as sent

    # The cassette shows them as the text they spell, not as mis-decoded latin-1.
    text = proxy.cassette.read_text(encoding="utf-8")
    assert "Ã" not in text
    assert FILENAME in text
    (exchange,) = load_cassette(proxy.cassette).exchanges
    assert first_header(exchange.request.headers, "X-Filename") == FILENAME
    assert first_header(exchange.response.headers, "Content-Disposition") == DISPOSITION
    if names:
        assert "X-Naïve" in text
        assert first_header(exchange.request.headers, "X-Naïve") == "oui"

    # Replay sends the very bytes the client sent, and finds the same answer.
    second = echo_service()  # a fresh instance of the same service
    report = tmp_path / "report.json"
    result = run_apitape(
        "replay",
        str(proxy.cassette),
        "--target",
        second.url,
        "--report-json",
        str(report),
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    (replayed,) = second.received
    assert all(pair in replayed for pair in sent)
    summary = json.loads(report.read_text())["summary"]
    assert summary["errors"] == 0 and summary["regressions"] == 0


def test_a_non_ascii_header_name_is_refused_by_default(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)
    assert raw_get(proxy.url, "/books/1", NAMED).startswith(b"HTTP/1.1 400")
    assert proxy.stop() == 0
    assert not proxy.cassette.exists()  # nothing recorded: the unused new file is removed


def test_header_bytes_that_are_not_utf8_are_stored_as_latin1_text(
    echo_service: Callable[[], HeaderEcho], start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(echo_service().url)
    latin1 = [(b"X-Filename", FILENAME.encode("latin-1"))]  # an old client's latin-1
    assert raw_get(proxy.url, "/upload", latin1).startswith(b"HTTP/1.1 200")
    assert proxy.stop() == 0
    (exchange,) = load_cassette(proxy.cassette).exchanges
    assert first_header(exchange.request.headers, "X-Filename") == FILENAME
