"""Rotation: a long recording becomes numbered cassettes of bounded size.

With no limit every exchange goes to the named cassette. With `max_exchanges` or
`max_bytes`, `traffic.yaml` becomes `traffic-0001.yaml`, `traffic-0002.yaml`, ...; the next
exchange goes to a new file once the current one holds `max_exchanges` exchanges or has
reached `max_bytes` (so a file passes `max_bytes` by at most its last exchange). A recording
that restarts continues the highest-numbered file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from apitape.cassette import CassetteWriter
from apitape.errors import UsageError
from apitape.models import Exchange


def numbered_path(path: str, number: int) -> str:
    """`dir/traffic.yaml` numbered: `dir/traffic-0003.yaml`."""
    target = Path(path)
    return str(target.with_name(f"{target.stem}-{number:04d}{target.suffix or '.yaml'}"))


def existing_numbers(path: str) -> list[int]:
    """The numbers of the rotated cassettes of `path` already on disk, in order."""
    target = Path(path)
    pattern = re.compile(rf"{re.escape(target.stem)}-(\d{{4,}}){re.escape(target.suffix)}")
    if not target.parent.is_dir():
        return []
    return sorted(
        int(m.group(1)) for p in target.parent.iterdir() if (m := pattern.fullmatch(p.name))
    )


class RotatingCassetteWriter:
    """Appends exchanges like CassetteWriter, starting a new numbered file at a limit."""

    def __init__(
        self,
        path: str,
        created_at: Callable[[], str],
        metadata: Mapping[str, Any] | None = None,
        *,
        max_exchanges: int | None = None,
        max_bytes: int | None = None,
        fsync: bool = False,
        durable: bool = False,
    ) -> None:
        if max_exchanges is not None and max_exchanges < 1:
            raise UsageError(f"must be 1 or more, not {max_exchanges}", "max_exchanges")
        if max_bytes is not None and max_bytes < 1:
            raise UsageError(f"must be 1 or more, not {max_bytes}", "max_bytes")
        self.path = path
        self.rotating = max_exchanges is not None or max_bytes is not None
        self._created_at = created_at
        self._metadata = metadata
        self._max_exchanges = max_exchanges
        self._max_bytes = max_bytes
        self._fsync = fsync
        self._durable = durable  # each file is forced to disk before it is let go
        self._number = 0
        self._current: CassetteWriter | None = None
        self.paths: list[str] = []

    @property
    def current_path(self) -> str:
        """The file being written now."""
        return self._current.path if self._current else self.path

    def open(self) -> None:
        """Open the first file (or continue the last rotated one), locked (cassette.lock).

        A recorder hands the lock over from one numbered file to the next (it locks the next
        before it lets the last go), so a file found with a newer one beside it once locked
        was let go by a recorder that is still writing: that one's newer file is tried, and
        refuses.
        """
        if not self.rotating:
            self._start(self.path)
            return
        while True:
            numbers = existing_numbers(self.path)
            self._number = numbers[-1] if numbers else 1
            writer = self._opened(numbered_path(self.path, self._number))
            if max(existing_numbers(self.path), default=0) <= self._number:
                self._current = writer
                self.paths.append(writer.path)
                return
            writer.close()

    def _opened(self, path: str) -> CassetteWriter:
        writer = CassetteWriter(path, self._created_at(), self._metadata, fsync=self._fsync)
        writer.open()
        return writer

    def _start(self, path: str) -> None:
        self._current = self._opened(path)
        self.paths.append(path)

    def append(self, exchange: Exchange) -> Exchange:
        """Write one exchange whole, into a new file first if this one is full."""
        assert self._current is not None, "open() first"
        if self.rotating and self._full():
            full = self._current
            self._number += 1
            self._start(numbered_path(self.path, self._number))  # locked before `full` is let go
            try:
                if self._durable:
                    full.sync()  # `sync` forces only the current file
            finally:
                full.close()
        return self._current.append(exchange)

    def sync(self) -> None:
        """Force what was appended to the disk (CassetteWriter.sync); with `durable`, what
        went to the files rotated out of already was."""
        if self._current is not None:
            self._current.sync()

    def _full(self) -> bool:
        current = self._current
        assert current is not None
        if current.exchanges == 0:
            return False
        if self._max_exchanges is not None and current.exchanges >= self._max_exchanges:
            return True
        return self._max_bytes is not None and current.size >= self._max_bytes

    def close(self) -> None:
        """Close the current file (an empty new one is removed, as CassetteWriter does)."""
        if self._current is not None:
            self._current.close()
            if self._current.written == 0 and not Path(self._current.path).exists():
                self.paths.remove(self._current.path)
            self._current = None
