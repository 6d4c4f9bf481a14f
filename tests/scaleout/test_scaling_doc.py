"""docs/scaling.md followed as written: its local-run block and its shard-once block run as
they stand, in a fresh directory holding the cassettes they name, against a real bookstore.
Only the target's address is changed (the doc's is an example), and each replay also writes
a JSON report to compare. Each gives the verdicts `apitape replay` gives in one process.

The `ray start` block is the cluster test in test_scale_out.py (a head and a worker node on
loopback, shards in moto's S3 server), which needs loopback addresses and free ports the doc
cannot name; the KubeRay manifest is checked in tests/unit/test_shard.py.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import apitape
from apitape.cassette import load_cassette
from apitape.demo import bookstore
from tests.scaleout.conftest import REPO, session_set

BIN = Path(sys.executable).parent
DOC = REPO / "docs" / "scaling.md"
DOC_TARGET = "http://127.0.0.1:9000"


def sh_blocks() -> list[list[str]]:
    """The commands of each ```sh block of the doc, comments dropped."""
    text = DOC.read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [
        [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    ]


def block_with(needle: str) -> list[str]:
    """The one block of the doc with a command holding `needle`."""
    (block,) = [b for b in sh_blocks() if any(needle in command for command in b)]
    return block


def run(command: str, cwd: Path, target: str, report: Path | None = None) -> int:
    argv = shlex.split(command.replace(DOC_TARGET, target))
    assert argv[0] == "apitape", command
    argv[0] = str(BIN / "apitape")
    if report is not None:
        argv += ["--report-json", str(report)]
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode


def verdicts(report: Path) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Each exchange's outcome and differences by id, latency left out: two replays timed
    apart may disagree on it, which says nothing about the merge."""
    data: dict[str, Any] = json.loads(report.read_text())
    return sorted(
        (
            i["id"],
            i["outcome"] if i["outcome"] != "regression" or _beyond_latency(i) else "pass",
            [(d["path"], d["kind"]) for d in i["differences"] if d["kind"] != "latency_increased"],
        )
        for i in data["interactions"]
    )


def _beyond_latency(interaction: dict[str, Any]) -> bool:
    return any(d["kind"] != "latency_increased" for d in interaction["differences"])


def one_process(cassettes: list[Path], tmp_path: Path, name: str) -> list[Any]:
    report = tmp_path / f"{name}.json"
    with bookstore(2, tmp_path / f"{name}.sqlite3") as v2:
        paths = " ".join(str(c) for c in cassettes)
        run(f"apitape replay {paths} --target {v2}", tmp_path, v2, report)
    return verdicts(report)


def test_the_local_run_block_runs_as_written(tmp_path: Path) -> None:
    (command,) = block_with("apitape replay cassettes/staging.jsonl")
    assert command.startswith("apitape replay cassettes/staging.jsonl"), command
    (tmp_path / "cassettes").mkdir()
    session_set(tmp_path / "cassettes" / "staging.jsonl")
    report = tmp_path / "doc.json"
    with bookstore(2, tmp_path / "doc.sqlite3") as v2:
        run(command, tmp_path, v2, report)
    assert "replayed on Ray" in " ".join(json.loads(report.read_text())["notes"])
    single = one_process([tmp_path / "cassettes" / "staging.jsonl"], tmp_path, "single")
    assert verdicts(report) == single
    assert len(single) == len(load_cassette(tmp_path / "cassettes" / "staging.jsonl").exchanges)


def test_the_shard_once_block_runs_as_written(tmp_path: Path) -> None:
    """Two recording proxies' cassettes, each client's session whole in one of them (client
    affinity), sharded together and replayed from the shard directory."""
    shard, replay = block_with("apitape shard proxy-1.jsonl")
    assert replay.startswith("apitape replay shards/"), replay
    everything = load_cassette(session_set(tmp_path / "all.jsonl")).exchanges
    clients = sorted({e.client for e in everything})
    proxies = [tmp_path / "proxy-1.jsonl", tmp_path / "proxy-2.jsonl"]
    for number, proxy in enumerate(proxies):
        mine = set(clients[number::2])
        apitape.write_cassette(proxy, [e for e in everything if e.client in mine])
    run(shard, tmp_path, DOC_TARGET)
    manifest = json.loads((tmp_path / "shards" / "manifest.json").read_text())
    assert len(manifest["shards"]) == 16 and manifest["session_by"] == "client"
    report = tmp_path / "doc.json"
    with bookstore(2, tmp_path / "doc.sqlite3") as v2:
        run(replay, tmp_path, v2, report)
    assert verdicts(report) == one_process(proxies, tmp_path, "single")
