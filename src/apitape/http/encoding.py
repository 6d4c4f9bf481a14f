"""Content-Encoding: turn a compressed body into the bytes it stands for."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

from apitape.models import Headers, first_header, without_headers


def _gunzip(data: bytes) -> bytes:
    return gzip.decompress(data)


def _inflate(data: bytes) -> bytes:
    # Servers send "deflate" both as a zlib stream (RFC 9110) and as raw deflate; accept both.
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


def _unbrotli(data: bytes) -> bytes:
    import brotli  # a dependency of its own; imported lazily because most bodies are not br

    return bytes(brotli.decompress(data))


def _unzstd(data: bytes) -> bytes:
    import zstandard  # a dependency of its own (mitmproxy 12.3 no longer brings it)

    # Frames without a content size in their header need the streaming reader.
    reader = zstandard.ZstdDecompressor().stream_reader(data)
    return bytes(reader.read())


DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate,
    "br": _unbrotli,
    "zstd": _unzstd,
}


def decode_body(body: bytes, content_encoding: str) -> bytes | None:
    """The decoded body, or None when an encoding is unknown or the data does not decode.

    `content_encoding` may list several codings ("gzip, br"); they are undone last first.
    """
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    data = body
    for coding in reversed(codings):
        if coding == "identity":
            continue
        decoder = DECODERS.get(coding)
        if decoder is None:
            return None
        try:
            data = decoder(data)
        except Exception:  # each library raises its own error type for corrupt data
            return None
    return data


def decoded(headers: Headers, body: bytes) -> tuple[Headers, bytes, str | None]:
    """Headers and body with any Content-Encoding undone, plus the encoding that was removed.

    Content-Length is rewritten to the decoded size so headers and body stay consistent.
    A body whose encoding is unknown or corrupt is returned untouched, headers and all, so
    nothing is lost; the third value is then None.
    """
    encoding = first_header(headers, "content-encoding")
    if not encoding or not body:
        return headers, body, None
    plain = decode_body(body, encoding)
    if plain is None:
        return headers, body, None
    new_headers: list[tuple[str, str]] = []
    for name, value in without_headers(headers, ["content-encoding"]):
        if name.lower() == "content-length":
            value = str(len(plain))
        new_headers.append((name, value))
    return tuple(new_headers), plain, encoding
