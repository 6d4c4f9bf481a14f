"""vcrpy plays apitape cassettes, and apitape replays cassettes vcrpy recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import vcr

from apitape.cassette import load_cassette
from tests.integration.conftest import BINARY, RunningProxy, Upstream, run_apitape
from tests.integration.test_capture import send_session


def test_vcrpy_plays_an_apitape_cassette_with_no_server(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(upstream.url)
    send_session(proxy.url)
    assert proxy.stop() == 0
    recorded_urls = [e.request.url for e in load_cassette(proxy.cassette).exchanges]
    hits_before = len(upstream.hits)

    # record_mode "none": any request not in the cassette raises, so answers come from the file
    with vcr.use_cassette(str(proxy.cassette), record_mode="none"), httpx.Client() as client:
        book = client.get(recorded_urls[0])
        books = client.get(recorded_urls[1], headers={"Accept-Encoding": "gzip"})
        cover = client.get(recorded_urls[2])
        thing = client.post(recorded_urls[3], json={"name": "lamp"})
    assert len(upstream.hits) == hits_before  # nothing reached the server
    assert book.json() == {"id": 1, "title": "Dune", "price": 9.5}
    assert len(books.json()["items"]) == 39
    assert cover.content == BINARY
    assert (thing.status_code, thing.headers["location"]) == (201, "/things/7")


def test_apitape_replays_a_cassette_vcrpy_recorded(upstream: Upstream, tmp_path: Path) -> None:
    cassette = tmp_path / "vcr.yaml"
    with vcr.use_cassette(str(cassette), record_mode="once"), httpx.Client() as client:
        client.get(f"{upstream.url}/books/1")
        client.get(f"{upstream.url}/books")  # stored gzip-compressed by vcrpy's default
        client.get(f"{upstream.url}/cover.bin")
        client.post(f"{upstream.url}/things", content=b"raw body")
    assert "apitape" not in cassette.read_text()

    report = tmp_path / "report.json"
    result = run_apitape(
        "replay", str(cassette), "--target", upstream.url, "--report-json", str(report)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    assert data["summary"] == {
        "total": 4,
        "passed": 4,
        "regressions": 0,
        "errors": 0,
        "skipped": 0,
        "confirmations": 0,
    }
    assert upstream.hits[-1] == "POST /things"


@pytest.mark.parametrize("vcr_options", [{}, {"decode_compressed_response": True}])
def test_vcrpy_cassettes_load_with_bodies_decoded(
    upstream: Upstream, tmp_path: Path, vcr_options: dict[str, bool]
) -> None:
    cassette = tmp_path / "vcr.yaml"
    with vcr.VCR(**vcr_options).use_cassette(str(cassette)), httpx.Client() as client:
        client.get(f"{upstream.url}/books")
    (exchange,) = load_cassette(cassette).exchanges
    assert len(json.loads(exchange.response.body)["items"]) == 39
