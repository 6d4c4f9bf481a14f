"""What `apitape record` prints: no mitmproxy deprecation warning, and --quiet prints one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx

from apitape.errors import ProcessStartError
from apitape.processes import free_port, stop, wait_for_port
from tests.integration.conftest import BIN, RunningProxy, Upstream


def record_one(proxy: RunningProxy) -> str:
    """Send one request through the proxy, stop it (SIGTERM) and return what it printed."""
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as client:
        assert client.get("/books/1").status_code == 200
    assert proxy.stop() == 0
    return proxy.output()


def test_record_prints_no_deprecation_warning(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)
    output = record_one(proxy)
    assert "deprecated" not in output.lower()
    assert f"apitape: recording into {proxy.cassette}" in output
    assert output.endswith(f"apitape: 1 exchange(s) recorded into {proxy.cassette}\n")


def start_quiet_recorder(upstream_url: str, tmp_path: Path) -> RunningProxy:
    """`apitape record --quiet` on a free port. Quiet, it does not log the port it got with
    `--port 0`, so it is given one, and another if that one was taken meanwhile."""
    cassette = tmp_path / "quiet.yaml"
    for attempt in range(3):
        port = free_port()
        log = tmp_path / f"quiet-{attempt}.log"
        command = [
            str(BIN / "apitape"),
            "record",
            "--quiet",
            "--upstream",
            upstream_url,
            "--port",
            str(port),
            "--cassette",
            str(cassette),
            "--confdir",
            str(tmp_path / "mitmproxy-conf"),
        ]
        with open(log, "w") as log_file:
            process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, text=True
            )
        proxy = RunningProxy(process, f"http://127.0.0.1:{port}", cassette, log)
        try:
            wait_for_port("127.0.0.1", port, process, timeout=60, log=log)
        except ProcessStartError:
            stop(process)
            if "pick another port" in proxy.output():
                continue
            raise
        return proxy
    raise AssertionError("three free ports were taken before the recorder could listen")


def test_record_quiet_prints_only_the_count_line(upstream: Upstream, tmp_path: Path) -> None:
    proxy = start_quiet_recorder(upstream.url, tmp_path)
    try:
        output = record_one(proxy)
    finally:
        stop(proxy.process)
    assert output == f"apitape: 1 exchange(s) recorded into {proxy.cassette}\n"


def test_mitmdump_with_the_addon_script_prints_no_deprecation_warning(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    output = record_one(start_proxy(upstream.url, via="mitmdump"))
    assert "deprecated" not in output.lower()
    assert "apitape: 1 exchange(s) recorded into" in output
