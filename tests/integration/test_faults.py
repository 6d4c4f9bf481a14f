"""A misbehaving target never crashes a run; side effects are explicit."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from tests.integration.conftest import Upstream, run_apitape

JSON = (("Content-Type", "application/json"),)


def cassette_of(tmp_path: Path, paths: list[str], methods: list[str] | None = None) -> Path:
    exchanges = [
        Exchange(
            str(i + 1),
            Request((methods or ["GET"] * len(paths))[i], f"http://staging:8000{p}"),
            Response(200, "OK", JSON, b'{"ok": true}'),
            client=f"10.0.0.{i}:1",
        )
        for i, p in enumerate(paths)
    ]
    path = tmp_path / "c.yaml"
    write_cassette(path, exchanges, "2026-11-24T00:00:00Z")
    return path


Behaviour = Callable[[socket.socket, bytes], None]


@pytest.fixture
def raw_server() -> Iterator[Callable[[dict[str, Behaviour]], str]]:
    """A TCP server that answers each path with raw bytes, or misbehaves on purpose."""
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def start(routes: dict[str, Behaviour]) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(0.2)
        sockets.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        def handle(conn: socket.socket) -> None:
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                path = data.split(b" ", 2)[1].decode()
                routes[path](conn, data)

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for listener in sockets:
        listener.close()


def ok(conn: socket.socket, _: bytes) -> None:
    conn.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"ok": true}'
    )


def malformed_status(conn: socket.socket, _: bytes) -> None:
    conn.sendall(b"HTTP/1.1 two hundred OK\r\n\r\n")


def closes_mid_body(conn: socket.socket, _: bytes) -> None:
    conn.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"ok": tr'
    )


def resets(conn: socket.socket, _: bytes) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def sleeps(conn: socket.socket, _: bytes) -> None:
    threading.Event().wait(3)


def test_every_fault_is_an_error_of_its_exchange_and_the_run_completes(
    raw_server: Callable[[dict[str, Behaviour]], str], tmp_path: Path
) -> None:
    target = raw_server({"/ok": ok, "/malformed": malformed_status, "/truncated": closes_mid_body,
                         "/reset": resets, "/slow": sleeps, "/ok2": ok})  # fmt: skip
    cassette = cassette_of(tmp_path, ["/ok", "/malformed", "/truncated", "/reset", "/slow", "/ok2"])
    report = tmp_path / "r.json"
    result = run_apitape("replay", str(cassette), "--target", target, "--timeout", "1", "--concurrency", "3",
                         "--report-json", str(report))  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    data = json.loads(report.read_text())
    outcomes = {
        i["url"].rsplit("/", 1)[1]: (i["outcome"], i["error"]) for i in data["interactions"]
    }
    assert outcomes["ok"] == ("pass", None) and outcomes["ok2"] == ("pass", None)
    assert (
        outcomes["malformed"][0] == "error"
        and "closed or broke the connection" in outcomes["malformed"][1]
    )
    assert (
        outcomes["truncated"][0] == "error"
        and "closed or broke the connection" in outcomes["truncated"][1]
    )
    assert outcomes["reset"][0] == "error"
    assert outcomes["slow"] == (
        "error",
        "no response within 1 s (raise the timeout if the target is just slow)",
    )


def test_refused_from_the_first_request_is_reported_once(tmp_path: Path, closed_port: int) -> None:
    port = closed_port
    cassette = cassette_of(tmp_path, [f"/p{i}" for i in range(50)])
    result = run_apitape(
        "replay", str(cassette), "--target", f"http://127.0.0.1:{port}", "--retries", "1"
    )
    assert result.returncode == 2
    assert result.stdout.count("connection refused") == 1
    assert result.stdout.count("not sent: ") == 49
    assert "could not replay any of the 50 exchange(s)" in result.stderr


def test_dry_run_sends_nothing(upstream: Upstream, tmp_path: Path) -> None:
    cassette = cassette_of(tmp_path, ["/books/1", "/books/2"], ["GET", "DELETE"])
    result = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--dry-run", "--header", "X-Run: dry"
    )
    assert result.returncode == 0
    assert upstream.hits == []
    assert f"#2 DELETE {upstream.url}/books/2" in result.stdout
    assert "    X-Run: dry" in result.stdout
    assert "2 request(s) shown, none sent" in result.stdout


def test_method_filters_and_skip_rules_keep_requests_back(
    upstream: Upstream, tmp_path: Path
) -> None:
    cassette = cassette_of(tmp_path, ["/books/1", "/books/2", "/things"], ["GET", "DELETE", "POST"])
    config = tmp_path / "apitape.yaml"
    config.write_text('endpoints:\n  "POST /things": {skip: true}\n')
    report = tmp_path / "r.json"
    result = run_apitape("replay", str(cassette), "--target", upstream.url, "--skip-methods", "DELETE",
                         "--config", str(config), "--report-json", str(report))  # fmt: skip
    # the GET's answer differs from the cassette's, so it is asked for a second time
    assert upstream.hits == ["GET /books/1", "GET /books/1"], result.stderr
    assert report.exists(), result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["skipped"] == 2
    assert [(s["id"], s["reason"]) for s in data["skipped"]] == [
        ("2", "method DELETE is among the methods skipped"),
        ("3", f"skip: true for POST /things in {config}"),
    ]
    assert "1 exchanges: 0 passed, 1 regression(s), 0 error(s), 2 skipped" in result.stdout


def test_protected_hosts_are_refused(upstream: Upstream, tmp_path: Path) -> None:
    cassette = cassette_of(tmp_path, ["/books/1"])
    config = tmp_path / "apitape.yaml"
    config.write_text("protected_hosts: ['127.0.0.*', 'prod.example.com']\n")
    result = run_apitape("replay", str(cassette), "--target", upstream.url, "--config", str(config))
    assert result.returncode == 2
    assert "is a protected host ('127.0.0.*' in protected_hosts" in result.stderr
    assert upstream.hits == []


def test_before_hook_runs_first_and_a_failing_one_stops_the_run(
    upstream: Upstream, tmp_path: Path
) -> None:
    cassette = cassette_of(tmp_path, ["/books/1"])
    marker = tmp_path / "reset-ran"
    good = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--before", f"touch {marker}",
        "--no-confirm",
    )  # fmt: skip
    assert marker.exists() and upstream.hits == ["GET /books/1"]
    assert good.returncode in (0, 1)
    bad = run_apitape(
        "replay",
        str(cassette),
        "--target",
        upstream.url,
        "--before",
        "echo db is locked >&2; exit 3",
    )
    assert bad.returncode == 2
    assert (
        "the command run before replaying ('echo db is locked >&2; exit 3') exited with status 3; "
        "nothing was replayed. Its last output: db is locked" in bad.stderr
    )
    assert upstream.hits == ["GET /books/1"]


def test_header_option_expands_the_environment_and_names_a_missing_variable(
    upstream: Upstream, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    cassette = cassette_of(tmp_path, ["/books/1"])
    apitape = str(Path(sys.executable).parent / "apitape")
    env = {**os.environ, "API_TOKEN": "s3cret"}
    env.pop("NOT_SET_ANYWHERE", None)
    missing = subprocess.run([apitape, "replay", str(cassette), "--target", upstream.url, "--header",
                              "Authorization: Bearer $NOT_SET_ANYWHERE"], capture_output=True, text=True, env=env)  # fmt: skip
    assert missing.returncode == 2
    assert "$NOT_SET_ANYWHERE is not set in the environment" in missing.stderr
    upstream.routes[("GET", "/books/1")] = lambda handler, body: (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"auth": handler.headers["Authorization"]}).encode(),
    )
    report = tmp_path / "r.json"
    subprocess.run([apitape, "replay", str(cassette), "--target", upstream.url, "--header", "Authorization: Bearer $API_TOKEN",
                    "--report-json", str(report)], capture_output=True, text=True, env=env)  # fmt: skip
    (interaction,) = json.loads(report.read_text())["interactions"]
    assert interaction["differences"][0]["actual"] == {"auth": "Bearer s3cret"} or any(
        d["actual"] == "Bearer s3cret" for d in interaction["differences"]
    )
