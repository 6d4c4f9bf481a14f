"""HAR import and export: a hand-made HAR file, byte-exact round trips, errors naming the entry."""

from __future__ import annotations

import base64
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest

from apitape.capture.policy import RecordingPolicy
from apitape.cassette import load_cassette, write_cassette
from apitape.errors import ApitapeError, ImportFileError, UsageError
from apitape.interop.har import exchanges_from_har, har_document, write_har
from apitape.interop.importing import import_traffic, is_har, store_imported
from apitape.models import Exchange, Request, Response

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sample.har"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489fffe")

KEEP_ALL = RecordingPolicy(redactor=None)  # no redaction: round trips compare bytes


def test_the_hand_made_har_imports_every_entry_with_a_response() -> None:
    exchanges, skipped = exchanges_from_har(FIXTURE)
    assert skipped == 1  # the blocked pixel (status 0)
    assert [(e.request.method, e.request.url, e.response.status) for e in exchanges] == [
        ("GET", "https://staging.example/books?page=2&tag=a&tag=b", 200),
        ("POST", "https://staging.example/search", 200),
        ("GET", "https://staging.example/cover.png", 200),
        ("GET", "https://staging.example/notes/1", 200),
        ("POST", "https://staging.example/books", 201),
    ]
    books, search, cover, notes, created = exchanges

    # Repeated headers stay, in order; HTTP/2 pseudo-headers are not headers to send.
    assert books.request.headers == (
        ("Accept", "application/json"),
        ("X-Tag", "one"),
        ("X-Tag", "two"),
    )
    # The HAR body is decoded already: Content-Encoding goes, Content-Length fits the body.
    body = b'{"items": [{"id": 1, "title": "Dune"}]}'
    assert books.response.body == body
    assert books.response.headers == (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Set-Cookie", "a=1; Path=/"),
        ("Set-Cookie", "b=2; HttpOnly"),
    )
    assert books.extra == {"response_encoding": "gzip"}
    # Times: startedDateTime in UTC with a Z, duration = wait + receive, HAR's connection id.
    assert books.recorded_at == "2026-11-24T10:00:00.123000Z"
    assert books.duration_ms == 13.0
    assert books.connection == "443"
    assert books.client is None

    # A form HAR gives as params only is sent form-encoded; the method is upper-cased.
    assert search.request.body == b"title=Dune+Messiah&note=caf%C3%A9+%26+co"

    assert cover.response.body == PNG  # base64 content, byte for byte
    assert notes.response.body == "café crème".encode("latin-1")  # the declared charset

    assert created.request.body == '{"title": "L\'Étranger"}'.encode()
    assert created.response.headers[1] == ("Location", "/books/31")
    assert (created.client, created.extra) == ("10.0.0.7:51000", {"note": "hand-made"})


def _exchanges() -> list[Exchange]:
    """Bodies of every kind a cassette holds, with repeated headers and apitape's metadata."""
    latin1 = "café crème".encode("latin-1")
    return [
        Exchange(
            "1",
            Request(
                "GET",
                "http://svc.example:8000/books?tag=a&tag=b&empty=",
                (("Accept", "application/json"), ("Cookie", "s=1; t=2"), ("X-Tag", "a")),
            ),
            Response(
                200,
                "OK",
                (
                    ("Content-Type", "application/json"),
                    ("Set-Cookie", "s=1; Path=/; HttpOnly"),
                    ("Set-Cookie", "t=2; Secure; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
                    ("X-Tag", "a"),
                    ("x-tag", "b"),
                ),
                '{"title": "Dune", "city": "Zürich", "nul": "\\u0000"}'.encode(),
            ),
            "2026-11-24T10:00:00.000001Z",
            3.25,
            "127.0.0.1:50000",
            "conn-1",
            {"response_encoding": "gzip"},
        ),
        Exchange(
            "2",
            Request(
                "POST",
                "http://svc.example:8000/upload",
                (("Content-Type", "application/octet-stream"),),
                bytes(range(256)),
            ),
            Response(200, "OK", (("Content-Type", "image/png"),), PNG),
            "2026-11-24T10:00:01.000000Z",
            None,
            None,
            None,
        ),
        Exchange(
            "3",
            Request(
                "PUT",
                "http://svc.example:8000/notes/1",
                (("Content-Type", "text/plain; charset=iso-8859-1"),),
                latin1,
            ),
            Response(200, "OK", (("Content-Type", "text/plain"),), latin1),  # no charset
        ),
        Exchange(
            "4",
            Request("DELETE", "http://svc.example:8000/notes/1"),
            Response(204, "No Content", (("Content-Type", "text/plain"),), "naïve".encode()),
            "2026-11-24T10:00:03.500000Z",
            0.0,
        ),
        Exchange(
            "5",
            Request(
                "POST",
                "http://svc.example:8000/form",
                (("Content-Type", "application/x-www-form-urlencoded"),),
                b"q=caf%C3%A9&x=1",
            ),
            Response(
                302,
                "Found",
                (("Location", "/form?ok=1"), ("Content-Type", "text/html; charset=utf-8")),
                "<p>déplacé\r\n</p>".encode(),
            ),
        ),
    ]


def test_cassette_to_har_to_cassette_is_byte_exact(tmp_path: Path) -> None:
    write_cassette(tmp_path / "a.yaml", _exchanges(), "2026-11-24T10:00:00.000000Z")
    original = load_cassette(tmp_path / "a.yaml").exchanges
    write_har(tmp_path / "a.har", original, "0.1.0")
    imported, skipped = exchanges_from_har(tmp_path / "a.har")
    store_imported(imported, tmp_path / "b.yaml", KEEP_ALL)
    again = load_cassette(tmp_path / "b.yaml").exchanges

    assert skipped == 0
    for before, after in zip(original, again, strict=True):
        assert after.request == before.request  # method, url, headers, body: byte for byte
        assert after.response == before.response
        assert after == before  # id, recorded_at, duration, client, connection (`_apitape`)
        assert after.extra == before.extra


def test_har_bodies_are_text_only_where_every_reader_gets_the_bytes_back(tmp_path: Path) -> None:
    har = har_document(_exchanges(), "0.1.0")
    entries = har["log"]["entries"]
    content = [entry["response"]["content"] for entry in entries]
    assert content[0]["text"].startswith('{"title": "Dune", "city": "Zürich"')  # UTF-8 JSON
    assert "encoding" not in content[0]
    assert content[1] == {
        "size": len(PNG),
        "mimeType": "image/png",
        "text": base64.b64encode(PNG).decode(),
        "encoding": "base64",
    }
    # Latin-1 or UTF-8 text without a charset: readers disagree on the bytes, so base64.
    assert content[2]["encoding"] == content[3]["encoding"] == "base64"
    assert content[4]["text"] == "<p>déplacé\r\n</p>"  # the declared charset
    post = [entry["request"].get("postData") for entry in entries]
    assert post[0] is None and post[3] is None  # no body, no postData
    assert post[1]["_encoding"] == "base64"  # HAR has no encoding field for request bodies
    assert post[2] == {"mimeType": "text/plain; charset=iso-8859-1", "text": "café crème"}
    assert post[4] == {"mimeType": "application/x-www-form-urlencoded", "text": "q=caf%C3%A9&x=1"}


def test_exported_har_has_every_key_har_1_2_requires(tmp_path: Path) -> None:
    write_har(tmp_path / "out.har", _exchanges(), "9.9")
    har = json.loads((tmp_path / "out.har").read_text(encoding="utf-8"))
    log = har["log"]
    assert (log["version"], log["creator"]) == ("1.2", {"name": "apitape", "version": "9.9"})
    for entry in log["entries"]:
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= set(entry)
        assert set(entry["timings"]) == {"send", "wait", "receive"}
        assert {
            "method",
            "url",
            "httpVersion",
            "cookies",
            "headers",
            "queryString",
            "headersSize",
            "bodySize",
        } <= set(entry["request"])
        assert {
            "status",
            "statusText",
            "httpVersion",
            "cookies",
            "headers",
            "content",
            "redirectURL",
            "headersSize",
            "bodySize",
        } <= set(entry["response"])
        assert {"size", "mimeType"} <= set(entry["response"]["content"])
    first, second = log["entries"][:2]
    assert first["startedDateTime"] == "2026-11-24T10:00:00.000001Z"
    assert (first["time"], first["timings"]["wait"], first["connection"]) == (3.25, 3.25, "conn-1")
    assert first["request"]["queryString"] == [
        {"name": "tag", "value": "a"},
        {"name": "tag", "value": "b"},
        {"name": "empty", "value": ""},
    ]
    assert first["request"]["cookies"] == [{"name": "s", "value": "1"}, {"name": "t", "value": "2"}]
    assert first["response"]["cookies"] == [
        {"name": "s", "value": "1", "path": "/", "httpOnly": True},
        {"name": "t", "value": "2", "secure": True, "expires": "2026-10-21T07:28:00+00:00"},
    ]
    assert first["response"]["bodySize"] == -1  # sent gzip-encoded: its size on the wire is gone
    assert first["response"]["headers"][-2:] == [
        {"name": "X-Tag", "value": "a"},
        {"name": "x-tag", "value": "b"},
    ]
    assert first["_apitape"]["id"] == "1"
    # No recording time: a fixed epoch (HAR requires one), and `_apitape` keeps "unknown".
    assert log["entries"][2]["startedDateTime"] == "1970-01-01T00:00:00.000000Z"
    assert second["time"] == 0 and second["_apitape"]["duration_ms"] is None
    assert log["entries"][4]["response"]["redirectURL"] == "/form?ok=1"


def test_a_har_mitmproxy_wrote_is_decoded_with_mitmproxys_charset_guess(tmp_path: Path) -> None:
    def entry(content_type: str, text: str) -> dict[str, Any]:
        return {
            "startedDateTime": "2026-11-24T10:00:00.000000+00:00",
            "time": 1.0,
            "request": {"method": "GET", "url": "http://svc/", "headers": []},
            "response": {
                "status": 200,
                "headers": [{"name": "Content-Type", "value": content_type}],
                "content": {"text": text},
            },
        }

    entries = [
        entry("text/plain", "cafÃ©"),  # UTF-8 bytes mitmproxy decoded as Latin-1
        entry("application/json", '"café"'),  # mitmproxy decodes JSON as UTF-8
        entry("text/html", '<meta charset="utf-8"><p>café</p>'),
        entry("application/octet-stream", "\udcff\udcfe"),  # bytes mitmproxy could not decode
    ]
    path = tmp_path / "mitm.har"
    for creator, plain in (("mitmproxy", b"caf\xc3\xa9"), ("Chrome", "cafÃ©".encode())):
        path.write_text(json.dumps({"log": {"creator": {"name": creator}, "entries": entries}}))
        exchanges, _ = exchanges_from_har(path)
        assert exchanges[0].response.body == plain
    path.write_text(json.dumps({"log": {"creator": {"name": "mitmproxy"}, "entries": entries}}))
    bodies = [e.response.body for e in exchanges_from_har(path)[0]]
    assert bodies[1:] == [
        '"café"'.encode(),
        '<meta charset="utf-8"><p>café</p>'.encode(),
        b"\xff\xfe",
    ]


def test_a_zlib_compressed_har_imports(tmp_path: Path) -> None:
    path = tmp_path / "dump.zhar"
    path.write_bytes(zlib.compress(FIXTURE.read_bytes(), 9))
    assert len(exchanges_from_har(path)[0]) == 5


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "startedDateTime": "2026-11-24T10:00:00Z",
        "time": 1,
        "request": {"method": "GET", "url": "http://svc/a", "headers": []},
        "response": {"status": 200, "headers": [], "content": {"text": "ok"}},
    }
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        target = entry
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[key]
        else:
            target[key] = value
    return entry


@pytest.mark.parametrize(
    ("bad_entry", "message"),
    [
        (_entry(response=None), "log.entries[1].response: is missing"),
        (_entry(response__status="200"), "log.entries[1].response.status: must be an integer"),
        (_entry(response__status=42), "log.entries[1].response.status: must be an HTTP status"),
        (_entry(request__method=None), "log.entries[1].request.method: is missing"),
        (_entry(request__url="/a"), "log.entries[1].request.url: must be an absolute http(s) URL"),
        (_entry(request__headers=[{"value": "x"}]), "log.entries[1].request.headers[0].name"),
        (_entry(request__headers={"a": "b"}), "log.entries[1].request.headers: must be a list"),
        (
            _entry(response__content={"text": "**", "encoding": "base64"}),
            "log.entries[1].response.content.text: is marked base64 but is not valid base64",
        ),
        (_entry(startedDateTime="yesterday"), "log.entries[1].startedDateTime: 'yesterday'"),
        (_entry(_apitape={"duration_ms": "slow"}), "log.entries[1]._apitape.duration_ms"),
        (
            _entry(
                request__postData={"mimeType": "multipart/form-data", "params": [{"name": "a"}]}
            ),
            "log.entries[1].request.postData.mimeType: is multipart/form-data without a boundary",
        ),
        ("GET /", "log.entries[1]: must be an object"),
    ],
)
def test_a_bad_entry_is_named_with_its_index_and_key(
    tmp_path: Path, bad_entry: Any, message: str
) -> None:
    path = tmp_path / "bad.har"
    path.write_text(json.dumps({"log": {"entries": [_entry(), bad_entry]}}))
    with pytest.raises(ImportFileError) as caught:
        exchanges_from_har(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: log.entries[1]")
    assert message in text
    assert text.endswith("fix or remove this entry, or export the HAR file again")
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ApitapeError)
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"log": {"entries": [', "is not a HAR file: not valid JSON (line 1, column 22"),
        (b"[1, 2]", "is not a HAR file: it has no 'log' object at the top"),
        (b'{"log": {"entries": {}}}', "log.entries: must be a list of entries"),
        (b"\x89PNG\r\n\x1a\n\xff", "is not a HAR file: HAR is JSON text, this file is binary"),
    ],
)
def test_a_file_that_is_not_har_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match="^" + re.escape(str(path))) as caught:
        exchanges_from_har(path)
    assert message in str(caught.value)


def test_a_missing_har_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"nope\.har: no such file"):
        exchanges_from_har(tmp_path / "nope.har")


def test_store_imported_numbers_exchanges_unless_they_carry_unique_ids(tmp_path: Path) -> None:
    plain = [e.with_id("") for e in _exchanges()[:3]]
    stored = store_imported(plain, tmp_path / "a.yaml", KEEP_ALL)
    assert [e.id for e in stored] == ["1", "2", "3"]
    assert [e.id for e in load_cassette(tmp_path / "a.yaml").exchanges] == ["1", "2", "3"]
    exported = [e.with_id(f"ex-{n}") for n, e in enumerate(_exchanges()[:2])]
    assert [e.id for e in store_imported(exported, tmp_path / "b.yaml", KEEP_ALL)] == [
        "ex-0",
        "ex-1",
    ]
    twice = [e.with_id("7") for e in _exchanges()[:2]]
    assert [e.id for e in store_imported(twice, tmp_path / "c.yaml", KEEP_ALL)] == ["1", "2"]


def test_import_refuses_to_replace_a_cassette_without_force(tmp_path: Path) -> None:
    cassette = tmp_path / "c.yaml"
    cassette.write_text("mine\n")
    with pytest.raises(UsageError, match=r"^force is needed to replace .*, which exists"):
        import_traffic(FIXTURE, cassette)
    assert cassette.read_text() == "mine\n"
    summary = import_traffic(FIXTURE, cassette, force=True)
    assert (summary.imported, summary.skipped) == (5, 1)
    assert len(load_cassette(cassette).exchanges) == 5


def test_import_of_a_har_without_responses_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "empty.har"
    source.write_text(json.dumps({"log": {"entries": [_entry(response__status=0)]}}))
    with pytest.raises(ImportFileError, match=r"no HTTP exchange with a response \(1 skipped\)"):
        import_traffic(source, tmp_path / "c.yaml")
    assert not (tmp_path / "c.yaml").exists()


def test_har_is_recognised_by_name_or_by_its_json(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b'\xef\xbb\xbf  {"log": {}}')
    (tmp_path / "a.mitm").write_bytes(b"123:4:data,")
    assert is_har(tmp_path / "a.json")
    assert is_har(tmp_path / "missing.HAR")
    assert not is_har(tmp_path / "a.mitm")
    assert not is_har(tmp_path / "missing.flows")


def test_import_redacts_secrets_as_the_recorder_does(tmp_path: Path) -> None:
    secret = "planted-har-token-123456"
    entry = {
        "startedDateTime": "2026-11-24T10:00:00.000Z",
        "time": 3,
        "request": {
            "method": "POST",
            "url": f"http://svc.example/login?access_token={secret}",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Authorization", "value": f"Bearer {secret}"}],
            "postData": {"mimeType": "application/json", "text": '{"password": "hunter2-hunter2"}'},
        },
        "response": {
            "status": 200,
            "statusText": "OK",
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Content-Type", "value": "application/json"}],
            "content": {"mimeType": "application/json", "text": f'{{"token": "{secret}"}}'},
        },
    }
    source = tmp_path / "browser.har"
    source.write_text(json.dumps({"log": {"version": "1.2", "entries": [entry]}}))
    cassette = tmp_path / "imported.yaml"
    summary = import_traffic(source, cassette)
    assert summary.imported == 1
    raw = cassette.read_bytes()
    assert secret.encode() not in raw and b"hunter2-hunter2" not in raw
    loaded = load_cassette(cassette)
    assert loaded.metadata["redaction"]["enabled"] is True
    (exchange,) = loaded.exchanges
    token = json.loads(exchange.response.body)["token"]
    assert ("Authorization", f"Bearer {token}") in exchange.request.headers  # same placeholder
