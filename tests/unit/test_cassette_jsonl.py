"""JSON-lines cassettes: same exchanges as YAML, one line each, torn tails, errors with lines."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apitape.cassette import (
    CassetteWriter,
    cassette_format,
    iter_exchanges,
    load_cassette,
    parse_cassette,
    write_cassette,
)
from apitape.cassette.rotation import RotatingCassetteWriter
from apitape.errors import CassetteError, CassetteWriteError
from apitape.models import Response
from tests.unit.factories import exchange
from tests.unit.test_cassette import CREATED, golden_exchanges
from tests.unit.test_cassette_stream import BODIES, varied_exchanges


def test_golden_exchanges_round_trip_through_json_lines(tmp_path: Path) -> None:
    jsonl, yaml_path = tmp_path / "c.jsonl", tmp_path / "c.yaml"
    for path in (jsonl, yaml_path):
        write_cassette(path, golden_exchanges(), CREATED, {"redaction": {"enabled": False}})
    loaded, from_yaml = load_cassette(jsonl), load_cassette(yaml_path)
    assert list(loaded.exchanges) == golden_exchanges() == list(from_yaml.exchanges)
    assert loaded.metadata == from_yaml.metadata
    assert loaded.warnings == ()


def test_one_header_line_then_one_line_per_exchange_in_the_yaml_shape(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cassette(path, golden_exchanges(), CREATED)
    header, *entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert header == {
        "version": 1,
        "apitape": {"format": 1, "recorder": header["apitape"]["recorder"], "created_at": CREATED},
    }
    assert header["apitape"]["recorder"].startswith("apitape ")
    post, readme, logo = entries
    assert post["request"] == {
        "method": "POST",
        "uri": "http://staging.example:8000/books?notify=1",
        "headers": {"Content-Type": ["application/json"], "Accept": ["a", "b"]},
        "body": '{"title": "Dune"}',
    }
    assert post["response"]["status"] == {"code": 201, "message": "OK"}
    assert post["apitape"]["id"] == 1
    assert readme["response"]["body"] == {"string": "line one\nline two\n"}
    binary = logo["response"]["body"]["string"]
    assert base64.b64decode(binary["base64"]) == bytes(range(256))


@pytest.mark.parametrize("body", BODIES)
def test_bodies_round_trip_byte_exact(tmp_path: Path, body: bytes) -> None:
    original = exchange(
        "PUT", body=body, response=Response(200, "OK", (("Content-Type", "x/y"),), body)
    )
    path = tmp_path / "c.jsonl"
    write_cassette(path, [original], CREATED)
    (loaded,) = load_cassette(path).exchanges
    assert (loaded.request.body, loaded.response.body) == (body, body)


@pytest.mark.parametrize("seed", range(3))
def test_varied_exchanges_load_as_from_yaml(tmp_path: Path, seed: int) -> None:
    path, yaml_path = tmp_path / "c.jsonl", tmp_path / "c.yaml"
    for target in (path, yaml_path):
        write_cassette(target, varied_exchanges(seed, 30), CREATED)
    # (both formats key headers by name as vcrpy does: `x-trace` after `X-Trace` joins it)
    exchanges = list(load_cassette(yaml_path).exchanges)
    loaded = load_cassette(path).exchanges
    assert list(loaded) == exchanges
    assert [e.extra for e in loaded] == [e.extra for e in exchanges]
    assert list(iter_exchanges(path)) == exchanges


def test_writer_appends_flushed_whole_lines_and_continues_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    writer.append(exchange(exchange_id=""))
    after_one = path.read_bytes()
    assert after_one.endswith(b"\n") and after_one.count(b"\n") == 2  # flushed: header + 1
    writer.close()
    again = CassetteWriter(path, CREATED)
    again.open()
    again.append(exchange(exchange_id=""))
    again.close()
    assert path.read_bytes().startswith(after_one)
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]
    assert (again.exchanges, again.size) == (2, path.stat().st_size)


def test_a_last_line_without_its_newline_but_whole_is_kept_and_continued(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cassette(path, [exchange()], CREATED)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # an editor that drops the last newline
    assert len(load_cassette(path).exchanges) == 1
    writer = CassetteWriter(path, CREATED)
    writer.open()
    writer.append(exchange(exchange_id=""))
    writer.close()
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]


def test_cut_at_every_byte_loads_every_complete_exchange(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    exchanges = golden_exchanges()
    write_cassette(path, exchanges, CREATED)
    data = path.read_bytes()
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    for cut in range(ends[0], len(data) + 1):
        path.write_bytes(data[:cut])
        warnings: list[str] = []
        loaded = list(iter_exchanges(path, warnings))
        whole = sum(1 for end in ends[1:] if end <= cut)
        # a line cut just before its newline is still one whole JSON object: kept
        kept = whole + (1 if cut + 1 in ends[1:] else 0)
        assert loaded == exchanges[:kept], f"cut at byte {cut}"
        torn = cut not in ends and cut + 1 not in ends
        assert bool(warnings) == torn, f"cut at byte {cut}"
        if torn:
            line = data[:cut].count(b"\n") + 1
            assert warnings[0].startswith(f"{path}, line {line}: the last exchange was cut off")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"request": {"method": "GET"', "is not JSON"),
        ("[1, 2]", "is a JSON list, not an object"),
        (
            '{"request": {"method": "GET", "uri": "/x"}, "response": {"status": 200}}',
            "interaction 2: request.uri must be an absolute URL",
        ),
        (
            '{"request": {"method": "GET", "uri": "http://h/", "body": {"base64": "!!"}}, "response": {"status": 200}}',
            "request.body.base64 is not base64",
        ),
        (
            '{"request": {"method": "GET", "uri": "http://h/", "body": {"hex": "00"}}, "response": {"status": 200}}',
            'request.body must be text or {"base64": "..."}',
        ),
    ],
)
def test_malformed_lines_are_errors_naming_file_and_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "c.jsonl"
    write_cassette(path, [exchange(exchange_id="1"), exchange(exchange_id="9")], CREATED)
    header, first, last = path.read_text().splitlines(keepends=True)
    path.write_text(header + first + line + "\n" + last)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    assert str(caught.value).startswith(f"{path}, line 3: ")
    assert message in str(caught.value)


def test_a_file_without_the_header_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    write_cassette(path, [exchange()], CREATED)
    path.write_text(path.read_text().split("\n", 1)[1])
    with pytest.raises(CassetteError, match=r"line 1: is not a JSON-lines cassette"):
        load_cassette(path)


def test_the_format_is_chosen_by_extension_else_by_content(tmp_path: Path) -> None:
    jsonl = tmp_path / "capture.log"
    write_cassette(tmp_path / "c.jsonl", [exchange()], CREATED)
    jsonl.write_bytes((tmp_path / "c.jsonl").read_bytes())
    assert cassette_format(jsonl) == "jsonl"
    writer = CassetteWriter(jsonl, CREATED)  # an existing file is continued in its format
    writer.open()
    writer.append(exchange(exchange_id=""))
    writer.close()
    assert [e.id for e in load_cassette(jsonl).exchanges] == ["1", "2"]
    assert len(json.loads("[" + ",".join(jsonl.read_text().splitlines()) + "]")) == 3
    # vcrpy's JSON serializer writes one indented document: read as YAML, which it also is
    vcr_json = tmp_path / "vcr.json"
    entry = {
        "request": {"method": "GET", "uri": "http://h/"},
        "response": {"status": {"code": 204}},
    }
    vcr_json.write_text(json.dumps({"interactions": [entry], "version": 1}, indent=4))
    assert cassette_format(vcr_json) == "yaml"
    assert load_cassette(vcr_json).exchanges[0].response.status == 204
    assert cassette_format(tmp_path / "new.yml") == cassette_format(tmp_path / "new") == "yaml"


def test_a_yaml_writer_refuses_to_continue_a_json_lines_file_named_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(b'{"version": 1, "apitape": {"format": 1}}\n')
    with pytest.raises((CassetteError, CassetteWriteError)):
        CassetteWriter(path, CREATED).open()


def test_rotation_numbers_json_lines_files(tmp_path: Path) -> None:
    writer = RotatingCassetteWriter(
        str(tmp_path / "traffic.jsonl"), lambda: CREATED, max_exchanges=2
    )
    writer.open()
    for _ in range(5):
        writer.append(exchange(exchange_id=""))
    writer.close()
    names = [Path(p).name for p in writer.paths]
    assert names == ["traffic-0001.jsonl", "traffic-0002.jsonl", "traffic-0003.jsonl"]
    assert [len(load_cassette(p).exchanges) for p in writer.paths] == [2, 2, 1]
    assert all(cassette_format(p) == "jsonl" for p in writer.paths)


def test_the_documented_example_is_the_yaml_example_plus_a_binary_body() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "cassette-format.md").read_text()
    (yaml_block,) = re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)
    (jsonl_block,) = re.findall(r"```jsonl\n(.*?)```", doc, flags=re.DOTALL)
    from_yaml, from_jsonl = parse_cassette(yaml_block), parse_cassette(jsonl_block)
    assert from_jsonl.metadata == from_yaml.metadata
    first, logo = from_jsonl.exchanges
    assert first == from_yaml.exchanges[0]
    assert logo.response.body == b"\x89PNG\r\n\x1a\n"


def test_without_orjson_the_json_module_writes_the_same_bytes(tmp_path: Path) -> None:
    exchanges = golden_exchanges() + [e.with_id(f"v{e.id}") for e in varied_exchanges(5, 40)]
    with_orjson, without = tmp_path / "orjson.jsonl", tmp_path / "json.jsonl"
    write_cassette(with_orjson, exchanges, CREATED)
    code = (
        "import sys; sys.modules['orjson'] = None\n"  # as if orjson were not installed
        "from apitape import fastjson; assert fastjson.orjson is None\n"
        "from apitape.cassette import load_cassette, write_cassette\n"
        "exchanges = load_cassette(sys.argv[1]).exchanges\n"
        "write_cassette(sys.argv[2], exchanges, sys.argv[3])\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(with_orjson), str(without), CREATED], check=True
    )
    assert without.read_bytes() == with_orjson.read_bytes()
