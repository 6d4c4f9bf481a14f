"""Writing files whole: a reader never sees half a report, noise file or cassette."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(f"{path}: cannot write {what} ({exc.strerror})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
