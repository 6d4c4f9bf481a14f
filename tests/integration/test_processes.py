"""apitape.processes with real child processes: the port a server bound, read from its log."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apitape.errors import ProcessStartError
from apitape.processes import listening_port, stop

PROXY_LIKE = """
import socket, sys, time
time.sleep(0.3)  # not ready at once: the caller waits for the line
server = socket.create_server(("127.0.0.1", 0))
port = server.getsockname()[1]
print(f"reverse proxy to http://x listening at 127.0.0.1:{port}.", flush=True)
time.sleep(60)
"""


def python(code: str, *args: str, log: Path) -> subprocess.Popen[str]:
    with open(log, "w") as handle:
        return subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=handle, stderr=subprocess.STDOUT, text=True
        )


def test_the_port_a_proxy_got_is_read_from_its_log_once_it_listens(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    process = python(PROXY_LIKE, log=log)
    try:
        port = listening_port(process, log, timeout=30)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        stop(process)


def test_a_proxy_that_exits_before_saying_its_port_is_a_start_error(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    process = python("print('cannot open the cassette'); raise SystemExit(2)", log=log)
    with pytest.raises(ProcessStartError, match=r"exited with status 2(.|\n)*cannot open"):
        listening_port(process, log, timeout=30)
