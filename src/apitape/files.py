"""Writing files whole: a reader never sees half a report, noise file or cassette."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from apitape.errors import ApitapeError


@contextmanager
def atomic_file(
    path: str | os.PathLike[str],
    what: str,
    error: Callable[[str], ApitapeError] = ApitapeError,
) -> Iterator[BinaryIO]:
    """A binary file to write `path` through: a temporary file beside it, renamed into
    place when the block ends, and removed instead when the block raises.

    An OSError (disk full, permissions) becomes `error("PATH: cannot write WHAT (reason)")`;
    an ApitapeError raised in the block, or anything else, goes on as it is.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            yield out
        os.replace(tmp, target)
    except ApitapeError:
        _discard(tmp)
        raise
    except OSError as exc:
        _discard(tmp)
        blocker = _file_above(target)
        if blocker is not None:
            raise error(
                f"{path}: cannot write {what}: {blocker} is a file, not a folder; "
                "give a path in a folder"
            ) from None
        raise error(f"{path}: cannot write {what} ({exc.strerror})") from None
    except BaseException:
        _discard(tmp)
        raise


def _file_above(target: Path) -> Path | None:
    """The nearest existing folder above `target`, when it is a file instead."""
    for parent in target.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _discard(tmp: Path) -> None:
    """Remove a temporary file if there is one: when the target's folder is a file or
    cannot be read, removing fails too, and that must not hide why writing failed."""
    with suppress(OSError):
        tmp.unlink(missing_ok=True)


def write_atomically(path: str | os.PathLike[str], text: str | Iterable[str], what: str) -> None:
    """Write `text` (or its pieces, one after another) as UTF-8 to `path`, whole or not at all
    (see atomic_file).

    Raises ApitapeError naming the file and `what` it is ("the JSON report") on failure.
    """
    with atomic_file(path, what) as out:
        if isinstance(text, str):
            out.write(text.encode("utf-8"))
        else:
            for piece in text:
                out.write(piece.encode("utf-8"))
