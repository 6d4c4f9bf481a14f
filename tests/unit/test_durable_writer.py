"""Durable writing: sync forces the cassette (and a new file's directory entry) to disk."""

from __future__ import annotations

from pathlib import Path

from apitape.cassette import CassetteWriter, load_cassette
from apitape.cassette.rotation import RotatingCassetteWriter, numbered_path
from tests.unit.factories import exchange

CREATED = "2026-01-01T00:00:00Z"


def test_sync_goes_through_every_file_of_a_durable_rotating_writer(tmp_path: Path) -> None:
    base = str(tmp_path / "new-dir" / "traffic.jsonl")
    writer = RotatingCassetteWriter(base, lambda: CREATED, max_exchanges=2, durable=True)
    writer.open()
    for _ in range(5):
        writer.append(exchange(exchange_id=""))  # rotating forces each full file first
        writer.sync()
    writer.close()
    assert writer.paths == [numbered_path(base, n) for n in (1, 2, 3)]
    assert [len(load_cassette(p).exchanges) for p in writer.paths] == [2, 2, 1]


def test_sync_of_a_closed_or_continued_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    first = CassetteWriter(path, CREATED, fsync=True)
    first.open()
    first.append(exchange(exchange_id=""))
    first.close()
    first.sync()  # closed: nothing to force
    again = CassetteWriter(path, CREATED)
    again.open()
    again.append(exchange(exchange_id=""))
    again.sync()
    again.close()
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]
