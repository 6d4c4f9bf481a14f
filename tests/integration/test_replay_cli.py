"""`apitape replay` against real servers: exit statuses, the JSON report, clear errors."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.integration.conftest import RunningProxy, Upstream, json_route, run_apitape
from tests.integration.test_capture import send_session


def record(upstream: Upstream, start_proxy: Callable[..., RunningProxy]) -> Path:
    proxy = start_proxy(upstream.url)
    send_session(proxy.url)
    assert proxy.stop() == 0
    return proxy.cassette


def test_unchanged_upstream_passes(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    cassette = record(upstream, start_proxy)
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--report-json", str(report)
    )
    assert result.returncode == 0, result.stdout
    assert "4 exchanges: 4 passed, 0 regression(s), 0 error(s)" in result.stdout
    data = json.loads(report.read_text())
    assert [i["outcome"] for i in data["interactions"]] == ["pass"] * 4
    assert [i["endpoint"] for i in data["interactions"]] == [
        "GET /books/{id}",
        "GET /books",
        "GET /cover.bin",
        "POST /things",
    ]


def test_changed_field_exits_1_with_its_path(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    cassette = record(upstream, start_proxy)
    upstream.routes[("GET", "/books/1")] = json_route({"id": 1, "title": "Dune", "price": "9.50"})
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--report-json", str(report)
    )
    assert result.returncode == 1
    data = json.loads(report.read_text())
    assert data["summary"] == {
        "total": 4,
        "passed": 3,
        "regressions": 1,
        "errors": 0,
        "skipped": 0,
        "confirmations": 1,
    }
    (regression,) = [i for i in data["interactions"] if i["outcome"] == "regression"]
    assert regression["id"] == "1"
    assert regression["method"] == "GET"
    assert regression["url"].endswith("/books/1")
    assert regression["differences"] == [
        {
            "path": "$.price",
            "kind": "type_changed",
            "expected": 9.5,
            "actual": "9.50",
            "expected_present": True,
            "actual_present": True,
            "severity": "breaking",
            "expected_from": "recording",
        }
    ]
    verbose = run_apitape("replay", str(cassette), "--target", upstream.url, "--verbose")
    assert '$.price: type changed: 9.5 -> "9.50"' in verbose.stdout  # the exchange's own line
    assert '$.price: type changed: 9.5 -> "9.50"' not in result.stdout


def test_stopped_upstream_exits_2_with_a_clear_message(
    upstream: Upstream,
    start_proxy: Callable[..., RunningProxy],
    tmp_path: Path,
    closed_port: int,
) -> None:
    cassette = record(upstream, start_proxy)
    # Not the stopped upstream's own port: another process may take it as soon as it is free.
    netloc = f"127.0.0.1:{closed_port}"
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay", str(cassette), "--target", f"http://{netloc}", "--report-json", str(report)
    )
    assert result.returncode == 2
    assert "could not replay any of the 4 exchange(s)" in result.stderr
    assert f"could not connect to {netloc}: connection refused" in result.stderr
    assert "Check that the target is running" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert json.loads(report.read_text())["summary"] == {
        "total": 4,
        "passed": 0,
        "regressions": 0,
        "errors": 4,
        "skipped": 0,
        "confirmations": 0,
    }


def test_malformed_cassette_exits_2_naming_the_line(tmp_path: Path, closed_port: int) -> None:
    cassette = tmp_path / "bad.yaml"
    cassette.write_text("version: 1\ninteractions:\n- request: {method: GET\n  response: [\n")
    result = run_apitape("replay", str(cassette), "--target", f"http://127.0.0.1:{closed_port}")
    assert result.returncode == 2
    assert result.stderr.startswith(f"apitape: error: {cassette}, line ")
    assert "is not valid YAML" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_missing_cassette_and_bad_target_exit_2(tmp_path: Path, closed_port: int) -> None:
    closed = f"http://127.0.0.1:{closed_port}"
    missing = run_apitape("replay", str(tmp_path / "none.yaml"), "--target", closed)
    assert missing.returncode == 2
    assert "none.yaml: no such file" in missing.stderr
    bad_target = run_apitape(
        "replay", str(tmp_path / "none.yaml"), "--target", f"localhost:{closed_port}"
    )
    assert bad_target.returncode == 2
    assert "is not an http:// or https:// URL" in bad_target.stderr


def test_timeouts_and_resets_are_errors_of_their_exchange_only(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    cassette = record(upstream, start_proxy)

    def too_slow(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        time.sleep(2)
        return 200, {}, b""

    def reset(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        # SO_LINGER 0: closing sends a TCP reset instead of an answer
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        raise ConnectionResetError

    upstream.routes[("GET", "/books/1")] = too_slow
    upstream.routes[("GET", "/cover.bin")] = reset
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--timeout", "0.5",
        "--concurrency", "2", "--report-json", str(report),
    )  # fmt: skip
    assert result.returncode == 2
    data = json.loads(report.read_text())
    outcomes = [(i["id"], i["outcome"]) for i in data["interactions"]]
    assert outcomes == [
        ("1", "error"),
        ("2", "pass"),
        ("3", "error"),
        ("4", "pass"),
    ]  # recorded order
    errors = {i["id"]: i["error"] for i in data["interactions"] if i["error"]}
    assert errors["1"] == "no response within 0.5 s (raise the timeout if the target is just slow)"
    assert "closed or broke the connection" in errors["3"] or "network error" in errors["3"]
    assert "Traceback" not in result.stdout + result.stderr


def test_http2_flag_replays_through_httpx_own_transport(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    cassette = record(upstream, start_proxy)
    result = run_apitape("replay", str(cassette), "--target", upstream.url, "--http2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 exchanges: 4 passed, 0 regression(s), 0 error(s)" in result.stdout


def test_a_cassette_broken_midway_reports_what_came_before_then_exits_2(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    # Cassettes are read while they are replayed: the error comes after the exchanges
    # before it were sent, and those are not lost.
    cassette = record(upstream, start_proxy)
    lines = tmp_path / "session.jsonl"
    assert run_apitape("convert", str(cassette), str(lines)).returncode == 0
    header, first, second, *rest = lines.read_text().splitlines()
    lines.write_text("\n".join([header, first, second, "{not json", *rest]) + "\n")
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay", str(lines), "--target", upstream.url, "--report-json", str(report)
    )
    assert result.returncode == 2
    assert "2 exchanges: 2 passed" in result.stdout
    assert f"{lines}" in result.stderr and "line 4" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(report.read_text())["summary"]["passed"] == 2
