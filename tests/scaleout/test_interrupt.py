"""Ctrl-C during a replay on Ray: the tasks are cancelled, the shards that finished are in
the report, and the run ends with exit 2 saying it was interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import apitape
from apitape.models import Exchange, Request, Response
from tests.json_ok_server import json_ok_server

BIN = Path(sys.executable).parent
SESSIONS, REQUESTS, DELAY = 8, 10, 0.3


@pytest.fixture
def slow_target() -> Iterator[str]:
    """Answers every GET with `{}` after DELAY seconds."""
    with json_ok_server(delay=DELAY) as url:
        yield url


def shard_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"ray::_run_shard"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_ctrl_c_cancels_the_shards_and_reports_those_that_finished(
    slow_target: str, tmp_path: Path
) -> None:
    answer = Response(200, "OK", (("Content-Type", "application/json"),), b"{}")
    exchanges = [
        Exchange(f"{s}-{n}", Request("GET", f"http://svc/{s}/{n}"), answer, client=f"10.0.0.{s}:1")
        for n in range(REQUESTS)
        for s in range(1, SESSIONS + 1)
    ]
    cassette = tmp_path / "c.jsonl"
    apitape.write_cassette(cassette, exchanges)
    report = tmp_path / "r.json"
    process = subprocess.Popen(
        [str(BIN / "apitape"), "replay", str(cassette), "--target", slow_target,
         "--workers", "2", "--shards", str(SESSIONS), "--report-json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    try:
        for line in process.stderr:  # the first shard with exchanges done: interrupt
            seen.append(line)
            if "done (" in line and not line.split("): ", 1)[1].startswith("0 exchange"):
                break
        else:
            pytest.fail("no shard finished: " + "".join(seen))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, out + err
    assert "interrupted:" in err and "shard(s) finished; the report holds those" in err
    data = json.loads(report.read_text())
    judged = len(data["interactions"])
    assert judged % REQUESTS == 0 and 0 < judged < SESSIONS * REQUESTS, (judged, err)
    assert all(i["outcome"] == "pass" for i in data["interactions"])
    deadline = time.monotonic() + 60
    while shard_pids() and time.monotonic() < deadline:  # the tasks were cancelled
        time.sleep(0.5)
    assert shard_pids() == []
