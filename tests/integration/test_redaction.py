"""Secrets never reach the disk: planted in every place, searched for in the cassette's bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from apitape.cassette import load_cassette
from apitape.models import first_header
from apitape.redaction.redact import PLACEHOLDER
from tests.integration.conftest import RunningProxy, Upstream, run_apitape

# Every planted secret is unique and long enough that finding it by chance is impossible.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLWp3dC11c2VyIn0."
    "UExBTlRFRC1KV1QtU0lHTkFUVVJF"
)
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCPLANTEDKEY"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----"
PLANTED = {
    "bearer": "planted-bearer-token-0001",
    "basic": "cGxhbnRlZC11c2VyOnBsYW50ZWQtcGFzcw==",
    "proxy_auth": "cGxhbnRlZC1wcm94eTpwcm94eS1wYXNz",
    "cookie": "planted-cookie-session-0002",
    "set_cookie": "planted-set-cookie-0003",
    "api_key_header": "planted-api-key-header-0004",
    "query_token": "planted-query-token-0005",
    "query_api_key": "planted-query-apikey-0006",
    "form_password": "planted-form-password-0007",
    "json_password": "planted-json-password-0008",
    "json_client_secret": "planted-client-secret-0009",
    "response_access_token": "planted-access-token-0010",
    "response_refresh_token": "planted-refresh-token-0011",
    "jwt": JWT,
    "pem": PEM_BODY,
    "aws": "AKIAPLANTEDKEY000012",
}


def secret_routes(upstream: Upstream) -> list[bytes]:
    """Routes that take and hand out secrets; returns the login bodies the upstream receives."""
    logins: list[bytes] = []

    def login(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        logins.append(body)
        answer = {
            "access_token": PLANTED["response_access_token"],
            "refresh_token": PLANTED["response_refresh_token"],
            "token_type": "Bearer",
            "user": "alice",
        }
        headers = {
            "Content-Type": "application/json",
            "Set-Cookie": f"sid={PLANTED['set_cookie']}; Path=/; HttpOnly",
        }
        return 200, headers, json.dumps(answer).encode()

    def debug(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        # A careless debug endpoint: secrets in free text, where no field name gives them away.
        text = f"signed {JWT}\nkey:\n{PEM}\naws {PLANTED['aws']}\n"
        return 200, {"Content-Type": "text/plain"}, text.encode()

    def echo(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'

    upstream.routes[("POST", "/login")] = login
    upstream.routes[("POST", "/form-login")] = echo
    upstream.routes[("GET", "/debug")] = debug
    upstream.routes[("GET", "/me")] = echo
    return logins


def send_secrets(base_url: str) -> None:
    with httpx.Client(base_url=base_url, trust_env=False) as client:
        client.post(
            "/login",
            json={
                "user": "alice",
                "password": PLANTED["json_password"],
                "client_secret": PLANTED["json_client_secret"],
            },
            headers={"Authorization": f"Basic {PLANTED['basic']}"},
        )
        client.post(
            "/form-login",
            data={"user": "alice", "password": PLANTED["form_password"]},
            headers={"Proxy-Authorization": f"Basic {PLANTED['proxy_auth']}"},
        )
        for _ in range(2):  # the same token twice: the same placeholder twice
            client.get(
                "/me",
                params={"token": PLANTED["query_token"], "api_key": PLANTED["query_api_key"]},
                headers={
                    "Authorization": f"Bearer {PLANTED['bearer']}",
                    "Cookie": f"sid={PLANTED['cookie']}; theme=dark",
                    "X-Api-Key": PLANTED["api_key_header"],
                },
            )
        client.get("/debug", headers={"X-Forwarded-Token": JWT})
        # A token the login response produced, used later where no rule names it.
        client.get("/me", headers={"X-Session": PLANTED["response_access_token"]})


@pytest.mark.parametrize("via", ["apitape", "mitmdump"])
def test_no_planted_secret_reaches_the_disk(
    via: str, upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    secret_routes(upstream)
    proxy = start_proxy(upstream.url, via=via)
    send_secrets(proxy.url)
    assert proxy.stop() == 0
    raw = proxy.cassette.read_bytes()
    for name, secret in PLANTED.items():
        assert secret.encode() not in raw, f"{name} leaked into the cassette"
    loaded = load_cassette(proxy.cassette)
    assert len(loaded.exchanges) == 6
    assert loaded.metadata["redaction"]["enabled"] is True
    login, form, me1, me2, debug, session_use = loaded.exchanges

    # Same secret, same placeholder: across requests, and from a response to a later request.
    assert me1.request.headers == me2.request.headers
    assert me1.request.url == me2.request.url
    token = json.loads(login.response.body)["access_token"]
    assert PLACEHOLDER.fullmatch(token)
    assert first_header(session_use.request.headers, "x-session") == token

    # What is not secret stays readable, and the placeholders say what they replaced.
    assert json.loads(login.request.body)["user"] == "alice"
    assert json.loads(login.response.body)["token_type"] == "Bearer"
    # Basic: the user stays readable, the password alone is a placeholder
    assert first_header(login.request.headers, "authorization").startswith(
        "Basic planted-user:redacted-password-"
    )
    assert first_header(me1.request.headers, "cookie").startswith("sid=redacted-sid-")
    assert "user=alice" in form.request.body.decode()
    assert first_header(form.request.headers, "content-length") == str(len(form.request.body))
    assert "redacted-token-" in me1.request.url and "redacted-api_key-" in me1.request.url
    assert b"redacted-private_key-" in debug.response.body
    assert first_header(login.response.headers, "set-cookie").endswith("; Path=/; HttpOnly")


def test_no_redact_keeps_secrets_and_says_so(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    secret_routes(upstream)
    proxy = start_proxy(upstream.url, extra_args=("--no-redact",))
    send_secrets(proxy.url)
    assert proxy.stop() == 0
    assert PLANTED["bearer"].encode() in proxy.cassette.read_bytes()
    assert load_cassette(proxy.cassette).metadata["redaction"] == {"enabled": False}
    assert "--no-redact" in proxy.output()


def test_a_key_file_gives_the_same_placeholders_in_two_recordings(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    secret_routes(upstream)
    key_file = tmp_path / "keys" / "redaction.key"
    headers = []
    for name in ("a", "b"):
        proxy = start_proxy(
            upstream.url,
            cassette=tmp_path / f"{name}.yaml",
            extra_args=("--redact-key-file", str(key_file)),
        )
        send_secrets(proxy.url)
        assert proxy.stop() == 0
        loaded = load_cassette(proxy.cassette)
        headers.append(loaded.exchanges[2].request.headers)
        assert loaded.metadata["redaction"]["key"] == "file redaction.key"
    assert headers[0] == headers[1]
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert key_file.read_text().strip().encode() not in (tmp_path / "a.yaml").read_bytes()


def test_replay_outputs_hold_no_secret_the_target_hands_out(
    upstream: Upstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    logins = secret_routes(upstream)
    proxy = start_proxy(upstream.url)
    send_secrets(proxy.url)
    assert proxy.stop() == 0
    outputs = {
        "--report-json": tmp_path / "r.json",
        "--report-html": tmp_path / "r.html",
        "--save-responses": tmp_path / "saved.yaml",
    }
    args = [a for flag, path in outputs.items() for a in (flag, str(path))]
    result = run_apitape(
        "replay", str(proxy.cassette), "--target", upstream.url, "--verbose", *args,
        "--secret", f"password={PLANTED['json_password']}",
    )  # fmt: skip
    # The target hands out the same secrets again: redacted alike, they compare equal.
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(outputs["--report-json"].read_text())
    assert report["summary"]["passed"] == 6
    for path in outputs.values():
        raw = path.read_bytes()
        for name, secret in PLANTED.items():
            assert secret.encode() not in raw, f"{name} leaked into {path.name}"
    for name, secret in PLANTED.items():
        assert secret not in result.stdout + result.stderr, f"{name} leaked into the terminal"
    # The password was filled in where the login sent it; placeholders nothing filled are named.
    assert len(logins) == 2
    assert json.loads(logins[-1])["password"] == PLANTED["json_password"]
    assert "nothing filled in" in result.stderr and "client_secret" in result.stderr
