"""apitape.processes with real child processes: the port a server got, read from its log; a
server that cannot bind port 0 started again when its port was taken."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apitape.errors import ProcessStartError
from apitape.processes import listening_port, start_on_free_port, stop, wait_for_port

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


SERVER = """
import socket, sys, time
try:
    server = socket.create_server(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    print(exc, flush=True)  # [Errno 98] Address already in use
    raise SystemExit(1)
time.sleep(60)
"""


def test_a_server_whose_port_was_taken_is_started_again_on_another(tmp_path: Path) -> None:
    taken: list[socket.socket] = []
    launched: list[int] = []

    def launch(port: int) -> tuple[subprocess.Popen[str], Path]:
        launched.append(port)
        if len(launched) == 1:  # someone else binds the port first
            sock = socket.socket()
            sock.bind(("127.0.0.1", port))
            taken.append(sock)
        log = tmp_path / f"server-{len(launched)}.log"
        return python(SERVER, str(port), log=log), log

    def ready(process: subprocess.Popen[str], port: int) -> None:
        wait_for_port("127.0.0.1", port, process, timeout=30)

    try:
        process, port = start_on_free_port(launch, ready)
        stop(process)
    finally:
        for sock in taken:
            sock.close()
    assert len(launched) == 2 and port == launched[1]
    assert "Address already in use" in (tmp_path / "server-1.log").read_text()


def test_a_server_failing_for_another_reason_is_not_started_again(tmp_path: Path) -> None:
    launched: list[int] = []

    def launch(port: int) -> tuple[subprocess.Popen[str], Path]:
        launched.append(port)
        log = tmp_path / "server.log"
        return python("print('no such option'); raise SystemExit(2)", log=log), log

    def ready(process: subprocess.Popen[str], port: int) -> None:
        wait_for_port("127.0.0.1", port, process, timeout=30)

    with pytest.raises(ProcessStartError, match="exited with status 2"):
        start_on_free_port(launch, ready)
    assert len(launched) == 1
