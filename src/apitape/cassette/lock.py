"""The write lock on a cassette: one writer at a time, let go by the kernel when it dies.

A writer holds an exclusive `flock` on the cassette file itself for as long as it has the
file open, so a second writer on the same path is refused at once instead of interleaving
its exchanges (or removing a file it thinks it created empty). The lock belongs to the
open file, not to a pid written somewhere: a writer killed with SIGKILL leaves no stale
lock behind. It is advisory: it stops apitape's writers, not an editor or `cat >>`.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from apitape.errors import CassetteWriteError

log = logging.getLogger(__name__)

_TRIES = 5
"""Times the file may be replaced (removed, renamed over) between opening and locking it."""


def open_locked(path: str) -> IO[bytes]:
    """`path` opened for appending (created if missing) and locked for this writer alone.

    Raises CassetteWriteError naming the process that holds the lock when another writer
    has it, and OSError when the file cannot be opened. On a file system without locks
    (some network shares) the file is opened unlocked, with a warning.
    """
    for _ in range(_TRIES):
        handle = open(path, "ab")  # noqa: SIM115 - the caller keeps it open while it writes
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = lock_holder(handle)
            handle.close()
            raise CassetteWriteError(
                f"{path}: another recorder is writing this cassette{_described(holder)}; "
                "stop it first, or record into another path"
            ) from None
        except OSError as exc:
            log.warning(
                f"apitape: {path}: cannot lock the cassette ({exc.strerror}); a second "
                "recorder on this path would not be refused"
            )
            return handle
        if _is_at(handle, path):
            return handle
        # The writer before this one removed the file (it had written nothing) or it was
        # replaced after this open: the lock is on a file no longer at `path`. Again.
        handle.close()
    raise CassetteWriteError(
        f"{path}: the file keeps being removed or replaced while apitape opens it; "
        "record into another path"
    )


def _is_at(handle: IO[bytes], path: str) -> bool:
    """Whether `handle` is the file at `path` (the same device and inode)."""
    try:
        there = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(handle.fileno())
    return (there.st_dev, there.st_ino) == (opened.st_dev, opened.st_ino)


def lock_holder(handle: IO[bytes]) -> int | None:
    """The pid of the process holding a flock on `handle`'s file, from Linux's /proc/locks
    (None elsewhere, or when it is not to be found)."""
    opened = os.fstat(handle.fileno())
    device = f"{os.major(opened.st_dev):02x}:{os.minor(opened.st_dev):02x}:{opened.st_ino}"
    try:
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()  # 1: FLOCK  ADVISORY  WRITE 4242 fe:00:2878247 0 EOF
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device:
            pid = int(fields[4]) if fields[4].isdigit() else 0
            return pid or None  # 0 or -1: a process outside this pid namespace
    return None


def _described(pid: int | None) -> str:
    """` (pid 4242, started by pid 4240)`: who holds the lock, and who started it (a
    recorder's file is held by its writer process, which the proxy started)."""
    if pid is None:
        return ""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        parent = 0
    return f" (pid {pid}, started by pid {parent})" if parent > 1 else f" (pid {pid})"
