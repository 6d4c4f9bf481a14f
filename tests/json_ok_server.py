"""A loopback HTTP server in a thread that answers every GET with `{}`, optionally after a
delay and noting each request as it arrives: a target whose answers never differ."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def json_ok_server(delay: float = 0.0, arrivals: list[str] | None = None) -> Iterator[str]:
    """Yield the server's base URL; `arrivals` gets `received PATH` as each request comes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if arrivals is not None:
                arrivals.append(f"received {self.path}")
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a cancelled client
                self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
