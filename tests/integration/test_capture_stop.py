"""A graceful stop (SIGTERM, Ctrl-C) under load loses no exchange a client got an answer for."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx

from apitape.cassette import load_cassette
from tests.integration.conftest import RunningProxy, Upstream

CLIENTS = 16
STOPS = (  # how the proxy runs, and the signal that stops it
    ("apitape", signal.SIGTERM),
    ("apitape", signal.SIGINT),
    ("mitmdump", signal.SIGTERM),
    ("apitape", signal.SIGTERM),
    ("mitmdump", signal.SIGINT),
    ("apitape", signal.SIGTERM),
)


def slow_echo(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Answers with the request's id after 0-40 ms, so answers are in flight at any moment."""
    time.sleep(random.uniform(0, 0.04))
    rid = parse_qs(urlsplit(handler.path).query)["rid"][0]
    return 200, {"Content-Type": "application/json"}, json.dumps({"rid": rid}).encode()


def load(base_url: str, stop: threading.Event, answered: set[str], prefix: str) -> None:
    """CLIENTS threads sending requests one after another until `stop`; every answer whose
    body is its own request's id goes into `answered`."""
    lock = threading.Lock()

    def client(number: int) -> None:
        with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as http:
            index = 0
            while not stop.is_set():
                rid = f"{prefix}-c{number:02d}-r{index:04d}"
                index += 1
                try:
                    response = http.get("/echo", params={"rid": rid})
                    ok = response.status_code == 200 and response.json()["rid"] == rid
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.01)  # the proxy is going: no answer, so nothing to record
                    continue
                if ok:
                    with lock:
                        answered.add(rid)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)


def test_graceful_stops_under_load_keep_every_answered_exchange(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: os.PathLike[str]
) -> None:
    upstream.routes[("GET", "/echo")] = slow_echo
    rng = random.Random()
    lost: dict[str, list[str]] = {}
    totals = {"answered": 0, "recorded": 0}
    for number, (via, signum) in enumerate(STOPS):
        cassette = tmp_path / f"stop-{number}.yaml"  # type: ignore[operator]
        proxy = start_proxy(upstream.url, via=via, cassette=cassette)
        stop = threading.Event()
        answered: set[str] = set()
        clients = threading.Thread(target=load, args=(proxy.url, stop, answered, f"s{number}"))
        clients.start()
        deadline = time.monotonic() + 30
        while not answered and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.2, 1.5))  # a random moment of the load
        proxy.process.send_signal(signum)
        status = proxy.process.wait(timeout=60)
        stop.set()
        clients.join(120)

        output = proxy.output()
        assert status == 0, output
        assert "Traceback" not in output
        assert "in flight" in output  # the stop says how many exchanges it waited for
        loaded = load_cassette(cassette)
        assert loaded.warnings == ()
        recorded = {parse_qs(urlsplit(e.request.url).query)["rid"][0]: e for e in loaded.exchanges}
        assert len(recorded) == len(loaded.exchanges)  # none twice
        for rid, exchange in recorded.items():
            assert json.loads(exchange.response.body) == {"rid": rid}
        totals["answered"] += len(answered)
        totals["recorded"] += len(recorded)
        missing = sorted(answered - set(recorded))
        if missing:
            lost[f"stop {number} ({via}, {signal.Signals(signum).name})"] = missing
    print(f"graceful stops: {len(STOPS)}, {totals}, lost {sum(map(len, lost.values()))}")
    assert totals["answered"] > 50 * len(STOPS)  # the stops did land under load
    assert lost == {}


def stuck(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    time.sleep(6)
    return 200, {"Content-Type": "application/json"}, b"{}"


def until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Return once `condition()` holds; fail saying `what` did not happen in `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.01)


def ask(url: str, outcome: list[object]) -> None:
    """GET `url`; its status, or the error, goes into `outcome`."""
    try:
        outcome.append(httpx.get(url, trust_env=False, timeout=20).status_code)
    except httpx.HTTPError as exc:
        outcome.append(exc)


def test_a_stop_waits_no_longer_than_its_timeout_and_what_it_cuts_off_gets_no_answer(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("GET", "/stuck")] = stuck
    proxy = start_proxy(upstream.url, extra_args=("--stop-timeout", "1"))
    outcome: list[object] = []
    with httpx.Client(base_url=proxy.url, trust_env=False) as http:
        assert http.get("/books/1").status_code == 200
    client = threading.Thread(target=ask, args=(f"{proxy.url}/stuck", outcome))
    client.start()
    until(lambda: "GET /stuck" in upstream.hits, "the request is at the upstream")
    started = time.monotonic()
    proxy.process.send_signal(signal.SIGTERM)
    assert proxy.process.wait(timeout=20) == 0
    # 1 s of waiting, then the writer's drain; the default would wait 10 s. The bound sits
    # between the two, far from either, so a busy machine does not fail it.
    assert time.monotonic() - started < 7
    client.join(20)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)  # no answer
    output = proxy.output()
    assert "waiting up to 1 s for 1 exchange(s) in flight" in output
    assert "stopped with 1 of 1 exchange(s) in flight still unanswered" in output
    assert "Traceback" not in output
    assert [e.request.url for e in load_cassette(proxy.cassette).exchanges] == [
        f"{upstream.url}/books/1"
    ]


def test_a_second_signal_stops_without_waiting(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("GET", "/stuck")] = stuck
    proxy = start_proxy(upstream.url)  # waits up to 10 s by default
    outcome: list[object] = []
    client = threading.Thread(target=ask, args=(f"{proxy.url}/stuck", outcome))
    client.start()
    until(lambda: "GET /stuck" in upstream.hits, "the request is at the upstream")
    started = time.monotonic()
    proxy.process.send_signal(signal.SIGINT)
    # Two signals sent at once can arrive as one: the second goes once the first is handled.
    until(lambda: "apitape: stopping: waiting up to" in proxy.output(), "the first stops")
    proxy.process.send_signal(signal.SIGINT)
    assert proxy.process.wait(timeout=20) == 0
    assert time.monotonic() - started < 7  # not the 10 s the first signal would have waited
    client.join(20)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)
    assert "still unanswered; they were cut off" in proxy.output()
