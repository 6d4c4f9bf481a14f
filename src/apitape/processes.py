"""Start, wait for and stop the local processes the demo (and the tests) run."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from apitape.errors import ProcessStartError

LISTENING_AT = re.compile(r"listening at (?:\[[^\]\s]+\]|[^\s:]+):(\d+)\.")
"""The line mitmproxy logs once its server is bound: `... listening at 127.0.0.1:47009.`"""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the OS picks it).

    Racy: the port is free when this returns, and another process can bind it before the
    server given it does. Prefer a server that binds port 0 and says which port it got
    (`listening_port`, `wait_for_output`).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_output(
    process: subprocess.Popen[Any],
    log: Path,
    pattern: re.Pattern[str],
    timeout: float = 30.0,
) -> re.Match[str]:
    """Return the first match of `pattern` in `log` once `process` has written it there.

    Fails (ProcessStartError, quoting the end of `log`) if the process exits first or
    `timeout` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        exited = process.poll() is not None  # before reading: what it wrote is all there
        with contextlib.suppress(OSError):
            match = pattern.search(log.read_text(errors="replace"))
            if match:
                return match
        if exited:
            raise ProcessStartError(
                f"{_describe(process)} exited with status {process.returncode} before "
                "saying it was ready" + _tail(log)
            )
        if time.monotonic() > deadline:
            raise ProcessStartError(
                f"{_describe(process)} did not say it was ready within {timeout:g} s" + _tail(log)
            )
        time.sleep(0.05)


def listening_port(process: subprocess.Popen[Any], log: Path, timeout: float = 30.0) -> int:
    """The port a mitmproxy-based proxy started with port 0 got, read from its `log`.

    mitmproxy logs the line once the socket is bound and listening, so the proxy accepts
    connections when this returns. `apitape record --quiet` does not log it.
    """
    return int(wait_for_output(process, log, LISTENING_AT, timeout).group(1))


def _read(log: Path) -> str:
    try:
        return log.read_text(errors="replace")
    except OSError:
        return ""


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
    return ":\n" + "\n".join(_read(log).splitlines()[-lines:])


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
