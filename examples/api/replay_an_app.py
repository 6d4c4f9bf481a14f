"""Replay a cassette against an app in the same process: no server, httpx's transport seam.

Run: python examples/api/replay_an_app.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import httpx

import apitape
from apitape.testing import exchange, json_response

BOOKS = {"1": {"id": 1, "title": "Dune", "price": 9.5}}


def new_build(request: httpx.Request) -> httpx.Response:
    """The build under test: it now answers the price as a string."""
    book = dict(BOOKS[request.url.path.rsplit("/", 1)[-1]])
    book["price"] = str(book["price"])
    return httpx.Response(200, json=book)


def main() -> int:
    with tempfile.TemporaryDirectory() as work:
        cassette = Path(work) / "books.yaml"
        recorded = exchange(url="http://staging:8000/books/1", response=json_response(BOOKS["1"]))
        apitape.write_cassette(cassette, [recorded])

        report = apitape.replay(
            cassette, "http://new-build", transport=httpx.MockTransport(new_build)
        )
        print(report.summary())
        print(json.dumps([d.kind for i in report.interactions for d in i.differences]))
        return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
