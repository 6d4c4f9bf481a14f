"""What the recorder keeps: filters, whole-session sampling, body-size limits and rotation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from apitape.cassette import load_cassette
from apitape.models import first_header
from tests.integration.conftest import BINARY, RunningProxy, Upstream, json_route, run_apitape


def test_filters_keep_only_what_was_asked_for_and_the_header_says_which(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("GET", "/health")] = json_route({"ok": True})
    proxy = start_proxy(
        upstream.url,
        extra_args=(
            "--exclude-path", "/health",
            "--method", "GET",
            "--exclude-content-type", "application/octet-stream",
        ),
    )  # fmt: skip
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        for path in ("/health", "/books/1", "/cover.bin"):
            assert client.get(path).status_code == 200  # filtered traffic still passes
        assert client.post("/things", json={"a": 1}).status_code == 201
    assert proxy.stop() == 0
    loaded = load_cassette(proxy.cassette)
    assert [e.request.url.removeprefix(upstream.url) for e in loaded.exchanges] == ["/books/1"]
    assert loaded.metadata["filters"] == {
        "exclude_paths": ["/health"],
        "methods": ["GET"],
        "exclude_content_types": ["application/octet-stream"],
    }
    assert "3 left out by filters or sampling" in proxy.output()


def test_sampling_keeps_whole_sessions(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(
        upstream.url, extra_args=("--sample", "0.5", "--session-by", "header:X-Session")
    )
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        for session in range(40):
            for _ in range(3):
                client.get("/books/1", headers={"X-Session": f"s{session}"})
    assert proxy.stop() == 0
    loaded = load_cassette(proxy.cassette)
    per_session: dict[str, int] = {}
    for exchange in loaded.exchanges:
        key = first_header(exchange.request.headers, "x-session") or ""
        per_session[key] = per_session.get(key, 0) + 1
    assert set(per_session.values()) == {3}  # every session kept is kept whole
    assert 5 <= len(per_session) <= 35  # about half of 40 (the hash is fixed: no flakiness)
    assert loaded.metadata["sample"] == {"rate": 0.5, "by": "header:X-Session"}


def test_bodies_over_the_limit_are_kept_as_size_and_hash_and_the_diff_understands_them(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, extra_args=("--max-body-size", "100"))
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        assert client.get("/cover.bin").content == BINARY  # the client still gets it all
        client.post("/things", content=b"x" * 500, headers={"Content-Type": "text/plain"})
        client.get("/books/1")
    assert proxy.stop() == 0
    cover, upload, book = load_cassette(proxy.cassette).exchanges
    assert cover.response.body == b""
    assert cover.extra["response_body_omitted"]["size"] == len(BINARY)
    assert upload.extra["request_body_omitted"]["size"] == 500
    assert json.loads(book.response.body)["title"] == "Dune"  # small bodies kept whole

    report = tmp_path / "same.json"
    same = run_apitape("replay", str(proxy.cassette), "--target", upstream.url,
                       "--report-json", str(report))  # fmt: skip
    assert same.returncode == 0, same.stdout
    summary = json.loads(report.read_text())["summary"]
    assert (summary["passed"], summary["skipped"]) == (2, 1)  # the upload cannot be sent

    upstream.routes[("GET", "/cover.bin")] = lambda h, b: (
        200,
        {"Content-Type": "application/octet-stream"},
        BINARY[::-1],
    )
    changed = run_apitape("replay", str(proxy.cassette), "--target", upstream.url,
                          "--report-json", str(report))  # fmt: skip
    assert changed.returncode == 1
    (difference,) = [
        d for i in json.loads(report.read_text())["interactions"] for d in i["differences"]
    ]
    assert difference["kind"] == "body_changed"
    assert "1024 bytes" in difference["expected"] and "too large to record" in difference["actual"]


def test_rotation_by_count_and_by_size_gives_numbered_cassettes_that_replay(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    by_count = start_proxy(
        upstream.url,
        cassette=tmp_path / "count" / "traffic.yaml",
        extra_args=("--max-exchanges", "3", "--fsync"),
    )
    with httpx.Client(base_url=by_count.url, trust_env=False) as client:
        for _ in range(7):
            client.get("/books/1")
    assert by_count.stop() == 0
    files = sorted((tmp_path / "count").glob("*.yaml"))
    assert [f.name for f in files] == [
        "traffic-0001.yaml",
        "traffic-0002.yaml",
        "traffic-0003.yaml",
    ]
    assert [len(load_cassette(f).exchanges) for f in files] == [3, 3, 1]
    # the last line names the files written, not the name given (which does not exist)
    first, last = tmp_path / "count" / "traffic-0001.yaml", tmp_path / "count" / "traffic-0003.yaml"
    assert f"7 exchange(s) recorded into {first} ... {last} (3 files)" in by_count.output()

    by_size = start_proxy(
        upstream.url,
        cassette=tmp_path / "size" / "traffic.yaml",
        extra_args=("--max-bytes", "4000"),
    )
    with httpx.Client(base_url=by_size.url, trust_env=False) as client:
        for _ in range(12):
            client.get("/books/1")
    assert by_size.stop() == 0
    sized = sorted((tmp_path / "size").glob("*.yaml"))
    assert len(sized) > 1
    assert sum(len(load_cassette(f).exchanges) for f in sized) == 12
    largest_entry = max(len(f.read_bytes()) for f in sized) - 4000
    assert largest_entry < 1500  # a file passes the limit by at most its last exchange

    result = run_apitape("replay", *map(str, files + sized), "--target", upstream.url)
    assert result.returncode == 0, result.stdout
    assert "19 exchanges: 19 passed" in result.stdout
