"""The cassette format is a value chosen once per file: each format reads what it writes, knows
its own header, and still compares equal to its name for code that tests `== "jsonl"`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitape.cassette import (
    JSON_LINES,
    YAML,
    CassetteFormat,
    CassetteWriter,
    cassette_format,
    exchange_from_dict,
    load_cassette,
    write_cassette,
)
from apitape.cassette.formats import format_of_first_line
from apitape.cassette.store import HEADER_COMMENT
from apitape.curate.sources import read_header
from apitape.models import Response
from tests.unit.factories import exchange

CREATED = "2026-01-01T00:00:00.000000Z"
FORMATS = [pytest.param(YAML, id="yaml"), pytest.param(JSON_LINES, id="jsonl")]


@pytest.mark.parametrize(
    ("name", "expected", "named"),
    [
        ("c.jsonl", JSON_LINES, "jsonl"),
        ("C.JSONL", JSON_LINES, "jsonl"),
        ("c.yaml", YAML, "yaml"),
        ("c.yml", YAML, "yaml"),
        ("c", YAML, "yaml"),  # a new file with no known extension is written as YAML
        ("c.txt", YAML, "yaml"),
    ],
)
def test_a_new_path_gets_its_format_by_extension(
    tmp_path: Path, name: str, expected: CassetteFormat, named: str
) -> None:
    found = cassette_format(tmp_path / name)
    assert found is expected
    # still the name it always was, for callers that compare, print or store it
    assert found == named and f"{found}" == named and isinstance(found, str)


def test_an_unknown_extension_is_recognised_by_its_first_line(tmp_path: Path) -> None:
    write_cassette(tmp_path / "c.jsonl", [exchange()], CREATED)
    write_cassette(tmp_path / "c.yaml", [exchange()], CREATED)
    (tmp_path / "j.log").write_bytes((tmp_path / "c.jsonl").read_bytes())
    (tmp_path / "y.log").write_bytes((tmp_path / "c.yaml").read_bytes())
    assert cassette_format(tmp_path / "j.log") is JSON_LINES
    assert cassette_format(tmp_path / "y.log") is YAML
    assert format_of_first_line('{"version": 1, "apitape": {}}\n') is JSON_LINES
    assert format_of_first_line('{"interactions": []}\n') is YAML  # vcrpy's JSON is YAML too


@pytest.mark.parametrize("kind", FORMATS)
def test_each_format_reads_back_what_it_writes(kind: CassetteFormat) -> None:
    binary = Response(200, "OK", (("Content-Type", "image/png"),), b"\x89PNG\x00\xff")
    written = [exchange(exchange_id="1"), exchange(exchange_id="2", response=binary)]
    data = kind.header_bytes(CREATED, {"recorder_host": "ci"})
    data += b"".join(kind.entry_bytes(e) for e in written)
    text = data.decode("utf-8")

    def whole() -> str:
        return text

    warnings: list[str] = []
    reader = kind.reader("mem", io.StringIO(text, newline="\n"), whole, warnings)
    read = [exchange_from_dict(entry, i) for i, (entry, _) in enumerate(reader.entries())]

    assert read == written and warnings == []
    assert reader.metadata["created_at"] == CREATED and reader.metadata["recorder_host"] == "ci"
    assert kind.written_by_apitape(text[: len(HEADER_COMMENT)], reader.metadata)


@pytest.mark.parametrize("kind", FORMATS)
def test_a_format_does_not_take_a_foreign_file_for_its_own(kind: CassetteFormat) -> None:
    # a vcrpy cassette: no apitape comment line, no apitape header
    assert not kind.written_by_apitape("interactions:\n- request:", {})


@pytest.mark.parametrize("kind", FORMATS)
def test_the_header_is_read_without_reading_the_exchanges(kind: CassetteFormat) -> None:
    text = (kind.header_bytes(CREATED, None) + kind.entry_bytes(exchange())).decode()
    header_lines = kind.header_bytes(CREATED, None).decode().count("\n")

    def lines() -> Iterator[str]:
        for number, line in enumerate(io.StringIO(text, newline="\n"), 1):
            # YAML reads the `interactions:` line, the header's last; no further
            assert number <= header_lines, "read past the header"
            yield line

    head = kind.header_part(lines())
    assert head is not None and "interactions" not in head.replace("interactions: []", "")
    assert head.endswith("\n")


def test_a_yaml_file_without_apitape_header_has_no_header_part() -> None:
    vcrpy = "interactions:\n- request: {method: GET, uri: 'http://h/'}\nversion: 1\n"
    assert YAML.header_part(io.StringIO(vcrpy)) is None


@pytest.mark.parametrize(("name", "kind"), [("c.yaml", YAML), ("c.jsonl", JSON_LINES)])
def test_writer_continuing_and_curation_header_agree_on_the_format(
    tmp_path: Path, name: str, kind: CassetteFormat
) -> None:
    path = tmp_path / name
    for _ in range(2):  # the second writer continues the file the first made
        writer = CassetteWriter(path, CREATED, {"recorder_host": "ci"})
        writer.open()
        writer.append(exchange(exchange_id=""))
        writer.close()
    assert path.read_bytes().startswith(kind.header_bytes(CREATED, {"recorder_host": "ci"}))
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]
    assert read_header(path)["recorder_host"] == "ci"
