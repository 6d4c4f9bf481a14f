"""docs/curation.md: each `$ apitape ...` example prints what the page shows, run in page
order in one folder (a later example may read what an earlier one wrote)."""

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


def test_the_page_has_examples_of_every_command() -> None:
    commands = {shlex.split(command)[1] for command, _ in examples()}
    assert commands == {"stats", "select", "merge"}


def test_each_example_prints_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cassettes").mkdir()
    shutil.copy(REPO / "cassettes" / "bookstore.yaml", tmp_path / "cassettes")
    monkeypatch.chdir(tmp_path)
    for command, shown in examples():
        argv = shlex.split(command)
        assert argv[0] == "apitape"
        result = CliRunner().invoke(main, argv[1:], catch_exceptions=False)
        assert (result.exit_code, result.stdout + result.stderr) == (0, shown), command
