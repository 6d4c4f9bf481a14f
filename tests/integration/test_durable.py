"""`apitape record --durable`: a client's answer means its exchange is already in the cassette."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apitape.cassette import load_cassette
from tests.integration.conftest import RunningProxy, Upstream
from tests.integration.test_capture_load import children, echo_id, run_clients


def recorded_rids(cassette: Path) -> list[str]:
    """The request ids of the exchanges in the cassette, in order (a torn last one is left
    out by the loader)."""
    return [
        parse_qs(urlsplit(e.request.url).query)["rid"][0] for e in load_cassette(cassette).exchanges
    ]


@pytest.mark.parametrize("via", ["apitape", "mitmdump"])
def test_every_answer_is_in_the_cassette_when_the_client_gets_it(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], via: str
) -> None:
    upstream.routes[("GET", "/echo")] = echo_id
    durable = ("--durable",) if via == "apitape" else ("--set", "apitape_durable=true")
    proxy = start_proxy(upstream.url, via=via, extra_args=durable)
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as client:
        for number in range(12):
            rid = f"r{number}"
            assert client.get("/echo", params={"rid": rid}).json()["rid"] == rid
            # Read at once: the writer process has had no time of its own to catch up.
            assert recorded_rids(proxy.cassette)[-1:] == [rid]
    assert proxy.stop() == 0


def test_durable_answers_survive_killing_the_proxy_and_its_writer_together(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    """A power cut, as near as processes get: SIGKILL the writer process, then the proxy,
    while 64 clients are sending; every answer any client got is in the cassette."""
    upstream.routes[("GET", "/echo")] = echo_id
    proxy = start_proxy(upstream.url, extra_args=("--durable",))
    (writer,) = children(proxy.process.pid)
    stop = threading.Event()
    received: dict[str, float] = {}
    clients = threading.Thread(target=run_clients, args=(proxy.url, stop, received, None))
    clients.start()
    deadline = time.monotonic() + 120
    while len(received) < 300 and clients.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(writer, signal.SIGKILL)  # first: a writer left alive would drain the pipe
    proxy.process.send_signal(signal.SIGKILL)
    proxy.process.wait()
    stop.set()
    clients.join(120)
    answered = set(received)  # including answers that arrived after the kill signals
    assert len(answered) >= 300
    rids = recorded_rids(proxy.cassette)
    assert answered <= set(rids), sorted(answered - set(rids))[:10]
    assert len(rids) == len(set(rids))
