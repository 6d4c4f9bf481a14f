"""HAR 1.2 files (HTTP Archive): import their entries as exchanges, export exchanges as HAR.

Browsers' developer tools, mitmproxy (`--set hardump=PATH`), Charles and Fiddler write HAR.
A HAR body is already HTTP-decoded: its text is what the Content-Encoding stood for. So an
imported exchange drops the Content-Encoding header (kept in `response_encoding`, as capture
does) and its Content-Length is rewritten to the decoded size. HAR keeps bodies as text; the
bytes are the text encoded in the Content-Type's charset (UTF-8 when none is given, except in
files mitmproxy wrote, which follow mitmproxy's own guess). Exported bodies go in as text only
when every HAR reader turns the text back into the same bytes, and as base64 otherwise.

This module only reads and writes JSON; it loads no proxy or HTTP library.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import json
import math
import os
import re
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from apitape.cassette import iso_utc
from apitape.cassette.shape import EntryError, check_depth
from apitape.errors import ImportFileError
from apitape.files import write_atomically
from apitape.http.encoding import DECODERS
from apitape.models import Exchange, Headers, Request, Response, first_header, header_values

HAR_VERSION = "1.2"
EPOCH = "1970-01-01T00:00:00.000000Z"
"""startedDateTime of an exported exchange whose recording time is unknown."""
APITAPE_KEY = "_apitape"
"""The custom field (HAR's custom fields start with `_`) holding apitape's data per entry."""
_METADATA = ("id", "recorded_at", "duration_ms", "client", "connection")
_FIX = "fix or remove this entry, or export the HAR file again"


class _BadEntry(Exception):
    """One entry is not HAR as apitape reads it; `key` is where, inside the entry."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------- reading


def exchanges_from_har(path: str | os.PathLike[str]) -> tuple[list[Exchange], int]:
    """The exchanges of a HAR file in its order, and how many entries had no response.

    An entry whose response status is 0 (the request failed or was blocked) has nothing to
    replay and is skipped. Ids are left empty unless the file carries apitape's own.
    Raises ImportFileError naming the file and, for a bad entry, `log.entries[i].key`.
    """
    name = str(path)
    data = _load_json(path, name)
    log = data.get("log") if isinstance(data, dict) else None
    if not isinstance(log, dict):
        raise ImportFileError(
            name,
            "is not a HAR file: it has no 'log' object at the top; "
            "export the traffic as HAR 1.2 (HTTP Archive)",
        )
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise ImportFileError(
            name, "must be a list of entries; export the HAR file again", "log.entries"
        )
    creator = log.get("creator")
    creator_name = creator.get("name") if isinstance(creator, dict) else None
    by_mitmproxy = isinstance(creator_name, str) and creator_name.startswith("mitmproxy")
    exchanges: list[Exchange] = []
    skipped = 0
    for index, entry in enumerate(entries):
        try:
            exchange = _entry_to_exchange(entry, by_mitmproxy)
        except _BadEntry as exc:
            where = f"log.entries[{index}]" + (f".{exc.key}" if exc.key else "")
            raise ImportFileError(name, f"{exc.problem}; {_FIX}", where) from None
        if exchange is None:
            skipped += 1
        else:
            exchanges.append(exchange)
    return exchanges, skipped


def _load_json(path: str | os.PathLike[str], name: str) -> Any:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ImportFileError(name, "no such file; check the path") from None
    except IsADirectoryError:
        raise ImportFileError(name, "is a directory; give the path of a HAR file") from None
    except OSError as exc:
        raise ImportFileError(name, f"cannot be read ({exc.strerror})") from None
    if name.endswith(".zhar") or raw[:1] == b"\x78":  # mitmproxy's zlib-compressed HAR
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            if name.endswith(".zhar"):
                raise ImportFileError(
                    name, "is not a zlib-compressed HAR file (.zhar); check the file"
                ) from None
    try:
        text = raw.decode("utf-8-sig")  # Fiddler starts its files with a byte order mark
    except UnicodeDecodeError:
        raise ImportFileError(
            name, "is not a HAR file: HAR is JSON text, this file is binary"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            name,
            f"is not a HAR file: not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); export the HAR file again",
        ) from None
    except RecursionError:
        raise ImportFileError(
            name, "nests arrays or objects too deeply to be read; export the HAR file again"
        ) from None
    except ValueError as exc:  # valid JSON, but an integer of more than 4,300 digits
        raise ImportFileError(name, f"holds a value that cannot be read ({exc})") from None


def _entry_to_exchange(entry: Any, by_mitmproxy: bool) -> Exchange | None:
    if not isinstance(entry, dict):
        raise _BadEntry("", "must be an object with 'request' and 'response'")
    request = _field(entry, "request", dict, "")
    response = _field(entry, "response", dict, "")
    status = _field(response, "status", int, "response.")
    if status == 0:
        return None  # no response: the request failed, was blocked or is still pending
    if not 100 <= status <= 999:
        shown = status if status.bit_length() < 64 else "a number that large"
        raise _BadEntry("response.status", f"must be an HTTP status code, not {shown}")
    method = _field(request, "method", str, "request.")
    url = _field(request, "url", str, "request.")
    if not method.strip():
        raise _BadEntry("request.method", "is empty")
    if not _METHOD.fullmatch(method):
        raise _BadEntry("request.method", f"{_cut(method)!r} is not an HTTP method")
    _check_url(url)
    request_headers = _headers(request.get("headers"), "request.headers")
    response_headers = _headers(response.get("headers"), "response.headers")
    request_body = _post_data(request.get("postData"), request_headers, by_mitmproxy)
    response_body = _content(response.get("content"), response_headers, by_mitmproxy)
    request_headers, request_body, request_encoding = _as_decoded(request_headers, request_body)
    response_headers, response_body, response_encoding = _as_decoded(
        response_headers, response_body
    )
    extra: dict[str, Any] = {}
    if request_encoding:
        extra["request_encoding"] = request_encoding
    if response_encoding:
        extra["response_encoding"] = response_encoding
    connection = entry.get("connection")
    meta: dict[str, Any] = {
        "id": "",
        "recorded_at": _started(entry.get("startedDateTime")),
        "duration_ms": _duration(entry),
        "client": None,
        "connection": None if connection is None else str(connection),
    }
    own = entry.get(APITAPE_KEY)
    if own is not None:
        if not isinstance(own, dict):
            raise _BadEntry(APITAPE_KEY, "must be an object")
        meta.update(_apitape_metadata(own))
        extra.update({k: v for k, v in own.items() if k not in _METADATA})
        _check_values(extra, APITAPE_KEY)
    reason = response.get("statusText")
    if isinstance(reason, str):
        _check_text(reason, "response.statusText")
    if meta["connection"] is not None:
        _check_text(meta["connection"], "connection")
    return Exchange(
        id=meta["id"],
        request=Request(method.upper(), url, request_headers, request_body),
        response=Response(
            status, reason if isinstance(reason, str) else "", response_headers, response_body
        ),
        recorded_at=meta["recorded_at"],
        duration_ms=meta["duration_ms"],
        client=meta["client"],
        connection=meta["connection"],
        extra=extra,
    )


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer"}
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _cut(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _check_url(url: str) -> None:
    """An absolute http(s) URL an HTTP client can send: no control characters, a valid host
    and port, and Unicode text (a lone surrogate from a `\\ud800` escape is not)."""
    if _CONTROL.search(url):
        raise _BadEntry(
            "request.url",
            f"{_cut(url)!r} holds a control character; a URL carries one %-encoded (%0A)",
        )
    _check_text(url, "request.url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:  # an unclosed IPv6 bracket, a port beyond 65535
        raise _BadEntry("request.url", f"{_cut(url)!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _BadEntry("request.url", f"must be an absolute http(s) URL, not {_cut(url)!r}")


def _check_values(values: dict[str, Any], where: str) -> None:
    """apitape's own values must be writable to a cassette: Unicode, and not nested deeper
    than a cassette keeps."""
    try:
        check_depth(values, where)
    except EntryError as exc:
        raise _BadEntry(where, str(exc).removeprefix(f"{where} ")) from None
    try:
        json.dumps(values, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise _BadEntry(where, "holds half of a surrogate pair, which is not a character") from None


def _check_text(text: str, where: str) -> None:
    """Raise _BadEntry for text with a lone surrogate (JSON's `\\ud800` escape allows it)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _BadEntry(
                where,
                f"holds {text[exc.start]!r}, half of a surrogate pair and not a character",
            ) from None


def _field(data: dict[str, Any], key: str, kind: type, prefix: str) -> Any:
    """`data[key]`, which must be there and of `kind` (a bool is not a number)."""
    if key not in data or data[key] is None:
        raise _BadEntry(f"{prefix}{key}", "is missing")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _BadEntry(
            f"{prefix}{key}", f"must be {_TYPE_NAMES[kind]}, not {type(value).__name__}"
        )
    return value


def _headers(data: Any, where: str) -> Headers:
    """HAR's `[{name, value}]` (or Slack's `[[name, value]]`), without HTTP/2 pseudo-headers."""
    if data is None:
        return ()
    if not isinstance(data, list):
        raise _BadEntry(where, "must be a list of {name, value} objects")
    pairs: list[tuple[str, str]] = []
    for index, header in enumerate(data):
        if isinstance(header, dict):
            name, value = header.get("name"), header.get("value", "")
        elif isinstance(header, list) and len(header) == 2:
            name, value = header
        else:
            raise _BadEntry(f"{where}[{index}]", "must be a {name, value} object")
        if not isinstance(name, str) or not name:
            raise _BadEntry(f"{where}[{index}].name", "must be a header name")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise _BadEntry(f"{where}[{index}].value", "must be a string")
        if isinstance(value, int) and value.bit_length() > 64:
            raise _BadEntry(f"{where}[{index}].value", "must be a string, not a huge number")
        _check_text(name, f"{where}[{index}].name")
        if isinstance(value, str):
            _check_text(value, f"{where}[{index}].value")
        if not name.startswith(":"):  # :authority, :path... are not headers to send
            pairs.append((name, str(value)))
    return tuple(pairs)


def _post_data(data: Any, headers: Headers, by_mitmproxy: bool) -> bytes:
    if data is None:
        return b""
    if not isinstance(data, dict):
        raise _BadEntry("request.postData", "must be an object")
    mime_type = first_header(headers, "content-type") or _optional_text(
        data.get("mimeType"), "request.postData.mimeType"
    )
    text = data.get("text")
    if text is not None:
        if not isinstance(text, str):
            raise _BadEntry("request.postData.text", "must be a string")
        # HAR has no encoding field for request bodies; `_encoding` is apitape's own.
        encoding = data.get("_encoding", data.get("encoding"))
        return _text_bytes(text, encoding, mime_type, by_mitmproxy, "request.postData")
    params = data.get("params")
    if not params:
        return b""
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise _BadEntry("request.postData.params", "must be a list of {name, value} objects")
    return _form_body(params, mime_type)


def _form_body(params: list[dict[str, Any]], mime_type: str) -> bytes:
    """The body a form with these fields was sent as (HAR gave the fields, not the text)."""
    fields: list[tuple[str, str, dict[str, Any]]] = []
    for index, param in enumerate(params):
        name, value = param.get("name"), param.get("value", "")
        if not isinstance(name, str) or not isinstance(value, str):
            raise _BadEntry(
                f"request.postData.params[{index}]", "needs a string 'name' and 'value'"
            )
        _check_text(name, f"request.postData.params[{index}].name")
        _check_text(value, f"request.postData.params[{index}].value")
        fields.append((name, value, param))
    if not mime_type.lower().startswith("multipart/form-data"):
        return urlencode([(name, value) for name, value, _ in fields]).encode("utf-8")
    boundary = re.search(r"boundary=\"?([^\";]+)\"?", mime_type)
    if boundary is None:
        raise _BadEntry(
            "request.postData.mimeType",
            "is multipart/form-data without a boundary, and the entry has no postData.text: "
            "the body cannot be rebuilt",
        )
    lines: list[str] = []
    for name, value, param in fields:
        disposition = f'form-data; name="{name}"'
        if isinstance(param.get("fileName"), str):
            disposition += f'; filename="{param["fileName"]}"'
        lines += [f"--{boundary.group(1)}", f"Content-Disposition: {disposition}"]
        if isinstance(param.get("contentType"), str):
            lines.append(f"Content-Type: {param['contentType']}")
        lines += ["", value]
    lines += [f"--{boundary.group(1)}--", ""]
    try:
        return "\r\n".join(lines).encode("utf-8")
    except UnicodeEncodeError:
        raise _BadEntry(
            "request.postData", "holds half of a surrogate pair, which is not a character"
        ) from None


def _content(data: Any, headers: Headers, by_mitmproxy: bool) -> bytes:
    if data is None:
        return b""
    if not isinstance(data, dict):
        raise _BadEntry("response.content", "must be an object")
    text = data.get("text")
    if text is None:
        return b""  # some browsers leave out bodies (images, cached responses)
    if not isinstance(text, str):
        raise _BadEntry("response.content.text", "must be a string")
    mime_type = first_header(headers, "content-type") or _optional_text(
        data.get("mimeType"), "response.content.mimeType"
    )
    return _text_bytes(text, data.get("encoding"), mime_type, by_mitmproxy, "response.content")


def _optional_text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _BadEntry(where, "must be a string")
    return value


def _text_bytes(
    text: str, encoding: Any, content_type: str, by_mitmproxy: bool, where: str
) -> bytes:
    """The bytes a HAR body's text stands for."""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise _BadEntry(f"{where}.text", "is marked base64 but is not valid base64") from None
    if encoding is not None and encoding != "" and _codec(encoding) is None:
        raise _BadEntry(f"{where}.encoding", f"{encoding!r} is not base64 nor a known charset")
    charset = _codec(encoding) or _charset(content_type)
    if charset is None and by_mitmproxy:
        charset = _mitmproxy_charset(content_type, text)
    if charset is not None and charset != "utf-8":
        try:
            return text.encode(charset)
        except UnicodeEncodeError:
            pass  # mitmproxy falls back to UTF-8 for text its guess cannot hold
    # Lone surrogates are bytes that were not UTF-8, kept by mitmproxy's lenient decoding.
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise _BadEntry(
            f"{where}.text",
            f"holds {text[exc.start]!r}, half of a surrogate pair and not a character",
        ) from None


def _codec(name: Any) -> str | None:
    """Python's name for the charset `name`, or None when Python does not know it."""
    if not isinstance(name, str) or not name.strip():
        return None
    try:
        return codecs.lookup(name.strip()).name.replace("_", "-")
    except LookupError:
        return None


def _charset(content_type: str) -> str | None:
    """The charset a Content-Type declares, when Python knows it."""
    match = re.search(r";\s*charset\s*=\s*\"?([^\";\s]+)", content_type, re.IGNORECASE)
    return _codec(match.group(1)) if match else None


def _mitmproxy_charset(content_type: str, text: str) -> str:
    """The charset mitmproxy decoded a body without one with (its infer_content_encoding)."""
    lowered = content_type.lower()
    if "json" in lowered:
        return "utf-8"
    found = None
    if "html" in lowered:
        found = re.search(r"""<meta[^>]+charset=['"]?([^'">]+)""", text, re.IGNORECASE)
    elif "text/css" in lowered:
        found = re.match(r"""@charset "([^"]+)";""", text, re.IGNORECASE)
    return (_codec(found.group(1)) if found else None) or "latin-1"


def _as_decoded(headers: Headers, body: bytes) -> tuple[Headers, bytes, str | None]:
    """Headers that agree with a HAR body, which is already free of its Content-Encoding.

    An encoding apitape cannot decode (nor could whoever wrote the HAR) is left in place with
    the body as it came, as capture does with it.
    """
    encoding = first_header(headers, "content-encoding")
    if not encoding or not body:
        return headers, body, None
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    if not all(coding in DECODERS or coding == "identity" for coding in codings):
        return headers, body, None
    fixed = tuple(
        (name, str(len(body)) if name.lower() == "content-length" else value)
        for name, value in headers
        if name.lower() != "content-encoding"
    )
    return fixed, body, encoding


def _started(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _BadEntry("startedDateTime", "must be an ISO 8601 date and time")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_utc(moment.timestamp())
    except (ValueError, OverflowError, OSError):  # not ISO 8601, or beyond year 9999 in UTC
        raise _BadEntry(
            "startedDateTime", f"{_cut(value)!r} is not an ISO 8601 date and time"
        ) from None


def _number(value: Any, where: str) -> float | None:
    """A non-negative number of ms as a float; None when absent or negative (HAR's -1:
    unknown). A number too big for a float is an error naming `where`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise _BadEntry(where, "must be a finite number of milliseconds")
        return number
    return None


def _duration(entry: dict[str, Any]) -> float | None:
    """From the request sent to the response received (wait + receive), as capture measures."""
    timings = entry.get("timings")
    if isinstance(timings, dict) and _number(timings.get("wait"), "timings.wait") is not None:
        total = sum(
            _number(timings.get(key), f"timings.{key}") or 0.0 for key in ("wait", "receive")
        )
        if not math.isfinite(total):
            raise _BadEntry("timings", "wait + receive is too big a number of milliseconds")
        return total
    return _number(entry.get("time"), "time")


def _apitape_metadata(own: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in _METADATA:
        if key not in own:
            continue
        value = own[key]
        if key == "duration_ms":
            number = _number(value, f"{APITAPE_KEY}.duration_ms")
            if value is not None and number is None:
                raise _BadEntry(f"{APITAPE_KEY}.duration_ms", "must be a number of ms")
            meta[key] = number
        elif key == "id":
            if isinstance(value, dict | list) or (
                isinstance(value, int) and value.bit_length() > 64
            ):
                raise _BadEntry(f"{APITAPE_KEY}.id", "must be a number or a text")
            meta[key] = "" if value is None else str(value)
            if not meta[key].isprintable():
                raise _BadEntry(f"{APITAPE_KEY}.id", "must be printable text on one line")
        else:
            meta[key] = None if value is None else str(value)
    return meta


# --------------------------------------------------------------------------- writing


def write_har(
    path: str | os.PathLike[str], exchanges: Sequence[Exchange], creator_version: str
) -> None:
    """Write the exchanges as a HAR 1.2 file, atomically; apitape's data goes in `_apitape`."""
    text = json.dumps(har_document(exchanges, creator_version), indent=2, ensure_ascii=False)
    write_atomically(path, text + "\n", "the HAR file")


def har_document(exchanges: Sequence[Exchange], creator_version: str) -> dict[str, Any]:
    """The HAR 1.2 document for the exchanges, in their order."""
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "apitape", "version": creator_version},
            "pages": [],
            "entries": [_entry(exchange) for exchange in exchanges],
        }
    }


def _entry(exchange: Exchange) -> dict[str, Any]:
    request, response = exchange.request, exchange.response
    duration = exchange.duration_ms or 0.0
    har_request: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "httpVersion": "HTTP/1.1",  # a cassette does not keep the version
        "cookies": _request_cookies(request.headers),
        "headers": _header_list(request.headers),
        "queryString": [
            {"name": name, "value": value}
            for name, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": -1 if "request_encoding" in exchange.extra else len(request.body),
    }
    if request.body:
        content_type = first_header(request.headers, "content-type") or ""
        text, is_base64 = _text_or_base64(request.body, content_type)
        har_request["postData"] = {"mimeType": content_type, "text": text}
        if is_base64:
            har_request["postData"]["_encoding"] = "base64"
    content_type = first_header(response.headers, "content-type") or ""
    text, is_base64 = _text_or_base64(response.body, content_type)
    content: dict[str, Any] = {"size": len(response.body), "mimeType": content_type, "text": text}
    if is_base64:
        content["encoding"] = "base64"
    entry: dict[str, Any] = {
        "startedDateTime": _started_text(exchange.recorded_at),
        "time": duration,
        "request": har_request,
        "response": {
            "status": response.status,
            "statusText": response.reason,
            "httpVersion": "HTTP/1.1",
            "cookies": _response_cookies(response.headers),
            "headers": _header_list(response.headers),
            "content": content,
            "redirectURL": first_header(response.headers, "location") or "",
            "headersSize": -1,
            "bodySize": -1 if "response_encoding" in exchange.extra else len(response.body),
        },
        "cache": {},
        "timings": {"send": 0, "wait": duration, "receive": 0},
    }
    if exchange.connection is not None:
        entry["connection"] = exchange.connection
    own: dict[str, Any] = {key: getattr(exchange, key) for key in _METADATA}
    own.update({k: v for k, v in exchange.extra.items() if k not in _METADATA})
    entry[APITAPE_KEY] = json.loads(json.dumps(own, default=str))  # JSON values only
    return entry


def _header_list(headers: Headers) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _text_or_base64(body: bytes, content_type: str) -> tuple[str, bool]:
    """The body as HAR text when any reader gets the same bytes back from it, else base64.

    That is text in the declared charset, ASCII, or UTF-8 JSON (JSON is UTF-8 to everyone).
    Other text without a charset is read as UTF-8 by some tools and Latin-1 by others.
    """
    if not body:
        return "", False
    charset = _charset(content_type)
    candidates = [charset] if charset else ["ascii"]
    if charset is None and "json" in content_type.lower():
        candidates.append("utf-8")
    for candidate in candidates:
        try:
            text = body.decode(candidate)
        except UnicodeDecodeError:
            continue
        if text.encode(candidate) == body:
            return text, False
    return base64.b64encode(body).decode("ascii"), True


def _started_text(recorded_at: str | None) -> str:
    if recorded_at:
        try:
            moment = datetime.fromisoformat(recorded_at)
        except ValueError:
            return EPOCH
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return iso_utc(moment.timestamp())
    return EPOCH


def _request_cookies(headers: Headers) -> list[dict[str, str]]:
    cookies = []
    for line in header_values(headers, "cookie"):
        for part in line.split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                cookies.append({"name": name, "value": value})
    return cookies


def _response_cookies(headers: Headers) -> list[dict[str, Any]]:
    cookies = []
    for line in header_values(headers, "set-cookie"):
        first, *attributes = line.split(";")
        name, _, value = first.strip().partition("=")
        if not name:
            continue
        cookie: dict[str, Any] = {"name": name, "value": value}
        for attribute in attributes:
            key, _, argument = attribute.strip().partition("=")
            key = key.lower()
            if key in ("path", "domain"):
                cookie[key] = argument
            elif key == "expires":
                with contextlib.suppress(TypeError, ValueError):  # an unreadable date
                    cookie["expires"] = parsedate_to_datetime(argument).isoformat()
            elif key == "httponly":
                cookie["httpOnly"] = True
            elif key == "secure":
                cookie["secure"] = True
        cookies.append(cookie)
    return cookies
