"""apitape.plan: a replay read and named before anything is sent, as the replay then names it;
and its example in docs/api.md runs as shown."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import apitape
from apitape.testing import exchange
from tests.integration.conftest import REPO
from tests.integration.test_api import doc_blocks

SLUGS = ["3QiPNqZ", "8xTmLw2", "Zk4pQ9r", "m2VbX7c", "Qw8eRt5", "p0LkJh6"]


def same_build(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": 1, "title": "Dune", "price": 9.5})


def replayed(cassettes: list[Path], settings: apitape.RunSettings) -> apitape.RunReport:
    return apitape.replay(
        cassettes, "http://new", settings=settings, transport=httpx.MockTransport(same_build)
    )


def write(path: Path, paths: list[str], method: str = "GET") -> Path:
    apitape.write_cassette(
        path,
        [
            exchange(method=method, url=f"http://s{p}", exchange_id=f"{path.stem}{i}")
            for i, p in enumerate(paths, 1)
        ],
    )
    return path


def test_the_docs_show_the_example_as_it_is() -> None:
    assert (REPO / "examples" / "api" / "plan_a_replay.py").read_text() in doc_blocks("python")


def test_the_example_prints_what_the_docs_say(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "api" / "plan_a_replay.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (printed,) = [b for b in doc_blocks("text") if "-> GET /books/{id}" in b]
    assert result.stdout == printed


@pytest.mark.parametrize("skip_rule", [False, True], ids=["learned-as-read", "learned-before"])
def test_the_plan_names_endpoints_as_the_replay_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, skip_rule: bool
) -> None:
    # Short random slugs are parameters only because the traffic shows them so: learned as the
    # cassettes stream past, or, when apitape.yaml names endpoints in rules, before the run.
    monkeypatch.chdir(tmp_path)
    if skip_rule:
        (tmp_path / "apitape.yaml").write_text('endpoints:\n  "GET /health": {skip: true}\n')
    first = write(tmp_path / "a.yaml", [f"/posts/{s}" for s in SLUGS[:3]] + ["/health"])
    second = write(tmp_path / "b.jsonl", [f"/posts/{s}/likes" for s in SLUGS[3:]])
    plan = apitape.plan([first, second], "http://new")
    assert "GET /posts/{id}" in plan.endpoints
    assert [(p.cassette, p.id) for p in plan.exchanges][:2] == [
        (str(first), "a1"),
        (str(first), "a2"),
    ]
    for settings in (plan.settings, apitape.RunSettings()):  # fixed, or learned by the run
        report = replayed([first, second], settings)
        assert [i.endpoint for i in report.interactions] == [p.endpoint for p in plan.exchanges]
        assert report.skipped == plan.skipped
    assert plan.endpoints == tuple(dict.fromkeys(p.endpoint for p in plan.exchanges))
    if skip_rule:
        (skipped,) = plan.skipped
        assert (skipped.id, skipped.endpoint) == ("a4", "GET /health")
        assert [a.kind for a in plan.inputs] == ["config"]


def test_method_filters_keep_back_what_the_replay_keeps_back(tmp_path: Path) -> None:
    cassette = write(tmp_path / "c.yaml", ["/books/1"])
    deleted = write(tmp_path / "d.yaml", ["/books/2"], method="DELETE")
    plan = apitape.plan([cassette, deleted], settings=apitape.RunSettings(skip_methods=("DELETE",)))
    assert [p.method for p in plan.exchanges] == ["GET"]
    assert [(s.id, s.reason) for s in plan.skipped] == [
        ("d1", "method DELETE is among the methods skipped")
    ]


def test_a_cassette_broken_part_way_is_located_and_ends_the_reading(tmp_path: Path) -> None:
    whole = write(tmp_path / "w.jsonl", ["/books/1", "/books/2", "/books/3"])
    lines = whole.read_text().splitlines()
    (tmp_path / "broken.jsonl").write_text("\n".join([*lines[:3], "not json", *lines[3:]]) + "\n")
    after = write(tmp_path / "after.yaml", ["/never/read"])
    plan = apitape.plan([tmp_path / "broken.jsonl", after])
    assert [p.id for p in plan.exchanges] == ["w1", "w2"]
    assert plan.broken is not None and plan.broken.line == 4
    report = replayed([tmp_path / "broken.jsonl", after], plan.settings)
    assert [i.id for i in report.interactions] == ["w1", "w2"]
    assert report.input_error == str(plan.broken)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, apitape.CassetteNotFoundError),
        ("", apitape.CassetteError),
        ("broken-first", apitape.CassetteError),
    ],
)
def test_what_the_replay_cannot_start_from_raises_as_the_replay_does(
    tmp_path: Path, content: str | None, error: type[Exception]
) -> None:
    path = tmp_path / "c.jsonl"
    if content == "broken-first":
        header = write(tmp_path / "w.jsonl", ["/a"]).read_text().splitlines()[0]
        path.write_text(header + '\n{"request": \n')
    elif content is not None:
        path.write_text(content)
    with pytest.raises(error) as planned:
        apitape.plan(path)
    with pytest.raises(error) as replayed_error:
        replayed([path], apitape.RunSettings())
    assert str(planned.value) == str(replayed_error.value)


def test_a_bad_target_is_checked_only_when_given(tmp_path: Path) -> None:
    cassette = write(tmp_path / "c.yaml", ["/books/1"])
    assert apitape.plan(cassette).endpoints == ("GET /books/{id}",)
    with pytest.raises(apitape.UsageError, match="is not an http:// or https:// URL") as raised:
        apitape.plan(cassette, "localhost:8000")
    assert raised.value.setting == "target"


def test_a_protected_target_is_refused_as_the_replay_refuses_it(tmp_path: Path) -> None:
    cassette = write(tmp_path / "c.yaml", ["/books/1"])
    (tmp_path / "rules.yaml").write_text('protected_hosts: ["prod.*"]\n')
    with pytest.raises(apitape.UsageError, match="is a protected host"):
        apitape.plan(cassette, "http://prod.example", config=tmp_path / "rules.yaml")
