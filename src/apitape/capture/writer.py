"""The recorder's writer process: builds, filters, redacts and appends exchanges off the proxy.

mitmproxy runs on one thread, and that thread is the proxy's speed limit; so the proxy only
takes the plain facts of each exchange and frames them into a pipe, and this process,
`python -m apitape.capture.writer`, does the rest on another core.

It reads frames on stdin: first its WriterSettings, then one exchange per frame (the
proxy's Facts, as a plain tuple). It answers on stdout:

- `("ready", path)` or `("error", message)`, once the cassette is open or cannot be;
- `("acked", n, recorded, dropped)`: the first n exchanges are stored or left out by the
  policy. Sent once per batch (one read of the pipe, every GATHER seconds at most), so the
  proxy is not woken per exchange. With `durable`, only once the batch is forced to disk
  (one fsync for the batch), and batches follow each other without a pause: the proxy
  holds each response until its exchange is acknowledged;
- `("failed", message)` when a write fails, and `("closed", recorded, dropped, paths)` last.

It stops at the end of its input, after storing everything in it; a frame cut off by the
proxy's death is not an exchange and is not stored. It runs in its own session, so a Ctrl-C
meant for the proxy does not cut it short, and it keeps writing when the proxy was killed.
"""

from __future__ import annotations

import dataclasses
import logging
import marshal
import os
import select
import struct
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apitape.capture.exchange import Facts, exchange_from_facts
from apitape.capture.policy import build_policy
from apitape.cassette import iso_utc
from apitape.cassette.rotation import RotatingCassetteWriter
from apitape.errors import ApitapeError, CassetteWriteError

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
READ_SIZE = 1 << 20
_MARSHAL_VERSION = 2
GATHER = 0.02
"""Seconds the writer lets exchanges gather in the pipe between reads (and acknowledgements)."""
BUSY_READ = 1 << 18
"""Bytes in one read from which the writer reads again at once (a quarter of the pipe)."""


def frame(message: Any) -> bytes:
    """One message as it goes through a pipe: its marshal, prefixed by its length.

    marshal rather than pickle: the messages are plain values (tuples, bytes, str, numbers,
    dicts), both ends run the same interpreter, and the proxy frames one per exchange, where
    marshal costs less (thread CPU time per exchange in a loaded recording mitmdump, each
    with about 1 us of the timer's own: pickle 9.8-10.5 us, marshal 8.9 us). Version 2
    keeps no table of the objects it has seen (versions 3 and up do, to share repeated
    ones): 0.88 us a frame against 1.33 in a loop (timeit).
    """
    payload = marshal.dumps(message, _MARSHAL_VERSION)
    return _LENGTH.pack(len(payload)) + payload


def settings_frame(settings: WriterSettings) -> bytes:
    """The first frame the writer reads: its settings, as plain values."""
    return frame(dataclasses.asdict(settings))


class FrameReader:
    """Splits bytes read from a pipe into messages; a frame not yet whole stays buffered."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """The messages completed by `data`, in order."""
        buffer = self._buffer
        buffer += data
        messages = []
        start, size = 0, len(buffer)
        while size - start >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, start)
            end = start + _LENGTH.size + length
            if end > size:
                break
            messages.append(marshal.loads(buffer[start + _LENGTH.size : end]))
            start = end
        del buffer[:start]
        return messages

    @property
    def partial(self) -> bool:
        """Whether part of a frame is buffered (at the end of input: a frame cut off)."""
        return bool(self._buffer)


@dataclass(frozen=True)
class WriterSettings:
    """What the writer process needs: the cassette, the policy's settings and rotation."""

    cassette: str
    policy: Mapping[str, Any] = field(default_factory=dict)
    """Settings for `build_policy`, named as in `capture.settings.POLICY`, typed."""
    environ: Mapping[str, str] = field(default_factory=dict)
    max_exchanges: int | None = None
    max_bytes: int | None = None
    fsync: bool = False
    durable: bool = False
    """Acknowledge exchanges only once they are forced to disk (one fsync per batch)."""


class _Answers:
    """The writer's messages to the proxy; once the proxy is gone, writing goes on unheard."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    def send(self, *message: Any) -> None:
        if self._descriptor is None:
            return
        data = memoryview(frame(message))
        try:
            while data:
                data = data[os.write(self._descriptor, data) :]
        except OSError:  # the proxy died (EPIPE): what it sent still goes into the cassette
            self._descriptor = None


def serve(source: int, answer: int) -> int:
    """Read settings and exchanges from `source` until its end, answering on `answer`."""
    answers = _Answers(answer)
    reader = FrameReader()
    settings: WriterSettings | None = None
    pending: list[Any] = []
    while settings is None:
        data = os.read(source, READ_SIZE)
        if not data:
            return 0  # the proxy stopped before it sent the settings
        messages = reader.feed(data)
        if messages:
            settings, pending = WriterSettings(**messages[0]), messages[1:]
    try:
        policy = build_policy(settings.policy, settings.environ)
        writer = RotatingCassetteWriter(
            settings.cassette,
            iso_utc,
            policy.metadata(),
            max_exchanges=settings.max_exchanges,
            max_bytes=settings.max_bytes,
            fsync=settings.fsync,
            durable=settings.durable,
        )
        writer.open()
    except ApitapeError as exc:
        answers.send("error", str(exc))
        return 2
    answers.send("ready", writer.current_path)
    os.set_blocking(source, False)

    processed = acked = recorded = dropped = 0
    read_at, read_size = time.monotonic(), 0
    failure: str | None = None
    while True:
        for message in pending:
            processed += 1
            if failure is not None:
                continue  # the proxy stops on the failure and counts these as missing
            try:
                stored = policy.prepare(exchange_from_facts(Facts._make(message)))
                if stored is None:
                    dropped += 1
                else:
                    writer.append(stored)
                    recorded += 1
            except CassetteWriteError as exc:
                failure = str(exc)
            except Exception as exc:  # a bug must stop the recording, not lose traffic quietly
                log.exception("apitape: could not store an exchange")
                failure = (
                    f"could not store {_described(message)} ({exc!r}); "
                    "please report this with the request's content type"
                )
            if failure is not None:
                answers.send("acked", processed - 1, recorded, dropped)
                answers.send("failed", failure)
                acked = processed
        if settings.durable and processed > acked and failure is None:
            try:
                writer.sync()  # one fsync for the batch: what it acknowledges is on disk
            except CassetteWriteError as exc:
                failure = str(exc)
                answers.send("failed", failure)  # the batch is unacknowledged, unanswered
                acked = processed
        if processed > acked:
            answers.send("acked", processed, recorded, dropped)
            acked = processed
        # Let exchanges gather before reading again: the proxy's writes into the pipe then
        # find no reader waiting to be woken (a wake-up costs the proxy's core), and the
        # proxy hears how far the writer got once per batch, not per exchange. The pause is
        # what is left of GATHER after storing the batch: a writer that took that long
        # already let the next batch gather, and pausing on top halved what it stored per
        # second of 512 KB responses (a batch of two took it about 20 ms). No pause after a
        # read of a quarter of the pipe or more: the proxy is filling it faster than one
        # pipe per GATHER (50 MB/s), and would soon hold responses back waiting for room.
        # Durable, every response waits for this batch's acknowledgement: no pause. The
        # exchanges that come during a batch's fsync are the next batch, and share its fsync.
        pause = GATHER - (time.monotonic() - read_at)
        if pause > 0 and read_size < BUSY_READ and not settings.durable:
            time.sleep(pause)
        try:
            data = os.read(source, READ_SIZE)
        except BlockingIOError:  # nothing came: wait for more
            select.select([source], [], [])
            data = os.read(source, READ_SIZE)
        read_at, read_size = time.monotonic(), len(data)
        if not data:
            break
        pending = reader.feed(data)
    try:
        writer.close()
    except (ApitapeError, OSError) as exc:
        failure = failure or str(exc)
    answers.send("closed", recorded, dropped, list(writer.paths))
    return 1 if failure else 0


def _described(message: Any) -> str:
    """`POST https://shop.test/books` for the exchange in `message`, as far as it can be read."""
    try:
        facts = Facts._make(message)
        return f"{facts.method_text()} {facts.url()}"
    except Exception:  # the frame is not Facts, or its URL cannot be built: say so
        return "an exchange whose method and URL cannot be read"


def main() -> int:
    """Entry point of `python -m apitape.capture.writer`: stdin in, stdout for answers."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    return serve(sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
