"""A recording proxy run as a child process, for Python callers: `with recording(...) as url`.

The proxy is `apitape record` in its own process, as a user would run it: mitmproxy installs
signal handlers and wants the main thread, and the caller's process never imports it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from apitape.errors import ApitapeError
from apitape.processes import listening_port, stop, wait_for_port


@contextlib.contextmanager
def recording(
    upstream: str,
    cassette: str | os.PathLike[str],
    *,
    port: int = 0,
    redact_key_file: str | os.PathLike[str] | None = None,
    options: Sequence[str] = (),
    log: str | os.PathLike[str] | None = None,
) -> Iterator[str]:
    """Run a recording reverse proxy in front of `upstream`; yield its URL.

    Every exchange a client sends through the URL is appended to `cassette`. On leaving the
    block the proxy is stopped (SIGTERM) and every answered exchange is in the cassette.
    `options` are more `apitape record` options (`["--path", "/api/*"]`); the proxy's log
    goes to `log` (default: a temporary file, named in the error if the proxy fails).
    With `port` 0 the proxy binds a free port itself and the URL names it.
    """
    command = [
        sys.executable,
        "-m",
        "apitape",
        "record",
        "--upstream",
        upstream,
        "--port",
        str(port),
        "--cassette",
        os.fspath(cassette),
        # Not --quiet when the proxy picks its port: the line it logs once listening says which.
        *(["--quiet"] if port else []),
        *(["--redact-key-file", os.fspath(redact_key_file)] if redact_key_file else []),
        *options,
    ]
    log_path = (
        Path(log) if log else Path(tempfile.mkstemp(prefix="apitape-record-", suffix=".log")[1])
    )
    with open(log_path, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=handle, text=True)
        try:
            if port:
                wait_for_port("127.0.0.1", port, process, log=log_path)
            else:
                port = listening_port(process, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            status = stop(process)
    if status != 0:
        raise ApitapeError(
            f"the recording proxy exited with status {status}; its log is in {log_path}"
        )
