"""Capture through a real mitmdump in front of a real upstream, checked exchange by exchange."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from apitape.cassette import load_cassette
from apitape.models import first_header
from tests.integration.conftest import (
    BINARY,
    REPO,
    RunningProxy,
    TlsUpstream,
    Upstream,
    json_route,
)
from tests.integration.test_capture_load import kill_and_wait_for_writer


def send_session(base_url: str, proxy: str | None = None) -> list[httpx.Response]:
    """A client session through the proxy: JSON, gzip JSON, binary, a POST with a body."""
    with httpx.Client(base_url=base_url, proxy=proxy, trust_env=False) as client:
        return [
            client.get("/books/1"),
            client.get("/books?page=1", headers={"Accept-Encoding": "gzip"}),
            client.get("/cover.bin"),
            client.post("/things", json={"name": "lamp"}),
        ]


def check_recorded_session(cassette: Path, upstream: Upstream) -> None:
    loaded = load_cassette(cassette)
    assert loaded.warnings == ()
    book, books, cover, thing = loaded.exchanges
    assert [e.id for e in loaded.exchanges] == ["1", "2", "3", "4"]

    assert (book.request.method, book.request.url) == ("GET", f"{upstream.url}/books/1")
    assert json.loads(book.response.body) == {"id": 1, "title": "Dune", "price": 9.5}
    assert book.response.status == 200

    # gzip is stored decoded, with headers that agree with the stored body
    assert books.request.url == f"{upstream.url}/books?page=1"
    assert len(json.loads(books.response.body)["items"]) == 39
    assert first_header(books.response.headers, "content-encoding") is None
    assert first_header(books.response.headers, "content-length") == str(len(books.response.body))
    assert books.extra["response_encoding"] == "gzip"

    assert cover.response.body == BINARY  # byte-exact
    assert json.loads(thing.request.body) == {"name": "lamp"}
    assert thing.response.status == 201
    assert first_header(thing.response.headers, "location") == "/things/7"

    for exchange in loaded.exchanges:
        assert exchange.recorded_at is not None and exchange.recorded_at.endswith("Z")
        assert exchange.duration_ms is not None and exchange.duration_ms >= 0
        assert exchange.client is not None and exchange.client.startswith("127.0.0.1:")
        assert exchange.connection


def stored_while_running(proxy: RunningProxy, expected: int, within: float = 10.0) -> int:
    """Exchanges in the cassette once it holds `expected` (or `within` seconds have passed),
    read while the proxy runs."""
    deadline = time.monotonic() + within
    while True:
        assert proxy.process.poll() is None, "the proxy stopped"
        stored = len(load_cassette(proxy.cassette).exchanges)
        if stored >= expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.02)


def test_apitape_record_reverse_proxy(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)
    responses = send_session(proxy.url)
    assert [r.status_code for r in responses] == [200, 200, 200, 201]
    assert responses[2].content == BINARY
    # Appended at once, not at shutdown: every exchange reaches the disk while the proxy
    # still runs. A response goes once its exchange is in the writer process's pipe; the
    # writer stores it moments later (it reads the pipe every 20 ms), hence the wait.
    assert stored_while_running(proxy, 4) == 4
    assert proxy.stop() == 0
    check_recorded_session(proxy.cassette, upstream)
    assert "4 exchange(s) recorded" in proxy.output()


def test_mitmdump_with_the_addon_script(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url, via="mitmdump")
    send_session(proxy.url)
    assert proxy.stop() == 0
    check_recorded_session(proxy.cassette, upstream)


def test_apitape_record_forward_proxy(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(None)
    responses = send_session(upstream.url, proxy=proxy.url)
    assert [r.status_code for r in responses] == [200, 200, 200, 201]
    assert proxy.stop() == 0
    check_recorded_session(proxy.cassette, upstream)


def test_sigkill_leaves_a_cassette_with_every_completed_exchange(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        for _ in range(7):
            assert client.get("/books/1").status_code == 200
    kill_and_wait_for_writer(proxy.process)
    loaded = load_cassette(proxy.cassette)
    assert [e.id for e in loaded.exchanges] == [str(i) for i in range(1, 8)]


def test_mitmdump_without_a_cassette_refuses_to_start(upstream: Upstream, tmp_path: Path) -> None:
    import subprocess
    import sys

    mitmdump = Path(sys.executable).parent / "mitmdump"
    result = subprocess.run(
        [
            str(mitmdump),
            "-s",
            str(REPO / "addons" / "record.py"),
            "--mode",
            f"reverse:{upstream.url}",
            "-p",
            "0",
            "--set",
            f"confdir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "apitape_cassette is not set" in result.stdout + result.stderr


def _limit_file_size() -> None:
    # Room for the header and a few exchanges, then writes fail with EFBIG, as a full disk would.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))


def test_failed_write_stops_the_proxy_and_keeps_what_was_recorded(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url, preexec_fn=_limit_file_size)
    answered = 0
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=10) as client:
        for _ in range(20):
            try:
                response = client.get("/books/1")
            except httpx.HTTPError:
                break  # the exchange that could not be written gets no response
            assert response.status_code == 200
            answered += 1
    proxy.process.wait(timeout=30)
    assert proxy.process.returncode == 2
    output = proxy.output()
    assert "Stopping the proxy so no more traffic passes unrecorded" in output
    assert "could not append exchange" in output
    assert "Traceback" not in output  # not even for the connections cut off at the stop
    loaded = load_cassette(proxy.cassette)  # the failed one is at most a torn tail
    assert 0 < answered < 20
    # Answers go out once an exchange is in the pipe to the writer, so the ones answered
    # before the proxy heard of the failure are missing, and the proxy says how many.
    missing = re.search(r"the last (\d+) exchange\(s\) the proxy answered may be missing", output)
    assert missing is not None
    assert len(loaded.exchanges) + int(missing.group(1)) == answered


def test_record_refuses_an_unusable_cassette_path(upstream: Upstream, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    from tests.integration.conftest import run_apitape

    result = run_apitape(
        "record",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--cassette",
        str(blocker / "x.yaml"),
        "--confdir",
        str(tmp_path / "conf"),
    )
    assert result.returncode == 2
    assert "cannot open the cassette for writing" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_record_on_a_taken_port_exits_2_and_leaves_no_cassette(
    upstream: Upstream, tmp_path: Path
) -> None:
    import socket

    from tests.integration.conftest import run_apitape

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cassette = tmp_path / "c.yaml"
        result = run_apitape(
            "record",
            "--upstream",
            upstream.url,
            "--port",
            str(port),
            "--cassette",
            str(cassette),
            "--confdir",
            str(tmp_path / "conf"),
        )
    assert result.returncode == 2
    assert "pick another port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not cassette.exists()


def test_forward_proxy_records_https_through_mitmproxys_ca(
    https_upstream: TlsUpstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(None, extra_args=("--upstream-ca", str(https_upstream.ca_pem)))
    mitmproxy_ca = tmp_path / "mitmproxy-conf" / "mitmproxy-ca-cert.pem"
    for _ in range(100):  # mitmproxy writes its CA while starting, not always before it listens
        if mitmproxy_ca.exists() and mitmproxy_ca.stat().st_size:
            break
        time.sleep(0.1)
    # The client trusts only mitmproxy's CA: the TLS it sees is the proxy's, not the upstream's.
    with httpx.Client(
        proxy=proxy.url, verify=ssl.create_default_context(cafile=mitmproxy_ca), trust_env=False
    ) as client:
        response = client.get(f"{https_upstream.url}/books/1")
    assert response.json() == {"id": 1, "title": "Dune", "price": 9.5}
    assert proxy.stop() == 0
    (exchange,) = load_cassette(proxy.cassette).exchanges
    assert exchange.request.url == f"{https_upstream.url}/books/1"
    assert exchange.request.url.startswith("https://127.0.0.1:")
    assert json.loads(exchange.response.body)["title"] == "Dune"


def test_reverse_proxy_in_front_of_an_https_service(
    https_upstream: TlsUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(
        https_upstream.url, extra_args=("--upstream-ca", str(https_upstream.ca_pem))
    )
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{proxy.url}/books/1").status_code == 200
    assert proxy.stop() == 0
    (exchange,) = load_cassette(proxy.cassette).exchanges
    assert exchange.request.url == f"{https_upstream.url}/books/1"


def test_ctrl_c_flushes_and_exits_cleanly(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url, preexec_fn=os.setpgrp)
    send_session(proxy.url)
    # Ctrl-C in a terminal signals the whole process group: the writer process must still
    # store everything the proxy handed it.
    os.killpg(proxy.process.pid, signal.SIGINT)
    assert proxy.process.wait(timeout=20) == 0
    assert "Traceback" not in proxy.output()
    check_recorded_session(proxy.cassette, upstream)


def test_a_stuck_disk_stops_the_proxy_instead_of_holding_traffic_forever(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    # A FIFO nobody reads stands for a disk that stopped answering: once the FIFO's buffer
    # is full, the writer process blocks in write() for good. The proxy goes on answering
    # until its pipe to the writer is full too, then holds the response back, then stops.
    fifo = tmp_path / "stuck.yaml"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the writer's open() needs a reader
    try:
        big = {"blob": "x" * 20_000}
        upstream.routes[("GET", "/big")] = json_route(big)
        proxy = start_proxy(upstream.url, cassette=fifo, extra_args=("--writer-timeout", "2"))
        outcomes = []
        with httpx.Client(base_url=proxy.url, trust_env=False, timeout=20) as client:
            for _ in range(1000):
                try:
                    outcomes.append(client.get("/big").status_code)
                except httpx.HTTPError:
                    outcomes.append("no answer")
                    break
        proxy.process.wait(timeout=30)
    finally:
        os.close(reader)
    assert outcomes[-1] == "no answer"  # the exchange that could not be handed over
    assert all(o == 200 for o in outcomes[:-1])
    assert proxy.process.returncode == 2
    output = proxy.output()
    assert "has not finished an exchange for 2 s" in output
    assert "Stopping the proxy" in output
    missing = re.search(r"the last (\d+) exchange\(s\) the proxy answered may be missing", output)
    assert missing is not None
    assert int(missing.group(1)) <= len(outcomes) - 1
