"""The docs show files and formats that work: the quickstart script runs, examples parse."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from apitape.cassette import parse_cassette
from tests.integration.conftest import BIN, REPO


def code_blocks(doc: str, language: str) -> list[str]:
    text = (REPO / "docs" / doc).read_text()
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_quickstart_doc_shows_the_script_as_it_is() -> None:
    (block,) = code_blocks("quickstart.md", "bash")
    assert block == (REPO / "examples" / "quickstart.sh").read_text()


def test_quickstart_script_records_and_replays(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "examples/quickstart.sh", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr  # v2's planted regressions
    assert "apitape replay exited with status 1" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["total"] == 17
    assert report["summary"]["errors"] == 0
    assert any(d["path"] == "$.price" for i in report["interactions"] for d in i["differences"])
    # The redacted password was filled back in: both logins answer as recorded.
    logins = [i for i in report["interactions"] if i["endpoint"] == "POST /login"]
    assert [i["outcome"] for i in logins] == ["pass", "pass"]
    assert "wonderland" not in (tmp_path / "bookstore.yaml").read_text()


def test_cassette_format_example_is_a_valid_cassette() -> None:
    (block,) = code_blocks("cassette-format.md", "yaml")
    (exchange,) = parse_cassette(block, "docs example").exchanges
    assert (exchange.id, exchange.request.method, exchange.response.status) == ("1", "POST", 201)
    assert exchange.duration_ms == 3.0


def test_report_format_example_has_the_keys_apitape_writes() -> None:
    from apitape.replay.replayer import ReplayResult, build_request
    from apitape.report.json_report import report_to_dict
    from apitape.verdict.judge import judge
    from tests.unit.factories import exchange, json_response

    recorded = exchange()
    written = report_to_dict(
        judge(
            [ReplayResult(recorded, build_request(recorded, "http://t"), json_response({}), 1.0)],
            ["c"],
            "http://t",
        )
    )
    (block,) = code_blocks("report-format.md", "json")
    documented = json.loads(block)
    assert documented.keys() == written.keys()
    assert documented["summary"].keys() == written["summary"].keys()
    assert documented["interactions"][0].keys() == written["interactions"][0].keys()
    assert documented["latency"][0].keys() == written["latency"][0].keys()


def test_the_headers_the_docs_say_are_compared_are_those_compared() -> None:
    from apitape.compare.diff import DEFAULT_COMPARED_HEADERS

    text = " ".join((REPO / "docs" / "report-format.md").read_text().split())
    listed = text.split("Headers compared by default: ", 1)[1].split(" (no other CORS", 1)[0]
    documented = [h.strip().lower() for h in re.split(r",| and ", listed)]
    assert sorted(documented) == sorted(DEFAULT_COMPARED_HEADERS)
    # the same set in configuration.md, the CORS ones by suffix
    config = " ".join((REPO / "docs" / "configuration.md").read_text().split())
    short = config.split("besides the default set (", 1)[1].split(")", 1)[0]
    named, cors = short.split(", Access-Control-Allow-")
    in_short = [h.strip().lower() for h in named.split(",")]
    in_short += [
        f"access-control-allow-{s.lower()}" for s in re.findall(r"(\w+)", cors) if s != "and"
    ]
    assert sorted(in_short) == sorted(DEFAULT_COMPARED_HEADERS)


def test_configuration_doc_shows_the_example_config_as_it_is() -> None:
    (block,) = code_blocks("configuration.md", "yaml")
    assert block == (REPO / "examples" / "apitape.yaml").read_text()


def test_replay_doc_shows_the_login_example_as_it_is() -> None:
    (block,) = code_blocks("replay.md", "yaml")
    assert block == (REPO / "examples" / "login.yaml").read_text()


def test_report_schema_rejects_a_report_that_breaks_it(tmp_path: Path) -> None:
    import jsonschema
    import pytest

    from apitape.replay.replayer import ReplayResult, build_request
    from apitape.report.json_report import report_to_dict
    from apitape.verdict.judge import judge
    from tests.integration.conftest import validate_report
    from tests.unit.factories import exchange, json_response

    recorded = exchange()
    result = ReplayResult(
        recorded, build_request(recorded, "http://t"), json_response({"x": 1}), 1.0
    )
    good = report_to_dict(judge([result], ["c"], "http://t"))
    path = tmp_path / "r.json"
    path.write_text(json.dumps(good))
    validate_report(path)  # a real report passes
    good["interactions"][0]["outcome"] = "flaky"
    path.write_text(json.dumps(good))
    with pytest.raises(jsonschema.ValidationError, match="'flaky' is not one of"):
        validate_report(path)


def test_capture_doc_redact_example_is_a_valid_config() -> None:
    from apitape.config import parse_config
    from apitape.redaction.redact import Redactor

    (block,) = code_blocks("capture.md", "yaml")
    policy = parse_config(block, "docs/capture.md").redaction
    redactor = Redactor(b"k" * 32, policy)
    assert redactor.header("X-Tenant-Key", "t-1").startswith("redacted-")
    assert redactor.is_secret_field("cvv")
    assert "ACME-123456" not in redactor.text("code ACME-123456")


def test_print_ca_prints_the_certificate_clients_must_trust(tmp_path: Path) -> None:
    (block,) = code_blocks("capture.md", "sh")
    assert "apitape record --print-ca" in block
    result = subprocess.run(
        [str(BIN / "apitape"), "record", "--print-ca", "--confdir", str(tmp_path / "mitm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == tmp_path / "mitm" / "mitmproxy-ca-cert.pem"
    assert path.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_contract_doc_example_prints_what_the_page_shows() -> None:
    (command,) = code_blocks("contract.md", "sh")
    shown = code_blocks("contract.md", "text")[0]
    argv = command.split()
    assert argv[0] == "apitape"
    result = subprocess.run(
        [str(BIN / "apitape"), *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown


def test_learn_takes_the_sending_options_the_docs_list() -> None:
    config = " ".join((REPO / "docs" / "configuration.md").read_text().split())
    sentence = config.split("`learn` sends as `apitape replay` does", 1)[1].split("(", 1)[0]
    listed = {o.split("/")[0] for o in re.findall(r"`(--[a-z0-9-]+(?:/--[a-z0-9-]+)?)`", sentence)}
    shown = subprocess.run([str(BIN / "apitape"), "learn", "--help"], capture_output=True,
                           text=True, timeout=60).stdout  # fmt: skip
    options = set(re.findall(r"^  (--[a-z0-9-]+)", shown, flags=re.MULTILINE))
    own = {"--target", "--runs", "--output", "--help"}  # learn's own, described above it
    assert listed == options - own
    replay = subprocess.run([str(BIN / "apitape"), "replay", "--help"], capture_output=True,
                            text=True, timeout=60).stdout  # fmt: skip
    assert listed <= set(re.findall(r"^  (--[a-z0-9-]+)", replay, flags=re.MULTILINE))


def test_the_login_step_on_a_full_recording_gives_what_replay_md_says(tmp_path: Path) -> None:
    from apitape.demo import DEMO_PASSWORD, bookstore
    from tests.bookstore_cassette import COMMITTED, SECRET_ARGS

    page = " ".join((REPO / "docs" / "replay.md").read_text().split())
    said = re.search(r"gives (\d+) regressions, v2's (\d+) and the recorded login's", page)
    assert said, "replay.md no longer says what the login step gives on a full recording"
    with_login_only, planted = int(said.group(1)), int(said.group(2))
    env = {**os.environ, "BOOKSTORE_PASSWORD": DEMO_PASSWORD}
    login = ["--config", str(REPO / "examples" / "login.yaml")]

    def replay(v2: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
        report = tmp_path / f"r{len(extra)}.json"
        argv = [str(BIN / "apitape"), "replay", str(COMMITTED), "--target", v2, *login, *extra]
        done = subprocess.run([*argv, "--report-json", str(report)], capture_output=True,
                              text=True, env=env, timeout=300)  # fmt: skip
        return done, json.loads(report.read_text())

    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        alone, alone_report = replay(v2)
    with bookstore(2, tmp_path / "v2-again.sqlite3") as v2:
        both, both_report = replay(v2, *SECRET_ARGS)
    assert alone_report["summary"]["regressions"] == with_login_only, alone.stdout
    login_changes = [(d["path"], d["expected"], d["actual"]) for i in alone_report["interactions"]
                     if i["endpoint"] == "POST /login" for d in i["differences"] if d["path"] == "status"]  # fmt: skip
    assert login_changes == [("status", 200, 401)]
    assert "password (" in alone.stderr
    assert both_report["summary"]["regressions"] == planted, both.stdout


def test_mitmdump_options_lists_the_apitape_options_as_the_docs_say() -> None:
    # the recording options are `--set apitape_NAME=...`, listed in capture.md's table;
    # `mitmdump -s ... --options` loads the script from mitmproxy 12 only (seen: 11.0.2 lists
    # none, 12.3.1 lists them), so no page may send a reader there for them
    import importlib.metadata

    capture = " ".join((REPO / "docs" / "capture.md").read_text().split())
    assert "lists them too from mitmproxy 12" in capture
    assert "mitmproxy 11's lists its own options only" in capture
    listed = subprocess.run(
        [str(BIN / "mitmdump"), "-s", str(REPO / "addons" / "record.py"), "--options"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    major = int(importlib.metadata.version("mitmproxy").split(".")[0])
    assert ("apitape_cassette:" in listed.stdout) == (major >= 12), major
    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "examples").rglob("*.md")]
    for page in pages:
        assert not re.search(r"--options\s*\|\s*grep", page.read_text()), page


def test_every_page_names_the_password_placeholder_the_committed_cassette_holds() -> None:
    # re-recording cassettes/bookstore.yaml makes a new one: the pages must follow it
    from tests.bookstore_cassette import PASSWORD_PLACEHOLDER

    pages = [REPO / "README.md", *(REPO / "docs").glob("*.md"), *(REPO / "examples").rglob("*")]
    named = {
        (page.name, found)
        for page in pages
        if page.is_file() and page.suffix in (".md", ".yml", ".yaml", ".sh")
        for found in re.findall(r"redacted-password-[0-9a-f]{16}", page.read_text())
    }
    assert {found for _, found in named} == {PASSWORD_PLACEHOLDER}, named
