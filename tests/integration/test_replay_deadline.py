"""--timeout is a deadline for the whole exchange, on both transports: targets on loopback that
trickle a body, send headers without end, or accept and never answer end their exchange near
the deadline as an error naming the phase, and the exchanges after them still replay."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from apitape.replay.replayer import Replayer, ReplayResult
from tests.integration.conftest import run_apitape

OK = b'{"ok": true}'
JSON = (("Content-Type", "application/json"),)
DEADLINE = 1.0
SLACK = 3.0  # an upper bound only: the exchange must end by DEADLINE + SLACK

Behaviour = Callable[[socket.socket, threading.Event], None]


def _answer_ok(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(OK), OK))  # fmt: skip


def _trickle(prefix: bytes, unit: bytes) -> Behaviour:
    """Send `prefix`, then `unit` every 0.1 s until the client goes or the test ends."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        while not stop.wait(0.1):
            conn.sendall(unit)

    return behave


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(0.1):
        if conn.recv(1024) == b"":  # the client gave up
            return


ROUTES: dict[str, Behaviour] = {
    # Content-Length 100,000, one byte every 0.1 s: each wait for data is short, the whole long.
    "/trickle-body": _trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"),
    "/endless-headers": _trickle(b"HTTP/1.1 200 OK\r\n", b"X-More: yes\r\n"),
    "/silent": _silent,
}


@pytest.fixture
def trickling_target() -> Iterator[str]:
    """A raw-socket HTTP server in threads: /trickle-body, /endless-headers and /silent
    misbehave as their names say; any other path answers 200 with a small JSON body."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                while not stop.is_set():
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(65536)
                        if not chunk:
                            return
                        head += chunk
                    path = head.split(b" ", 2)[1].decode()
                    ROUTES.get(path, _answer_ok)(conn, stop)
            except OSError:
                return  # the client closed the connection: what a deadline does

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


# A plain answer first: the first interval also holds the replayer's start (its transport,
# TLS context, event loop), seconds on a loaded machine, which is not what is timed here.
PATHS = ["/a", "/trickle-body", "/endless-headers", "/b", "/silent", "/c"]


def exchanges() -> list[Exchange]:
    return [
        Exchange(
            str(i + 1),
            Request("GET", f"http://staging:8000{path}"),
            Response(200, "OK", JSON, OK),
            client="10.0.0.1:1",
        )
        for i, path in enumerate(PATHS)
    ]


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "httpx-own"])
def test_each_exchange_ends_near_its_deadline_and_names_the_phase(
    trickling_target: str, http2: bool
) -> None:
    replayer = Replayer(trickling_target, timeout=DEADLINE, retries=0, http2=http2)
    ended: list[tuple[float, ReplayResult]] = []
    started = time.monotonic()
    replayer.replay(exchanges(), lambda result: ended.append((time.monotonic(), result)))
    took = {}
    previous = started
    for moment, result in ended:  # one session: one exchange after the other
        took[result.request.url.rsplit("/", 1)[1]] = (moment - previous, result)
        previous = moment
    errors = {path: result.error for path, (_, result) in took.items()}
    for path in ("a", "b", "c"):
        assert errors[path] is None and took[path][1].response is not None, errors
        assert took[path][1].response.body == OK
    for path in ("trickle-body", "endless-headers", "silent"):
        assert took[path][0] <= DEADLINE + SLACK, (path, took[path][0])
        assert took[path][1].response is None
    if not http2:
        assert errors["trickle-body"] is not None
        assert errors["trickle-body"].startswith(
            "no complete answer within 1 s: the body was still arriving ("
        )
        assert errors["trickle-body"].endswith(" bytes so far)")
        assert errors["endless-headers"] is not None
        assert errors["endless-headers"].startswith(
            "no complete answer within 1 s: the headers were still arriving ("
        )
    else:  # httpcore reads the status line and the headers in one step
        assert errors["trickle-body"] is not None
        assert errors["trickle-body"].startswith(
            "no complete answer within 1 s: the body was still arriving ("
        )
        assert errors["endless-headers"] == (
            "no complete answer within 1 s: the answer's headers had not all arrived"
        )
    if not http2:
        assert errors["silent"] == (
            "no response within 1 s (raise the timeout if the target is just slow)"
        )
    else:
        assert errors["silent"] == (
            "no complete answer within 1 s: the answer's headers had not all arrived"
        )


@pytest.mark.parametrize("flags", [[], ["--http2"]], ids=["http1", "httpx-own"])
def test_the_command_reports_each_timed_out_exchange_and_exits_2(
    trickling_target: str, tmp_path: Path, flags: list[str]
) -> None:
    cassette = tmp_path / "c.yaml"
    write_cassette(cassette, exchanges(), "2026-12-07T00:00:00Z")
    report = tmp_path / "r.json"
    started = time.monotonic()
    result = run_apitape(
        "replay", str(cassette), "--target", trickling_target, "--timeout", "1",
        "--report-json", str(report), *flags,
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(report.read_text())
    outcomes = {
        i["url"].rsplit("/", 1)[1]: (i["outcome"], i["error"]) for i in data["interactions"]
    }
    assert [outcomes[p][0] for p in ("a", "b", "c")] == ["pass", "pass", "pass"]
    assert outcomes["trickle-body"][0] == "error"
    assert "the body was still arriving" in outcomes["trickle-body"][1]
    assert outcomes["endless-headers"][0] == "error"
    assert "headers" in outcomes["endless-headers"][1]
    assert outcomes["silent"][0] == "error"
    # Three deadlines of 1 s, and the start of a Python process: far from the minutes a
    # per-read timeout let these targets take.
    assert took <= 3 * (DEADLINE + SLACK) + 20
