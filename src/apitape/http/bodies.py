"""What a body means, decided by its Content-Type: JSON, form, text, binary or empty."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from apitape.fastjson import loads
from apitape.models import Headers, first_header

BodyKind = Literal["empty", "json", "form", "text", "binary"]

_TEXT_TYPES = ("text/", "application/xml", "application/javascript", "application/x-ndjson")


@dataclass(frozen=True)
class ParsedBody:
    """A body as a value to compare: parsed JSON, a form's fields, text, or a binary digest."""

    kind: BodyKind
    value: Any


def media_type(headers: Headers) -> str:
    """The Content-Type without parameters, lower-cased ('' when absent)."""
    content_type = first_header(headers, "content-type") or ""
    return content_type.split(";", 1)[0].strip().lower()


def _charset(headers: Headers) -> str:
    content_type = first_header(headers, "content-type") or ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"


_VENDOR_JSON = re.compile(r"(?:application|text)/(?:x-)?[a-z0-9.-]*json[0-9.-]*")


def is_json_type(mime: str) -> bool:
    """Whether a media type carries JSON: application/json, application/problem+json, and
    the vendors' own (AWS's application/x-amz-json-1.0, text/json)."""
    return (
        mime == "application/json" or mime.endswith("+json") or bool(_VENDOR_JSON.fullmatch(mime))
    )


def binary_digest(body: bytes) -> str:
    """How a binary body shows in a report: its SHA-256 and size."""
    return f"sha256:{hashlib.sha256(body).hexdigest()} ({len(body)} bytes)"


def parse_body(headers: Headers, body: bytes) -> ParsedBody:
    """Parse a body by its Content-Type; what does not parse as declared is kept as text."""
    if not body:
        return ParsedBody("empty", None)
    mime = media_type(headers)
    text = _as_text(body, _charset(headers))
    if is_json_type(mime) and text is not None:
        try:
            return ParsedBody("json", loads(text))
        except (ValueError, RecursionError):  # not JSON, or nested past any parser's depth
            return ParsedBody("text", text)
    if mime == "application/x-www-form-urlencoded" and text is not None:
        return ParsedBody("form", parse_qs(text, keep_blank_values=True))
    if text is not None and (mime.startswith(_TEXT_TYPES) or mime.endswith("+xml") or not mime):
        return ParsedBody("text", text)
    return ParsedBody("binary", binary_digest(body))


def _as_text(body: bytes, charset: str) -> str | None:
    try:
        return body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return None
