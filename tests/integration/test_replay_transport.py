"""The default replay transport (apitape.replay.http1 under httpx) on a real socket: what goes on the wire
is the recorded request and nothing else, and what comes back is kept as it came."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator

import pytest

from apitape.models import Exchange, Request, Response, header_values
from apitape.replay.replayer import Replayer

Answer = bytes


class WireServer:
    """Keep-alive HTTP/1.1 server on loopback: records each request's raw bytes, answers with
    the next canned bytes."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[bytes] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
                conn.sendall(self.answers.pop(0))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def wire() -> Iterator[list[WireServer]]:
    servers: list[WireServer] = []
    yield servers
    for server in servers:
        server.close()


def answer(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_the_recorded_request_goes_out_exactly_and_nothing_is_added(
    wire: list[WireServer],
) -> None:
    server = WireServer([answer("200 OK", [("Content-Length", "2")], b"{}")])
    wire.append(server)
    recorded = Exchange(
        "1",
        Request(
            "POST",
            "http://staging:8000/books?q=a%20b&x=1",
            (("Host", "staging:8000"), ("X-Trace", "1"), ("Cookie", "a=1"), ("X-Trace", "2"),
             ("Content-Length", "9"), ("Accept-Language", "en")),
            b'{"a": 1}\n',
        ),
        Response(200),
    )  # fmt: skip
    (result,) = Replayer(server.url).replay([recorded])
    assert result.error is None
    (raw,) = server.requests
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /books?q=a%20b&x=1 HTTP/1.1"
    assert lines[1:] == [
        f"Host: {server.url.removeprefix('http://')}",
        "Content-Length: 9",
        "X-Trace: 1",
        "Cookie: a=1",
        "X-Trace: 2",
        "Accept-Language: en",
    ]  # no User-Agent, Accept, Accept-Encoding or Content-Type of the client's own
    assert body == b'{"a": 1}\n'


def test_the_answer_is_kept_as_it_came_and_decoded_by_apitape(wire: list[WireServer]) -> None:
    packed = gzip.compress(b'{"id": 1}')
    server = WireServer(
        [
            answer("201 Made It", [("Content-Type", "application/json"), ("Set-Cookie", "a=1"),
                                   ("Content-Encoding", "gzip"), ("Set-Cookie", "b=2"),
                                   ("Content-Length", str(len(packed)))], packed),
            answer("302 Found", [("Location", "/elsewhere"), ("Content-Length", "0")], b""),
        ]
    )  # fmt: skip
    wire.append(server)
    exchanges = [
        Exchange(str(i), Request("GET", f"http://staging/{i}"), Response(200), client="c:1")
        for i in (1, 2)
    ]
    made, moved = Replayer(server.url).replay(exchanges)
    assert made.response is not None and moved.response is not None
    assert (made.response.status, made.response.reason) == (201, "Made It")
    assert made.response.body == b'{"id": 1}'
    assert header_values(made.response.headers, "set-cookie") == ["a=1", "b=2"]
    assert header_values(made.response.headers, "content-encoding") == []
    assert moved.response.status == 302  # not followed
    assert len(server.requests) == 2


def test_a_refused_target_is_reported_with_the_reason() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (result,) = Replayer(f"http://127.0.0.1:{port}", retries=0).replay(
        [Exchange("1", Request("GET", "http://staging/"), Response(200))]
    )
    assert result.error == f"could not connect to 127.0.0.1:{port}: connection refused"
