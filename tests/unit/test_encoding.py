"""Content-Encoding: every coding apitape meets on the wire, and what it cannot decode."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from apitape.http.encoding import decode_body, decoded

PLAIN = b'{"items": [1, 2, 3]}' * 50


@pytest.mark.parametrize(
    ("coding", "data"),
    [
        ("gzip", gzip.compress(PLAIN)),
        ("x-gzip", gzip.compress(PLAIN)),
        ("deflate", zlib.compress(PLAIN)),
        ("deflate", zlib.compress(PLAIN)[2:-4]),  # raw deflate, as some servers send it
        ("br", brotli.compress(PLAIN)),
        ("zstd", zstandard.ZstdCompressor().compress(PLAIN)),
        ("gzip, br", brotli.compress(gzip.compress(PLAIN))),
        ("identity", PLAIN),
    ],
)
def test_codings_decode(coding: str, data: bytes) -> None:
    assert decode_body(data, coding) == PLAIN


def test_decoded_rewrites_headers_to_match_the_body() -> None:
    data = gzip.compress(PLAIN)
    headers = (
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("Content-Length", str(len(data))),
    )
    new_headers, body, coding = decoded(headers, data)
    assert body == PLAIN
    assert coding == "gzip"
    assert new_headers == (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(PLAIN))),
    )


@pytest.mark.parametrize(
    ("coding", "data"), [("gzip", b"not gzip at all"), ("compress", b"\x1f\x9d...")]
)
def test_undecodable_bodies_are_kept_exactly_with_their_headers(coding: str, data: bytes) -> None:
    headers = (("Content-Encoding", coding),)
    assert decoded(headers, data) == (headers, data, None)
