"""Turn what the proxy saw of one exchange into an apitape Exchange (no mitmproxy types out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mitmproxy.net.http import url as mitmproxy_url

from apitape.cassette import iso_utc
from apitape.http.encoding import decoded
from apitape.models import Exchange, Headers, Request, Response


@dataclass(frozen=True)
class SeenExchange:
    """The raw facts of one proxied exchange, as plain values (timestamps are epoch seconds)."""

    method: str
    url: str
    request_headers: Headers
    request_body: bytes
    status: int
    reason: str
    response_headers: Headers
    response_body: bytes
    request_started: float
    request_ended: float
    response_ended: float
    client_address: str | None = None
    connection_id: str | None = None


RawHeaders = tuple[tuple[bytes, bytes], ...]


def seen_from_facts(facts: tuple[Any, ...]) -> SeenExchange:
    """A SeenExchange from the proxy's facts (see `flow_facts`): mitmproxy's raw fields.

    Decoded the way mitmproxy's own properties decode them, so the cassette holds what
    `flow.request.url`, `.method` and `flow.response.reason` say.
    """
    (
        method,
        scheme,
        host,
        port,
        path,
        request_headers,
        request_body,
        status,
        reason,
        response_headers,
        response_body,
        request_started,
        request_ended,
        response_started,
        response_ended,
        peer,
        connection_id,
    ) = facts
    method_text = method.decode("utf-8", "surrogateescape").upper()
    scheme_text = scheme.decode("utf-8", "surrogateescape")
    path_text = path.decode("utf-8", "surrogateescape")
    if method_text == "CONNECT":
        url = f"{host}:{port}"
    else:
        # `OPTIONS *` has no path in its URL: mitmproxy 11 drops the * in url.unparse,
        # mitmproxy 12.3 in Request.url before calling it.
        url = mitmproxy_url.unparse(scheme_text, host, port, "" if path_text == "*" else path_text)
    return SeenExchange(
        method=method_text,
        url=url,
        request_headers=_text_pairs(request_headers),
        request_body=request_body or b"",
        status=status,
        reason=reason.decode("ISO-8859-1"),
        response_headers=_text_pairs(response_headers),
        response_body=response_body or b"",
        request_started=request_started,
        request_ended=request_ended or request_started,
        response_ended=response_ended or response_started,
        client_address=f"{peer[0]}:{peer[1]}" if peer else None,
        connection_id=connection_id,
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


def build_exchange(seen: SeenExchange) -> Exchange:
    """The Exchange to store: bodies decoded, timing and client kept; the id is the writer's."""
    request_headers, request_body, request_encoding = decoded(
        seen.request_headers, seen.request_body
    )
    response_headers, response_body, response_encoding = decoded(
        seen.response_headers, seen.response_body
    )
    extra: dict[str, Any] = {}
    if request_encoding:
        extra["request_encoding"] = request_encoding
    if response_encoding:
        extra["response_encoding"] = response_encoding
    # From the moment the proxy had the whole request to the moment it had the whole
    # response: the service's time, plus the proxy's connect to it.
    duration_ms = max(0.0, (seen.response_ended - seen.request_ended) * 1000.0)
    return Exchange(
        id="",
        request=Request(seen.method, seen.url, request_headers, request_body),
        response=Response(seen.status, seen.reason, response_headers, response_body),
        recorded_at=iso_utc(seen.request_started),
        duration_ms=duration_ms,
        client=seen.client_address,
        connection=seen.connection_id,
        extra=extra,
    )
