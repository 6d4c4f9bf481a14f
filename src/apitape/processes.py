"""Start, wait for and stop the local processes the demo (and the tests) run."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from pathlib import Path

from apitape.errors import ProcessStartError


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, process: subprocess.Popen[str], timeout: float = 30.0
) -> None:
    """Return once something accepts connections on host:port; fail if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ProcessStartError(
                f"{_describe(process)} exited with status {process.returncode} before listening"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ProcessStartError(
        f"{_describe(process)} did not listen on {host}:{port} within {timeout:g} s"
    )


def stop(process: subprocess.Popen[str], timeout: float = 20.0) -> int:
    """SIGTERM a process, wait for it, SIGKILL it if it will not go; return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _describe(process: subprocess.Popen[str]) -> str:
    args = process.args if isinstance(process.args, list) else [str(process.args)]
    return " ".join(Path(str(a)).name if i < 2 else str(a) for i, a in enumerate(args[:4]))
