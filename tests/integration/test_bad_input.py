"""Hostile input through the real command line: exit 2, one line naming the file, no traceback.

The inputs are the kinds a fuzzer found ending in tracebacks (exit 1, which CI reads as
"regressions found"): huge integers, deep nesting, a broken IPv6 host, lone surrogates,
control characters, infinities, and an apitape-headed YAML file without end markers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

APITAPE = [sys.executable, "-m", "apitape"]
HEADER = '{"version":1,"apitape":{"format":1}}\n'


def _entry(uri: str = "http://127.0.0.1:9/a", duration: str = "1.0", body: str = '""') -> str:
    return (
        '{"request":{"method":"GET","uri":' + json.dumps(uri) + ',"headers":{},"body":' + body
        + '},"response":{"status":{"code":200,"message":"OK"},"headers":{},"body":{"string":""}},'
        '"apitape":{"id":1,"duration_ms":' + duration + "}}\n"
    )  # fmt: skip


CASSETTES = {
    "huge-int.jsonl": HEADER + _entry(duration="9" * 5000),
    "huge-float.jsonl": HEADER + _entry(duration="9" * 400),
    "deep.jsonl": HEADER + '{"request":' + "[" * 100_000 + "]" * 100_000 + "}\n",
    "ipv6.jsonl": HEADER + _entry(uri="http://[::1/x"),
    "surrogate.jsonl": HEADER + _entry(body='"\\ud800"'),
    "control.jsonl": HEADER + _entry(uri="http://127.0.0.1:9/a\x01b"),
    "huge-int.yaml": "interactions:\n- request: {method: GET, uri: 'http://127.0.0.1:9/', "
    "body: '', headers: {}}\n  response: {status: {code: 200, message: OK}, headers: {}, "
    "body: {string: ''}}\n  apitape: {id: " + "9" * 5000 + "}\nversion: 1\n",
    "python-tag.yaml": "interactions:\n- request: {method: GET, uri: 'http://127.0.0.1:9/', "
    "body: !!python/object/apply:os.system ['true'], headers: {}}\n  response: "
    "{status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\nversion: 1\n",
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "APITAPE_DEBUG"}
    return subprocess.run(
        [*APITAPE, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], name: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("apitape: error:")]
    assert len(errors) == 1, result.stderr
    assert name in errors[0], errors[0]


@pytest.mark.parametrize("name", sorted(CASSETTES))
@pytest.mark.parametrize("command", ["convert", "export", "dry-run"])
def test_bad_cassettes_exit_2_naming_the_file(
    tmp_path: Path, name: str, command: str, closed_port: int
) -> None:
    (tmp_path / name).write_text(CASSETTES[name], encoding="utf-8", errors="surrogatepass")
    if command == "convert":
        target = "out.yaml" if name.endswith(".jsonl") else "out.jsonl"
        result = run("convert", name, target, cwd=tmp_path)
        assert not (tmp_path / target).exists()
    elif command == "export":
        result = run("export", name, "--har", "out.har", cwd=tmp_path)
        assert not (tmp_path / "out.har").exists()
    else:
        target = f"http://127.0.0.1:{closed_port}"
        result = run("replay", name, "--target", target, "--dry-run", cwd=tmp_path)
    assert_one_line_error(result, name)


HARS = {
    "huge-time.har": '{"log":{"entries":[{"time":1' + "0" * 400 + ',"request":{"method":"GET",'
    '"url":"http://x/a"},"response":{"status":200}}]}}',
    "ipv6.har": '{"log":{"entries":[{"request":{"method":"GET","url":"http://[::1/x"},'
    '"response":{"status":200}}]}}',
    "deep.har": '{"log":' + "[" * 100_000 + "]" * 100_000 + "}",
    "surrogate.har": '{"log":{"entries":[{"request":{"method":"GET","url":"http://x/\\ud800"},'
    '"response":{"status":200}}]}}',
}


@pytest.mark.parametrize("name", sorted(HARS))
def test_bad_har_files_exit_2_naming_the_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(HARS[name])
    result = run("import", name, "--cassette", "c.yaml", cwd=tmp_path)
    assert_one_line_error(result, name)
    assert not (tmp_path / "c.yaml").exists()


def test_infinite_tolerance_in_apitape_yaml(tmp_path: Path, closed_port: int) -> None:
    (tmp_path / "c.jsonl").write_text(HEADER + _entry())
    (tmp_path / "apitape.yaml").write_text("rules:\n  tolerance: .inf\n")
    target = f"http://127.0.0.1:{closed_port}"
    result = run("replay", "c.jsonl", "--target", target, "--dry-run", cwd=tmp_path)
    assert_one_line_error(result, "apitape.yaml, line 2")
    assert "rules.tolerance must be a finite number" in result.stderr


def test_deep_openapi_document(tmp_path: Path) -> None:
    (tmp_path / "c.jsonl").write_text(HEADER + _entry())
    (tmp_path / "openapi.yaml").write_text(
        "openapi: '3.1.0'\ninfo: {title: t, version: '1'}\npaths: {}\nx: "
        + "[" * 900
        + "]" * 900
        + "\n"
    )
    result = run("contract", "c.jsonl", "--openapi", "openapi.yaml", cwd=tmp_path)
    assert_one_line_error(result, "openapi.yaml")


def test_yaml_with_header_but_no_markers_converts_every_exchange(tmp_path: Path) -> None:
    entry = (
        "- request: {method: GET, uri: 'http://x/%s', body: '', headers: {}}\n"
        "  response: {status: {code: 200, message: OK}, headers: {}, body: {string: ''}}\n"
    )
    head = "# apitape cassette, format 1: vcrpy-compatible YAML, see docs/cassette-format.md\n"
    (tmp_path / "hand.yaml").write_text(
        head + "version: 1\ninteractions:\n" + entry % "a" + entry % "b"
    )
    result = run("convert", "hand.yaml", "hand.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "converted 2 exchange(s)" in result.stderr
    # A single entry without its marker cannot be told from a torn write: not exit 0 then.
    (tmp_path / "one.yaml").write_text(head + "version: 1\ninteractions:\n" + entry % "a")
    result = run("convert", "one.yaml", "one.jsonl", cwd=tmp_path)
    assert_one_line_error(result, "one.yaml, line 4")
    assert not (tmp_path / "one.jsonl").exists()


def test_unexpected_errors_exit_2_with_one_line_and_traceback_only_with_debug(
    tmp_path: Path,
) -> None:
    """The net under every command: a failure apitape did not foresee (planted here, in a
    child process, by replacing the library function `convert` calls) exits 2, not 1."""
    (tmp_path / "c.jsonl").write_text(HEADER + _entry())
    code = (
        "import sys\n"
        "from apitape.cli import main\n"
        "import apitape.cassette as cassette\n"
        "def boom(*args, **kwargs): raise RuntimeError('planted failure')\n"
        "cassette.convert_cassette = boom\n"
        "main(sys.argv[1:])\n"
    )
    for debug_args, env_debug in (([], None), (["--debug"], None), ([], "1")):
        env = {k: v for k, v in os.environ.items() if k != "APITAPE_DEBUG"}
        if env_debug:
            env["APITAPE_DEBUG"] = env_debug
        result = subprocess.run(
            [sys.executable, "-c", code, *debug_args, "convert", "c.jsonl", "c.yaml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("apitape: error: unexpected RuntimeError in apitape convert")
        assert last.endswith("planted failure; rerun with --debug for the traceback")
        assert ("Traceback" in result.stderr) == bool(debug_args or env_debug)
