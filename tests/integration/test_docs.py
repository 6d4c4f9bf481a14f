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
    listed = text.split("Headers compared by default: ", 1)[1].split(". Headers", 1)[0]
    named, cors = listed.split(" and the Access-Control-Allow-* headers ")
    suffixes = re.findall(r"-(\w+)", cors)
    documented = [h.strip().lower() for h in named.split(",")]
    documented += [f"access-control-allow-{s.lower()}" for s in suffixes]
    assert sorted(documented) == sorted(DEFAULT_COMPARED_HEADERS)
    config = (REPO / "docs" / "configuration.md").read_text()
    assert "Vary, Access-Control-Allow-*)" in config  # the same set, named in short


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
