"""The interaction shape every cassette format shares: an Exchange as vcrpy-style mappings.

An entry is vcrpy's `{request, response}` plus apitape's own `apitape` key; a header is
`{version, apitape}`. YAML and JSON lines store exactly these values, so a cassette converts
between the formats without loss. docs/cassette-format.md specifies the keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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
    response = _response_from_dict(entry["response"])
    meta = entry.get("apitape") or {}
    if not isinstance(meta, dict):
        raise EntryError("'apitape' must be a mapping")
    known = {"id", "recorded_at", "duration_ms", "client", "connection"}
    exchange_id = meta.get("id", index + 1)
    duration = meta.get("duration_ms")
    if duration is not None and not isinstance(duration, int | float):
        raise EntryError(f"apitape.duration_ms must be a number, not {duration!r}")
    return Exchange(
        id=str(exchange_id),
        request=request,
        response=response,
        recorded_at=_optional_str(meta.get("recorded_at")),
        duration_ms=float(duration) if duration is not None else None,
        client=_optional_str(meta.get("client")),
        connection=_optional_str(meta.get("connection")),
        extra={k: v for k, v in meta.items() if k not in known},
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _request_from_dict(data: dict[str, Any]) -> Request:
    method, uri = data.get("method"), data.get("uri")
    if not isinstance(method, str) or not method:
        raise EntryError("request.method is missing")
    if not isinstance(uri, str) or "://" not in uri:
        raise EntryError(f"request.uri must be an absolute URL, not {uri!r}")
    headers = _headers_from_dict(data.get("headers"), "request.headers")
    body = _body_bytes(data.get("body"), "request.body")
    headers, body, _ = decoded(headers, body)
    return Request(method=method.upper(), url=uri, headers=headers, body=body)


def _response_from_dict(data: dict[str, Any]) -> Response:
    status = data.get("status")
    if isinstance(status, dict):
        code, reason = status.get("code"), status.get("message") or ""
    else:
        code, reason = status, ""
    if not isinstance(code, int) or not 100 <= code <= 999:
        raise EntryError(f"response.status.code must be an HTTP status number, not {code!r}")
    headers = _headers_from_dict(data.get("headers"), "response.headers")
    body_field = data.get("body")
    if isinstance(body_field, dict):
        body_field = body_field.get("string")
    body = _body_bytes(body_field, "response.body.string")
    headers, body, _ = decoded(headers, body)
    return Response(status=code, reason=str(reason), headers=headers, body=body)


def _headers_from_dict(data: Any, where: str) -> Headers:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise EntryError(f"{where} must map header names to lists of values")
    pairs: list[tuple[str, str]] = []
    for name, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(name), str(value)))
    return tuple(pairs)


def _body_bytes(value: Any, where: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
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
