"""JSON parsing and canonical encoding on the hot path: orjson where it can, json otherwise.

orjson is imported here and nowhere else. It parses several times faster than json, but it
refuses what json accepts (integers beyond 64 bits, NaN), so those fall back to json: the
result is always what json would give.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a declared dependency; json still works
    orjson = None  # type: ignore[assignment]


def loads(text: str | bytes) -> Any:
    """Parse JSON text; ValueError when it is not JSON."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # maybe JSON that only json accepts (NaN, huge integers): it decides
    return json.loads(text)


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes, keys in their order (one line: no newline inside)."""
    if orjson is not None:
        try:
            return orjson.dumps(value)
        except TypeError:
            pass  # an integer beyond 64 bits: json encodes it
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical(value: Any) -> bytes:
    """One encoding per JSON value: keys sorted, no spaces; 1, 1.0 and true stay distinct
    (unlike ==). Two values are the same JSON exactly when their encodings are equal."""
    if orjson is not None:
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            pass  # a value orjson does not encode (an integer beyond 64 bits): json does
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")
