"""The proxy hands over mitmproxy's raw fields; the writer decodes them as mitmproxy would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from apitape.capture.addon import flow_facts
from apitape.capture.exchange import Facts, exchange_from_facts
from apitape.capture.writer import FrameReader, frame
from apitape.cassette import iso_utc
from apitape.models import Exchange, Request, Response


def text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def as_text(fields: tuple[tuple[bytes, bytes], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((text(name), text(value)) for name, value in fields)


def as_mitmproxy_says(flow: http.HTTPFlow) -> Exchange:
    """The exchange read through mitmproxy's own properties, which decode and build the URL.

    Headers are apitape's choice, not mitmproxy's: UTF-8 text where the bytes are UTF-8
    (replay encodes them back to the same bytes), else latin-1.
    """
    request, response = flow.request, flow.response
    assert response is not None
    peer = flow.client_conn.peername
    request_ended = request.timestamp_end or request.timestamp_start
    response_ended = response.timestamp_end or response.timestamp_start
    return Exchange(
        id="",
        request=Request(
            request.method, request.url, as_text(request.headers.fields), request.raw_content or b""
        ),
        response=Response(
            response.status_code,
            response.reason,
            as_text(response.headers.fields),
            response.raw_content or b"",
        ),
        recorded_at=iso_utc(request.timestamp_start),
        duration_ms=max(0.0, (response_ended - request_ended) * 1000.0),
        client=f"{peer[0]}:{peer[1]}" if peer else None,
        connection=flow.client_conn.id,
    )


def handed_over(flow: http.HTTPFlow) -> Facts:
    """The flow's facts as the writer reads them: through the pipe's framing."""
    (message,) = FrameReader().feed(frame(flow_facts(flow)))
    return Facts._make(message)


def _set_request(**fields: object) -> Callable[[http.HTTPFlow], None]:
    def change(flow: http.HTTPFlow) -> None:
        for name, value in fields.items():
            setattr(flow.request.data, name, value)

    return change


def _set_response(**fields: object) -> Callable[[http.HTTPFlow], None]:
    def change(flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        for name, value in fields.items():
            setattr(flow.response.data, name, value)

    return change


def _no_peer(flow: http.HTTPFlow) -> None:
    flow.client_conn.peername = None


CASES: dict[str, Callable[[http.HTTPFlow], None]] = {
    "http on its default port, with a query": _set_request(
        scheme=b"http", host="shop.test", port=80, path=b"/books?page=2&q=a%20b"
    ),
    "https on another port": _set_request(
        scheme=b"https", host="api.shop.test", port=8443, path=b"/v2/books/7"
    ),
    "https on its default port": _set_request(scheme=b"https", port=443, path=b"/"),
    "OPTIONS *": _set_request(method=b"OPTIONS", path=b"*"),
    "a lower-case method": _set_request(method=b"post", path=b"/books"),
    "an IPv6 host": _set_request(host="::1", port=8080, path=b"/x"),
    "a path that is not UTF-8": _set_request(path=b"/caf\xe9/\xff"),
    "CONNECT": _set_request(method=b"CONNECT", host="shop.test", port=443, path=b""),
    "a reason that is not ASCII": _set_response(reason=b"Gr\xfc\xdfe"),
    "an empty reason (HTTP/2)": _set_response(reason=b""),
    "header bytes that are not UTF-8": _set_response(
        headers=http.Headers(
            ((b"X-Caf\xe9", b"cr\xe8me"), (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"))
        )
    ),
    "UTF-8 header names and values": _set_request(
        headers=http.Headers(((b"X-Filename", "résumé.pdf".encode()), ("X-Naïve".encode(), b"1")))
    ),
    "UTF-8 beside bytes that are not": _set_response(
        headers=http.Headers(((b"X-A", "é".encode()), (b"X-B", b"\xe9")))
    ),
    "no bodies": _set_request(content=None),
    "no request end": _set_request(timestamp_end=None),
    "no response end": _set_response(timestamp_end=None),
    "no peer address": _no_peer,
}


@pytest.mark.parametrize("change", CASES.values(), ids=CASES.keys())
def test_the_writer_decodes_the_raw_fields_as_mitmproxy_does(
    change: Callable[[http.HTTPFlow], None],
) -> None:
    flow = tflow.tflow(resp=True)
    change(flow)
    assert exchange_from_facts(handed_over(flow)) == as_mitmproxy_says(flow)


def test_binary_bodies_are_handed_over_exactly() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.raw_content = bytes(range(256))
    assert flow.response is not None
    flow.response.raw_content = b"\x1f\x8b" + bytes(range(255, -1, -1))
    seen = handed_over(flow)
    assert seen.request_body == bytes(range(256))
    assert seen.response_body == b"\x1f\x8b" + bytes(range(255, -1, -1))


def test_utf8_headers_are_stored_as_the_text_they_spell() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.headers = http.Headers(
        ((b"X-Filename", "résumé.pdf".encode()), ("X-Naïve".encode(), b"oui"))
    )
    assert flow.response is not None
    flow.response.headers = http.Headers(((b"X-Latin", b"cr\xe8me"), (b"X-Utf8", "crème".encode())))
    seen = exchange_from_facts(handed_over(flow))
    assert seen.request.headers == (("X-Filename", "résumé.pdf"), ("X-Naïve", "oui"))
    assert seen.response.headers == (("X-Latin", "crème"), ("X-Utf8", "crème"))


def test_flow_facts_fills_every_field_of_facts_by_its_name() -> None:
    """The proxy sends a plain tuple (marshal frames no NamedTuple): in Facts' order."""
    flow = tflow.tflow(resp=True)
    request, response, client = flow.request.data, flow.response.data, flow.client_conn  # type: ignore[union-attr]
    client.peername = ("10.1.2.3", 40001)
    request.timestamp_start, request.timestamp_end = 10.0, 11.5
    response.timestamp_start, response.timestamp_end = 12.0, 13.25
    request.headers = http.Headers(((b"X-Request", b"1"),))
    response.headers = http.Headers(((b"X-Response", b"2"),))
    request.content, response.content = b"asked", b"answered"
    expected = {
        "method": request.method,
        "scheme": request.scheme,
        "host": request.host,
        "port": request.port,
        "path": request.path,
        "request_headers": request.headers.fields,
        "request_body": request.content,
        "status": response.status_code,
        "reason": response.reason,
        "response_headers": response.headers.fields,
        "response_body": response.content,
        "request_started": request.timestamp_start,
        "request_ended": request.timestamp_end,
        "response_started": response.timestamp_start,
        "response_ended": response.timestamp_end,
        "peer": client.peername,
        "connection_id": client.id,
    }
    assert Facts._make(flow_facts(flow))._asdict() == expected
    assert type(flow_facts(flow)) is tuple  # what marshal frames
