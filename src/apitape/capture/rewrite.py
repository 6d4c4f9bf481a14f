"""Reverse mode: the service's own URLs in response headers, pointed back at the proxy.

What nginx's proxy_redirect does for Location, for every response header: a service's
Location, Content-Location, Link or Next-Page naming `http://upstream:8000/...` would send
the client past the recorder, and what it does there would never be recorded. The client
gets the proxy's address instead; the cassette keeps what the service said.
"""

from __future__ import annotations

import functools
import re

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

RawHeaders = tuple[tuple[bytes, bytes], ...]


def authority(scheme: str, host: str, port: int) -> str:
    """`host:port` as a URL writes it: IPv6 in brackets, a scheme's default port left out."""
    shown = f"[{host}]" if ":" in host else host
    return shown if _DEFAULT_PORTS.get(scheme) == port else f"{shown}:{port}"


@functools.lru_cache(maxsize=64)
def origin_pattern(scheme: str, host: str, port: int) -> re.Pattern[bytes]:
    """The upstream's origin, `scheme://host:port`, wherever it appears in a header value.

    Scheme and host match in any case; the default port may be written or left out; an
    origin that merely starts the same (`:80` in `:8000`, `host` in `host.evil`) is not it.
    """
    shown = re.escape((f"[{host}]" if ":" in host else host).encode())
    port_text = str(port).encode()
    if _DEFAULT_PORTS.get(scheme) == port:
        tail = rb"(?::" + port_text + rb")?(?![\w.:-])"
    else:
        tail = rb":" + port_text + rb"(?![\w.:-])"
    return re.compile(rb"(?i)" + re.escape(scheme.encode()) + rb"://" + shown + tail)


def rewrite_fields(fields: RawHeaders, pattern: re.Pattern[bytes], origin: bytes) -> RawHeaders:
    """`fields` with every match of `pattern` in a value replaced by `origin` (the same
    tuple, unchanged, when nothing matched)."""
    for _, value in fields:
        if b"//" in value and pattern.search(value):
            break
    else:
        return fields  # the common case, and on the proxy's thread: nothing built
    return tuple(
        (name, pattern.sub(lambda _: origin, value) if b"//" in value else value)
        for name, value in fields
    )
