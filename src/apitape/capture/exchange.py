"""Turn what the proxy saw of one exchange into an apitape Exchange (no mitmproxy types out)."""

from __future__ import annotations

from typing import Any, NamedTuple

from mitmproxy.net.http import url as mitmproxy_url

from apitape.cassette import iso_utc
from apitape.http.encoding import decoded
from apitape.models import Exchange, Headers, Request, Response

RawHeaders = tuple[tuple[bytes, bytes], ...]


class Facts(NamedTuple):
    """The raw facts of one proxied exchange: mitmproxy's own fields, as the proxy took them.

    The proxy builds them as a plain tuple in this field order (`addon.flow_facts`), since
    marshal frames only exact tuples: a NamedTuple raises "unmarshallable object", and
    `tuple(facts)` before framing cost about 1.4 us an exchange in a timeit loop (taking
    and framing one costs the proxy about 6 us). The writer reads each frame back as Facts
    (`Facts._make`); a test checks that `flow_facts` fills every field by its name.
    Timestamps are epoch seconds.
    """

    method: bytes
    scheme: bytes
    host: str
    port: int
    path: bytes
    request_headers: RawHeaders
    request_body: bytes | None
    status: int
    reason: bytes
    response_headers: RawHeaders
    response_body: bytes | None
    request_started: float
    request_ended: float | None
    response_started: float
    response_ended: float | None
    peer: tuple[str, int] | None
    connection_id: str

    def method_text(self) -> str:
        """The method as mitmproxy's `request.method` says it (upper case)."""
        return self.method.decode("utf-8", "surrogateescape").upper()

    def url(self) -> str:
        """The URL as mitmproxy's `request.url` builds it (host:port for CONNECT)."""
        if self.method_text() == "CONNECT":
            return f"{self.host}:{self.port}"
        scheme = self.scheme.decode("utf-8", "surrogateescape")
        path = self.path.decode("utf-8", "surrogateescape")
        # `OPTIONS *` has no path in its URL: mitmproxy 11 drops the * in url.unparse,
        # mitmproxy 12.3 in Request.url before calling it.
        return mitmproxy_url.unparse(scheme, self.host, self.port, "" if path == "*" else path)


def exchange_from_facts(facts: Facts) -> Exchange:
    """The Exchange to store: decoded the way mitmproxy's own properties decode the fields
    (so the cassette holds what `flow.request.url`, `.method` and `flow.response.reason`
    say), bodies decoded, timing and client kept; the id is the cassette writer's."""
    request_headers, request_body, request_encoding = decoded(
        _text_pairs(facts.request_headers), facts.request_body or b""
    )
    response_headers, response_body, response_encoding = decoded(
        _text_pairs(facts.response_headers), facts.response_body or b""
    )
    extra: dict[str, Any] = {}
    if request_encoding:
        extra["request_encoding"] = request_encoding
    if response_encoding:
        extra["response_encoding"] = response_encoding
    # From the moment the proxy had the whole request to the moment it had the whole
    # response: the service's time, plus the proxy's connect to it.
    request_ended = facts.request_ended or facts.request_started
    response_ended = facts.response_ended or facts.response_started
    peer = facts.peer
    return Exchange(
        id="",
        request=Request(facts.method_text(), facts.url(), request_headers, request_body),
        response=Response(
            facts.status, facts.reason.decode("ISO-8859-1"), response_headers, response_body
        ),
        recorded_at=iso_utc(facts.request_started),
        duration_ms=max(0.0, (response_ended - request_ended) * 1000.0),
        client=f"{peer[0]}:{peer[1]}" if peer else None,
        connection=facts.connection_id,
        extra=extra,
    )


def _text_pairs(fields: RawHeaders) -> Headers:
    """Header names and values as text that replay encodes back to the same bytes.

    Headers are bytes on the wire. Clients send UTF-8 in them (`X-Filename: résumé.pdf`),
    which is stored as the text it spells, and replay sends it encoded as UTF-8 again: the
    same bytes (decoding them as latin-1 stored `rÃ©sumÃ©.pdf`). Bytes that are not UTF-8
    (an old client's latin-1) are stored decoded as latin-1, readable but, since the
    cassette holds text, replayed as UTF-8.
    """
    try:
        return tuple((name.decode("utf-8"), value.decode("utf-8")) for name, value in fields)
    except UnicodeDecodeError:
        return tuple((_text(name), _text(value)) for name, value in fields)


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
