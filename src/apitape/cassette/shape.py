"""The interaction shape every cassette format shares: an Exchange as vcrpy-style mappings.

An entry is vcrpy's `{request, response}` plus apitape's own `apitape` key; a header is
`{version, apitape}`. YAML and JSON lines store exactly these values, so a cassette converts
between the formats without loss. docs/cassette-format.md specifies the keys.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from apitape._version import __version__
from apitape.http.encoding import decoded
from apitape.models import Exchange, Headers, Request, Response

FORMAT_VERSION = 1


Entry = tuple[Any, int | None]
"""One `interactions` entry as a reader loaded it, and the line where it starts in the file."""


class FlowList(list[str]):
    """A list YAML writes on one line, like vcrpy's header values: `accept: ['*/*']`."""


class FlowDict(dict[str, Any]):
    """A mapping YAML writes on one line: `status: {code: 200, message: OK}`."""


class EntryError(Exception):
    """One interaction entry is not in the cassette format (the reader adds file and line)."""


def iso_utc(epoch_seconds: float | None = None, timespec: str = "microseconds") -> str:
    """A moment (default: now) as ISO-8601 UTC, the cassette's time format."""
    stamp = (
        datetime.now(UTC)
        if epoch_seconds is None
        else datetime.fromtimestamp(epoch_seconds, tz=UTC)
    )
    return stamp.isoformat(timespec=timespec).replace("+00:00", "Z")


def header_dict(created_at: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The top-level keys a new cassette starts with: vcrpy's version and apitape's header."""
    metadata: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "recorder": f"apitape {__version__}",
        "created_at": created_at,
    }
    metadata.update(extra or {})
    return {"version": 1, "apitape": metadata}


def torn_warning(path: str, line: int) -> str:
    """The warning for a cassette whose last exchange was cut off at `line`."""
    return (
        f"{path}, line {line}: the last exchange was cut off mid-write (the recorder was "
        "stopped or the disk filled); it was skipped and every exchange before it was loaded"
    )


# --------------------------------------------------------------------------- entries


def exchange_from_dict(entry: Any, index: int = 0) -> Exchange:
    """Build an Exchange from one `interactions` entry; bodies come back decoded."""
    if not isinstance(entry, dict):
        raise EntryError("each entry must be a mapping with 'request' and 'response'")
    for key in ("request", "response"):
        if not isinstance(entry.get(key), dict):
            raise EntryError(f"has no '{key}' mapping")
    request = _request_from_dict(entry["request"])
    response, response_encoding = _response_from_dict(entry["response"])
    meta = entry.get("apitape") or {}
    if not isinstance(meta, dict):
        raise EntryError("'apitape' must be a mapping")
    known = {"id", "recorded_at", "duration_ms", "client", "connection"}
    exchange_id = meta.get("id", index + 1)
    if not isinstance(exchange_id, str | int) or isinstance(exchange_id, bool):
        raise EntryError(f"apitape.id must be a number or a text, not {_shown(exchange_id)}")
    if type(exchange_id) is str and not exchange_id.isprintable():
        # it is written into the `# end of exchange ID` line, which must stay one line
        raise EntryError(f"apitape.id {_shown(exchange_id)} must be printable text on one line")
    extra = {k: v for k, v in meta.items() if k not in known}
    for key, value in extra.items():
        check_depth(value, f"apitape.{key}")
    if response_encoding and "response_encoding" not in extra:
        extra["response_encoding"] = response_encoding
    return Exchange(
        id=str(exchange_id),
        request=request,
        response=response,
        recorded_at=_optional_str(meta.get("recorded_at"), "apitape.recorded_at"),
        duration_ms=finite_number(meta.get("duration_ms"), "apitape.duration_ms"),
        client=_optional_str(meta.get("client"), "apitape.client"),
        connection=_optional_str(meta.get("connection"), "apitape.connection"),
        extra=extra,
    )


MAX_DEPTH = 64
"""How deeply apitape's per-exchange values may nest: far more than any real value, and far
less than what would exhaust Python's stack when the value is written or compared."""


def check_depth(value: Any, where: str, limit: int = MAX_DEPTH) -> None:
    """Raise EntryError when lists and mappings in `value` nest deeper than `limit`, or
    hold more than a million values (YAML aliases can make a few lines expand that far)."""
    level = [value]
    seen = 0
    for _ in range(limit + 1):
        level = [
            item
            for container in level
            if isinstance(container, dict | list)
            for item in (container.values() if isinstance(container, dict) else container)
        ]
        if not level:
            return
        seen += len(level)
        if seen > 1_000_000:
            raise EntryError(f"{where} holds more than a million values")
    raise EntryError(f"{where} nests lists or mappings more than {limit} levels deep")


def finite_number(value: Any, where: str) -> float | None:
    """A number as a float (None stays None); EntryError for anything else, infinities, NaN
    and integers too big for a float included."""
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):
        return value
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise EntryError(f"{where} must be a number, not {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise EntryError(f"{where} must be a finite number, not {_shown(value)}")
    return number


def _shown(value: Any) -> str:
    """A value for an error message: its repr, cut short (an integer of 5,000 digits has no
    repr at all: Python refuses to convert it)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    if isinstance(value, dict | list):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _optional_str(value: Any, where: str) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, dict | list | bytes):
        raise EntryError(f"{where} must be a text, not {_shown(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        raise EntryError(f"{where} must be a text, not {_shown(value)}")
    return str(value)


_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP method is a token (RFC 9110): no spaces, no control characters."""
_COMMON_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _request_from_dict(data: dict[str, Any]) -> Request:
    method, uri = data.get("method"), data.get("uri")
    if not isinstance(method, str) or not method:
        raise EntryError("request.method is missing")
    if method not in _COMMON_METHODS and not _METHOD.fullmatch(method):
        raise EntryError(f"request.method {_shown(method)} is not an HTTP method")
    if not isinstance(uri, str) or "://" not in uri:
        raise EntryError(f"request.uri must be an absolute URL, not {_shown(uri)}")
    _check_uri(uri)
    headers = _headers_from_dict(data.get("headers"), "request.headers")
    body = _body_bytes(data.get("body"), "request.body")
    headers, body, _ = decoded(headers, body)
    return Request(method=method.upper(), url=uri, headers=headers, body=body)


def _check_uri(uri: str) -> None:
    """Raise EntryError for a URI that no HTTP client could send (checked here, at load, so a
    replay or an export never meets it)."""
    if not uri.isprintable() and _CONTROL.search(uri):
        raise EntryError(
            f"request.uri {_shown(uri)} holds a control character; a URL cannot carry one "
            "unescaped (write it %-encoded, e.g. %0A for a newline)"
        )
    # The host and port are what urlsplit and HTTP clients can fail on; a cassette has few
    # distinct ones, so they are checked once each (a full urlsplit per exchange costs more
    # than the rest of reading the entry).
    rest = uri.partition("://")[2]
    end = len(rest)
    for separator in "/?#":
        at = rest.find(separator, 0, end)
        if at >= 0:
            end = at
    problem = _netloc_problem(rest[:end])
    if problem:
        raise EntryError(f"request.uri {_shown(uri)} is not a valid URL ({problem})")


@functools.lru_cache(maxsize=256)
def _netloc_problem(netloc: str) -> str | None:
    """What is wrong with a URL's host and port, or None; a cassette has few distinct ones."""
    if not netloc:
        return "it has no host"
    try:
        urlsplit(f"http://{netloc}/").port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:  # `[::1`: an unclosed IPv6 bracket; a port beyond 65535
        return str(exc)
    return None


def _response_from_dict(data: dict[str, Any]) -> tuple[Response, str | None]:
    """The response, and the Content-Encoding its stored body no longer has (old httpx)."""
    if "status" not in data and "status_code" in data:
        return _old_httpx_response(data)
    status = data.get("status")
    if isinstance(status, dict):
        code, reason = status.get("code"), status.get("message") or ""
    else:
        code, reason = status, ""
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 999:
        raise EntryError(f"response.status.code must be an HTTP status number, not {_shown(code)}")
    headers = _headers_from_dict(data.get("headers"), "response.headers")
    body_field = data.get("body")
    if isinstance(body_field, dict):
        body_field = body_field.get("string")
    body = _body_bytes(body_field, "response.body.string")
    headers, body, _ = decoded(headers, body)
    return Response(status=code, reason=_reason(reason), headers=headers, body=body), None


def _old_httpx_response(data: dict[str, Any]) -> tuple[Response, str | None]:
    """vcrpy's httpx stub before vcrpy 4.2 stored `status_code`, `http_version` and `content`
    (httpx's decoded body: its Content-Encoding is already undone) instead of `status` and
    `body`. The headers are made to agree with the decoded body, as for HAR files."""
    code = data.get("status_code")
    if not isinstance(code, int) or isinstance(code, bool) or not 100 <= code <= 999:
        raise EntryError(f"response.status_code must be an HTTP status number, not {_shown(code)}")
    headers = _headers_from_dict(data.get("headers"), "response.headers")
    body = _body_bytes(data.get("content"), "response.content")
    encoding = None
    for name, value in headers:
        if name.lower() == "content-encoding":
            encoding = value
    if encoding and body:
        headers = tuple(
            (name, str(len(body)) if name.lower() == "content-length" else value)
            for name, value in headers
            if name.lower() != "content-encoding"
        )
    return Response(status=code, reason="", headers=headers, body=body), encoding if body else None


def _reason(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, dict | list | bytes):
        raise EntryError(f"response.status.message must be a text, not {_shown(value)}")
    return str(value)


def _headers_from_dict(data: Any, where: str) -> Headers:
    """vcrpy's `{name: [values]}`; also the `[[name, [values]], ...]` list of pairs that
    vcrpy's tornado stub wrote (as `!!python/tuple` pairs) on older Pythons."""
    if data is None:
        return ()
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in data):
        items = data
    else:
        raise EntryError(f"{where} must map header names to lists of values")
    pairs: list[tuple[str, str]] = []
    for name, values in items:
        key = name if type(name) is str else _header_text(name, f"{where}: a header name")
        for value in values if isinstance(values, list) else [values]:
            if type(value) is not str:
                value = _header_text(value, f"{where}: the value of {key!r}")
            pairs.append((key, value))
    return tuple(pairs)


def _header_text(value: Any, what: str) -> str:
    """A header name or value that YAML read as another scalar (`1`, `true`) as text."""
    if isinstance(value, str):
        return value
    if not isinstance(value, int | float | bool | None) or (
        isinstance(value, int) and value.bit_length() > 64
    ):
        raise EntryError(f"{what} must be text, not {_shown(value)}")
    return str(value)


def _body_bytes(value: Any, where: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EntryError(
                f"{where} holds a lone surrogate ({value[exc.start]!r}), which is not a "
                "character: a binary body must be stored as bytes (!!binary or base64)"
            ) from None
    raise EntryError(f"{where} must be text or !!binary, not {type(value).__name__}")


def exchange_to_dict(exchange: Exchange) -> dict[str, Any]:
    """The `interactions` entry for an exchange, keys in their documented order.

    Bodies are `str` when they are UTF-8 and `bytes` otherwise; each format stores bytes its
    own exact way (YAML `!!binary`, JSON lines `{"base64": ...}`).
    """
    request, response = exchange.request, exchange.response
    meta: dict[str, Any] = {"id": _id_value(exchange.id)}
    for key in ("recorded_at", "duration_ms", "client", "connection"):
        value = getattr(exchange, key)
        if value is not None:
            meta[key] = round(value, 3) if key == "duration_ms" else value
    meta.update(exchange.extra)
    return {
        "request": {
            "method": request.method,
            "uri": request.url,
            "headers": _headers_to_dict(request.headers),
            "body": _body_value(request.body),
        },
        "response": {
            "status": FlowDict(code=response.status, message=response.reason),
            "headers": _headers_to_dict(response.headers),
            "body": {"string": _body_value(response.body)},
        },
        "apitape": meta,
    }


def _id_value(exchange_id: str) -> int | str:
    return (
        int(exchange_id)
        if exchange_id.isdigit() and not exchange_id.startswith("0")
        else exchange_id
    )


def _headers_to_dict(headers: Headers) -> dict[str, FlowList]:
    # vcrpy keys headers by name; repeats of a name (in any case) share one list, in order.
    by_name: dict[str, FlowList] = {}
    canonical: dict[str, str] = {}
    for name, value in headers:
        key = canonical.setdefault(name.lower(), name)
        by_name.setdefault(key, FlowList()).append(value)
    return by_name


def _body_value(body: bytes) -> str | bytes:
    """Text when the body is UTF-8 (readable in the file), else bytes."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
