"""The proxy's side of the writer process: hand exchanges over, hear how far it got.

Each exchange goes into a pipe as one frame (see apitape.capture.writer) without blocking
mitmproxy's event loop. Once its frame is whole in the pipe it outlives the proxy: a proxy
killed now still gets it into the cassette. The writer says every few milliseconds how
many exchanges it has stored. No more than MAX_BACKLOG may be handed over and not yet
stored; past that, and while the pipe is full, responses wait. A writer that fails a
write, dies, or makes no progress for `timeout` seconds is a failure: `on_failure` hears
it, with how many answered exchanges it may have cost. Nothing is dropped without a word.
With `durable` settings every response waits until the writer says its exchange is on
disk (fsynced), so even a power cut costs no answered exchange.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apitape.capture.writer import FrameReader, WriterSettings, frame, settings_frame
from apitape.errors import ApitapeError

log = logging.getLogger(__name__)

PIPE_SIZE = 1 << 20
"""Bytes the pipe to the writer may hold (Linux; its default is 64 KiB): a burst's worth."""

ANSWER_READ_SIZE = 1 << 16
"""Bytes read of the writer's answers at once (each is tens of bytes). Below glibc's mmap
threshold: a 1 MiB read buffer cost the proxy an mmap, a page fault, an mremap and a munmap
on every read of an acknowledgement (strace)."""

MAX_BACKLOG = 256
"""Exchanges the proxy may answer before the writer has stored them: at most this many are
lost if the disk then fails (none if the proxy is killed: they are in the pipe)."""


class WriterProcess:
    """The writer process, started with its settings, and the two pipes to it."""

    def __init__(
        self,
        settings: WriterSettings,
        timeout: float,
        on_failure: Callable[[str], None],
        python: str = sys.executable,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.failure: str | None = None
        self.recorded = 0
        self.dropped_by_policy = 0
        self.paths: list[str] = []
        self.current_path = settings.cassette
        self._on_failure = on_failure
        self._python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe = -1  # the descriptor exchanges go into, once started
        self._answers = FrameReader()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._check: asyncio.TimerHandle | None = None
        self._sent = 0  # exchanges handed over
        self._acked = 0  # of those, stored or left out by the policy
        self._progress_at = 0.0  # when _acked last grew, or the backlog last became non-empty
        self._unsent = bytearray()  # frames (or their ends) the full pipe had no room for
        self._queued = 0  # bytes of frames ever handed over, and of those, written to the pipe:
        self._written = 0
        self._waiting: collections.deque[tuple[float, int, asyncio.Future[str | None]]] = (
            collections.deque()
        )  # (since, what it waits for, future): room in the backlog (-1) or its frame written
        self._durable = settings.durable
        self._stored: collections.deque[tuple[int, asyncio.Future[str | None]]] = (
            collections.deque()
        )  # durable: (exchange number, future) until the writer says it is on disk
        self._warned = False
        self._closed = False

    def start(self, wait: float = 60.0) -> None:
        """Start the process and wait until it has opened the cassette.

        Raises ApitapeError with the writer's own message when it cannot (a bad option,
        a path that cannot be written).
        """
        # The folder holding the apitape package (this file is apitape/capture/sink.py).
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [self._python, "-m", "apitape.capture.writer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                # Its own session: a Ctrl-C or SIGTERM sent to the proxy's process group must
                # not cut off the writer before it has stored what the proxy handed over.
                start_new_session=True,
            )
        except OSError as exc:
            raise ApitapeError(
                f"cannot start the cassette writer process {self._python} ({exc.strerror})"
            ) from None
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        with contextlib.suppress(OSError, AttributeError):  # Linux only; a default pipe works
            fcntl.fcntl(process.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self._pipe = process.stdin.fileno()
        os.write(self._pipe, settings_frame(self.settings))
        os.set_blocking(self._pipe, False)
        os.set_blocking(process.stdout.fileno(), False)
        for message in self._read_answers(time.monotonic() + wait, until="ready"):
            if message[0] == "error":
                self._reap(2.0)
                raise ApitapeError(message[1])
            if message[0] == "ready":
                self.current_path = message[1]
                return
        code = self._reap(2.0)
        raise ApitapeError(
            f"the cassette writer process did not start (exit status {code}); "
            f"its error is above. Check that apitape is installed for {self._python}"
        )

    @property
    def backlog(self) -> int:
        """Exchanges handed over and not yet stored."""
        return self._sent - self._acked

    @property
    def full(self) -> bool:
        """Whether the next exchange must wait for room (`await room()`) before `submit`."""
        return self.backlog >= MAX_BACKLOG or bool(self._unsent)

    def room(self) -> asyncio.Future[str | None]:
        """Resolves once the writer has caught up enough: None, or the failure."""
        loop = self._loop or self._attach()
        future: asyncio.Future[str | None] = loop.create_future()
        if self.failure is not None:
            future.set_result(self.failure)
        else:
            self._waiting.append((loop.time(), -1, future))
            self._warn_behind()
        return future

    def submit(self, facts: tuple[Any, ...]) -> asyncio.Future[str | None] | None:
        """Hand one exchange over (`flow_facts`: Facts' fields as a plain tuple).

        None when its frame is whole in the pipe; else a future that resolves when it is
        (None) or when the writer failed (the failure). With `durable` settings, always a
        future, which resolves once the writer has stored the exchange and forced it to
        disk. Call it on the event loop.
        """
        loop = self._loop or self._attach()
        if self.failure is not None:
            future: asyncio.Future[str | None] = loop.create_future()
            future.set_result(self.failure)
            return future
        if self._sent == self._acked:
            self._progress_at = loop.time()
        self._sent += 1
        data = frame(facts)
        self._queued += len(data)
        stored: asyncio.Future[str | None] | None = None
        if self._durable:
            stored = loop.create_future()
            self._stored.append((self._sent, stored))
        if not self._unsent:
            try:
                written = os.write(self._pipe, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                self._fail(f"the cassette writer process is gone ({exc.strerror})")
                return self.submit(facts)
            self._written += written
            if written == len(data):
                return stored
            loop.add_writer(self._pipe, self._flush)
            data = data[written:]
        # The pipe is full: the rest goes when the writer makes room; the response waits.
        self._unsent += data
        if stored is not None:
            return stored  # it is acknowledged after its frame went through, in any case
        future = loop.create_future()
        self._waiting.append((loop.time(), self._queued, future))
        self._warn_behind()
        return future

    def _warn_behind(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                f"apitape: the cassette writer is {self.backlog} exchanges behind (slow "
                "disk?); holding responses back until it catches up"
            )

    def _attach(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        assert self._process is not None and self._process.stdout is not None
        loop.add_reader(self._process.stdout.fileno(), self._on_answers)
        self._loop = loop
        self._schedule_check()
        return loop

    def _schedule_check(self) -> None:
        assert self._loop is not None
        self._check = self._loop.call_later(min(1.0, self.timeout / 4), self._check_progress)

    def _check_progress(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        if self.failure is None and self.backlog and now - self._progress_at > self.timeout:
            self._fail(
                f"the cassette writer has not finished an exchange for {self.timeout:g} s "
                "(a stuck or full disk, a network share that stopped answering?)"
            )
        elif self.failure is None and self._waiting and now - self._waiting[0][0] > self.timeout:
            self._fail(
                f"the cassette writer stayed {self.backlog} exchanges behind for "
                f"{self.timeout:g} s; the disk is too slow for this traffic (record less: "
                "a sample of the traffic, or filter it; or use a faster disk)"
            )
        if not self._closed:
            self._schedule_check()

    def _flush(self) -> None:
        descriptor = self._pipe
        try:
            written = os.write(descriptor, self._unsent)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(f"the cassette writer process is gone ({exc.strerror})")
            return
        del self._unsent[:written]
        self._written += written
        if not self._unsent and self._loop is not None:
            self._loop.remove_writer(descriptor)
        self._release()

    def _release(self) -> None:
        """Let go the responses whose frames are written or that now have room."""
        has_room = self.backlog < MAX_BACKLOG and not self._unsent
        keep: collections.deque[tuple[float, int, asyncio.Future[str | None]]] = collections.deque()
        for entry in self._waiting:
            _, until, future = entry
            if (until == -1 and has_room) or 0 <= until <= self._written:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append(entry)
        self._waiting = keep
        if not keep:
            self._warned = False

    def _on_answers(self) -> None:
        for message in self._read_answers(None):
            self._handle(message)
        if self._process is not None and self._process.stdout is None and not self._closed:
            code = self._reap(2.0)
            self._fail(f"the cassette writer process exited unexpectedly (exit status {code})")

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "acked":
            if message[1] > self._acked:
                self._acked, self.recorded, self.dropped_by_policy = message[1:]
                if self._loop is not None:
                    self._progress_at = self._loop.time()
                if self._waiting:
                    self._release()
                stored = self._stored
                while stored and stored[0][0] <= self._acked:
                    future = stored.popleft()[1]
                    if not future.done():
                        future.set_result(None)
        elif kind == "failed":
            self._fail(message[1])
        elif kind == "closed":
            self.recorded, self.dropped_by_policy, self.paths = message[1:]

    def _read_answers(self, deadline: float | None, until: str = "") -> list[tuple[Any, ...]]:
        """What the writer has said: what can be read now, or (with a deadline) everything
        up to its `until` message, its end or the deadline, whichever comes first."""
        process = self._process
        assert process is not None
        messages: list[tuple[Any, ...]] = []
        while process.stdout is not None:
            descriptor = process.stdout.fileno()
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([descriptor], [], [], left)[0]:
                    break
            try:
                data = os.read(descriptor, ANSWER_READ_SIZE)
            except BlockingIOError:
                break
            if not data:  # the writer exited
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.remove_reader(descriptor)
                process.stdout.close()
                process.stdout = None
                break
            messages += self._answers.feed(data)
            if deadline is None or any(m[0] == until for m in messages):
                break
        return messages

    def _fail(self, failure: str) -> None:
        if self.failure is not None:
            return
        answered = (
            self.backlog
            - sum(1 for _, until, _ in self._waiting if until != -1)
            - len(self._stored)
        )
        if answered:
            failure += (
                f"; the last {answered} exchange(s) the proxy answered may be missing from "
                "the cassette"
            )
        self.failure = failure
        for future in [f for _, _, f in self._waiting] + [f for _, f in self._stored]:
            if not future.done():
                future.set_result(failure)
        self._waiting.clear()
        self._stored.clear()
        self._on_failure(failure)

    def close(self, timeout: float) -> None:
        """Let the writer store what it was handed, and wait (up to `timeout`) for it to end.

        A writer still busy then (stuck in a write to a disk that stopped answering) is
        killed: what it wrote before is in the file, and a cut-off last entry is dropped
        when the cassette is loaded.
        """
        process = self._process
        if process is None or self._closed:
            return
        self._closed = True
        self._waiting.clear()  # the proxy is stopping: held responses are not sent
        self._stored.clear()
        deadline = time.monotonic() + timeout
        if self._check is not None:
            self._check.cancel()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if process.stdout is not None:
                loop.remove_reader(process.stdout.fileno())
            if process.stdin is not None:
                loop.remove_writer(process.stdin.fileno())
        self._send_unsent(deadline)
        if process.stdin is not None:
            process.stdin.close()  # end of input: the writer stores the rest and exits
        for message in self._read_answers(deadline, until="closed"):
            if message[0] == "failed" and self.failure is None:
                self.failure = message[1]
            elif message[0] in ("acked", "closed"):
                self._handle(message)
        if self._reap(max(0.0, deadline - time.monotonic())) is None:
            log.error(
                f"apitape: the cassette writer is stuck writing {self.current_path}; "
                "what it wrote before is in the file"
            )
            process.kill()
            self._reap(5.0)

    def _send_unsent(self, deadline: float) -> None:
        process = self._process
        assert process is not None
        while self._unsent and process.stdin is not None:
            descriptor = process.stdin.fileno()
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [descriptor], [], left)[1]:
                return
            try:
                del self._unsent[: os.write(descriptor, self._unsent)]
            except BlockingIOError:
                continue
            except OSError:
                return

    def _reap(self, timeout: float) -> int | None:
        """The writer's exit status, waiting up to `timeout`; None if it is still running."""
        assert self._process is not None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
