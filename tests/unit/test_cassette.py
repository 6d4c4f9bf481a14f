"""The cassette format: round trips, golden files, torn files, safe loading, errors with lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from apitape.cassette import (
    CassetteWriter,
    dump_entry,
    header_text,
    load_cassette,
    parse_cassette,
    write_cassette,
)
from apitape.errors import CassetteError, CassetteNotFoundError, CassetteWriteError
from apitape.models import Exchange, Request, Response
from tests.unit.factories import exchange, json_response

GOLDEN = Path(__file__).parent.parent / "golden"
CREATED = "2026-11-24T10:00:00.000000Z"


def golden_exchanges() -> list[Exchange]:
    """The exchanges behind tests/golden/basic.yaml: JSON, multi-line text, binary, repeats."""
    return [
        exchange(
            "POST",
            "http://staging.example:8000/books?notify=1",
            response=json_response(
                {"id": 31, "title": "Dune"},
                201,
                (("Content-Type", "application/json"), ("Location", "/books/31")),
            ),
            request_headers=(
                ("Content-Type", "application/json"),
                ("Accept", "a"),
                ("Accept", "b"),
            ),
            body=b'{"title": "Dune"}',
            exchange_id="1",
        ),
        exchange(
            url="http://staging.example:8000/readme",
            response=Response(
                200, "OK", (("Content-Type", "text/plain"),), b"line one\nline two\n"
            ),
            exchange_id="2",
        ),
        exchange(
            url="http://staging.example:8000/logo.png",
            response=Response(200, "OK", (("Content-Type", "image/png"),), bytes(range(256))),
            exchange_id="3",
            duration_ms=None,
        ),
    ]


def test_written_cassette_matches_golden_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    write_cassette(path, golden_exchanges(), CREATED)
    assert path.read_text() == (GOLDEN / "basic.yaml").read_text()


def test_golden_file_loads_to_the_same_exchanges() -> None:
    cassette = load_cassette(GOLDEN / "basic.yaml")
    assert list(cassette.exchanges) == golden_exchanges()
    assert cassette.metadata["format"] == 1
    assert cassette.warnings == ()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"a": 1}',
        b"a\r\nb\r\n",
        b"trailing spaces   \nand\n\n\n",
        b"\ttab\x00nul\x07bell",
        "bom \ufeff, unicode \u00e9\u2028\u0085 and emoji \U0001f600".encode(),
        bytes(range(256)),
        b"\xff\xfe not utf-8",
        b"- looks like yaml: [1, 2]\n# end of exchange 1\n",
        b"\n",
        b" leading space",
    ],
)
def test_bodies_round_trip_byte_exact(tmp_path: Path, body: bytes) -> None:
    original = exchange(
        "PUT",
        body=body,
        response=Response(200, "OK", (("Content-Type", "application/octet-stream"),), body),
    )
    path = tmp_path / "c.yaml"
    write_cassette(path, [original], CREATED)
    (loaded,) = load_cassette(path).exchanges
    assert loaded.request.body == body
    assert loaded.response.body == body


def test_text_body_is_readable_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    write_cassette(path, [exchange(response=json_response({"title": "Dune"}))], CREATED)
    assert '{"title": "Dune"}' in path.read_text()


def test_writer_appends_and_numbers_exchanges(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "c.yaml"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    first = writer.append(exchange(exchange_id=""))
    after_one = path.read_text()
    writer.append(exchange(exchange_id=""))
    writer.close()
    assert first.id == "1"
    assert path.read_text().startswith(after_one)  # append-only: the first entry never moves
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]


def test_writer_continues_an_existing_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    for _ in range(2):
        writer = CassetteWriter(path, CREATED)
        writer.open()
        writer.append(exchange(exchange_id=""))
        writer.close()
    assert [e.id for e in load_cassette(path).exchanges] == ["1", "2"]


def test_writer_refuses_to_append_to_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "vcr.yaml"
    path.write_text("version: 1\ninteractions: []\n")
    with pytest.raises(CassetteWriteError, match="not written by apitape"):
        CassetteWriter(path, CREATED).open()
    assert path.read_text() == "version: 1\ninteractions: []\n"


def test_writer_that_wrote_nothing_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    writer.close()
    assert not path.exists()


def test_header_only_cassette_loads_empty() -> None:
    assert parse_cassette(header_text(CREATED)).exchanges == ()


def test_cassette_cut_at_every_byte_loads_every_complete_exchange(tmp_path: Path) -> None:
    exchanges = golden_exchanges()
    header = header_text(CREATED)
    entries = [dump_entry(e) for e in exchanges]
    text = header + "".join(entries)
    boundaries = [len(header) + sum(len(x) for x in entries[:n]) for n in range(len(entries) + 1)]
    for cut in range(len(header), len(text) + 1):
        complete = sum(1 for b in boundaries[1:] if b <= cut)
        cassette = parse_cassette(text[:cut], "cut.yaml")
        assert list(cassette.exchanges) == exchanges[:complete], f"cut at byte {cut}"
        torn = cut not in boundaries
        assert bool(cassette.warnings) == torn, f"cut at byte {cut}"


def test_torn_tail_warning_names_the_line() -> None:
    text = header_text(CREATED) + dump_entry(exchange()) + "- request:\n    method: GE"
    cassette = parse_cassette(text, "torn.yaml")
    assert len(cassette.exchanges) == 1
    (warning,) = cassette.warnings
    line = text.count("\n", 0, text.rindex("- request:")) + 1
    assert warning.startswith(f"torn.yaml, line {line}: the last exchange was cut off")


def test_vcrpy_gzip_body_is_decoded_with_consistent_headers() -> None:
    compressed = gzip.compress(b'{"ok": true}')
    text = f"""
interactions:
- request:
    body: null
    headers: {{accept-encoding: [gzip]}}
    method: GET
    uri: http://h/x
  response:
    body: {{string: !!binary {__import__("base64").b64encode(compressed).decode()}}}
    headers: {{content-encoding: [gzip], content-length: ['{len(compressed)}'], content-type: [application/json]}}
    status: {{code: 200, message: OK}}
version: 1
"""
    (loaded,) = parse_cassette(text).exchanges
    assert loaded.response.body == b'{"ok": true}'
    assert ("content-length", "12") in loaded.response.headers
    assert all(name != "content-encoding" for name, _ in loaded.response.headers)


def test_old_vcrpy_unicode_tags_load_as_strings() -> None:
    text = """
interactions:
- request: {body: !!python/unicode 'x=1', headers: {}, method: POST, uri: 'http://h/x'}
  response: {body: {string: !!python/unicode 'ok'}, headers: {}, status: {code: 200, message: OK}}
"""
    (loaded,) = parse_cassette(text).exchanges
    assert loaded.request.body == b"x=1"
    assert loaded.response.body == b"ok"


def test_code_running_tags_are_refused_with_the_line() -> None:
    text = "version: 1\ninteractions:\n- !!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(CassetteError) as caught:
        parse_cassette(text, "evil.yaml")
    assert caught.value.line == 3
    assert "never runs a YAML tag" in str(caught.value)
    assert str(caught.value).startswith("evil.yaml, line 3:")


def test_invalid_yaml_names_the_line() -> None:
    text = "version: 1\ninteractions:\n- request: {method: GET\n  response: x\n"
    with pytest.raises(CassetteError) as caught:
        parse_cassette(text, "bad.yaml")
    assert caught.value.line is not None and caught.value.line >= 3
    assert "is not valid YAML" in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "- {request: {method: GET, uri: 'http://h/'}}",
            "interaction 2: has no 'response' mapping",
        ),
        (
            "- {request: {method: GET, uri: '/x'}, response: {status: {code: 200}}}",
            "request.uri must be an absolute URL",
        ),
        (
            "- {request: {method: GET, uri: 'http://h/'}, response: {status: {code: OK}}}",
            "status.code must be an HTTP status number",
        ),
        (
            "- {request: {method: GET, uri: 'http://h/', body: 5}, response: {status: {code: 200}}}",
            "request.body must be text or !!binary",
        ),
    ],
)
def test_entries_not_in_the_format_are_errors_naming_entry_and_line(
    entry: str, message: str
) -> None:
    good = "- {request: {method: GET, uri: 'http://h/'}, response: {status: {code: 200}}}"
    text = f"version: 1\ninteractions:\n{good}\n{entry}\n"
    with pytest.raises(CassetteError) as caught:
        parse_cassette(text, "c.yaml")
    assert message in str(caught.value)
    assert caught.value.line == 4


@pytest.mark.parametrize("text", ["[]", "just text", "version: 1\n"])
def test_files_that_are_not_cassettes_are_refused(text: str) -> None:
    with pytest.raises(CassetteError, match=r"^x\.yaml: "):
        parse_cassette(text, "x.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CassetteNotFoundError, match="no such file"):
        load_cassette(tmp_path / "nope.yaml")


def test_binary_file_is_refused_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(b"version: 1\n\xff\xfe\x00")
    with pytest.raises(CassetteError, match="line 2: is not UTF-8 text"):
        load_cassette(path)


def test_duplicate_ids_are_refused() -> None:
    text = header_text(CREATED) + dump_entry(exchange()) + dump_entry(exchange())
    with pytest.raises(CassetteError, match="id '1' is used twice"):
        parse_cassette(text)


def test_exchange_without_apitape_keys_gets_its_position_as_id() -> None:
    text = "interactions:\n- {request: {method: get, uri: 'http://h/'}, response: {status: {code: 204}}}\n"
    (loaded,) = parse_cassette(text).exchanges
    assert (loaded.id, loaded.request.method, loaded.recorded_at) == ("1", "GET", None)


def test_request_model_survives_round_trip(tmp_path: Path) -> None:
    original = Exchange(
        "7",
        Request("DELETE", "http://h:1/x?a=1&a=2", (("X-Trace", "1"),), b""),
        Response(204, "No Content", (), b""),
        extra={"response_encoding": "gzip"},
    )
    path = tmp_path / "c.yaml"
    write_cassette(path, [original], CREATED)
    (loaded,) = load_cassette(path).exchanges
    assert loaded == original
    assert loaded.extra == {"response_encoding": "gzip"}


def test_a_body_ending_in_blank_lines_does_not_end_the_yaml_document(tmp_path: Path) -> None:
    # An event stream ends "\n\n": YAML writes it as `|+` and would close the document there.
    stream = Response(200, "OK", (("Content-Type", "text/event-stream"),), b"data: 1\n\n")
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, CREATED)
    writer.open()
    writer.append(exchange(response=stream))
    writer.append(exchange())
    writer.close()
    loaded = load_cassette(path)
    assert [e.response.body for e in loaded.exchanges] == [b"data: 1\n\n", exchange().response.body]


def test_writer_counts_size_and_exchanges_and_puts_metadata_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    writer = CassetteWriter(path, CREATED, {"redaction": {"enabled": False}})
    writer.open()
    writer.append(exchange())
    writer.close()
    assert (writer.exchanges, writer.size) == (1, path.stat().st_size)
    assert load_cassette(path).metadata["redaction"] == {"enabled": False}
