"""The benchmark scripts that drive the library's own classes (Replayer, Judge) still run
against them: a change to `Replayer.stream` once broke two of them unseen until a full
`benchmarks/run`. Tiny sizes, and no ratio is judged here (benchmarks/run does that)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.conftest import REPO

SCRIPTS = [
    ("replay_throughput.py", ["--part", "raw", "--exchanges", "200", "--rounds", "1"],
     "RESULT replay_raw_vs_aiohttp ratio="),
    ("diff_share.py", ["--exchanges", "300", "--rounds", "1"], "RESULT diff_share ratio="),
]  # fmt: skip


@pytest.mark.parametrize(("script", "args", "result"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_the_script_runs_to_its_result_line(script: str, args: list[str], result: str) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    assert line.startswith(result) and "ratio=None" not in line, line
