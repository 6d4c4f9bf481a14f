"""`apitape.replay` against a real upstream and `apitape.diff` of the recording and the
replay's `--save-responses` cassette give the same verdict on the same pair of answers
(issue 18 item 8): a relative or absolute `Location` at each side's own origin is the same
place; a `Location` at another host is a change, in both."""

from __future__ import annotations

from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import apitape
from apitape.cassette import load_cassette
from apitape.cassette.store import write_cassette
from apitape.models import Exchange, Request, Response, RunReport
from apitape.runs.settings import RunSettings
from tests.integration.conftest import Upstream

JSON = (("Content-Type", "application/json"),)
RECORDED = "http://staging:8000"


def created_at(location: Callable[[str], str], upstream: Upstream) -> None:
    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        headers = {"Content-Type": "application/json", "Location": location(upstream.url)}
        return 201, headers, b'{"id": 7, "title": "Dune"}'

    upstream.routes[("POST", "/books")] = answer


def recording(path: Path) -> Path:
    write_cassette(
        path,
        [
            Exchange(
                "1",
                Request("POST", f"{RECORDED}/books", JSON, b'{"title": "Dune"}'),
                Response(
                    201,
                    "Created",
                    (*JSON, ("Location", f"{RECORDED}/books/7")),
                    b'{"id": 7, "title": "Dune"}',
                ),
            )
        ],
    )
    return path


def verdicts(report: RunReport) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    return [
        (i.id, i.outcome.value, tuple((d.path, d.kind) for d in i.differences))
        for i in report.interactions
    ]


@pytest.mark.parametrize(
    ("location", "changed"),
    [
        (lambda target: "/books/7", False),  # relative: at the target's own origin
        (lambda target: f"{target}/books/7", False),  # absolute, the target's own origin
        (lambda target: "http://elsewhere.example:9/books/7", True),  # another host
        (lambda target: "/books/8", True),  # another resource
    ],
    ids=["relative", "absolute", "other-host", "other-path"],
)
def test_replay_and_diff_give_the_same_verdict_on_location(
    upstream: Upstream, tmp_path: Path, location: Callable[[str], str], changed: bool
) -> None:
    created_at(location, upstream)
    recorded = recording(tmp_path / "recorded.yaml")
    saved = tmp_path / "answers.yaml"

    replayed = apitape.replay(
        [recorded], upstream.url, settings=RunSettings(save_responses=str(saved))
    )
    assert load_cassette(saved).exchanges[0].response.status == 201
    diffed = apitape.diff(recorded, saved)

    assert verdicts(replayed) == verdicts(diffed)
    expected = (("headers.location", "header_changed"),) if changed else ()
    assert verdicts(replayed) == [("1", "regression" if changed else "pass", expected)]
