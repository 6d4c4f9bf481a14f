"""One writer per cassette: a second is refused, and a writer removes only its own empty file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apitape.cassette import CassetteWriter, dump_entry, load_cassette
from apitape.cassette.rotation import RotatingCassetteWriter, numbered_path
from apitape.errors import CassetteWriteError
from tests.unit.factories import exchange

CREATED = "2026-01-01T00:00:00Z"


def test_a_second_writer_on_the_path_is_refused_naming_the_one_writing_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.yaml"
    first = CassetteWriter(path, CREATED)
    first.open()
    first.append(exchange(exchange_id=""))
    with pytest.raises(CassetteWriteError) as refused:
        CassetteWriter(path, CREATED).open()
    assert str(refused.value).startswith(f"{path}: another recorder is writing this cassette")
    assert f"(pid {os.getpid()}" in str(refused.value)  # this process holds the lock
    assert str(refused.value).endswith("stop it first, or record into another path")
    first.append(exchange(exchange_id=""))  # the first goes on as if nothing happened
    first.close()
    after = CassetteWriter(path, CREATED)  # the lock went with the first writer's close
    after.open()
    after.append(exchange(exchange_id=""))
    after.close()
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2", "3"]


def test_a_refused_writer_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    first = CassetteWriter(path, CREATED)
    first.open()  # created: the header only, and nothing recorded yet
    before = path.read_bytes()
    with pytest.raises(CassetteWriteError, match="another recorder"):
        CassetteWriter(path, CREATED).open()
    assert path.read_bytes() == before
    first.close()
    assert not path.exists()  # still only its header: removed, as before


def test_an_empty_cassette_something_else_appended_to_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    with open(path, "ab") as other:  # the advisory lock does not stop a plain append
        other.write(dump_entry(exchange(exchange_id="1")).encode())
    writer.close()  # created and wrote nothing, but the file is not just its header now
    assert [e.id for e in load_cassette(path).exchanges] == ["1"]


def test_an_empty_cassette_replaced_by_another_file_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    header = path.read_bytes()
    replacement = tmp_path / "other.yaml"
    replacement.write_bytes(header)  # the same size and bytes, another file
    replacement.replace(path)
    writer.close()
    assert path.read_bytes() == header


def test_a_rotating_writer_is_refused_while_another_writes_the_newest_file(
    tmp_path: Path,
) -> None:
    base = str(tmp_path / "traffic.yaml")
    first = RotatingCassetteWriter(base, lambda: CREATED, max_exchanges=1)
    first.open()
    for _ in range(3):
        first.append(exchange(exchange_id=""))
    assert first.current_path == numbered_path(base, 3)
    # The files it rotated out of are let go; the one it writes is not.
    done = CassetteWriter(numbered_path(base, 1), CREATED)
    done.open()
    done.close()
    second = RotatingCassetteWriter(base, lambda: CREATED, max_exchanges=1)
    with pytest.raises(CassetteWriteError, match=r"traffic-0003\.yaml: another recorder"):
        second.open()
    first.close()
    second.open()  # continues the newest file once the first has stopped
    second.append(exchange(exchange_id=""))
    second.close()
    assert second.paths == [numbered_path(base, 3), numbered_path(base, 4)]
