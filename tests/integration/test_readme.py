"""The README's record and replay commands, run as a reader would copy them: recorded in front
of bookstore v1 (by `apitape record` as a reverse or a forward proxy, or by mitmdump with the
addon) and replayed against v2, they report the planted regressions and nothing else, and
warn as the README says."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from apitape.demo import DEMO_PASSWORD, bookstore, bookstore_dir
from apitape.processes import free_port, wait_for_port
from tests.integration.conftest import BIN, REPO

README = REPO / "README.md"


def readme_command(starts: str) -> list[str]:
    """The README's shell command that starts with `starts`, continuation lines joined."""
    text = README.read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            if line.startswith(starts):
                return shlex.split(line.split("#", 1)[0])
    raise AssertionError(f"no command starting {starts!r} in README.md")


def readme_text() -> str:
    return " ".join(README.read_text().split())


def run_client(v1: str, proxy: str, forward: bool) -> None:
    """The bookstore's client session: at the proxy, or at v1 through it as its HTTP proxy."""
    client = [sys.executable, str(bookstore_dir() / "client.py")]
    client += ["--base-url", v1, "--proxy", proxy] if forward else ["--base-url", proxy]
    done = subprocess.run(client, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "starts", ["apitape record --upstream", "apitape record --mode forward", "mitmdump -s"]
)
def test_the_readme_record_and_replay_commands_find_the_planted_regressions(
    tmp_path: Path, starts: str
) -> None:
    record = readme_command(starts)
    replay = readme_command("apitape replay cassettes/staging.yaml")
    port = free_port()
    (tmp_path / "cassettes").mkdir()
    env = {
        **os.environ,
        "STAGING_PASSWORD": DEMO_PASSWORD,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("APITAPE_REDACT_KEY", None)
    with bookstore(1, tmp_path / "v1.sqlite3") as v1:
        argv = [
            a.replace("http://127.0.0.1:8000", v1)
            .replace("8080", str(port))
            .replace("addons/record.py", str(REPO / "addons" / "record.py"))
            for a in record
        ]
        if argv[0] == "mitmdump":  # loopback only, and its CA out of the home directory
            argv += ["--listen-host", "127.0.0.1", "--set", f"confdir={tmp_path / 'mitm'}"]
        else:
            argv += ["--confdir", str(tmp_path / "mitm")]
        proxy = subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_for_port("127.0.0.1", port, proxy)
            run_client(v1, f"http://127.0.0.1:{port}", forward="forward" in starts)
        finally:
            proxy.send_signal(signal.SIGINT)
            output, _ = proxy.communicate(timeout=60)
    assert proxy.returncode == 0, output
    cassette = tmp_path / "cassettes" / "staging.yaml"
    assert DEMO_PASSWORD not in cassette.read_text()
    assert (tmp_path / "redaction.key").is_file()  # the key the replay command names
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        argv = [a.replace("http://127.0.0.1:9000", v2) for a in replay]
        result = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    planted = {
        ("GET /books/{id}", "$.price", "type_changed"),
        ("GET /books", "$.items[*].isbn", "field_removed"),
        ("POST /books", "status", "status_changed"),
        ("GET /books", "latency", "latency_increased"),
    }
    assert {(g["endpoint"], g["path"], g["kind"]) for g in report["groups"]} == planted
    assert report["summary"]["errors"] == 0
    # every secret it needed was given; only the client's deliberately wrong password stays one
    assert "nothing filled in" not in result.stderr
    (warned,) = re.findall(r"warns at the end that\s+`([^`]+)`", readme_text())
    assert result.stderr.count(f"apitape: warning: {warned} ") == 1
    assert "exits with status 1 and reports v2's four planted regressions" in readme_text()
