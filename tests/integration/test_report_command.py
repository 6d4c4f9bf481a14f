"""`apitape report`: a real replay of bookstore v2 rendered again from its JSON report gives
every format byte for byte, and --fail-on judges it as a fresh run at that level would."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bookstore_cassette import SECRET_ARGS
from tests.integration.conftest import REPO, run_apitape
from tests.integration.test_bookstore import RunningServer, start_server

CASSETTE = str(REPO / "cassettes" / "bookstore.yaml")
FORMATS = {"--report-json": "report.json", "--report-html": "report.html", "--junit": "junit.xml"}
FORMATS["--report-md"] = "summary.md"


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path, 2)
    yield server
    server.stop()


def test_report_renders_every_format_of_the_run_byte_for_byte(
    v2: RunningServer, tmp_path: Path
) -> None:
    run, again = tmp_path / "run", tmp_path / "again"
    run.mkdir(), again.mkdir()
    replayed = run_apitape(
        "replay", CASSETTE, "--target", v2.base_url, *SECRET_ARGS,
        *(a for flag, name in FORMATS.items() for a in (flag, str(run / name))),
    )  # fmt: skip
    assert replayed.returncode == 1, replayed.stderr  # the planted regressions
    assert json.loads((run / "report.json").read_text())["examples"]  # the HTML's bodies

    rendered = run_apitape(
        "report", str(run / "report.json"), "--html", str(again / "report.html"),
        "--junit", str(again / "junit.xml"), "--report-md", str(again / "summary.md"),
        "--report-json", str(again / "report.json"),
    )  # fmt: skip
    assert rendered.returncode == 1, rendered.stderr
    for name in FORMATS.values():
        assert (again / name).read_bytes() == (run / name).read_bytes(), name
    # stdout is no terminal here: the outcome and the reports lead, as in a CI log
    first, second = rendered.stdout.splitlines()[:2]
    assert first.startswith("apitape: FAILED: regressions found (exit status 1): 17 exchanges")
    assert str(again / "junit.xml") in second and str(again / "report.html") in second


@pytest.mark.parametrize("fail_on", ["breaking", "changed", "additive"])
def test_fail_on_judges_the_saved_report_as_a_fresh_run_would(
    v2: RunningServer, tmp_path: Path, fail_on: str
) -> None:
    # POST, PUT and DELETE only: a status 201 -> 200 (changed) and nothing breaking, so the
    # exit status depends on --fail-on.
    def replay(level: str, path: Path) -> int:
        # Latency off: the two runs are timed apart, and a slow moment in one is no verdict
        # on --fail-on (re-judging one run's own latency is in the round-trip test above).
        args = ("--methods", "POST,PUT,DELETE", "--fail-on", level, "--report-json", str(path),
                "--latency-factor", "0")  # fmt: skip
        result = run_apitape("replay", CASSETTE, "--target", v2.base_url, *SECRET_ARGS, *args)
        assert result.returncode in (0, 1), result.stderr
        return result.returncode

    saved, fresh = tmp_path / "additive.json", tmp_path / f"fresh-{fail_on}.json"
    replay("additive", saved)
    fresh_status = replay(fail_on, fresh)
    assert fresh_status == (0 if fail_on == "breaking" else 1)

    rejudged = tmp_path / f"rejudged-{fail_on}.json"
    result = run_apitape("report", str(saved), "--fail-on", fail_on, "--report-json", str(rejudged))
    assert result.returncode == fresh_status, result.stdout + result.stderr

    def verdicts(path: Path) -> tuple[object, ...]:
        data = json.loads(path.read_text())
        summary = {k: v for k, v in data["summary"].items() if k != "confirmations"}
        outcomes = [(i["id"], i["outcome"]) for i in data["interactions"]]
        return data["fail_on"], summary, outcomes, [g["summary"] for g in data["groups"]]

    assert verdicts(rejudged) == verdicts(fresh)


def test_a_missing_or_foreign_report_is_an_error_that_says_so(tmp_path: Path) -> None:
    missing = run_apitape("report", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert "no such file; write one with `apitape replay ... --report-json PATH`" in missing.stderr
    foreign = tmp_path / "contract.json"
    foreign.write_text(json.dumps({"violations": []}))
    result = run_apitape("report", str(foreign))
    assert (result.returncode, result.stdout) == (2, "")
    assert "not an apitape replay report" in result.stderr


def run_at_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `apitape ARGS` with stdout and stderr on a pseudo-terminal; its status and output."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "apitape"), *args],
        stdout=child, stderr=child, env=env,
    )  # fmt: skip
    os.close(child)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(main)
    return process.wait(timeout=60), output.decode("utf-8", "replace")


def test_ci_means_no_progress_bar_and_no_colour_even_at_a_terminal(
    v2: RunningServer, tmp_path: Path
) -> None:
    """CI=true wins over a terminal and FORCE_COLOR: no escape codes, the outcome first."""
    args = ["replay", CASSETTE, "--target", v2.base_url, *SECRET_ARGS]
    args += ["--junit", str(tmp_path / "j.xml")]
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    status, output = run_at_a_terminal(args, {**env, "TERM": "xterm"})
    assert status == 1
    assert "\x1b[" in output  # at a terminal outside CI: colour (and the bar while it runs)
    assert not output.startswith("apitape: FAILED")

    status, output = run_at_a_terminal(args, {**env, "CI": "true", "FORCE_COLOR": "1"})
    assert status == 1
    assert "\x1b" not in output
    lines = output.splitlines()
    # every placeholder has its secret: nothing to warn about before the outcome
    assert lines[0].startswith("apitape: FAILED: regressions found (exit status 1)")
    assert lines[1] == f"apitape: reports: JUnit XML {tmp_path / 'j.xml'}"
    # the client's deliberately wrong password went out as recorded: said at the end
    assert lines[-1].startswith("apitape: warning: placeholders not made from any secret")


def test_the_reports_are_written_even_when_the_reader_stops_early(tmp_path: Path) -> None:
    """`apitape diff ... | head -1`: head closes the pipe after one line; the JSON report is
    written before the terminal report, so it is there all the same."""
    report = tmp_path / "r.json"
    apitape = Path(sys.executable).parent / "apitape"
    command = f"'{apitape}' diff {CASSETTE} {CASSETTE} --report-json '{report}' --verbose | head -1"
    shown = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert shown.stdout.startswith("apitape: PASSED (exit status 0): 17 exchanges compared")
    assert json.loads(report.read_text())["summary"]["passed"] == 17
