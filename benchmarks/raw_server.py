#!/usr/bin/env python3
"""A raw HTTP/1.1 keep-alive server on a plain asyncio Protocol: a fixed JSON answer to anything.

It has no framework and parses only what keep-alive needs (the end of the head, a
Content-Length or chunked request body, `Connection: close`), so it answers well over 100k
requests/s to wrk on one core and is never the bottleneck of a client benchmark.

    python benchmarks/raw_server.py [--host 127.0.0.1] [--port 0] [--body-bytes N]

With --body-bytes it answers a JSON list of book-like objects of about N bytes instead (for
recording big bodies, `capture_throughput.py --body-bytes`).

The first line on stdout is `raw server listening on http://HOST:PORT` (like the bookstore
example), flushed at once. `start_raw_server(procs)` starts it in a subprocess from another
benchmark and returns the process and its base URL. Stops on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _common import Processes

BODY = b'{"id": 1, "title": "Dune", "author": "Frank Herbert", "price": 9.99}'


def answer(body: bytes) -> bytes:
    """The whole 200 response with this JSON body."""
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"\r\n" + body
    )


def closing(response: bytes) -> bytes:
    """`response` with `Connection: close`."""
    return response.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)


def json_body(size: int) -> bytes:
    """A JSON list of book-like objects (ids, titles, prices, tags, a description), about
    `size` bytes long: a big API answer with many strings and fields, not one long string."""
    books, length, number = [], 2, 0
    while length < size:
        number += 1
        book = (
            f'{{"id": {number}, "title": "Book number {number}", "author": "Author {number % 97}", '
            f'"price": {number % 50 + 0.99}, "tags": ["fiction", "shelf-{number % 13}"], '
            f'"description": "{"A story told over many pages, and then some more. " * 8}"}}'
        )
        books.append(book)
        length += len(book) + 2
    return ("[" + ", ".join(books) + "]").encode()


RESPONSE = answer(BODY)
CLOSING_RESPONSE = closing(RESPONSE)
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r\n]*chunked")
_CLOSE = re.compile(rb"\r\nconnection:[^\r\n]*close")


class RawHttp(asyncio.Protocol):
    """One connection: answers each complete request in the buffer, in order (pipelining too)."""

    def __init__(
        self, response: bytes = RESPONSE, closing_response: bytes = CLOSING_RESPONSE
    ) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.response = response
        self.closing_response = closing_response

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        answers: list[bytes] = []
        close = False
        while buffer:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    answers.append(BAD_REQUEST)
                    close = True
                break
            head = buffer[:end].lower()
            consumed = _request_end(buffer, head, end + 4)
            if consumed is None:  # the body has not all arrived yet
                break
            if consumed < 0:
                answers.append(BAD_REQUEST)
                close = True
                break
            buffer = buffer[consumed:]
            if b"\r\nconnection:" in head and _CLOSE.search(head):
                answers.append(self.closing_response)
                close = True
                break
            answers.append(self.response)
        self.buffer = b"" if close else buffer
        assert self.transport is not None
        if answers:
            self.transport.write(answers[0] if len(answers) == 1 else b"".join(answers))
        if close:
            self.transport.close()


def _request_end(buffer: bytes, head: bytes, start: int) -> int | None:
    """Where the request whose (lower-cased) head ends at `start` ends; None if incomplete,
    -1 if malformed. Substring tests first: most requests have no body to find."""
    if b"\r\ncontent-length:" in head:
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            return -1
        end = start + int(length.group(1))
        return end if len(buffer) >= end else None
    if b"\r\ntransfer-encoding:" in head and _CHUNKED.search(head):
        return _chunked_end(buffer, start)
    return start


def _chunked_end(buffer: bytes, at: int) -> int | None:
    """The end of a chunked body that starts at `at` (trailers skipped), as in _request_end."""
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(buffer[at:line_end].split(b";", 1)[0], 16)
        except ValueError:
            return -1
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            if buffer.startswith(b"\r\n", line_end + 2):
                return line_end + 4
            return None if trailer_end < 0 else trailer_end + 4
        at = line_end + 2 + size + 2
        if len(buffer) < at:
            return None


async def serve(host: str, port: int, body_bytes: int | None = None) -> None:
    loop = asyncio.get_running_loop()
    response = RESPONSE if body_bytes is None else answer(json_body(body_bytes))
    closing_response = closing(response)
    server = await loop.create_server(
        lambda: RawHttp(response, closing_response), host, port, backlog=1024, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"raw server listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def start_raw_server(
    procs: Processes,
    host: str = "127.0.0.1",
    body_bytes: int | None = None,
    cpus: set[int] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start this server under `procs` (it stops it), on `cpus` if given, answering a JSON
    body of about `body_bytes` if given; return the process and its base URL."""
    from _common import BenchmarkError

    argv = [sys.executable, str(Path(__file__)), "--host", host, "--port", "0"]
    if body_bytes is not None:
        argv += ["--body-bytes", str(body_bytes)]
    process, out, err = procs.start("raw-server", argv, cpus)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        first = Path(out).read_text(errors="replace").split("\n", 1)
        if len(first) == 2:
            match = re.search(r"listening on (http://\S+)", first[0])
            if match is None:
                raise BenchmarkError(f"unexpected raw server output: {first[0]!r}")
            return process, match.group(1)
        if process.poll() is not None:
            raise BenchmarkError(
                f"the raw server exited ({process.returncode}): {Path(err).read_text()[-500:]}"
            )
        time.sleep(0.02)
    raise BenchmarkError("the raw server did not print its address within 30 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument(
        "--body-bytes", type=int, help="answer a JSON list of about this many bytes instead"
    )
    args = parser.parse_args(argv)
    if args.body_bytes is not None and args.body_bytes < 1:
        parser.error("--body-bytes must be at least 1")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.body_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
