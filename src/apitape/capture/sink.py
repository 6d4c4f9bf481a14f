"""The recorder's writer thread: builds, filters, redacts and appends exchanges off the event loop.

The proxy hands each completed exchange over through a bounded queue and waits (without
blocking its event loop) until the exchange is on disk before the client gets its response.
A full queue means the disk is slower than the traffic; the recorder then slows clients and,
if that lasts, stops. Nothing is dropped without a word.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from apitape.capture.exchange import SeenExchange, build_exchange
from apitape.errors import CassetteWriteError
from apitape.recording import RecordingPolicy
from apitape.rotation import RotatingCassetteWriter

log = logging.getLogger(__name__)

Done = Callable[[str | None], None]
"""Called on the writer thread once an exchange is stored or dropped: None, or what failed."""


@dataclass
class _Item:
    seen: SeenExchange
    done: Done


class CassetteSink:
    """A thread that stores exchanges in the order they were handed over."""

    def __init__(
        self, writer: RotatingCassetteWriter, policy: RecordingPolicy, queue_size: int = 1024
    ) -> None:
        self.writer = writer
        self.policy = policy
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="apitape-writer", daemon=True)
        self.failure: str | None = None
        self.recorded = 0
        self.dropped_by_policy = 0

    def start(self) -> None:
        """Open the cassette (errors come out here, in the caller) and start the thread."""
        self.writer.open()
        self._thread.start()

    def submit(self, seen: SeenExchange, done: Done) -> bool:
        """Queue an exchange; False when the queue is full (the caller waits and retries)."""
        try:
            self._queue.put_nowait(_Item(seen, done))
        except queue.Full:
            return False
        return True

    @property
    def backlog(self) -> int:
        """Exchanges waiting to be written."""
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.failure is not None:
                item.done(self.failure)
                continue
            try:
                stored = self.policy.prepare(build_exchange(item.seen))
                if stored is None:
                    self.dropped_by_policy += 1
                else:
                    self.writer.append(stored)
                    self.recorded += 1
            except CassetteWriteError as exc:
                self.failure = str(exc)
            except Exception as exc:  # a bug must stop the recording, not lose traffic quietly
                log.exception("apitape: could not store an exchange")
                self.failure = (
                    f"could not store {item.seen.method} {item.seen.url} ({exc!r}); "
                    "please report this with the request's content type"
                )
            item.done(self.failure)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, stop the thread and close the cassette.

        A thread stuck in a write (a disk that stopped answering) is left behind: closing
        the file under it would wait for that write forever.
        """
        if self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.error(
                f"apitape: the cassette writer is stuck writing {self.writer.current_path}; "
                "what it wrote before is in the file"
            )
            return
        self.writer.close()
