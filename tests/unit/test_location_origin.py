"""A relative `Location` is a URL at the answering side's own origin (issue 18 item 8)."""

from __future__ import annotations

import pytest

from apitape.compare.comparer import Comparer
from apitape.config import Config
from apitape.models import Difference, Response
from apitape.replay.correlate import Correlator

RECORDED, TARGET = "http://staging:8000", "http://127.0.0.1:9000"


def answer(location: str) -> Response:
    return Response(201, "Created", (("Location", location),), b"")


@pytest.mark.parametrize(
    ("recorded", "replayed", "differs"),
    [
        (f"{RECORDED}/books/7", "/books/7", False),
        ("/books/7", f"{TARGET}/books/7", False),
        ("/books/7", "/books/7", False),
        (f"{RECORDED}/books/7", f"{TARGET}/books/7", False),
        (f"{RECORDED}/books/7", "/books/8", True),
        (f"{RECORDED}/books/7", "//elsewhere/books/7", True),
        (f"{RECORDED}/books/7", "http://elsewhere/books/7", True),
    ],
)
def test_location_compares_at_each_sides_origin(
    recorded: str, replayed: str, differs: bool
) -> None:
    found = Comparer().compare(
        "1", "POST /books", answer(recorded), answer(replayed), (RECORDED, TARGET)
    )
    assert bool(found) is differs
    if differs:  # shown as each side sent it
        assert found == [Difference("headers.location", "header_changed", recorded, replayed)]


def test_a_relative_location_stays_as_it_is_when_origins_are_not_masked() -> None:
    comparer = Comparer(Config(masks={"origin": False}))
    found = comparer.compare(
        "1", "POST /books", answer(f"{RECORDED}/books/7"), answer("/books/7"), (RECORDED, TARGET)
    )
    assert [d.kind for d in found] == ["header_changed"]


def test_the_same_path_at_another_host_is_no_carried_value() -> None:
    difference = Difference(
        "headers.location", "header_changed", f"{RECORDED}/books/7", "http://elsewhere/books/7"
    )
    assert not Correlator().explains(difference)
