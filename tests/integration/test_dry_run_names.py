"""`apitape replay --dry-run` names endpoints as the replay does, so skips agree."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import apitape
from apitape.cli import main
from apitape.testing import exchange, json_response


def test_a_skip_rule_on_a_learned_endpoint_keeps_back_the_same_exchanges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service makes up each post's key (words, so only the traffic says they are keys):
    # the replay names `GET /posts/{id}`, and the dry run must skip what the replay skips.
    keys = ["Qazwsx", "Edcrfv", "Tgbyhn", "Ujmikl", "Olpqaz", "Wsxedc"]
    traffic = []
    for n, key in enumerate(keys):
        made = exchange("POST", "http://s/posts", json_response({"key": key}, 201),
                        exchange_id=f"{n}a")  # fmt: skip
        read = exchange(url=f"http://s/posts/{key}", exchange_id=f"{n}b")
        traffic += [replace(e, client=f"10.0.0.{n}:1") for e in (made, read)]
    apitape.write_cassette(tmp_path / "posts.jsonl", traffic)
    (tmp_path / "apitape.yaml").write_text('endpoints:\n  "GET /posts/{id}": {skip: true}\n')
    monkeypatch.chdir(tmp_path)
    plan = apitape.plan(["posts.jsonl"])
    assert [e.id for e in plan.exchanges] == [f"{n}a" for n in range(6)]
    result = CliRunner().invoke(
        main, ["replay", "posts.jsonl", "--target", "http://127.0.0.1:9", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    shown = [line.split()[0] for line in result.output.splitlines() if line.startswith("#")]
    assert shown == [f"#{n}a" for n in range(6)]
