"""Cassettes older vcrpy versions wrote load as the data they hold; code-running tags never do.

The fixtures in tests/fixtures/vcrpy_old/ are in the shapes vcrpy wrote: its tornado stub on
Python 2 (`!!python/tuple` header pairs, `!!python/unicode` and `!!python/str` strings), file
and iterator request bodies (`!!python/object/new:_io.BytesIO`,
`!!python/object/apply:builtins.iter`), and its httpx stub before 4.2 (`status_code`,
`http_version` and an already-decoded `content`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from apitape.cassette.store import (
    HEADER_COMMENT,
    convert_cassette,
    load_cassette,
    parse_cassette,
)
from apitape.errors import CassetteError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "vcrpy_old"


def test_tornado_py2_cassette_with_tuples_and_unicode_tags() -> None:
    cassette = load_cassette(FIXTURES / "tornado_py2.yaml")
    first, second = cassette.exchanges
    assert first.response.status == 200
    assert first.response.body == b"not actually example.com"
    assert first.response.headers == (
        ("Expires", "-1"),
        ("Connection", "close"),
        ("Content-Type", "text/html; charset=ISO-8859-1"),
        ("Set-Cookie", "PREF=ID=1111111111111111:FF=0; path=/"),
        ("Set-Cookie", "NID=69=Br7oRAwgmKoK; path=/; HttpOnly"),
        ("Server", "gws"),
    )
    assert (second.request.method, second.request.url) == ("POST", "http://www.example.com/search")
    assert second.request.headers == (("Content-Type", "application/json"),)
    assert (second.response.status, second.response.reason) == (201, "Created")
    assert second.response.body == b'{"hits": 0}'


def test_file_and_iterator_request_bodies_are_their_bytes() -> None:
    upload, stream = load_cassette(FIXTURES / "requests_file_bodies.yaml").exchanges
    assert upload.request.body == b"hello from a file"
    assert upload.response.status == 204
    assert stream.request.body == b"chunk1chunk2"


def test_httpx_old_format_reads_status_code_and_decoded_content() -> None:
    gzip, post = load_cassette(FIXTURES / "httpx_old_format.yaml").exchanges
    assert gzip.response.status == 200
    assert gzip.response.body.startswith(b'{\n  "gzipped": true')
    # httpx stored the decoded body: the headers are made to agree with it
    names = [name.lower() for name, _ in gzip.response.headers]
    assert "content-encoding" not in names
    assert ("Content-Length", str(len(gzip.response.body))) in gzip.response.headers
    assert gzip.extra == {"response_encoding": "gzip"}
    assert (post.response.status, post.response.body) == (201, b'{"created": true}')
    assert post.request.body == b'{"name": "x"}'


@pytest.mark.parametrize("name", ["tornado_py2", "requests_file_bodies", "httpx_old_format"])
def test_old_cassettes_convert_to_json_lines_and_back(tmp_path: Path, name: str) -> None:
    original = load_cassette(FIXTURES / f"{name}.yaml").exchanges
    convert_cassette(FIXTURES / f"{name}.yaml", tmp_path / "c.jsonl")
    convert_cassette(tmp_path / "c.jsonl", tmp_path / "c.yaml")
    assert load_cassette(tmp_path / "c.jsonl").exchanges == original
    assert load_cassette(tmp_path / "c.yaml").exchanges == original


_ENTRY = """\
- request:
    body: {body}
    headers: {{}}
    method: GET
    uri: http://example.com/
  response:
    body: {{string: ok}}
    headers: {{}}
    status: {{code: 200, message: OK}}
"""

_RUNNING = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:subprocess.check_output [['touch', '{marker}']]",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:vcr.request.Request {{body: '{marker}'}}",
    "!!python/object/apply:builtins.exec [\"open('{marker}', 'w')\"]",
    "!!python/object/new:_io.BytesIO [['{marker}']]",  # BytesIO only as vcrpy wrote it
]


@pytest.mark.parametrize("tag", _RUNNING)
@pytest.mark.parametrize("layout", ["vcrpy", "apitape"])
def test_code_running_tags_are_refused_naming_file_and_line(
    tmp_path: Path, tag: str, layout: str
) -> None:
    marker = tmp_path / "pwned"
    evil = tag.format(marker=marker)
    entries = _ENTRY.format(body="''") + _ENTRY.format(body=evil)
    if layout == "apitape":
        head = f"{HEADER_COMMENT}\nversion: 1\napitape: {{format: 1}}\ninteractions:\n"
        first, second = entries.split("- request:")[1:]
        text = (
            head
            + "- request:"
            + first
            + "# end of exchange 1\n- request:"
            + second
            + "# end of exchange 2\n"
        )
    else:
        text = "interactions:\n" + entries + "version: 1\n"
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    line = text.splitlines().index(f"    body: {evil}") + 1
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert "never runs a YAML tag" in message or "serialised request body" in message
    assert not marker.exists()


def test_a_tuple_tag_on_a_mapping_is_refused_with_its_line() -> None:
    text = "interactions:\n" + _ENTRY.format(body="!!python/tuple {a: 1}") + "version: 1\n"
    with pytest.raises(CassetteError, match=r"^c\.yaml, line 3: .*python/tuple must be a list"):
        parse_cassette(text, "c.yaml")
