"""docs/curation.md: each `$ apitape ...` example prints what the page shows."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape.cli import main

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "curation.md"


def examples() -> list[tuple[str, str]]:
    blocks = re.findall(r"```console\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    return [(b.split("\n", 1)[0].removeprefix("$ "), b.split("\n", 1)[1]) for b in blocks]


@pytest.mark.parametrize(("command", "shown"), examples())
def test_the_example_prints_what_the_page_shows(
    command: str, shown: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cassettes").mkdir()
    shutil.copy(REPO / "cassettes" / "bookstore.yaml", tmp_path / "cassettes")
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(command)
    assert argv[0] == "apitape"
    result = CliRunner().invoke(main, argv[1:], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout + result.stderr == shown
