"""The pytest plugin on bad input: a broken, missing or empty cassette, a malformed
apitape.yaml, a bad or unreachable target. Each is said in one located line with what to do,
never as a pytest INTERNALERROR traceback; a cassette that breaks mid-way is handled as
`apitape replay` handles it (what came before is replayed, the break is an error)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import apitape
from apitape.demo import bookstore
from tests.bookstore_cassette import SECRET, SECRET_ARGS
from tests.integration.conftest import BIN
from tests.integration.test_api import CASSETTE, cli_outcomes


def plugin(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest --apitape ...` in `cwd`, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "apitape"), "replay", "--quiet", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def assert_said_plainly(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """No traceback, and one line that says each of `words`."""
    output = result.stdout + result.stderr
    assert "INTERNALERROR" not in output and "Traceback" not in output, output
    assert any(all(w in line for w in words) for line in output.splitlines()), output


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder holding the bookstore cassette as JSON lines, broken at line 6 (its
    fifth exchange) in broken.jsonl."""
    folder = tmp_path / "run"
    folder.mkdir()
    apitape.convert_cassette(CASSETTE, folder / "whole.jsonl")
    lines = (folder / "whole.jsonl").read_text().splitlines(keepends=True)
    (folder / "broken.jsonl").write_text("".join([*lines[:5], '{"request": \n', *lines[6:]]))
    return folder


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[str]:
    with bookstore(2, tmp_path / "v2.sqlite3") as url:
        yield url


def test_a_cassette_broken_mid_way_replays_what_came_before_and_errors(work: Path, v2: str) -> None:
    result = plugin(work, "--apitape", "broken.jsonl", "--apitape-target", v2,
                    "--apitape-secret", SECRET, "-v")  # fmt: skip
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert_said_plainly(result, "broken.jsonl, line 6", "is not JSON", "fix it or re-record")
    assert "ERROR at setup of apitape: unreadable input: broken.jsonl, line 6" in result.stdout
    assert "The 4 exchange(s) to replay before it were collected" in result.stdout
    # The CLI replays the same four exchanges and exits 2 naming the same place.
    said = cli(work, "broken.jsonl", "--target", v2, *SECRET_ARGS)
    assert said.returncode == 2
    assert "broken.jsonl, line 6: is not JSON" in said.stderr


def test_plugin_and_cli_agree_on_the_endpoints_before_a_break(tmp_path: Path, work: Path) -> None:
    with bookstore(2, tmp_path / "a.sqlite3") as v2:
        result = plugin(work, "--apitape", "broken.jsonl", "--apitape-target", v2,
                        "--apitape-secret", SECRET, "-v")  # fmt: skip
    # (test_api.run_plugin's pattern wants a path before '::': here the rootdir is the cwd)
    found = re.findall(r"^\S*::(.+?) (PASSED|FAILED)", result.stdout, re.MULTILINE)
    items = {name: outcome.lower() for name, outcome in found}
    with bookstore(2, tmp_path / "b.sqlite3") as v2:
        endpoints = cli_outcomes(work / "broken.jsonl", v2, work, *SECRET_ARGS)
    assert items == endpoints, result.stdout
    assert set(endpoints) == {"GET /health", "POST /login", "GET /books"}  # exchanges 1 to 4


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ("nope.jsonl: no such file", "check the path")),
        ("", ("nope.jsonl: is empty",)),
        ("first-line", ("nope.jsonl, line 2: is not JSON", "fix it or re-record")),
    ],
    ids=["missing", "empty", "broken-at-the-first-exchange"],
)
def test_a_cassette_nothing_can_be_replayed_from_is_a_usage_error(
    work: Path, content: str | None, words: tuple[str, ...]
) -> None:
    # `apitape replay` sends nothing for these: neither does the plugin, nor collects anything.
    if content == "first-line":
        header = (work / "whole.jsonl").read_text().splitlines()[0]
        (work / "nope.jsonl").write_text(header + '\n{"request": \n')
    elif content is not None:
        (work / "nope.jsonl").write_text(content)
    result = plugin(work, "--apitape", "nope.jsonl", "--apitape-target", "http://127.0.0.1:9")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert_said_plainly(result, "ERROR: apitape: ", *words)
    assert cli(work, "nope.jsonl", "--target", "http://127.0.0.1:9").returncode == 2


def test_a_missing_cassette_among_good_ones_stops_before_anything_is_sent(work: Path) -> None:
    result = plugin(work, "--apitape", "whole.jsonl", "--apitape", "gone.yaml",
                    "--apitape-target", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert_said_plainly(result, "gone.yaml: no such file")


@pytest.mark.parametrize("implicit", [True, False], ids=["./apitape.yaml", "--apitape-config"])
def test_a_malformed_apitape_yaml_is_a_usage_error(work: Path, implicit: bool) -> None:
    name = "apitape.yaml" if implicit else "rules.yaml"
    (work / name).write_text('templates: [\n  "/books/{book_id}"\nskip: 3\n')
    chosen = () if implicit else ("--apitape-config", name)
    result = plugin(work, "--apitape", "whole.jsonl", "--apitape-target", "http://127.0.0.1:9",
                    *chosen)  # fmt: skip
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert_said_plainly(result, f"{name}, line 3: is not valid YAML")


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--apitape-target", "localhost:8000", ("--apitape-target 'localhost:8000' is not",)),
        ("--apitape-secret", "password", ("--apitape-secret must look like LABEL=VALUE",)),
        ("--apitape-noise", "absent.yaml", ("absent.yaml: no such noise file",)),
        ("--apitape-openapi", "absent.yaml", ("absent.yaml: no such file",)),
    ],
)
def test_a_bad_option_is_a_usage_error_in_the_plugins_own_words(
    work: Path, option: str, value: str, words: tuple[str, ...]
) -> None:
    args = {"--apitape-target": "http://127.0.0.1:9", option: value}
    chosen = [part for pair in args.items() for part in pair]
    result = plugin(work, "--apitape", "whole.jsonl", *chosen)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert_said_plainly(result, "ERROR: apitape: ", *words)


def test_an_unreachable_target_fails_every_endpoint_saying_why(work: Path) -> None:
    with socket.socket() as held:  # bound, never listening: connections are refused
        held.bind(("127.0.0.1", 0))
        target = f"http://127.0.0.1:{held.getsockname()[1]}"
        result = plugin(work, "--apitape", "whole.jsonl", "--apitape-target", target,
                        "--apitape-secret", SECRET)  # fmt: skip
    assert result.returncode == pytest.ExitCode.TESTS_FAILED
    assert "7 failed" in result.stdout, result.stdout
    assert_said_plainly(result, "GET /health could not be replayed")
    assert_said_plainly(result, "#1 GET", "could not connect to", "connection refused")
    assert "answered differently" not in result.stdout
