"""A capture cut to a minimized suite finds, against bookstore v2, every regression group the
whole capture finds (issue 20), through the real commands and a real bookstore."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import apitape
from apitape.cassette.store import iter_exchanges, load_cassette, write_cassette
from apitape.demo import bookstore
from apitape.models import Exchange
from tests.bookstore_cassette import SECRETS
from tests.integration.conftest import BIN, REPO

CASSETTE = REPO / "cassettes" / "bookstore.yaml"
# Sessions cut from the recorded client run (indices of its 17 exchanges), as in
# benchmarks/curate_select.py: the full run, browsing, paging, a failed login, a writer.
# Here the writer deletes what it created: replayed one after another, every session finds
# the catalogue as recorded (else `$.total` of GET /books changes, truly but by state).
KINDS = (tuple(range(17)), (0, 3, 5, 6), (4, 7, 8), (1,), (2, 9, 10, 11, 12, 13, 15))


def mix(path: Path, copies: int) -> int:
    recorded = load_cassette(CASSETTE)
    rows: list[Exchange] = []
    session = 0
    for _ in range(copies):
        for picks in KINDS:
            session += 1
            for step, index in enumerate(picks):
                rows.append(
                    replace(
                        recorded.exchanges[index],
                        id=str(len(rows) + 1),
                        client=f"10.0.{session // 256}.{session % 256}:40000",
                        connection=f"conn-{session}",
                        recorded_at=f"2026-12-01T10:{session // 60:02d}:{session % 60:02d}.{step:06d}Z",
                    )
                )
    write_cassette(path, rows, "2026-12-01T09:00:00.000000Z", recorded.metadata)
    return len(rows)


def groups(cassette: Path, db: Path) -> set[tuple[str, str, str]]:
    with bookstore(2, db) as url:
        # One session at a time for both: latency is judged under the same load.
        report = apitape.replay(cassette, url, settings=apitape.RunSettings(secrets=SECRETS))
    assert report.errors == 0, report.summary()
    return {(g.endpoint, g.path, g.kind) for g in report.groups or ()}


def test_the_minimized_suite_finds_every_regression_group_of_the_capture(tmp_path: Path) -> None:
    capture = tmp_path / "capture.jsonl"
    total = mix(capture, copies=4)
    suite = tmp_path / "suite.yaml"
    done = subprocess.run(
        [str(BIN / "apitape"), "select", str(capture), "--minimize", "--out", str(suite)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kept = sum(1 for _ in iter_exchanges(suite))
    assert f"kept {kept} of {total} exchange(s) (1 of 20 session(s))" in done.stderr
    assert "coverage kept: 11 of 11 signature(s)" in done.stderr

    full = groups(capture, tmp_path / "full.sqlite3")
    minimized = groups(suite, tmp_path / "minimized.sqlite3")
    assert full == {
        ("GET /books", "$.items[*].isbn", "field_removed"),
        ("GET /books", "latency", "latency_increased"),
        ("GET /books/{id}", "$.price", "type_changed"),
        ("POST /books", "status", "status_changed"),
    }
    assert full <= minimized
