"""A list of verdicts that moves to a temporary file once it grows: million-exchange replays.

Results of a streamed replay arrive in the order the target answers, each with its place
in the recording. The spool keeps them in memory while they are few (every ordinary run)
and past `in_memory` writes them all to an unnamed temporary file, keeping only each
item's offset; reading gives them back in recorded order either way. A `Shelf` does the
same for items by key that are big one by one (the example exchanges of a report).
"""

from __future__ import annotations

import itertools
import pickle
import struct
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Generic, TypeVar, overload

T = TypeVar("T")
U = TypeVar("U")

IN_MEMORY = 20_000
"""Items kept in memory before the spool moves to disk (about 10 MB of verdicts)."""

BIG = 256 * 1024
"""Bytes from which a shelf keeps an item in its temporary file rather than in memory."""

_LENGTH = struct.Struct("<I")
_SHELF_LENGTH = struct.Struct("<Q")  # an item may pass 4 GB
_MISSING = -1


class Spool(Generic[T]):
    """Items stored by their place (0, 1, 2, ...), in any order; read back in place order.

    Places must end up without gaps: reading a place nobody stored raises IndexError.
    """

    def __init__(self, in_memory: int = IN_MEMORY, directory: str | None = None) -> None:
        self._in_memory = in_memory
        self._directory = directory
        self._items: dict[int, T] = {}
        self._file: IO[bytes] | None = None
        self._offsets = array("q")
        self._count = 0
        # Where the file ends, and whether it is positioned there: a seek flushes the
        # file's write buffer, one system call an item (3 us of the 4 a write costs).
        self._end = 0
        self._at_end = True

    def put(self, place: int, item: T) -> None:
        """Store `item` at `place`."""
        self._count += 1
        if self._file is None:
            self._items[place] = item
            if len(self._items) > self._in_memory:
                self._spill()
            return
        self._write(place, item)

    def put_packed(self, packed: bytes) -> array[int]:
        """Write a run of records `pack` made (another process's verdicts) to the spool's
        file as it is, in one write, not yet at any place: returns where each record is,
        for `place` once the places are known (a shard's verdicts are written as the shard
        finishes; their places in the run are known once every shard has)."""
        if self._file is None:
            self._spill()
        self._at_file_end().write(packed)
        records = array("q")
        position, size, length_of = 0, _LENGTH.size, _LENGTH.unpack_from
        while position < len(packed):
            records.append(self._end + position)
            position += size + length_of(packed, position)[0]
        self._end += len(packed)
        return records

    def place(self, placed: Iterable[tuple[int, int]]) -> None:
        """Put records `put_packed` wrote at their places: (place, record) pairs."""
        for place, record in placed:
            self._set_offset(place, record)
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        for place in range(self._count):
            yield self._read(place)

    def pickled(self) -> Iterator[bytes]:
        """The items pickled, in place order: those on disk read as they are, never
        unpickled (a shard handing its verdicts over)."""
        for place in range(self._count):
            yield pickled(self._items[place]) if self._file is None else self._read_pickled(place)

    def view(self, transform: Callable[[int, T], U]) -> SpoolView[U]:
        """A read-only sequence of the items as `transform(place, item)` turns them,
        computed on read."""
        return SpoolView(self, transform)  # type: ignore[arg-type]

    def close(self) -> None:
        """Drop the items and the temporary file."""
        self._items.clear()
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self, place: int) -> T:
        if not 0 <= place < self._count:
            raise IndexError(place)
        if self._file is None:
            return self._items[place]
        item: T = pickle.loads(self._read_pickled(place))
        return item

    def _read_pickled(self, place: int) -> bytes:
        assert self._file is not None
        offset = self._offsets[place] if place < len(self._offsets) else _MISSING
        if offset == _MISSING:
            raise IndexError(place)
        self._at_end = False
        self._file.seek(offset)
        (length,) = _LENGTH.unpack(self._file.read(_LENGTH.size))
        return self._file.read(length)

    def _spill(self) -> None:
        # An unnamed file: nothing to clean up, whatever way the process ends.
        # Closed by close(), or when the spool is collected: reports read it long after.
        self._file = tempfile.TemporaryFile(  # noqa: SIM115
            prefix="apitape-spool-", dir=self._directory
        )
        weakref.finalize(self, self._file.close)
        items, self._items = self._items, {}
        for place, item in items.items():
            self._write(place, item)

    def _write(self, place: int, item: T) -> None:
        self._write_pickled(place, pickled(item))

    def _write_pickled(self, place: int, data: bytes) -> None:
        self._at_file_end().write(_LENGTH.pack(len(data)) + data)
        self._set_offset(place, self._end)
        self._end += _LENGTH.size + len(data)

    def _at_file_end(self) -> IO[bytes]:
        """The file, positioned at its end for a write (a read may have moved it)."""
        assert self._file is not None
        if not self._at_end:
            self._file.seek(self._end)
            self._at_end = True
        return self._file

    def _set_offset(self, place: int, offset: int) -> None:
        offsets = self._offsets
        if place == len(offsets):  # places in order: a merge of shards, a replay mostly
            offsets.append(offset)
            return
        if place > len(offsets):
            offsets.extend([_MISSING] * (place + 1 - len(offsets)))
        offsets[place] = offset


def pack(pickles: Iterable[bytes]) -> bytes:
    """Pickled items (`Spool.pickled`) as one run of length-prefixed records, to hand to
    another process, whose spool stores them as they are with `Spool.put_packed`."""
    chunks: list[bytes] = []
    for data in pickles:
        chunks += (_LENGTH.pack(len(data)), data)
    return b"".join(chunks)


def pickled(item: object) -> bytes:
    """An item as a spool stores it."""
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def unpickled(data: bytes) -> object:
    """An item a spool stored (`pickled`)."""
    return pickle.loads(data)


def unpack(handle: IO[bytes]) -> Iterator[bytes]:
    """The pickles `pack` wrote, read in order from a file holding its bytes, each still
    pickled."""
    read = handle.read
    while head := read(_LENGTH.size):
        (length,) = _LENGTH.unpack(head)
        yield read(length)


class SpoolView(Sequence[U]):
    """The items of a spool in place order, each passed through a function when read."""

    def __init__(self, spool: Spool[object], transform: Callable[[int, object], U]) -> None:
        self._spool = spool
        self._transform = transform

    def __len__(self) -> int:
        return len(self._spool)

    def __iter__(self) -> Iterator[U]:
        return map(self._transform, itertools.count(), iter(self._spool))

    @overload
    def __getitem__(self, index: int) -> U: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[U]: ...

    def __getitem__(self, index: int | slice) -> U | Sequence[U]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return self._transform(index, self._spool._read(index))


class _OnDisk:
    """Where a shelved item's pickle is in the shelf's file."""

    __slots__ = ("offset",)

    def __init__(self, offset: int) -> None:
        self.offset = offset


class Shelf(Mapping[str, T]):
    """Items by key, in the order first put; an item whose size (as the caller counts it) is
    `big` bytes or more is pickled to an unnamed temporary file and read back when asked
    for, so a few big items cost no memory. Read-only to its readers: a Mapping."""

    def __init__(self, big: int = BIG, directory: str | None = None) -> None:
        self._big = big
        self._directory = directory
        self._items: dict[str, T | _OnDisk] = {}
        self._file: IO[bytes] | None = None

    def put(self, key: str, item: T, size: int) -> None:
        """Store `item` under `key` (replacing what was there); `size` says how big it is."""
        if size < self._big:
            self._items[key] = item
            return
        if self._file is None:
            # Closed when the shelf is collected: reports read it long after the run.
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="apitape-shelf-", dir=self._directory
            )
            weakref.finalize(self, self._file.close)
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        offset = self._file.seek(0, 2)
        self._file.write(_SHELF_LENGTH.pack(len(data)))
        self._file.write(data)
        self._items[key] = _OnDisk(offset)

    def discard(self, key: str) -> None:
        """Forget `key` (its bytes in the file, if any, are left where they are)."""
        self._items.pop(key, None)

    def __getitem__(self, key: str) -> T:
        item = self._items[key]
        if not isinstance(item, _OnDisk):
            return item
        assert self._file is not None
        self._file.seek(item.offset)
        (length,) = _SHELF_LENGTH.unpack(self._file.read(_SHELF_LENGTH.size))
        found: T = pickle.loads(self._file.read(length))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
