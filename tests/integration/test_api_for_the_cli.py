"""What the command line needs of the public API: learn_noise writes the noise file with
what it applied, import_traffic takes the recording settings, export_har hands back warnings."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import apitape
from apitape.testing import exchange, json_response


def test_learn_noise_writes_the_file_with_what_it_applied(tmp_path: Path, monkeypatch) -> None:
    import yaml

    cassette = tmp_path / "one.yaml"
    apitape.write_cassette(cassette, [exchange(response=json_response({"id": 1, "at": 0}))])
    (tmp_path / "apitape.yaml").write_text('templates: ["/books/{book_id}"]\n')
    monkeypatch.chdir(tmp_path)
    answers = iter(range(100))
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"id": 1, "at": next(answers)})
    )
    warnings: list[str] = []
    model = apitape.learn_noise(
        cassette,
        "http://baseline",
        settings=apitape.RunSettings(transport_factory=lambda: transport),
        output=tmp_path / "noise.yaml",
        warnings=warnings,
    )
    assert "$.at" in model.endpoints["GET /books/{book_id}"].fields
    header = yaml.safe_load((tmp_path / "noise.yaml").read_text())
    (applied,) = header["inputs"]
    assert (applied["kind"], applied["path"], applied["implicit"]) == (
        "config",
        "apitape.yaml",
        True,
    )
    assert warnings == []


def test_import_traffic_takes_the_recording_settings_by_name(tmp_path: Path) -> None:
    cassette = tmp_path / "two.yaml"
    apitape.write_cassette(
        cassette,
        [
            exchange(url="http://staging:8000/books/1"),
            exchange(url="http://staging:8000/authors/1", exchange_id="2"),
        ],
    )
    har = tmp_path / "two.har"
    assert apitape.export_har(cassette, har, warnings=[]) == 2
    summary = apitape.import_traffic(har, tmp_path / "books.yaml", policy={"paths": ["/books/*"]})
    assert (summary.imported, summary.dropped) == (1, 1)
    with pytest.raises(apitape.UsageError) as caught:
        apitape.import_traffic(har, tmp_path / "x.yaml", policy={"redact": False, "host": ["x"]})
    assert caught.value.setting == "policy"
    assert "not host, redact" in caught.value.detail
