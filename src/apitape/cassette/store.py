"""Cassette files: load, stream and append exchanges in either on-disk format.

A cassette is vcrpy-compatible YAML (`format_yaml`) or, for big captures, JSON lines of the
same interaction shape (`format_jsonl`). The path's extension picks the format once per file
(`.jsonl`, or `.yaml`/`.yml`; any other name is read by its content and written as YAML):
a value from `formats` that reads and writes it. Every exchange is appended whole and
flushed, so a file cut off at any byte still loads every exchange before the cut. The
formats are specified in docs/cassette-format.md.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from apitape.cassette import format_yaml
from apitape.cassette.format_yaml import END_MARKER, HEADER_COMMENT
from apitape.cassette.formats import (
    JSON_LINES,
    YAML,
    CassetteFormat,
    EntryReader,
    cassette_format,
    format_of_first_line,
)
from apitape.cassette.lock import open_locked
from apitape.cassette.shape import (
    FORMAT_VERSION,
    EntryError,
    exchange_from_dict,
    exchange_to_dict,
    iso_utc,
)
from apitape.errors import CassetteError, CassetteNotFoundError, CassetteWriteError, UsageError
from apitape.files import atomic_file
from apitape.models import Exchange

__all__ = [
    "END_MARKER",
    "FORMAT_VERSION",
    "HEADER_COMMENT",
    "JSON_LINES",
    "YAML",
    "Cassette",
    "CassetteFormat",
    "CassetteWriter",
    "Format",
    "cassette_format",
    "convert_cassette",
    "dump_entry",
    "exchange_from_dict",
    "exchange_to_dict",
    "header_text",
    "iso_utc",
    "iter_exchanges",
    "load_cassette",
    "parse_cassette",
    "write_cassette",
]

Format = CassetteFormat  # the name before the format was a value; still a str, "yaml" or "jsonl"


@dataclass(frozen=True)
class Cassette:
    """A loaded cassette: its exchanges in recorded order, apitape's header, load warnings."""

    path: str
    exchanges: tuple[Exchange, ...]
    metadata: Mapping[str, Any]
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- reading


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette written by apitape or by vcrpy; raise CassetteError naming the line."""
    warnings: list[str] = []
    with _opened(path) as handle:
        reader = _reader(str(path), cassette_format(path), handle, warnings)
        exchanges = tuple(_exchanges(reader))
    return Cassette(str(path), exchanges, reader.metadata, tuple(warnings))


def iter_exchanges(
    path: str | os.PathLike[str], warnings: list[str] | None = None
) -> Iterator[Exchange]:
    """Yield a cassette's exchanges one at a time, in memory independent of the file's size.

    Errors (CassetteError, naming the file and line) come when iteration reaches them;
    warnings, such as a torn last exchange being dropped, are appended to `warnings`.
    """
    sink = warnings if warnings is not None else []
    with _opened(path) as handle:
        yield from _exchanges(_reader(str(path), cassette_format(path), handle, sink))


def parse_cassette(text: str, path: str = "<cassette>") -> Cassette:
    """Parse cassette text (either format); `path` only names the source in errors."""
    warnings: list[str] = []
    first = next((line for line in io.StringIO(text, newline="\n") if line.strip()), "")
    lines = io.StringIO(text, newline="\n")
    reader = format_of_first_line(first).reader(path, lines, lambda: text, warnings)
    exchanges = tuple(_exchanges(reader))
    return Cassette(path, exchanges, reader.metadata, tuple(warnings))


@contextmanager
def _opened(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    name = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise CassetteNotFoundError(name) from None
    except IsADirectoryError:
        raise CassetteError(name, "is a directory; give the path of a cassette file") from None
    except OSError as exc:
        raise CassetteError(name, f"cannot be read: {exc.strerror}") from None
    with handle:
        yield handle


def _reader(name: str, kind: CassetteFormat, handle: IO[bytes], warnings: list[str]) -> EntryReader:
    def whole_text() -> str:
        handle.seek(0)
        raw = handle.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, raw[: exc.start].count(b"\n") + 1) from None

    return kind.reader(name, _decoded_lines(name, handle), whole_text, warnings)


def _decoded_lines(name: str, handle: IO[bytes]) -> Iterator[str]:
    # UTF-8 never has a newline byte inside a character, so decoding line by line is exact.
    for number, raw in enumerate(handle, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_utf8(name, number) from None


def _not_utf8(name: str, line: int) -> CassetteError:
    return CassetteError(
        name, "is not UTF-8 text; a cassette is a YAML or JSON-lines file (is it binary?)", line
    )


def _exchanges(reader: EntryReader) -> Iterator[Exchange]:
    seen = _SeenIds()
    for index, (entry, line) in enumerate(reader.entries()):
        try:
            exchange = exchange_from_dict(entry, index)
        except EntryError as exc:
            raise CassetteError(reader.path, f"interaction {index + 1}: {exc}", line) from None
        if not seen.add(exchange.id):
            raise CassetteError(
                reader.path,
                f"interaction {index + 1}: id {exchange.id!r} is used twice; ids must be unique",
                line,
            )
        yield exchange


class _SeenIds:
    """The ids seen so far; a run of consecutive numbers (the usual case) takes constant
    memory, so streaming a million exchanges does not grow a million-entry set."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._others: set[str] = set()

    def add(self, exchange_id: str) -> bool:
        """Note an id; False when it was seen before."""
        canonical = exchange_id.isascii() and exchange_id.isdigit() and len(exchange_id) < 100
        if not canonical or (exchange_id.startswith("0") and exchange_id != "0"):
            if exchange_id in self._others:
                return False
            self._others.add(exchange_id)
            return True
        number = int(exchange_id)
        at = bisect_right(self._starts, number) - 1
        if at >= 0 and number <= self._ends[at]:
            return False
        if at >= 0 and number == self._ends[at] + 1:
            self._ends[at] = number
            if at + 1 < len(self._starts) and self._starts[at + 1] == number + 1:
                self._ends[at] = self._ends.pop(at + 1)
                self._starts.pop(at + 1)
        elif at + 1 < len(self._starts) and self._starts[at + 1] == number + 1:
            self._starts[at + 1] = number
        else:
            self._starts.insert(at + 1, number)
            self._ends.insert(at + 1, number)
        return True


def _nothing_converted(source: str, warning: str) -> CassetteError:
    where = re.match(rf"{re.escape(source)}, line (\d+): ", warning)
    return CassetteError(
        source,
        "has no complete exchange to convert: its only exchange was cut off mid-write, or "
        f"lacks the '{END_MARKER}ID' line that ends each exchange in a file with apitape's "
        "header (add it, or remove the header's first line); nothing was written",
        int(where.group(1)) if where else None,
    )


# --------------------------------------------------------------------------- writing


def dump_entry(exchange: Exchange) -> str:
    """The YAML text appended to a cassette for one exchange: a list item and its end marker."""
    return format_yaml.entry_text(exchange_to_dict(exchange), exchange.id)


def header_text(created_at: str, extra: Mapping[str, Any] | None = None) -> str:
    """The YAML text a new cassette starts with, up to the `interactions:` key."""
    return format_yaml.header_text(created_at, dict(extra or {}))


class CassetteWriter:
    """Appends exchanges to a cassette file, each written whole and flushed at once.

    The path's extension picks the format (see `cassette_format`). A new file gets the
    header; an existing apitape cassette is continued, its ids carried on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        created_at: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        fsync: bool = False,
    ) -> None:
        self.path = str(path)
        self._created_at = created_at
        self._metadata = metadata
        self._fsync = fsync
        self._format = cassette_format(path)
        self._file: IO[bytes] | None = None
        self._next_id = 1
        self._separator = b""  # a newline first when the file ends without one
        self.written = 0  # by this writer
        self.exchanges = 0  # in the file, including those there before
        self.size = 0  # bytes in the file
        self._created_file = False
        self._entry_synced = False  # whether a new file's directory entry was forced to disk

    def open(self) -> None:
        """Create the file (and its directory) or check that an existing one can be continued.

        The file stays locked for this writer until `close` (see cassette.lock): a second
        writer on the path is refused with a CassetteWriteError naming the one writing it.
        """
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            handle = open_locked(self.path)
        except CassetteWriteError:
            raise
        except OSError as exc:
            raise self._cannot_open(exc) from None
        try:
            if os.fstat(handle.fileno()).st_size > 0:
                self._next_id = self._continue_existing()
            else:
                header = self._format.header_bytes(self._created_at, self._metadata)
                handle.write(header)
                handle.flush()
                self.size = len(header)
                self._created_file = True
        except BaseException as exc:
            handle.close()
            if isinstance(exc, OSError) and not isinstance(exc, CassetteWriteError):
                raise self._cannot_open(exc) from None
            raise
        self._file = handle

    def _cannot_open(self, exc: OSError) -> CassetteWriteError:
        return CassetteWriteError(
            f"{self.path}: cannot open the cassette for writing ({exc.strerror}); "
            "pick a writable path"
        )

    def _continue_existing(self) -> int:
        existing = load_cassette(self.path)
        with open(self.path, "rb") as handle:
            start = handle.read(len(HEADER_COMMENT)).decode("utf-8", "replace")
            handle.seek(-1, os.SEEK_END)
            self._separator = b"" if handle.read(1) == b"\n" else b"\n"
        if not self._format.written_by_apitape(start, existing.metadata):
            raise CassetteWriteError(
                f"{self.path}: exists and was not written by apitape; record into a new path "
                "so the existing cassette is left as it is"
            )
        if existing.warnings:
            raise CassetteWriteError(
                f"{self.path}: ends in an exchange that was cut off mid-write; appending after "
                "it would hide later exchanges. Record into a new path"
            )
        numeric = [int(e.id) for e in existing.exchanges if e.id.isdigit()]
        self.written = 0
        self.exchanges = len(existing.exchanges)
        self.size = os.path.getsize(self.path)
        return max(numeric, default=0) + 1

    def append(self, exchange: Exchange) -> Exchange:
        """Give the exchange the next id, write it whole and flush; return it with its id."""
        if self._file is None:
            raise CassetteWriteError(f"{self.path}: the cassette writer is not open")
        numbered = exchange.with_id(str(self._next_id))
        data = self._separator + self._format.entry_bytes(numbered)
        try:
            self._file.write(data)
            self._file.flush()
            if self._fsync:
                self._force_to_disk(self._file)
        except OSError as exc:
            raise CassetteWriteError(
                f"{self.path}: could not append exchange {numbered.id} ({exc.strerror}); "
                "the exchanges before it are safe in the file"
            ) from None
        self._separator = b""
        self._next_id += 1
        self.written += 1
        self.exchanges += 1
        self.size += len(data)
        return numbered

    def sync(self) -> None:
        """Force what was appended to the disk (fsync), so it outlasts a power cut; raise
        CassetteWriteError when the disk refuses."""
        if self._file is None:
            return
        try:
            self._force_to_disk(self._file)
        except OSError as exc:
            raise CassetteWriteError(
                f"{self.path}: could not force the cassette to the disk ({exc.strerror}); "
                "what was written before may not have reached it"
            ) from None

    def _force_to_disk(self, handle: IO[bytes]) -> None:
        os.fsync(handle.fileno())
        if self._created_file and not self._entry_synced:
            # A new file's name is in its directory, which has its own blocks to force.
            directory = os.open(Path(self.path).parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            self._entry_synced = True

    def close(self) -> None:
        """Close the file and let go of its lock. A cassette this writer created and never
        wrote to is removed, but only while it is still the very file (inode) and size it
        left: what anything else appended to it stays."""
        handle = self._file
        if handle is None:
            return
        self._file = None
        try:
            if self._created_file and self.written == 0 and self._only_our_header(handle):
                Path(self.path).unlink(missing_ok=True)  # still locked: no writer is on it
        finally:
            handle.close()

    def _only_our_header(self, handle: IO[bytes]) -> bool:
        try:
            there = os.stat(self.path)
        except OSError:
            return False
        opened = os.fstat(handle.fileno())
        same_file = (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino)
        return same_file and there.st_size == opened.st_size == self.size


def write_cassette(
    path: str | os.PathLike[str],
    exchanges: Iterable[Exchange],
    created_at: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole cassette at once, atomically (a reader never sees half a file).

    `created_at` (ISO 8601, UTC) is the cassette header's time: now, unless given.

    The path's extension picks the format; exchanges are written as they come, so an
    iterator (such as `iter_exchanges` of another cassette) is never held in memory.
    """
    kind = cassette_format(path)
    entry_bytes = kind.entry_bytes
    with atomic_file(path, "the cassette", CassetteWriteError) as handle:
        handle.write(kind.header_bytes(created_at or iso_utc(), metadata))
        for exchange in exchanges:
            try:
                entry = entry_bytes(exchange)
            except UnicodeEncodeError:
                raise CassetteError(
                    str(path),
                    f"exchange {exchange.id}: holds text that is not Unicode (a lone "
                    "surrogate, e.g. from a \\ud800 escape) and cannot be written; "
                    "nothing was written",
                ) from None
            handle.write(entry)


def convert_cassette(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    force: bool = False,
    warnings: list[str] | None = None,
) -> int:
    """Write `source`'s exchanges and header to `target` in the format its extension names.

    Streams: one exchange is in memory at a time. `target` appears whole or not at all (it
    is written atomically); an existing one is replaced only with `force`. Returns the
    number of exchanges written.
    """
    if Path(target).exists():
        if Path(target).resolve() == Path(source).resolve():
            raise UsageError(f"{target}: is the cassette being converted; write another path")
        if not force:
            raise UsageError(f"is needed to replace {target}, which exists", "force")
    count = 0
    sink = warnings if warnings is not None else []
    warned = len(sink)

    def counted(exchanges: Iterable[Exchange]) -> Iterator[Exchange]:
        nonlocal count
        for exchange in exchanges:
            count += 1
            yield exchange
        if count == 0 and len(sink) > warned:
            # Every entry the source holds was dropped: converting "nothing" is not success.
            raise _nothing_converted(str(source), sink[warned])

    with _opened(source) as handle:
        reader = _reader(str(source), cassette_format(source), handle, sink)
        stream = _exchanges(reader)
        first = next(stream, None)  # the header has been read once the first entry is
        metadata = dict(reader.metadata)
        created_at = str(metadata.pop("created_at", None) or iso_utc())
        rest = stream if first is None else itertools.chain([first], stream)
        write_cassette(target, counted(rest), created_at, metadata)
    return count
