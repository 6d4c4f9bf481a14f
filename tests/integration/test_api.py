"""The Python API as docs/api.md shows it: its examples run, and the pytest plugin and the CLI
judge every endpoint the same way (one pipeline, one endpoint namer)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import apitape
from apitape.demo import bookstore
from apitape.testing import exchange, json_response
from tests.bookstore_cassette import SECRET, SECRET_ARGS
from tests.integration.conftest import BIN, REPO

CASSETTE = REPO / "cassettes" / "bookstore.yaml"


def doc_blocks(language: str) -> list[str]:
    text = (REPO / "docs" / "api.md").read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize("example", ["replay_an_app.py", "record_and_replay.py"])
def test_the_docs_show_each_example_as_it_is(example: str) -> None:
    assert (REPO / "examples" / "api" / example).read_text() in doc_blocks("python")


def test_replaying_an_app_example_prints_what_the_docs_say(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "api" / "replay_an_app.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    (printed,) = [b for b in doc_blocks("text") if "replayed against http://new-build" in b]
    assert result.stdout == printed


def test_record_and_replay_example_finds_the_planted_regressions(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "api" / "record_and_replay.py")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    assert "17 exchange(s) replayed" in result.stdout
    assert "[breaking] GET /books/{id}: $.price type changed float -> str" in result.stdout
    assert "[changed] POST /books: status changed 201 -> 200" in result.stdout


def test_a_mock_transport_build_that_answers_as_recorded_passes(tmp_path: Path) -> None:
    cassette = tmp_path / "one.jsonl"
    recorded = exchange(url="http://staging:8000/books/1", response=json_response({"id": 1}))
    apitape.write_cassette(cassette, [recorded])
    seen: list[str] = []

    def same_build(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"id": 1})

    report = apitape.replay(cassette, "http://new", transport=httpx.MockTransport(same_build))
    assert report.ok and report.exit_status == 0, report.summary()
    assert seen == ["http://new/books/1"]


def test_implicit_config_and_noise_files_are_reported(tmp_path: Path, monkeypatch) -> None:
    cassette = tmp_path / "one.yaml"
    apitape.write_cassette(cassette, [exchange(response=json_response({"id": 1}))])
    (tmp_path / "apitape.yaml").write_text('templates: ["/books/{book_id}"]\n')
    monkeypatch.chdir(tmp_path)
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"id": 1}))
    report = apitape.replay(cassette, "http://new", transport=transport)
    (applied,) = report.inputs
    assert (applied.kind, applied.path, applied.implicit) == ("config", "apitape.yaml", True)
    assert len(applied.sha256) == 64


def run_plugin(cassette: Path, target: str, cwd: Path, *extra: str) -> dict[str, str]:
    """pytest --apitape: each endpoint's outcome (passed / failed)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-v",
            "-p",
            "no:randomly",
            "--apitape",
            str(cassette),
            "--apitape-target",
            target,
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    outcomes = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\S+::(.+?) (PASSED|FAILED)", line)
        if match:
            outcomes[match.group(1)] = match.group(2).lower()
    assert outcomes, result.stdout + result.stderr
    return outcomes


def cli_outcomes(cassette: Path, target: str, cwd: Path, *extra: str) -> dict[str, str]:
    """apitape replay: each endpoint passes unless one of its exchanges regressed or failed."""
    report_path = cwd / "report.json"
    subprocess.run(
        [
            str(BIN / "apitape"),
            "replay",
            str(cassette),
            "--target",
            target,
            "--quiet",
            "--report-json",
            str(report_path),
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    outcomes: dict[str, str] = {}
    for item in json.loads(report_path.read_text())["interactions"]:
        failed = item["outcome"] != "pass"
        outcomes[item["endpoint"]] = (
            "failed" if failed or outcomes.get(item["endpoint"]) == "failed" else "passed"
        )
    return outcomes


@pytest.mark.parametrize("templates", [False, True])
def test_plugin_and_cli_agree_on_every_endpoint(tmp_path: Path, templates: bool) -> None:
    work = tmp_path / "run"
    work.mkdir()
    if templates:  # the case the plugin once got wrong: named by the template, judged by it
        (work / "apitape.yaml").write_text('templates: ["/books/{book_id}"]\n')
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        plugin = run_plugin(CASSETTE, v2, work, "--apitape-secret", SECRET)
    with bookstore(2, tmp_path / "v2-again.sqlite3") as v2:
        cli = cli_outcomes(CASSETTE, v2, work, *SECRET_ARGS)
    assert plugin == cli
    price_endpoint = "GET /books/{book_id}" if templates else "GET /books/{id}"
    assert plugin[price_endpoint] == "failed"  # 5 of its 7 answers change $.price's type


def test_each_verdict_names_the_cassette_its_exchange_came_from(tmp_path: Path) -> None:
    # Results come back as they complete, out of input order, and a cassette whose every
    # exchange a filter drops replays nothing: neither may shift verdicts to a neighbour.
    first, dropped, last = tmp_path / "a.yaml", tmp_path / "b.jsonl", tmp_path / "c.yaml"
    apitape.write_cassette(
        first, [exchange(url=f"http://s/a/{i}", exchange_id=f"a{i}") for i in range(3)]
    )
    apitape.write_cassette(
        dropped, [exchange(method="DELETE", url="http://s/b/1", exchange_id="b1")]
    )
    apitape.write_cassette(
        last, [exchange(url=f"http://s/c/{i}", exchange_id=f"c{i}") for i in range(4)]
    )
    transport = httpx.MockTransport(lambda r: httpx.Response(200))
    settings = apitape.RunSettings(concurrency=4, skip_methods=("DELETE",), session_by="exchange")
    report = apitape.replay([first, dropped, last], "http://new", settings=settings,
                            transport=transport)  # fmt: skip
    assert sorted((i.id, Path(i.cassette).name) for i in report.interactions) == [
        *((f"a{i}", "a.yaml") for i in range(3)),
        *((f"c{i}", "c.yaml") for i in range(4)),
    ]


REASON = re.compile(r"^\[(breaking|changed|additive)\] ((.+?): .*)$", re.MULTILINE)


def plugin_verdicts(cwd: Path, *args: str) -> tuple[dict[str, str], set[str]]:
    """pytest --apitape in `cwd`: each endpoint's outcome, and the `[severity] summary` lines
    its failures give (latency left out: two replays timed apart may disagree on it)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-v",
         "--apitape", str(CASSETTE), *args],
        capture_output=True, text=True, cwd=cwd, timeout=300,
    )  # fmt: skip
    found = re.findall(r"^\S*::(.+?) (PASSED|FAILED)", result.stdout, re.MULTILINE)
    outcomes = {name: outcome.lower() for name, outcome in found}
    assert outcomes, result.stdout + result.stderr
    reasons = {f"[{m[0]}] {m[1]}" for m in REASON.findall(result.stdout) if ": latency" not in m[1]}
    return outcomes, reasons


def cli_verdicts(cwd: Path, *args: str) -> tuple[dict[str, str], set[str]]:
    """apitape replay in `cwd`: the same two things, from its JSON report."""
    outcomes = cli_outcomes(CASSETTE, args[args.index("--target") + 1], cwd, *args)
    groups = json.loads((cwd / "report.json").read_text())["groups"]
    reasons = {
        f"[{g['severity']}] {g['summary']}"
        for g in groups
        if outcomes.get(g["endpoint"]) == "failed" and g["kind"] != "latency_increased"
    }
    return outcomes, reasons


def test_plugin_and_cli_agree_with_templates_skips_noise_and_an_openapi_document(
    tmp_path: Path,
) -> None:
    # All four inputs at once, each changing what is reported, so a face that left out any
    # one of them would disagree: apitape.yaml's template names /books/N (the OpenAPI
    # document's paths name endpoints first, so its copy here leaves /books/{bookId} out),
    # its skip rule drops GET /health, the noise file makes $.price's type change expected
    # on GET /books/{book_id}, and the document's contract findings are among the reasons.
    import yaml

    work = tmp_path / "run"
    work.mkdir()
    (work / "apitape.yaml").write_text(
        'templates: ["/books/{book_id}"]\nendpoints:\n  "GET /health": {skip: true}\n'
    )
    (work / "noise.yaml").write_text(
        'version: 1\nendpoints:\n  "GET /books/{book_id}":\n    runs_compared: 2\n'
        "    recording_compared: 2\n    fields:\n"
        '      "$.price": {between_runs: 2, from_recording: 2}\n'
    )
    document = yaml.safe_load((REPO / "examples" / "bookstore" / "openapi.yaml").read_text())
    del document["paths"]["/books/{bookId}"]
    (work / "openapi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        plugin = plugin_verdicts(
            work, "--apitape-target", v2, "--apitape-secret", SECRET,
            "--apitape-noise", "noise.yaml", "--apitape-openapi", "openapi.yaml",
        )  # fmt: skip
    with bookstore(2, tmp_path / "v2-again.sqlite3") as v2:
        cli = cli_verdicts(
            work, "--target", v2, *SECRET_ARGS, "--noise", "noise.yaml", "--openapi", "openapi.yaml"
        )
    assert plugin == cli
    outcomes, reasons = plugin
    assert outcomes == {
        "POST /login": "passed",
        "GET /books": "failed",  # $.items[*].isbn removed
        "GET /books/{book_id}": "passed",  # its $.price change is learned noise
        "POST /books": "failed",  # 201 -> 200 once
        "PUT /books/{book_id}": "passed",
        "DELETE /books/{book_id}": "passed",
    }
    assert {r for r in reasons if " contract " in r} == {
        "[breaking] GET /books: $.items[*].isbn contract body (required, missing) in 2 of 2 responses",
        "[breaking] POST /books: status contract status (200 not documented) in 1 of 3 responses",
    }
