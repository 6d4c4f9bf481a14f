"""Chunked YAML loading and iter_exchanges give exactly what loading the whole document gave."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml
from vcr.serializers import yamlserializer

from apitape.cassette import (
    HEADER_COMMENT,
    Cassette,
    exchange_from_dict,
    exchange_to_dict,
    iter_exchanges,
    load_cassette,
    parse_cassette,
    write_cassette,
)
from apitape.cassette.format_yaml import drop_torn_tail
from apitape.errors import CassetteError
from apitape.models import Exchange, Request, Response
from tests.unit.factories import exchange

CREATED = "2026-11-24T10:00:00.000000Z"


class ReferenceLoader(yaml.CSafeLoader):
    """The loader apitape used before chunking: libyaml's safe loader on the whole text."""


for _tag in ("tag:yaml.org,2002:python/unicode", "tag:yaml.org,2002:python/str"):
    ReferenceLoader.add_constructor(_tag, yaml.SafeLoader.construct_yaml_str)


def reference_load(text: str) -> tuple[list[Exchange], dict[str, Any]]:
    """Whole-document loading, as apitape did it before (torn tails cut at the last marker)."""
    if text.startswith(HEADER_COMMENT):
        text, _ = drop_torn_tail(text, "c.yaml")  # unchanged from before chunking
    data = yaml.load(text, Loader=ReferenceLoader)
    exchanges = [exchange_from_dict(e, i) for i, e in enumerate(data["interactions"] or [])]
    meta = data.get("apitape") if isinstance(data.get("apitape"), dict) else {}
    return exchanges, meta or {}


def assert_same(loaded: Cassette, text: str) -> None:
    expected, metadata = reference_load(text)
    assert list(loaded.exchanges) == expected
    assert [e.extra for e in loaded.exchanges] == [e.extra for e in expected]
    assert dict(loaded.metadata) == metadata


BODIES = [
    b"",
    b'{"id": 1, "title": "Dune"}',
    b'{\n  "pretty": [1, 2],\n  "nested": {"a": null}\n}\n',
    b"line one\nline two\n",
    b"ends in blank lines\n\n\n",
    b"a\r\nb\r\n",
    "unicode \u00e9\u2028\u0085 \ufeff emoji \U0001f600".encode(),
    bytes(range(256)),
    b"\xff\xfe not utf-8",
    b"- request:\n    method: GET\n# end of exchange 9\ninteractions:\nversion: 1\n",
    b"Tom & Jerry &anchor *alias << : x",
    b"'quoted' \"double\" : colon, [flow] {map}",
    b"\t\x00\x07 control",
    b"  leading spaces\n\tand a tab",
    b"...\n---\n",
    b"yes",
    b"2026-11-24T10:00:00Z",
    b"12",
]


def varied_exchanges(seed: int, count: int) -> list[Exchange]:
    rnd = random.Random(seed)
    out = []
    for number in range(1, count + 1):
        body = rnd.choice(BODIES)
        headers = tuple(
            (
                rnd.choice(["Accept", "X-Trace", "Set-Cookie", "x-trace"]),
                rnd.choice(["*/*", "a&b", "1", ""]),
            )
            for _ in range(rnd.randrange(0, 4))
        )
        request = Request(
            rnd.choice(["GET", "POST", "DELETE"]),
            f"http://h:8000/p/{number}?a=1&b={rnd.randrange(9)}",
            headers,
            rnd.choice(BODIES),
        )
        response = Response(
            rnd.choice([200, 201, 404, 500]), rnd.choice(["OK", "", "Not Found"]), headers, body
        )
        extra: dict[str, Any] = rnd.choice([{}, {"response_encoding": "gzip"}, {"note": "x: y"}])
        out.append(
            Exchange(
                str(number),
                request,
                response,
                CREATED,
                rnd.choice([None, 1.5, 3.0]),
                "127.0.0.1:1",
                None,
                extra,
            )
        )
    return out


@pytest.mark.parametrize("seed", range(6))
def test_apitape_cassettes_load_as_the_whole_document_did(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "c.yaml"
    write_cassette(path, varied_exchanges(seed, 40), CREATED, {"redaction": {"enabled": False}})
    text = path.read_text()
    assert_same(load_cassette(path), text)
    assert list(iter_exchanges(path)) == list(load_cassette(path).exchanges)


@pytest.mark.parametrize("seed", range(4))
def test_apitape_cassettes_cut_anywhere_load_as_before(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "c.yaml"
    write_cassette(path, varied_exchanges(seed, 6), CREATED)
    text = path.read_text()
    rnd = random.Random(seed)
    for cut in sorted(rnd.sample(range(text.index("interactions:\n") + 14, len(text)), 40)):
        loaded = parse_cassette(text[:cut], str(path))
        assert_same(loaded, text[:cut])
        warnings: list[str] = []
        path.write_text(text[:cut])
        assert list(iter_exchanges(path, warnings)) == list(loaded.exchanges)
        assert warnings == list(loaded.warnings)


def foreign_text(exchanges: list[Exchange], **dump_options: Any) -> str:
    """The exchanges as another tool would write them: keys sorted, `interactions` first."""
    entries = [plain(exchange_to_dict(e)) for e in exchanges]
    return yaml.dump(
        {"interactions": entries, "version": 1}, Dumper=yaml.SafeDumper, **dump_options
    )


def plain(value: Any) -> Any:
    """apitape's one-line list and mapping types as plain ones (any dumper writes those)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"default_flow_style": True},
        {"default_style": '"'},
        {"width": 20},
        {"allow_unicode": True},
    ],
)
@pytest.mark.parametrize("seed", range(3))
def test_foreign_yaml_layouts_load_as_the_whole_document_did(
    seed: int, options: dict[str, Any]
) -> None:
    text = foreign_text(varied_exchanges(seed, 25), **options)
    assert_same(parse_cassette(text, "foreign.yaml"), text)


def test_a_cassette_vcrpy_serialized_loads_as_the_whole_document_did(tmp_path: Path) -> None:
    path = tmp_path / "vcr.yaml"
    write_vcrpy_style(path, varied_exchanges(11, 30))
    text = path.read_text()
    assert_same(load_cassette(path), text)
    assert len(list(iter_exchanges(path))) == 30


INDENTED = """\
version: 1
interactions:
  - request: {method: GET, uri: 'http://h/a'}
    response: {status: {code: 200}, body: {string: "first\\
      \\ line"}}

  # a comment between items
  - request: {method: GET, uri: 'http://h/b'}
    response:
      status: {code: 201}
      body:
        string: |
          - not an item
          interactions: not a key
apitape: {format: 1, created_at: x}
"""

# A double-quoted scalar may continue at column 0, where a line looks like an item or a key.
QUOTED_AT_COLUMN_ZERO = """\
interactions:
- request: {method: GET, uri: 'http://h/a'}
  response: {status: {code: 200}, body: {string: "x
- y
version: 2"}}
- request: {method: GET, uri: 'http://h/b'}
  response: {status: {code: 200}}
version: 1
"""

ANCHORS = """\
interactions:
- request: &req {method: GET, uri: 'http://h/a', headers: {a: [x]}}
  response: &resp {status: {code: 200}, body: {string: ok}}
- request: *req
  response:
    <<: *resp
    status: {code: 404}
"""

NULL_INTERACTIONS = "interactions:\nversion: 1\n"


@pytest.mark.parametrize("text", [INDENTED, QUOTED_AT_COLUMN_ZERO, ANCHORS, NULL_INTERACTIONS])
def test_unusual_layouts_load_as_the_whole_document_did(tmp_path: Path, text: str) -> None:
    assert_same(parse_cassette(text, "odd.yaml"), text)
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    assert list(iter_exchanges(path)) == reference_load(text)[0]


def write_vcrpy_style(path: Path, exchanges: list[Exchange]) -> None:
    entries = [plain(exchange_to_dict(e)) for e in exchanges]
    path.write_text(yamlserializer.serialize({"interactions": entries, "version": 1}))


@pytest.mark.parametrize("layout", ["apitape", "vcrpy"])
def test_iter_exchanges_streams_a_big_cassette_in_small_memory(tmp_path: Path, layout: str) -> None:
    small, big = tmp_path / "small.yaml", tmp_path / "big.yaml"
    for path, count in ((small, 50), (big, 2000)):
        exchanges = [exchange(exchange_id=str(i)) for i in range(1, count + 1)]
        if layout == "apitape":
            write_cassette(path, exchanges, CREATED)
        else:
            write_vcrpy_style(path, exchanges)

    def peak(path: Path) -> int:
        tracemalloc.start()
        try:
            assert sum(1 for _ in iter_exchanges(path)) > 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # 40 times the exchanges, about the same peak: nothing grows with the file
    assert peak(big) < 2 * peak(small)


def test_iter_exchanges_yields_what_comes_before_a_broken_entry(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    write_cassette(path, [exchange(exchange_id="1"), exchange(exchange_id="2")], CREATED)
    text = path.read_text()
    second = text.index("- request:", text.index("# end of exchange 1"))
    path.write_text(text[:second] + text[second:].replace("method: GET", "method: [GET", 1))
    stream = iter_exchanges(path)
    assert next(stream).id == "1"
    with pytest.raises(CassetteError) as caught:
        next(stream)
    assert "is not valid YAML" in str(caught.value)
    second_line = text.count("\n", 0, second) + 1
    assert caught.value.line is not None
    assert second_line <= caught.value.line <= second_line + 12


def test_duplicate_ids_are_found_when_streaming_out_of_order(tmp_path: Path) -> None:
    ids = ["1", "2", "3", "7", "5", "6", "4", "abc", "05", "5"]
    path = tmp_path / "c.yaml"
    write_cassette(path, [exchange(exchange_id=i) for i in ids], CREATED)
    seen = []
    with pytest.raises(CassetteError, match="interaction 10: id '5' is used twice"):
        seen.extend(e.id for e in iter_exchanges(path))
    assert seen == ids[:-1]


def test_iter_exchanges_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such file"):
        next(iter_exchanges(tmp_path / "nope.yaml"))
