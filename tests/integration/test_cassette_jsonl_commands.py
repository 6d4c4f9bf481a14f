"""The commands that write cassettes write JSON lines when the path ends in .jsonl."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from apitape.cassette import cassette_format, load_cassette
from tests.integration.conftest import REPO, RunningProxy, Upstream, run_apitape
from tests.integration.test_capture import check_recorded_session, send_session


def json_lines(path: Path) -> list[dict[str, object]]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_record_replay_and_convert_with_json_lines(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(upstream.url, cassette=tmp_path / "recorded.jsonl")
    send_session(proxy.url)
    assert proxy.stop() == 0
    check_recorded_session(proxy.cassette, upstream)
    header, *entries = json_lines(proxy.cassette)
    assert header["version"] == 1 and len(entries) == 4

    answers = tmp_path / "answers.jsonl"
    result = run_apitape(
        "replay", str(proxy.cassette), "--target", upstream.url, "--save-responses", str(answers)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert cassette_format(answers) == "jsonl" and len(json_lines(answers)) == 5
    assert [e.response.body for e in load_cassette(answers).exchanges] == [
        e.response.body for e in load_cassette(proxy.cassette).exchanges
    ]

    # back to YAML for review: the same exchanges, and apitape replays that too
    result = run_apitape("convert", str(proxy.cassette), str(tmp_path / "recorded.yaml"))
    assert result.returncode == 0, result.stderr
    assert (
        load_cassette(tmp_path / "recorded.yaml").exchanges
        == load_cassette(proxy.cassette).exchanges
    )
    result = run_apitape("replay", str(tmp_path / "recorded.yaml"), "--target", upstream.url)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_writes_json_lines(tmp_path: Path) -> None:
    cassette = tmp_path / "imported.jsonl"
    har = REPO / "tests" / "fixtures" / "sample.har"
    result = run_apitape("import", str(har), "--cassette", str(cassette))
    assert result.returncode == 0, result.stderr
    assert cassette_format(cassette) == "jsonl"
    assert len(json_lines(cassette)) == 1 + len(load_cassette(cassette).exchanges) > 1
