"""Two recorders on one cassette: the second is refused, and neither loses the other's work."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from apitape.cassette import dump_entry, load_cassette
from apitape.cassette.rotation import numbered_path
from tests.integration.conftest import BIN, REPO, RunningProxy, Upstream, run_apitape
from tests.integration.test_capture_load import children, kill_and_wait_for_writer
from tests.unit.factories import exchange


def get_books(proxy: RunningProxy, times: int) -> None:
    with httpx.Client(base_url=proxy.url, trust_env=False, timeout=30) as client:
        for _ in range(times):
            assert client.get("/books/1").status_code == 200


def second_recorder(upstream: Upstream, cassette: Path, tmp_path: Path, *extra: str) -> str:
    """Run a second `apitape record` on `cassette`: it must refuse at once, with exit
    status 2; return what it printed."""
    result = run_apitape(
        "record",
        "--upstream",
        upstream.url,
        "--port",
        "0",
        "--cassette",
        str(cassette),
        "--confdir",
        str(tmp_path / "second-conf"),
        *extra,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("rotation", [(), ("--max-exchanges", "2")], ids=["one-file", "rotating"])
def test_a_second_recorder_on_the_cassette_is_refused_and_the_first_keeps_recording(
    upstream: Upstream,
    start_proxy: Callable[..., RunningProxy],
    tmp_path: Path,
    rotation: tuple[str, ...],
) -> None:
    first = start_proxy(upstream.url, extra_args=rotation)
    get_books(first, 3)
    written = numbered_path(str(first.cassette), 2) if rotation else str(first.cassette)
    output = second_recorder(upstream, first.cassette, tmp_path, *rotation)
    assert output.splitlines() == [
        f"apitape: error: {written}: another recorder is writing this cassette (pid "
        f"{children(first.process.pid)[0]}, started by pid {first.process.pid}); stop it "
        "first, or record into another path"
    ]
    get_books(first, 2)
    assert first.stop() == 0
    files = [numbered_path(str(first.cassette), n) for n in (1, 2, 3)] if rotation else [written]
    ids = [e.id for f in files for e in load_cassette(f).exchanges]
    assert ids == (["1", "2", "1", "2", "1"] if rotation else ["1", "2", "3", "4", "5"])


def test_mitmdump_with_the_addon_refuses_a_cassette_another_recorder_writes(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    first = start_proxy(upstream.url)
    get_books(first, 1)
    second = subprocess.run(
        [
            str(BIN / "mitmdump"),
            "-s",
            str(REPO / "addons" / "record.py"),
            "--mode",
            f"reverse:{upstream.url}",
            "-p",
            "0",
            "--set",
            f"confdir={tmp_path / 'second-conf'}",
            "--set",
            f"apitape_cassette={first.cassette}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    output = second.stdout + second.stderr
    # (mitmproxy reports an error raised in a script's configure hook with its traceback)
    assert f"{first.cassette}: another recorder is writing this cassette" in output
    get_books(first, 1)
    assert first.stop() == 0
    assert len(load_cassette(first.cassette).exchanges) == 2


def test_an_empty_cassette_something_else_appended_to_survives_the_recorders_stop(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)  # creates the cassette: its header only
    assert proxy.cassette.exists()
    with open(proxy.cassette, "ab") as other:  # a writer that ignores the advisory lock
        other.write(dump_entry(exchange(exchange_id="1")).encode())
    assert proxy.stop() == 0  # SIGTERM: it recorded nothing and used to remove the file
    assert [e.id for e in load_cassette(proxy.cassette).exchanges] == ["1"]


def test_the_lock_goes_with_a_killed_recorder(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    first = start_proxy(upstream.url)
    get_books(first, 2)
    kill_and_wait_for_writer(first.process)  # SIGKILL: no close, no unlock of its own
    assert first.process.returncode == -signal.SIGKILL
    second = start_proxy(upstream.url, cassette=first.cassette)
    get_books(second, 1)
    assert second.stop() == 0
    assert [e.id for e in load_cassette(first.cassette).exchanges] == ["1", "2", "3"]
