"""Record a client session through a recording proxy, then replay it: the whole pipeline from
Python. Uses the bookstore example service of this repository (examples/bookstore).

Run: python examples/api/record_and_replay.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import apitape

BOOKSTORE = Path(__file__).resolve().parents[1] / "bookstore"


@contextmanager
def bookstore(version: int, db: Path) -> Iterator[str]:
    """The example service on a free port; yields its URL."""
    command = [sys.executable, str(BOOKSTORE / "server.py"), "--version", str(version)]
    with subprocess.Popen(
        [*command, "--port", "0", "--db", str(db)], stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None
        match = re.search(r"listening on (http://\S+)", server.stdout.readline())
        assert match, "the bookstore did not start"
        try:
            yield match.group(1)
        finally:
            server.terminate()


def main() -> int:
    with tempfile.TemporaryDirectory() as work_dir:
        work = Path(work_dir)
        cassette, key = work / "session.yaml", work / "redaction.key"
        with (
            bookstore(1, work / "v1.sqlite3") as v1,
            apitape.recording(v1, cassette, redact_key_file=key) as proxy,
        ):
            client = [sys.executable, str(BOOKSTORE / "client.py"), "--base-url", proxy]
            subprocess.run(client, check=True, capture_output=True)

        with bookstore(2, work / "v2.sqlite3") as v2:
            report = apitape.replay(
                cassette,
                v2,
                secrets={"password": "wonderland"},
                settings=apitape.RunSettings(redact_key_file=str(key)),
            )
        print(report.summary())
        return report.exit_status


if __name__ == "__main__":
    sys.exit(main())
