"""`apitape demo`: the whole pipeline on the bundled bookstore, with nothing to configure.

Starts bookstore v1, records a real client session through `apitape record`, starts v2 (which
carries planted regressions), replays the cassette against it and reports. Every process it
starts is stopped before it returns.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import apitape
from apitape.errors import DemoError
from apitape.processes import stop
from apitape.report.json_report import write_json_report
from apitape.report.terminal import TerminalReport
from apitape.runs.inputs import describe_applied

DEMO_PASSWORD = "wonderland"  # the example client's default user, alice, seeded by the server
_LISTENING = re.compile(r"listening on (http://\S+)")


def bookstore_dir() -> Path:
    """Where the example service lives: packaged with apitape, or in the source checkout."""
    package = Path(__file__).resolve().parents[1]  # src/apitape, or site-packages/apitape
    packaged = package / "_examples" / "bookstore"
    if packaged.is_dir():
        return packaged
    checkout = package.parents[1] / "examples" / "bookstore"
    if checkout.is_dir():
        return checkout
    raise DemoError(
        "the bundled bookstore example is missing from this installation; reinstall apitape"
    )


@contextlib.contextmanager
def bookstore(version: int, db: Path, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """Run bookstore `version` on a free port with its database at `db`; yield its base URL.

    Its stderr goes to a log file beside the database, where a failed start can be read.
    """
    server = bookstore_dir() / "server.py"
    command = [
        sys.executable,
        str(server),
        "--version",
        str(version),
        "--port",
        "0",
        "--db",
        str(db),
        *extra_args,
    ]
    log_path = db.with_suffix(".log")
    with (
        open(log_path, "w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True) as process,
    ):
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = _LISTENING.search(line)
            if not match:
                stop(process)
                detail = (line + log_path.read_text()).strip() or "no output"
                raise DemoError(f"bookstore v{version} did not start: {detail}")
            yield match.group(1)
        finally:
            stop(process)


def run_demo(
    workdir: str | None = None, stdout: TextIO | None = None, show_noise: bool = False
) -> int:
    """Run the demo; return the replay's exit status (1: the planted regressions were found)."""
    out = stdout or sys.stdout
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="apitape-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    cassette = work / "bookstore.yaml"
    report_json = work / "report.json"
    key_file = work / "redaction.key"
    for stale in (cassette, *work.glob("bookstore-v*.sqlite3")):
        stale.unlink(missing_ok=True)  # the demo starts afresh each time

    def say(message: str) -> None:
        print(f"==> {message}", file=out, flush=True)

    with bookstore(1, work / "bookstore-v1.sqlite3") as v1:
        say(f"bookstore v1 is running at {v1}")
        # Secrets are redacted with the key in `key_file`, so the replay can fill the password
        # back in exactly where it was used (and leave the deliberately wrong one wrong).
        with apitape.recording(
            v1, cassette, redact_key_file=key_file, log=work / "record.log"
        ) as proxy:
            say(f"recording through `apitape record` at {proxy} into {cassette}")
            drive_client(proxy, out)
    say("recording stopped")
    with bookstore(2, work / "bookstore-v2.sqlite3") as v2:
        say(f"bookstore v2 is running at {v2}; replaying the cassette against it")
        print(file=out, flush=True)
        report = apitape.replay(
            cassette,
            v2,
            secrets={"password": DEMO_PASSWORD},
            settings=apitape.RunSettings(redact_key_file=str(key_file)),
        )
    for applied in report.inputs:
        print(f"apitape: {describe_applied(applied)}", file=out)
    # the demo is small: every exchange and what it carried
    TerminalReport(out).render(report, show_noise=show_noise, verbose=True)
    write_json_report(report, report_json)
    for warning in report.warnings:
        print(f"apitape: warning: {warning}", file=out)
    status = report.exit_status
    print(file=out)
    say(f"cassette: {cassette}")
    say(f"JSON report: {report_json}")
    meaning = {
        0: "no regression",
        1: "regressions found: a CI gate on this replay fails",
        2: "errors",
    }
    say(f"exit status {status}: {meaning[status]}")
    return status


def drive_client(base_url: str, out: TextIO) -> None:
    """Run the bookstore's scripted client session against `base_url`, echoing what it prints."""
    client = bookstore_dir() / "client.py"
    result = subprocess.run(
        [sys.executable, str(client), "--base-url", base_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in result.stdout.splitlines():
        print(f"    client: {line}", file=out)
    if result.returncode != 0:
        raise DemoError(
            f"the bookstore client failed (status {result.returncode}): {result.stderr.strip()}"
        )
