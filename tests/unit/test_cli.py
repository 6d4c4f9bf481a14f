"""The command line through click's runner: help texts, argument errors, exit statuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape._version import __version__
from apitape.cassette import write_cassette
from apitape.cli import main
from tests.unit.factories import exchange


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        (
            "record",
            [
                "--upstream",
                "--mode",
                "--cassette",
                "--port",
                "--upstream-ca",
                "--no-redact",
                "--sample",
                "--max-exchanges",
                "--print-ca",
                "become placeholders",
            ],
        ),
        (
            "replay",
            [
                "--target",
                "--concurrency",
                "--report-json",
                "--latency-factor",
                "--http2",
                "--openapi",
                "never followed",
            ],
        ),
        ("demo", ["--dir", "planted regressions"]),
        ("learn", ["--target", "--runs", "--output", "noise file"]),
        ("convert", ["--force", "JSON lines"]),
        ("contract", ["--openapi", "--report-json"]),
    ],
)
def test_each_command_has_help(command: str, mentions: list[str]) -> None:
    status, out, _ = invoke(command, "--help")
    assert status == 0
    for word in mentions:
        assert word in " ".join(out.split()), word


def test_version() -> None:
    assert invoke("--version")[1].strip() == f"apitape, version {__version__}"


def test_reverse_mode_needs_an_upstream(tmp_path: Path) -> None:
    status, _, err = invoke("record", "--cassette", str(tmp_path / "c.yaml"))
    assert status == 2
    assert err == "apitape: error: reverse mode needs --upstream URL (or use --mode forward)\n"


def test_forward_mode_refuses_an_upstream(tmp_path: Path) -> None:
    status, _, err = invoke(
        "record", "--mode", "forward", "--upstream", "http://h", "--cassette", "c.yaml"
    )
    assert status == 2
    assert "--upstream is for reverse mode" in err


def test_replay_of_an_empty_cassette_is_an_error(tmp_path: Path, closed_port: int) -> None:
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("version: 1\ninteractions: []\n")
    status, _, err = invoke("replay", str(cassette), "--target", f"http://127.0.0.1:{closed_port}")
    assert status == 2
    assert err == f"apitape: error: nothing to replay: {cassette} hold(s) no exchanges\n"


def test_replay_needs_a_cassette_and_a_target() -> None:
    assert invoke("replay", "--target", "http://t")[0] == 2
    assert invoke("replay", "c.yaml")[0] == 2


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--key", "k.pem"], "--key goes with a client certificate: give the certificate too"),
        (["--insecure", "--ca", "ca.pem"], "--insecure verifies no certificate: leave it out"),
        (["--secret", "no-equals"], "--secret must look like LABEL=VALUE, e.g. password="),
        (["--secret", "a=1", "--secret", "a=2"], "--secret a is given twice with different"),
        (["--header", "bad"], "--header 'bad' must look like 'Name: value'"),
        (["--secret", "a=$APITAPE_UNSET_X"], "--secret a: $APITAPE_UNSET_X is not set in the"),
    ],
)
def test_the_library_s_settings_are_worded_as_the_command_s_flags(
    tmp_path: Path, closed_port: int, options: list[str], says: str
) -> None:
    cassette = tmp_path / "c.yaml"
    write_cassette(str(cassette), [exchange()])
    target = f"https://127.0.0.1:{closed_port}"
    status, _, err = invoke("replay", str(cassette), "--target", target, "--quiet", *options)
    assert status == 2
    assert err.startswith(f"apitape: error: {says}"), err


def test_an_unwritable_confdir_is_named_by_its_flag(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    confdir = tmp_path / "a-file" / "mitm"
    status, _, err = invoke("record", "--print-ca", "--confdir", str(confdir))
    assert status == 2
    assert err.startswith(f"apitape: error: --confdir {confdir}: cannot create mitmproxy's CA")
