"""`apitape demo` end to end, and the cassette committed under cassettes/."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest
import vcr

from apitape.cassette import load_cassette
from apitape.demo import DEMO_PASSWORD, bookstore
from tests.bookstore_cassette import COMMITTED, PASSWORD_PLACEHOLDER, SECRET_ARGS
from tests.integration.conftest import BIN, REPO, run_apitape


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    workdir = tmp_path_factory.mktemp("demo")
    yield run_apitape("demo", "--dir", str(workdir), timeout=300), workdir


def test_demo_exits_1_and_says_where_its_files_are(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, workdir = demo_run
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cassette: {workdir / 'bookstore.yaml'}" in result.stdout
    assert f"JSON report: {workdir / 'report.json'}" in result.stdout
    assert "17 exchanges: 9 passed, 8 regression(s), 0 error(s)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_finds_every_planted_regression(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, workdir = demo_run
    report = json.loads((workdir / "report.json").read_text())
    found = {
        (
            i["endpoint"],
            d["path"].split("[")[0] if d["path"].startswith("$.items") else d["path"],
            d["kind"],
        )
        for i in report["interactions"]
        for d in i["differences"]
    }
    assert ("GET /books/{id}", "$.price", "type_changed") in found
    assert ("GET /books", "$.items", "field_removed") in found
    assert ("POST /books", "status", "status_changed") in found
    assert ("GET /books", "latency", "latency_increased") in found
    slower = [row["endpoint"] for row in report["latency"] if row["slower"]]
    assert slower == ["GET /books"]
    assert report["summary"]["errors"] == 0


def test_demo_reports_the_planted_regressions_and_nothing_else(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, workdir = demo_run
    report = json.loads((workdir / "report.json").read_text())
    found = sorted(
        (i["id"], i["endpoint"], re.sub(r"\[\d+\]", "[*]", d["path"]), d["kind"])
        for i in report["interactions"]
        for d in i["differences"]
    )
    isbn = [("GET /books", "$.items[*].isbn", "field_removed")] * 10
    slower = [("GET /books", "latency", "latency_increased")]
    price = [("GET /books/{id}", "$.price", "type_changed")]
    expected = sorted(
        [(exchange_id, *f) for exchange_id in ("4", "5") for f in isbn + slower]
        + [(exchange_id, *price[0]) for exchange_id in ("6", "7", "8", "13", "15")]
        + [("12", "POST /books", "status", "status_changed")]
    )
    assert found == expected
    # What was masked is listed, with the rule that masked it.
    ignored = {(i["endpoint"], i["path"], i["rule"]) for i in report["ignored"]}
    assert ("POST /login", "$.token", "redacted") in ignored  # a secret: never shown
    assert ("POST /books", "headers.location", "origin") in ignored
    assert ("POST /books", "$.created_at", "timestamp") in ignored


def test_demo_cassette_holds_the_whole_client_session(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, workdir = demo_run
    exchanges = load_cassette(workdir / "bookstore.yaml").exchanges
    assert [(e.request.method, urlsplit(e.request.url).path, e.response.status) for e in exchanges] == [
        ("GET", "/health", 200), ("POST", "/login", 401), ("POST", "/login", 200),
        ("GET", "/books", 200), ("GET", "/books", 200),
        ("GET", "/books/1", 200), ("GET", "/books/2", 200), ("GET", "/books/3", 200), ("GET", "/books/9999", 404),
        ("POST", "/books", 401), ("POST", "/books", 422), ("POST", "/books", 201),
        ("GET", "/books/31", 200), ("PUT", "/books/31", 200), ("GET", "/books/31", 200),
        ("DELETE", "/books/31", 204), ("GET", "/books/31", 404),
    ]  # fmt: skip


def _client_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bookstore_client", REPO / "examples" / "bookstore" / "client.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vcrpy_plays_the_committed_cassette_to_the_real_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = "{0.scheme}://{0.netloc}".format(
        urlsplit(load_cassette(COMMITTED).exchanges[0].request.url)
    )
    client = _client_module()
    with vcr.use_cassette(
        str(COMMITTED), record_mode="none"
    ):  # no server runs: answers come from the file
        assert client.main(["--base-url", base]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:4] == [
        "GET /health -> 200",
        "POST /login -> 401",
        "POST /login -> 200",
        "GET /books?page=1&per_page=10 -> 200",
    ]
    assert printed[-1] == "GET /books/31 -> 404"


def test_committed_cassette_replays_cleanly_against_a_fresh_v1(tmp_path: Path) -> None:
    # The password it needs is given for its placeholder; the login it recorded is replayed,
    # and correlation carries the new token into the requests that used the recorded one.
    report = tmp_path / "r.json"
    with bookstore(1, tmp_path / "v1.sqlite3") as v1:
        result = run_apitape(
            "replay", str(COMMITTED), "--target", v1, *SECRET_ARGS, "--report-json", str(report)
        )
    assert result.returncode == 0, result.stdout
    data = json.loads(report.read_text())
    assert data["summary"]["passed"] == 17
    carried = [s for i in data["interactions"] for s in i["substitutions"]]
    assert {s["used_in"] for s in carried} == {"header authorization"}
    # only the client's deliberately wrong password went out as its placeholder
    assert "password (1x)" in result.stderr


def test_committed_cassette_holds_no_secret() -> None:
    text = COMMITTED.read_text()
    assert "eyJ" not in text  # no JWT
    assert DEMO_PASSWORD not in text  # neither alice's password nor the wrong one made from it
    header = load_cassette(COMMITTED).metadata["redaction"]
    assert header["enabled"] is True
    assert header["key"] == "random, for this recording only"  # nobody holds the key
    login = next(e for e in load_cassette(COMMITTED).exchanges if e.response.status == 200
                 and e.request.url.endswith("/login"))  # fmt: skip
    assert PASSWORD_PLACEHOLDER in login.request.body.decode()


def test_the_recording_script_records_the_committed_session(tmp_path: Path) -> None:
    cassette = tmp_path / "bookstore.yaml"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env["APITAPE_REDACT_KEY"] = "not used: the script records with a random key"
    result = subprocess.run(
        ["bash", "examples/bookstore/record_cassette.sh", str(cassette)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "apitape: 17 exchange(s) recorded into" in result.stderr

    def shape(path: Path) -> list[tuple[str, str, int]]:
        return [(e.request.method, urlsplit(e.request.url).path, e.response.status)
                for e in load_cassette(path).exchanges]  # fmt: skip

    assert shape(cassette) == shape(COMMITTED)
    recorded = load_cassette(cassette)
    assert recorded.metadata["redaction"]["key"] == "random, for this recording only"
    text = cassette.read_text()
    assert "eyJ" not in text and DEMO_PASSWORD not in text
    (placeholder,) = re.findall(r"--secret '(redacted-password-[0-9a-f]{16})=", result.stdout)
    assert placeholder in text and placeholder != PASSWORD_PLACEHOLDER  # a new key each time


def test_demo_show_noise_lists_what_was_masked(tmp_path: Path) -> None:
    result = run_apitape("demo", "--dir", str(tmp_path), "--show-noise", timeout=300)
    assert result.returncode == 1
    table = result.stdout.split("Masked or treated as noise", 1)[1]
    assert re.search(r"POST /login\s+│ \$\.token\s+│ redacted", table)
    assert re.search(r"POST /books\s+│ headers\.location\s+│ origin", table)
    assert "headers.date" not in table  # not compared, so never masked


def test_junit_report_loads_in_a_real_junit_parser(tmp_path: Path) -> None:
    from junitparser import Error, Failure, JUnitXml

    cassette = COMMITTED
    junit, per_exchange = tmp_path / "report.xml", tmp_path / "per-exchange.xml"
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        result = run_apitape(
            "replay", str(cassette), "--target", v2, *SECRET_ARGS, "--junit", str(junit)
        )
        run_apitape(
            "replay",
            str(cassette),
            "--target",
            v2,
            *SECRET_ARGS,
            "--junit",
            str(per_exchange),
            "--junit-per-exchange",
        )
    assert result.returncode == 1
    suite = next(iter(JUnitXml.fromfile(str(junit))))
    cases = {case.name: case for case in suite}
    assert set(cases) == {"GET /health", "POST /login", "GET /books", "GET /books/{id}", "POST /books",
                          "PUT /books/{id}", "DELETE /books/{id}"}  # fmt: skip
    failed = {
        name for name, case in cases.items() if any(isinstance(r, Failure) for r in case.result)
    }
    assert failed == {"GET /books", "GET /books/{id}", "POST /books"}
    price = next(r for r in cases["GET /books/{id}"].result if isinstance(r, Failure))
    assert price.message == "GET /books/{id}: $.price type changed float -> str in 5 of 7 responses"
    assert not any(isinstance(r, Error) for case in suite for r in case.result)
    assert cases["GET /books"].time > 0  # the replayed time of its exchanges
    assert len(list(next(iter(JUnitXml.fromfile(str(per_exchange)))))) == 17


def test_save_responses_then_diff_finds_what_the_replay_found(tmp_path: Path) -> None:
    saved = tmp_path / "v2-answers.yaml"
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        replayed = run_apitape("replay", str(COMMITTED), "--target", v2, *SECRET_ARGS, "--save-responses", str(saved),
                               "--report-json", str(tmp_path / "replay.json"))  # fmt: skip
    assert replayed.returncode == 1
    assert f"17 replayed response(s) saved to {saved}" in replayed.stderr
    assert len(load_cassette(saved).exchanges) == 17

    diffed = run_apitape(
        "diff", str(COMMITTED), str(saved), "--report-json", str(tmp_path / "diff.json")
    )
    assert diffed.returncode == 1
    in_replay = json.loads((tmp_path / "replay.json").read_text())
    in_diff = json.loads((tmp_path / "diff.json").read_text())
    assert [(g["endpoint"], g["path"], g["kind"]) for g in in_diff["groups"]] == [
        (g["endpoint"], g["path"], g["kind"]) for g in in_replay["groups"]
    ]
    same = run_apitape("diff", str(saved), str(saved))
    assert same.returncode == 0, same.stdout


def test_the_bookstore_readme_replays_the_committed_cassette_as_it_says(tmp_path: Path) -> None:
    text = (REPO / "examples" / "bookstore" / "README.md").read_text()
    block = next(
        b for b in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) if "apitape replay" in b
    )
    start, replay = re.sub(r"\\\n\s*", " ", block).strip().splitlines()
    assert start.startswith("python examples/bookstore/server.py --version 2 --port 8002")
    argv = shlex.split(replay)
    assert argv[:2] == ["apitape", "replay"] and PASSWORD_PLACEHOLDER in replay
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        argv = [a.replace("http://127.0.0.1:8002", v2) for a in argv]
        result = run_apitape(*argv[1:], "--report-json", str(tmp_path / "r.json"), cwd=REPO)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["regressions"] == 8 and report["summary"]["total"] == 17
    assert len(report["groups"]) == 4  # the four planted, as the demo finds them
    assert "password (1x)" in result.stderr
