"""`--openapi` and `--save-responses` on Ray: the bookstore's sessions sharded four ways give
the contract section (coverage per operation, violations in the inputs' order, rejected
requests) and the saved cassette one process gives."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from apitape.cassette import load_cassette
from apitape.demo import bookstore
from apitape.models import Exchange, RunReport
from apitape.runs.workflows import replay
from apitape.scale.ray_runner import ScaleOut, replay_on_ray
from apitape.verdict.groups import CONTRACT_KINDS
from tests.scaleout.conftest import REPO, session_set
from tests.scaleout.test_scale_out import ALIKE, judged_alike

SPEC = REPO / "examples" / "bookstore" / "openapi.yaml"
VARIES = re.compile(rb"redacted-token-[0-9a-f]+|\d+")
"""What differs between two runs' answers: a login's fresh token (redacted with each run's
key), the times, and the ids of the books the sessions create (sessions on four shards at
once create theirs in another order than one process does)."""


def answers(saved: Sequence[Exchange]) -> list[tuple[str, str, str, bytes, int, bytes]]:
    """The saved exchanges as two runs against two services can agree on them."""
    return [
        (
            e.id,
            e.client or "",
            e.request.method,
            VARIES.sub(b"~", urlsplit(e.request.url).path.encode()),
            e.response.status,
            VARIES.sub(b"~", e.response.body),
        )
        for e in saved
    ]


def violations(report: RunReport) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each exchange's contract violations, in the report's order."""
    return [
        (i.id, [(d.path, d.kind) for d in i.differences if d.kind in CONTRACT_KINDS])
        for i in report.interactions
        if any(d.kind in CONTRACT_KINDS for d in i.differences)
    ]


def test_the_contract_on_ray_is_one_process_s(tmp_path: Path, local_ray: None) -> None:
    cassette = session_set(tmp_path / "sessions.jsonl")
    settings = replace(ALIKE, openapi=str(SPEC), concurrency=2)
    with bookstore(2, tmp_path / "single.sqlite3") as v2:
        single = replay([str(cassette)], v2, settings)
    with bookstore(2, tmp_path / "merged.sqlite3") as v2:
        merged = replay_on_ray([str(cassette)], v2, settings, ScaleOut(shards=4))
    assert single.contract is not None and merged.contract is not None
    coverage = single.contract.coverage
    assert sum(o.exchanges for o in coverage.operations) > 0  # the run was checked...
    assert violations(single)  # ... and v2 breaks the document somewhere
    assert merged.contract == single.contract  # the document, coverage, rejected, undocumented
    assert violations(merged) == violations(single)
    judged_alike(single, merged)


def test_saved_responses_on_ray_are_one_process_s_cassette(tmp_path: Path, local_ray: None) -> None:
    cassette = session_set(tmp_path / "sessions.jsonl")
    one, many = tmp_path / "single-answers.jsonl", tmp_path / "merged-answers.jsonl"
    # One request at a time: one process saves the answers in the order they come, which
    # is then the inputs' order, the order the shards' answers are merged in.
    with bookstore(2, tmp_path / "single.sqlite3") as v2:
        single = replay([str(cassette)], v2, replace(ALIKE, save_responses=str(one)))
    with bookstore(2, tmp_path / "merged.sqlite3") as v2:
        merged = replay_on_ray(
            [str(cassette)], v2, replace(ALIKE, save_responses=str(many)), ScaleOut(shards=4)
        )
    judged_alike(single, merged)
    saved_one, saved_many = load_cassette(one).exchanges, load_cassette(many).exchanges
    assert len(saved_one) == len(single.interactions) == 120

    assert answers(saved_many) == answers(saved_one)
    note = "120 replayed response(s) saved to "
    assert f"{note}{one}" in single.notes
    assert f"{note}{many}" in merged.notes
