"""Property-based fuzzing of every file apitape reads: it loads, or it says which file is bad.

Cassettes in both formats, apitape.yaml configs, HAR files and OpenAPI documents are built
from valid ones with values swapped for hostile ones (integers of 5,000 digits, NaN and
infinities, deep nesting, lone surrogates, control characters, broken IPv6 hosts, YAML
tags). The property: loading either succeeds, and what was loaded can be written again, or
it raises an ApitapeError whose message starts with the file's name; never another
exception. CI runs a fixed budget with a fixed seed (derandomize); a longer search:

    APITAPE_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/unit/test_fuzz_inputs.py
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apitape.cassette.store import load_cassette, write_cassette
from apitape.config import load_config
from apitape.contract.openapi import load_openapi
from apitape.errors import ApitapeError
from apitape.interop.har import exchanges_from_har, har_document

FUZZ = settings(
    max_examples=int(os.environ.get("APITAPE_FUZZ_EXAMPLES", "200")),
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_HUGE = "9" * 5000
_HOSTILE_TEXT = [
    _HUGE,
    "-" + "9" * 400,
    "1e400",
    ".inf",
    "-.inf",
    ".nan",
    "NaN",
    "Infinity",
    "http://[::1/x",
    "http://x:99999999/",
    "http://x/a\x01b",
    "http://x/\ud800",
    "\ud800",
    "\udcff",
    "GE T",
    "",
    "2024-02-30",
    "2024-02-30T10:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "!!python/object/apply:os.system ['true']",
    "!!python/tuple [a, b]",
    "!!binary ###",
    "&a [*a]",
    "[" * 3000 + "]" * 3000,
]


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


_hostile: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(_HOSTILE_TEXT),
    st.sampled_from([10**400, -(10**400), 10**5000, float("inf"), float("nan"), True, None]),
    st.sampled_from([_deep(50), _deep(150), _deep(900), {"a": _deep(600)}, [], {}]),
    st.text(max_size=12),
    st.integers(),
    st.floats(),
)


def _dump_json(value: Any) -> str:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)  # write the 5,000-digit integers the reader must refuse
    try:
        return json.dumps(value, allow_nan=True)
    except RecursionError:
        return "[" * 3000 + "]" * 3000
    finally:
        sys.set_int_max_str_digits(old)


def _yaml_scalar(value: Any) -> str:
    """A value as YAML text: hostile strings raw (they may be YAML syntax), others as JSON."""
    if isinstance(value, str) and value in _HOSTILE_TEXT:
        return value
    return _dump_json(value)


def _replace_at(data: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(data, dict):
        copy = dict(data)
        copy[head] = _replace_at(copy.get(head), rest, value)
        return copy
    if isinstance(data, list) and isinstance(head, int) and head < len(data):
        copy = list(data)
        copy[head] = _replace_at(copy[head], rest, value)
        return copy
    return data


def _paths(data: Any, prefix: list[Any]) -> list[list[Any]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, [*prefix, key])
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, [*prefix, index])
    return found


def _mutated(base: Any) -> st.SearchStrategy[Any]:
    paths = _paths(base, [])

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        data = base
        for _ in range(draw(st.integers(1, 3))):
            data = _replace_at(data, draw(st.sampled_from(paths)), draw(_hostile))
        return data

    return build()


def _assert_named(exc: ApitapeError, path: Path) -> None:
    assert str(exc).startswith(str(path)), f"error does not name {path}: {exc}"
    assert "\n" not in str(exc).strip(), f"not one line: {exc!r}"


# --------------------------------------------------------------------------- cassettes

_ENTRY: dict[str, Any] = {
    "request": {
        "method": "POST",
        "uri": "http://staging.example:8000/books?notify=1",
        "headers": {"Content-Type": ["application/json"], "Accept": ["a", "b"]},
        "body": '{"title": "Dune"}',
    },
    "response": {
        "status": {"code": 201, "message": "Created"},
        "headers": {"Content-Type": ["application/json"]},
        "body": {"string": '{"id": 31, "price": 12.5}'},
    },
    "apitape": {"id": 1, "recorded_at": "2026-11-24T10:00:00Z", "duration_ms": 3.0},
}
_HEADER: dict[str, Any] = {"version": 1, "apitape": {"format": 1, "recorder": "apitape 0.1.0"}}


def _check_cassette(path: Path, tmp: Path) -> None:
    try:
        cassette = load_cassette(path)
    except ApitapeError as exc:
        _assert_named(exc, path)
        return
    # What loaded can be written again in both formats and exported, without a traceback.
    write_cassette(tmp / "again.yaml", cassette.exchanges)
    write_cassette(tmp / "again.jsonl", cassette.exchanges)
    json.dumps(har_document(cassette.exchanges, "test"), ensure_ascii=False).encode("utf-8")
    # repr: a NaN among apitape's own values is not equal to itself, but reads back the same
    assert repr(load_cassette(tmp / "again.yaml").exchanges) == repr(cassette.exchanges)
    assert repr(load_cassette(tmp / "again.jsonl").exchanges) == repr(cassette.exchanges)


@FUZZ
@given(entry=_mutated(_ENTRY), header=_mutated(_HEADER))
def test_fuzzed_jsonl_cassettes(tmp_path_factory: Any, entry: Any, header: Any) -> None:
    tmp = tmp_path_factory.mktemp("jsonl")
    path = tmp / "fuzz.jsonl"
    path.write_text(
        _dump_json(header) + "\n" + _dump_json(entry) + "\n",
        encoding="utf-8",
        errors="surrogatepass",
    )
    _check_cassette(path, tmp)


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            if isinstance(item, dict) and item:
                lines += [f"{pad}{_yaml_scalar(key)}:", *_yaml_lines(item, indent + 2)]
            else:
                lines.append(f"{pad}{_yaml_scalar(key)}: {_yaml_scalar(item)}")
        return lines
    return [f"{pad}{_yaml_scalar(value)}"]


@FUZZ
@given(entry=_mutated(_ENTRY), ours=st.booleans(), marker=st.booleans())
def test_fuzzed_yaml_cassettes(tmp_path_factory: Any, entry: Any, ours: bool, marker: bool) -> None:
    tmp = tmp_path_factory.mktemp("yaml")
    path = tmp / "fuzz.yaml"
    body = _yaml_lines(entry, 2)
    body[0] = "- " + body[0][2:] if body else "- {}"
    head = (
        "# apitape cassette, format 1: vcrpy-compatible YAML, see docs/cassette-format.md\n"
        if ours
        else ""
    )
    text = head + "version: 1\ninteractions:\n" + "\n".join(body) + "\n"
    if marker:
        text += "# end of exchange 1\n"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check_cassette(path, tmp)


# --------------------------------------------------------------------------- apitape.yaml

_CONFIG: dict[str, Any] = {
    "masks": {"uuid": True},
    "templates": ["/books/{isbn}"],
    "rules": {"ignore": ["$.meta"], "tolerance": 0.01, "text_masks": ["served in \\d+ ms"]},
    "endpoints": {"GET /books/{id}": {"tolerance": {"$.price": 0.5}, "skip": False}},
    "redact": {"values": ["ACME-\\d{6}"]},
}


@FUZZ
@given(config=_mutated(_CONFIG))
def test_fuzzed_configs(tmp_path_factory: Any, config: Any) -> None:
    path = tmp_path_factory.mktemp("config") / "apitape.yaml"
    text = "\n".join(_yaml_lines(config, 0)) + "\n"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path, required=True)
    except ApitapeError as exc:
        _assert_named(exc, path)


# --------------------------------------------------------------------------- HAR

_HAR: dict[str, Any] = {
    "log": {
        "version": "1.2",
        "creator": {"name": "browser", "version": "1"},
        "entries": [
            {
                "startedDateTime": "2024-01-01T00:00:00.000Z",
                "time": 12.5,
                "request": {
                    "method": "POST",
                    "url": "http://api.example/books?x=1",
                    "headers": [{"name": "Content-Type", "value": "application/json"}],
                    "postData": {"mimeType": "application/json", "text": '{"a": 1}'},
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "headers": [{"name": "Content-Type", "value": "text/plain"}],
                    "content": {"mimeType": "text/plain", "text": "hello"},
                },
                "timings": {"wait": 10, "receive": 2.5},
                "_apitape": {"id": 7, "duration_ms": 12.5, "note": "x"},
            }
        ],
    }
}


@FUZZ
@given(har=_mutated(_HAR))
def test_fuzzed_har_files(tmp_path_factory: Any, har: Any) -> None:
    tmp = tmp_path_factory.mktemp("har")
    path = tmp / "fuzz.har"
    path.write_text(_dump_json(har), encoding="utf-8", errors="surrogatepass")
    try:
        exchanges, _ = exchanges_from_har(path)
    except ApitapeError as exc:
        _assert_named(exc, path)
        return
    numbered = [e.with_id(str(n)) for n, e in enumerate(exchanges, 1)]
    write_cassette(tmp / "imported.yaml", numbered)
    write_cassette(tmp / "imported.jsonl", numbered)


# --------------------------------------------------------------------------- OpenAPI

_OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Books", "version": "1"},
    "servers": [{"url": "http://api.example/v1"}],
    "paths": {
        "/books/{id}": {
            "get": {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {
                    "200": {
                        "description": "a book",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Book"}}
                        },
                    }
                },
            }
        }
    },
    "components": {
        "schemas": {
            "Book": {
                "type": "object",
                "properties": {"price": {"type": "number", "maximum": 1000}},
            }
        }
    },
}


@FUZZ
@given(document=_mutated(_OPENAPI), as_json=st.booleans())
def test_fuzzed_openapi_documents(tmp_path_factory: Any, document: Any, as_json: bool) -> None:
    tmp = tmp_path_factory.mktemp("openapi")
    path = tmp / ("openapi.json" if as_json else "openapi.yaml")
    text = _dump_json(document) if as_json else "\n".join(_yaml_lines(document, 0)) + "\n"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_openapi(str(path))
    except ApitapeError as exc:
        _assert_named(exc, path)
