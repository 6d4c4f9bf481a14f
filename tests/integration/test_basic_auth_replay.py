"""A Basic credential is redacted in its password only: a recorded wrong password replays as
a wrong password for the same user (403), not as a credential that does not decode (401)."""

from __future__ import annotations

import base64
import binascii
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx

import apitape
from tests.integration.conftest import Upstream

PASSWORD = "s3cret-Pass"


def guarded(handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
    scheme, _, credential = (handler.headers.get("Authorization") or "").partition(" ")
    try:
        user, _, password = base64.b64decode(credential, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return 401, {"WWW-Authenticate": 'Basic realm="t"'}, b"who are you?"
    if scheme != "Basic" or user != "alice":
        return 401, {"WWW-Authenticate": 'Basic realm="t"'}, b"who are you?"
    if password != PASSWORD:
        return 403, {}, b"wrong password"
    return 200, {"Content-Type": "application/json"}, b'{"files": 3}'


def test_a_wrong_password_replays_as_a_wrong_password(upstream: Upstream, tmp_path: Path) -> None:
    upstream.routes[("GET", "/files")] = guarded
    cassette, key = tmp_path / "auth.yaml", tmp_path / "redaction.key"
    with apitape.recording(upstream.url, cassette, redact_key_file=key) as proxy:
        for password in (PASSWORD, "not-the-password"):
            httpx.get(f"{proxy}/files", auth=("alice", password))
    text = cassette.read_text()
    assert PASSWORD not in text and "not-the-password" not in text
    assert text.count("Basic alice:redacted-password-") == 2
    report = apitape.replay(
        cassette,
        upstream.url,
        secrets={"password": PASSWORD},
        settings=apitape.RunSettings(redact_key_file=str(key)),
    )
    assert report.ok, report.summary()
    assert [i.actual_status for i in report.interactions] == [200, 403]
