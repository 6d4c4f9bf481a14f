"""The recorder under load: 64 clients at once, nothing lost, duplicated or mixed up; SIGKILL."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from apitape.cassette import load_cassette
from tests.integration.conftest import RunningProxy, Upstream

CLIENTS = 64
REQUESTS_EACH = 50


def echo_id(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Answers with the request's unique id, from the query and from a header."""
    query = parse_qs(urlsplit(handler.path).query)
    answer = {"rid": query["rid"][0], "header": handler.headers.get("X-Request-Id")}
    return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (the recorder's writer process), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def kill_and_wait_for_writer(process: subprocess.Popen[str]) -> None:
    """SIGKILL the proxy, then wait until its writer process has stored what it was handed
    and ended (it is not the test's child, so it is watched through /proc)."""
    writers = children(process.pid)
    assert writers, "the recorder runs a writer process"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 60
    for pid in writers:
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                break
            if state == "Z":
                break
            time.sleep(0.05)
    assert time.monotonic() < deadline, "the writer process did not end after the proxy died"


def run_clients(
    base_url: str,
    stop: threading.Event | None = None,
    received: dict[str, float] | None = None,
    requests_each: int | None = REQUESTS_EACH,
) -> tuple[dict[str, float], list[str]]:
    """64 threads, each sending 50 requests in turn; (rid -> when its answer arrived, errors).

    `received` fills as answers arrive, for a caller watching from another thread. With
    `requests_each` None the clients send until `stop` is set.
    """
    received = {} if received is None else received
    errors: list[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as http:
            for index in itertools.count() if requests_each is None else range(requests_each):
                if stop is not None and stop.is_set():
                    return
                rid = f"c{number:02d}-r{index:02d}"
                try:
                    response = http.get("/echo", params={"rid": rid}, headers={"X-Request-Id": rid})
                    answered = response.json()["rid"]
                except (httpx.HTTPError, ValueError) as exc:
                    with lock:
                        errors.append(f"{rid}: {exc!r}")
                    continue
                with lock:
                    received[rid] = time.monotonic()
                    if answered != rid:
                        errors.append(f"{rid} got the answer for {answered}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return received, errors


def test_64_clients_50_requests_each_give_exactly_3200_exchanges_each_paired_right(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("GET", "/echo")] = echo_id
    proxy = start_proxy(upstream.url)
    received, errors = run_clients(proxy.url)
    assert errors == []
    assert len(received) == CLIENTS * REQUESTS_EACH
    assert proxy.stop() == 0
    loaded = load_cassette(proxy.cassette)
    assert loaded.warnings == ()
    assert len(loaded.exchanges) == CLIENTS * REQUESTS_EACH
    rids = []
    for exchange in loaded.exchanges:
        rid = parse_qs(urlsplit(exchange.request.url).query)["rid"][0]
        answer = json.loads(exchange.response.body)
        assert answer == {"rid": rid, "header": rid}  # each response with its own request
        rids.append(rid)
    assert sorted(rids) == sorted(received)  # none lost, none duplicated
    assert len({e.id for e in loaded.exchanges}) == len(loaded.exchanges)


def test_sigkill_under_load_keeps_every_answered_exchange_and_no_partial_one(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("GET", "/echo")] = echo_id
    proxy = start_proxy(upstream.url)
    stop = threading.Event()
    received: dict[str, float] = {}
    # The clients send until told to stop, after the kill: however fast this machine, the
    # load cannot finish before the kill lands.
    load = threading.Thread(target=run_clients, args=(proxy.url, stop, received, None))
    load.start()
    deadline = time.monotonic() + 60
    # Kill once answers have been arriving for 1.5 s, while clients are still sending (a
    # size threshold was reached within the first second on a fast machine).
    while time.monotonic() < deadline and (
        not received or time.monotonic() - min(list(received.values())) < 1.5
    ):
        time.sleep(0.05)
    assert load.is_alive()  # the kill lands mid-load
    killed_at = time.monotonic()
    kill_and_wait_for_writer(proxy.process)
    stop.set()
    load.join(120)  # errors are expected: the proxy died under the clients

    loaded = load_cassette(proxy.cassette)  # a torn last exchange is dropped, never half-read
    recorded = {}
    for exchange in loaded.exchanges:
        rid = parse_qs(urlsplit(exchange.request.url).query)["rid"][0]
        assert json.loads(exchange.response.body)["rid"] == rid
        recorded[rid] = exchange
    answered_before = {rid for rid, at in received.items() if at < killed_at - 1.0}
    assert answered_before, "the load should have been running for more than a second"
    assert answered_before <= set(recorded)
    # In fact every answer a client saw was in the pipe to the writer first, and the writer
    # stored all of it after the proxy died.
    assert set(received) <= set(recorded)
    assert len(recorded) == len(loaded.exchanges)  # no duplicates
