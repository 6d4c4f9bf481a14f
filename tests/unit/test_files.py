"""Writing files whole: a report, noise file or cassette is all there or not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from apitape.errors import ApitapeError
from apitape.files import atomic_file, write_atomically


def test_a_file_is_written_whole_and_its_temporary_file_is_gone(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "report.json"
    write_atomically(target, ["{", '"ok": true', "}"], "the JSON report")
    assert target.read_text() == '{"ok": true}'
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.json"]


def test_a_block_that_fails_leaves_the_old_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "noise.yaml"
    target.write_text("old\n")
    with pytest.raises(RuntimeError, match="disk gone"), atomic_file(target, "x") as out:
        out.write(b"half of the new")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["noise.yaml"]


def test_a_path_under_a_file_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    # Cleaning up fails there too (the folder is a file): that must not hide why.
    (tmp_path / "shop.yaml").write_text("a cassette\n")
    target = tmp_path / "shop.yaml" / "report.json"
    with pytest.raises(ApitapeError) as raised:
        write_atomically(target, "{}", "the JSON report")
    assert str(raised.value) == (
        f"{target}: cannot write the JSON report: {tmp_path / 'shop.yaml'} is a file, "
        "not a folder; give a path in a folder"
    )
    assert (tmp_path / "shop.yaml").read_text() == "a cassette\n"
