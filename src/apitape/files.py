"""Writing files whole: a reader never sees half a report, noise file or cassette."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from apitape.errors import ApitapeError


def write_atomically(path: str | os.PathLike[str], text: str | Iterable[str], what: str) -> None:
    """Write `text` (or its pieces, one after another) to a temporary file beside `path`
    and rename it into place.

    Raises ApitapeError naming the file and `what` it is ("the JSON report") on failure.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as out:
            if isinstance(text, str):
                out.write(text)
            else:
                out.writelines(text)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ApitapeError(f"{path}: cannot write {what} ({exc.strerror})") from None
