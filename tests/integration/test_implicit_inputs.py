"""Every command that picks up ./apitape.yaml or ./apitape-noise.yaml says so on stderr, in one
line worded the same everywhere, as it starts using the file: before any error, any report."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from apitape.cassette import write_cassette
from tests.integration.conftest import run_apitape
from tests.unit.factories import exchange

CONFIG = "apitape: applying rules from apitape.yaml (apitape.yaml found in the working directory)"
NOISE = (
    "apitape: applying learned noise from apitape-noise.yaml "
    "(apitape-noise.yaml found in the working directory)"
)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with an apitape.yaml and a one-exchange cassette."""
    (tmp_path / "apitape.yaml").write_text('templates: ["/books/{book_id}"]\n')
    write_cassette(str(tmp_path / "c.yaml"), [exchange()])
    return tmp_path


def said_first(stderr: str, line: str) -> None:
    """`line` is on stderr once, before anything else apitape says there."""
    lines = stderr.splitlines()
    assert lines.count(line) == 1, stderr
    assert lines[0] == line, stderr


def test_replay_says_so_before_it_fails(work: Path, closed_port: int) -> None:
    (work / "empty.yaml").write_text("version: 1\ninteractions: []\n")
    target = f"http://127.0.0.1:{closed_port}"
    result = run_apitape("replay", "empty.yaml", "--target", target, "--quiet", cwd=work)
    assert result.returncode == 2
    said_first(result.stderr, CONFIG)
    assert "nothing to replay" in result.stderr  # no report was rendered


def test_replay_names_both_files_and_the_report_lists_them(work: Path, closed_port: int) -> None:
    (work / "apitape-noise.yaml").write_text("version: 1\nendpoints: {}\n")
    target = f"http://127.0.0.1:{closed_port}"
    result = run_apitape(
        "replay", "c.yaml", "--target", target, "--report-json", "r.json", "--quiet", cwd=work
    )
    assert result.returncode == 2  # unreachable
    lines = result.stderr.splitlines()
    assert lines[:2] == [CONFIG, NOISE], result.stderr
    assert result.stderr.count("applying") == 2
    inputs = json.loads((work / "r.json").read_text())["inputs"]
    assert [(i["kind"], i["path"], i["implicit"]) for i in inputs] == [
        ("config", "apitape.yaml", True),
        ("noise", "apitape-noise.yaml", True),
    ]
    again = run_apitape("report", "r.json", cwd=work)  # a saved run: what it applied
    assert again.stderr.splitlines()[:2] == [CONFIG, NOISE], again.stderr


def test_a_config_that_names_endpoints_is_announced_once(work: Path, closed_port: int) -> None:
    # Rules for endpoints by name: the replay loads its rules twice (learning names first).
    (work / "apitape.yaml").write_text('endpoints:\n  "GET /books/{id}":\n    mask: ["$.x"]\n')
    target = f"http://127.0.0.1:{closed_port}"
    result = run_apitape("replay", "c.yaml", "--target", target, "--quiet", cwd=work)
    said_first(result.stderr, CONFIG)


def test_dry_run_says_so(work: Path) -> None:
    result = run_apitape("replay", "c.yaml", "--target", "http://new:9000", "--dry-run", cwd=work)
    assert result.returncode == 0, result.stderr
    said_first(result.stderr, CONFIG)


def test_three_way_mode_says_so(work: Path, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    result = run_apitape(
        "replay", "c.yaml", "--baseline", url, "--candidate", url, "--quiet", cwd=work
    )
    assert result.returncode == 2
    said_first(result.stderr, CONFIG)


def test_diff_says_so(work: Path) -> None:
    result = run_apitape("diff", "c.yaml", "c.yaml", cwd=work)
    assert result.returncode == 0, result.stderr
    said_first(result.stderr, CONFIG)


def test_learn_says_so_and_its_noise_file_records_it(work: Path, closed_port: int) -> None:
    target = f"http://127.0.0.1:{closed_port}"
    result = run_apitape("learn", "c.yaml", "--target", target, "--quiet", cwd=work)
    assert result.returncode == 2  # the baseline answered nothing: said after the file
    said_first(result.stderr, CONFIG)
    assert "answered none of the requests" in result.stderr


def test_import_says_so(work: Path) -> None:
    exported = run_apitape("export", "c.yaml", "--har", "c.har", cwd=work)
    assert exported.returncode == 0, exported.stderr
    result = run_apitape("import", "c.har", "--cassette", "back.yaml", cwd=work)
    assert result.returncode == 0, result.stderr
    said_first(result.stderr, CONFIG)


def test_record_says_so_before_the_proxy_starts(work: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_apitape(
            "record",
            "--upstream",
            "http://127.0.0.1:9",
            "--port",
            str(port),
            "--cassette",
            "new.yaml",
            "--confdir",
            str(work / "conf"),
            cwd=work,
        )
    assert result.returncode == 2  # the port is taken: the file was said before that
    assert result.stderr.splitlines().count(CONFIG) == 1, result.stderr
    assert result.stderr.index(CONFIG) < result.stderr.index("apitape: error:")


def test_stats_says_so(work: Path) -> None:
    result = run_apitape("stats", "c.yaml", cwd=work)
    assert result.returncode == 0, result.stderr
    said_first(result.stderr, CONFIG)


def test_a_named_config_is_said_without_the_implicit_note(work: Path) -> None:
    (work / "rules.yaml").write_text("{}\n")
    (work / "apitape.yaml").unlink()
    result = run_apitape("diff", "c.yaml", "c.yaml", "--config", "rules.yaml", cwd=work)
    said_first(result.stderr, "apitape: applying rules from rules.yaml")
