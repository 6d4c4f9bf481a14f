"""Start, wait for and stop the local processes the demo (and the tests) run."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from apitape.errors import ProcessStartError


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str,
    port: int,
    process: subprocess.Popen[Any],
    timeout: float = 30.0,
    log: Path | None = None,
) -> None:
    """Return once something accepts connections on host:port; fail if `process` exits first.

    The error quotes the end of `log`, where the process wrote why it failed.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessStartError(
                f"{_describe(process)} exited with status {process.returncode} before listening"
                + _tail(log)
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ProcessStartError(
        f"{_describe(process)} did not listen on {host}:{port} within {timeout:g} s" + _tail(log)
    )


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return ":\n" + "\n".join(text.splitlines()[-lines:])


def stop(process: subprocess.Popen[Any], timeout: float = 20.0) -> int:
    """SIGTERM a process, wait for it, SIGKILL it if it will not go; return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _describe(process: subprocess.Popen[Any]) -> str:
    args = process.args if isinstance(process.args, list) else [str(process.args)]
    return " ".join(Path(str(a)).name if i < 2 else str(a) for i, a in enumerate(args[:4]))
