"""A placeholder nothing fills is warned about before the first request carrying it goes out,
not after its answer came back; a secret given as a whole placeholder counts as given."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import apitape
from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from apitape.runs.settings import RunSettings
from tests.json_ok_server import json_ok_server

TOKEN = "redacted-token-0123456789abcdef"
PASSWORD = "redacted-password-fedcba9876543210"


@pytest.fixture
def target() -> Iterator[tuple[str, list[str]]]:
    """A target that notes each request as it arrives, and answers 200 `{}`."""
    events: list[str] = []
    with json_ok_server(arrivals=events) as url:
        yield url, events


def cassette(path: Path) -> str:
    def get(i: int, where: str, headers: tuple[tuple[str, str], ...]) -> Exchange:
        request = Request("GET", f"http://staging.example{where}", headers)
        response = Response(200, "OK", (("Content-Type", "application/json"),), b"{}")
        return Exchange(str(i), request, response, client="10.0.0.1:1")

    write_cassette(
        path,
        [
            get(1, "/open", ()),
            get(2, "/me", (("Authorization", f"Bearer {TOKEN}"),)),
            get(3, "/login", (("X-Password", PASSWORD),)),
        ],
    )
    return str(path)


def test_the_warning_comes_before_the_request_that_carries_the_placeholder(
    target: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, events = target
    settings = RunSettings(notify=events.append, secrets=((PASSWORD, "hunter2"),))
    report = apitape.replay(cassette(tmp_path / "c.yaml"), url, settings=settings)
    warned = [i for i, e in enumerate(events) if e.startswith("warning: about to send")]
    assert len(warned) == 1, events
    assert events[warned[0]].startswith(
        "warning: about to send redacted placeholders nothing fills in: token."
    )
    assert events.index("received /open") < warned[0] < events.index("received /me")
    # the password was given as its whole placeholder: filled, and not warned about
    assert "password" not in events[warned[0]]
    assert report.unfilled_secrets == {"token": 1}
    assert not any("password" in w for w in report.warnings), report.warnings
