"""JSON-lines cassettes (`.jsonl`): the YAML format's values, one compact JSON object per line.

The first line is the header (`{"version": 1, "apitape": {...}}`, the YAML header's keys);
every further line is one interaction entry of exactly the YAML shape. A text body is a JSON
string; a body that is not UTF-8 is `{"base64": "..."}`. Each line is written whole with its
newline and flushed, so a file cut off mid-write ends in a line without a newline, which the
reader drops with a warning. `apitape.fastjson` encodes and parses: orjson when it is
installed, the standard json module otherwise, with the same result.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from apitape import fastjson
from apitape.cassette.shape import Entry, torn_warning
from apitape.errors import CassetteError

BASE64_KEY = "base64"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def entry_line(entry: dict[str, Any]) -> bytes:
    """An interaction entry (`exchange_to_dict`'s shape) as its line; binary bodies as base64."""
    request, response_body = entry["request"], entry["response"]["body"]
    if isinstance(request["body"], bytes):
        request["body"] = _packed(request["body"])
    if isinstance(response_body["string"], bytes):
        response_body["string"] = _packed(response_body["string"])
    return dumps_line(entry)


def dumps_line(value: Any) -> bytes:
    """One value as a compact JSON line, newline included."""
    try:
        return fastjson.dumps(value) + b"\n"
    except TypeError:  # bytes or a YAML timestamp among apitape's per-exchange keys
        return fastjson.dumps(_jsonable(value)) + b"\n"


def _packed(body: bytes) -> dict[str, str]:
    return {BASE64_KEY: base64.b64encode(body).decode("ascii")}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return _packed(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def looks_like_jsonl(first_line: str) -> bool:
    """Whether a file's first non-blank line is a JSON-lines cassette header."""
    try:
        header = fastjson.loads(first_line)
    except ValueError:
        return False
    return isinstance(header, dict) and "interactions" not in header and "request" not in header


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed line holds a string that is not valid Unicode (JSON's `\\ud800`
    escapes allow it; UTF-8, YAML and every writer refuse it)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class JsonlReader:
    """Reads one JSON-lines cassette's entries in order; `metadata` is its `apitape` header.

    `lines` are the file's lines. A last line without its newline that is not a whole JSON
    object is a torn write: dropped, with a warning appended to `warnings`.
    """

    def __init__(self, path: str, lines: Iterable[str], warnings: list[str]) -> None:
        self.path = path
        self.metadata: dict[str, Any] = {}
        self._lines = lines
        self._warnings = warnings

    def entries(self) -> Iterator[Entry]:
        """Each interaction entry after the header, bodies as str or bytes."""
        header_seen = False
        for number, line in enumerate(self._lines, 1):
            if not line.strip():
                continue
            try:
                value = fastjson.loads(line)
            except RecursionError:
                raise self._error(number, "nests arrays or objects too deeply to be read") from None
            except ValueError as exc:
                if not line.endswith("\n"):
                    self._warnings.append(torn_warning(self.path, number))
                    return
                if "integer string conversion" in str(exc):
                    raise self._error(
                        number, "holds an integer of more than 4,300 digits, more than Python reads"
                    ) from None
                raise self._error(number, f"is not JSON ({exc})") from None
            if "\\u" in line and _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(value):
                raise self._error(
                    number,
                    "holds a \\ud800-\\udfff escape that is not half of a surrogate pair, "
                    'so not a character: text must be Unicode, bytes go in {"base64": ...}',
                )
            if not isinstance(value, dict):
                raise self._error(number, f"is a JSON {type(value).__name__}, not an object")
            if not header_seen:
                header_seen = True
                if "request" in value or "interactions" in value:
                    raise CassetteError(
                        self.path,
                        "is not a JSON-lines cassette: its first line must be the header "
                        '{"version": 1, "apitape": {...}} (see docs/cassette-format.md)',
                        number,
                    )
                meta = value.get("apitape")
                self.metadata = meta if isinstance(meta, dict) else {}
                continue
            yield self._unpack_bodies(value, number), number
        if not header_seen:
            raise CassetteError(
                self.path, "is empty; a JSON-lines cassette starts with its header line"
            )

    def _unpack_bodies(self, entry: dict[str, Any], number: int) -> dict[str, Any]:
        request, response = entry.get("request"), entry.get("response")
        if isinstance(request, dict) and isinstance(request.get("body"), dict):
            request["body"] = self._bytes(request["body"], "request.body", number)
        body = response.get("body") if isinstance(response, dict) else None
        if isinstance(body, dict) and isinstance(body.get("string"), dict):
            body["string"] = self._bytes(body["string"], "response.body.string", number)
        return entry

    def _bytes(self, value: dict[str, Any], where: str, number: int) -> bytes:
        encoded = value.get(BASE64_KEY)
        if set(value) != {BASE64_KEY} or not isinstance(encoded, str):
            raise self._error(number, f'{where} must be text or {{"base64": "..."}}')
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise self._error(number, f"{where}.base64 is not base64 ({exc})") from None

    def _error(self, number: int, problem: str) -> CassetteError:
        return CassetteError(
            self.path, f"{problem}; each line must be one JSON object, fix it or re-record", number
        )
