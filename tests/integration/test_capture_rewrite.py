"""Reverse mode: clients get the proxy's address in Location and Link; the cassette the service's."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from apitape.cassette import load_cassette
from apitape.models import first_header
from tests.integration.conftest import RunningProxy, Upstream

Route = Callable[[BaseHTTPRequestHandler, bytes], tuple[int, dict[str, str], bytes]]


def created(upstream: Upstream) -> Route:
    """POST /things: 201 with its own absolute URLs in Location, Content-Location, Link and a
    pagination header, and one more header naming the same host on another port."""

    def answer(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        origin = upstream.url
        headers = {
            "Content-Type": "application/json",
            "Location": f"{origin}/things/7",
            "Content-Location": f"{origin}/things/7?v=1",
            "Link": f'<{origin}/things?page=2>; rel="next", <{origin}/things?page=5>; rel="last"',
            "Next-Page": f"{origin}/things?page=2",
            "X-Elsewhere": f"{origin}0/other",
        }
        return 201, headers, json.dumps({"id": 7, "self": f"{origin}/things/7"}).encode()

    return answer


def service_headers(origin: str) -> dict[str, str]:
    return {
        "location": f"{origin}/things/7",
        "content-location": f"{origin}/things/7?v=1",
        "link": f'<{origin}/things?page=2>; rel="next", <{origin}/things?page=5>; rel="last"',
        "next-page": f"{origin}/things?page=2",
    }


@pytest.mark.parametrize("via", ["apitape", "mitmdump"])
def test_clients_get_the_proxys_address_and_the_cassette_keeps_the_services(
    via: str, upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("POST", "/things")] = created(upstream)
    proxy = start_proxy(upstream.url, via=via)
    with httpx.Client(base_url=proxy.url, trust_env=False) as client:
        response = client.post("/things", json={"name": "lamp"})
        assert response.status_code == 201
        for name, value in service_headers(proxy.url).items():
            assert response.headers[name] == value
        assert response.headers["x-elsewhere"] == f"{upstream.url}0/other"  # not its origin
        assert response.json()["self"] == f"{upstream.url}/things/7"  # bodies are not touched
        # A client that follows them stays on the proxy, so what it does is recorded.
        assert client.get(response.headers["next-page"]).status_code == 404
    assert proxy.stop() == 0

    made, followed = load_cassette(proxy.cassette).exchanges
    for name, value in service_headers(upstream.url).items():
        assert first_header(made.response.headers, name) == value  # what the service said
    assert followed.request.url == f"{upstream.url}/things?page=2"


def test_no_rewrite_urls_passes_them_on_as_the_service_said(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("POST", "/things")] = created(upstream)
    proxy = start_proxy(upstream.url, extra_args=("--no-rewrite-urls",))
    response = httpx.post(f"{proxy.url}/things", json={}, trust_env=False)
    for name, value in service_headers(upstream.url).items():
        assert response.headers[name] == value
    assert proxy.stop() == 0
    (made,) = load_cassette(proxy.cassette).exchanges
    assert first_header(made.response.headers, "location") == f"{upstream.url}/things/7"


def test_the_mitmdump_option_turns_it_off_too(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    upstream.routes[("POST", "/things")] = created(upstream)
    proxy = start_proxy(
        upstream.url, via="mitmdump", extra_args=("--set", "apitape_rewrite_urls=false")
    )
    response = httpx.post(f"{proxy.url}/things", json={}, trust_env=False)
    assert response.headers["location"] == f"{upstream.url}/things/7"
    assert proxy.stop() == 0
