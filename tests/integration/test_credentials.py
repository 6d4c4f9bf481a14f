"""Fresh credentials for redacted or expired ones: --header and the login step of apitape.yaml."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

from apitape.cassette import load_cassette, write_cassette
from apitape.demo import bookstore
from tests.integration.conftest import REPO, Upstream, json_route, run_apitape

LOGIN = (REPO / "examples" / "login.yaml").read_text()


def test_login_step_gives_a_session_without_its_login_a_fresh_token(tmp_path: Path) -> None:
    # The committed session minus its two logins, its token redacted as a recorder would.
    committed = load_cassette(REPO / "cassettes" / "bookstore.yaml").exchanges
    redacted = [
        replace(e, request=replace(e.request, headers=tuple(
            (n, "Bearer <redacted>" if n.lower() == "authorization" else v) for n, v in e.request.headers)))
        for e in committed if "/login" not in e.request.url
    ]  # fmt: skip
    cassette = tmp_path / "no-login.yaml"
    write_cassette(cassette, redacted, "2026-11-24T00:00:00Z")
    config = tmp_path / "apitape.yaml"
    config.write_text(LOGIN)
    report = tmp_path / "r.json"
    import os
    import subprocess
    import sys

    apitape = str(Path(sys.executable).parent / "apitape")
    with bookstore(1, tmp_path / "v1.sqlite3") as v1:
        without = subprocess.run(
            [apitape, "replay", str(cassette), "--target", v1], capture_output=True, text=True
        )
        result = subprocess.run(
            [apitape, "replay", str(cassette), "--target", v1, "--config", str(config), "--report-json", str(report)],
            capture_output=True, text=True, env={**os.environ, "BOOKSTORE_PASSWORD": "wonderland"},
        )  # fmt: skip
    assert without.returncode == 1  # no valid token: 401 where 201 was recorded
    assert "POST /books: status changed 201 -> 401" in without.stdout
    assert result.returncode == 0, result.stdout
    assert json.loads(report.read_text())["summary"]["passed"] == 15


def test_a_401_runs_the_login_step_again_and_is_counted(upstream: Upstream, tmp_path: Path) -> None:
    tokens = itertools.count(1)
    upstream.routes[("POST", "/login")] = lambda h, b: (
        200,
        {"Content-Type": "application/json"},
        json.dumps({"token": f"tok-{next(tokens)}"}).encode(),
    )

    def data(handler, body):  # type: ignore[no-untyped-def]
        if (
            handler.headers.get("Authorization") == "Bearer tok-1"
        ):  # the first token is already stale
            return 401, {"Content-Type": "application/json"}, b'{"error": "expired"}'
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'

    upstream.routes[("GET", "/data")] = data
    upstream.routes[("GET", "/more")] = json_route({"ok": True})
    from apitape.models import Exchange, Request, Response

    recorded = [
        Exchange(str(i), Request("GET", f"http://staging/{p}", (("Authorization", "Bearer REDACTED"),)),
                 Response(200, "OK", (("Content-Type", "application/json"),), b'{"ok": true}'), client="10.0.0.1:1")
        for i, p in ((1, "data"), (2, "more"))
    ]  # fmt: skip
    cassette = tmp_path / "c.yaml"
    write_cassette(cassette, recorded, "2026-11-24T00:00:00Z")
    config = tmp_path / "apitape.yaml"
    config.write_text("login:\n  request: {path: /login, body: '{}'}\n  token: $.token\n")
    report = tmp_path / "r.json"
    result = run_apitape(
        "replay",
        str(cassette),
        "--target",
        upstream.url,
        "--config",
        str(config),
        "--report-json",
        str(report),
    )
    assert result.returncode == 0, result.stdout
    data_report = json.loads(report.read_text())
    assert data_report["credential_refreshes"] == 1
    assert [i["credential_refreshed"] for i in data_report["interactions"]] == [True, False]
    assert upstream.hits == ["POST /login", "GET /data", "POST /login", "GET /data", "GET /more"]


def test_a_broken_login_section_names_the_line(tmp_path: Path, closed_port: int) -> None:
    config = tmp_path / "apitape.yaml"
    config.write_text("login:\n  request: {path: login}\n  token: $.token\n")
    cassette = REPO / "cassettes" / "bookstore.yaml"
    target = f"http://127.0.0.1:{closed_port}"
    result = run_apitape("replay", str(cassette), "--target", target, "--config", str(config))
    assert result.returncode == 2
    assert f"{config}, line 2: login.request.path must start with /" in result.stderr
