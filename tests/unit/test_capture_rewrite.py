"""The upstream's origin in response headers, and only it, becomes the proxy's."""

from __future__ import annotations

import pytest

from apitape.capture.rewrite import authority, origin_pattern, rewrite_fields

PROXY = b"http://127.0.0.1:8080"

CASES = {
    # (upstream scheme, host, port), header value, what the client gets
    "Location": (
        ("http", "127.0.0.1", 8000),
        b"http://127.0.0.1:8000/things/7",
        PROXY + b"/things/7",
    ),
    "a Link": (
        ("http", "127.0.0.1", 8000),
        b'<http://127.0.0.1:8000/things?page=2>; rel="next", <http://127.0.0.1:8000/things?page=9>; rel="last"',
        b"<" + PROXY + b'/things?page=2>; rel="next", <' + PROXY + b'/things?page=9>; rel="last"',
    ),
    "the bare origin": (("http", "api.test", 8000), b"http://api.test:8000", PROXY),
    "scheme and host in any case": (
        ("http", "api.test", 8000),
        b"HTTP://API.Test:8000/x",
        PROXY + b"/x",
    ),
    "the default port left out": (
        ("https", "api.test", 443),
        b"https://api.test/x?y",
        PROXY + b"/x?y",
    ),
    "the default port written": (
        ("https", "api.test", 443),
        b"https://api.test:443/x",
        PROXY + b"/x",
    ),
    "IPv6": (("http", "::1", 8000), b"http://[::1]:8000/x", PROXY + b"/x"),
    "another port": (
        ("http", "127.0.0.1", 80),
        b"http://127.0.0.1:8000/x",
        b"http://127.0.0.1:8000/x",
    ),
    "a longer port": (
        ("http", "127.0.0.1", 800),
        b"http://127.0.0.1:8000/x",
        b"http://127.0.0.1:8000/x",
    ),
    "a longer host": (
        ("https", "api.test", 443),
        b"https://api.test.evil/x",
        b"https://api.test.evil/x",
    ),
    "another scheme": (("https", "api.test", 443), b"http://api.test/x", b"http://api.test/x"),
    "a relative URL": (("http", "127.0.0.1", 8000), b"/things/7", b"/things/7"),
}


@pytest.mark.parametrize(("upstream", "value", "expected"), CASES.values(), ids=CASES.keys())
def test_only_the_upstreams_origin_is_replaced(
    upstream: tuple[str, str, int], value: bytes, expected: bytes
) -> None:
    fields = ((b"Content-Type", b"application/json"), (b"Location", value))
    rewritten = rewrite_fields(fields, origin_pattern(*upstream), PROXY)
    assert rewritten == ((b"Content-Type", b"application/json"), (b"Location", expected))
    if expected == value:
        assert rewritten is fields  # nothing built when nothing matched


def test_authority_writes_hosts_as_urls_do() -> None:
    assert authority("http", "127.0.0.1", 8080) == "127.0.0.1:8080"
    assert authority("http", "proxy.test", 80) == "proxy.test"
    assert authority("https", "proxy.test", 443) == "proxy.test"
    assert authority("http", "::1", 8080) == "[::1]:8080"
