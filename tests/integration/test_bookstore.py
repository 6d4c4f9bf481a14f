"""Integration tests for the bookstore example service and its client.

Every test talks to real server processes (``examples/bookstore/server.py``)
over real sockets on 127.0.0.1, each with its own SQLite file in tmp_path.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "examples" / "bookstore" / "server.py"
CLIENT = ROOT / "examples" / "bookstore" / "client.py"
STARTUP_TIMEOUT_S = 10.0
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
BOOK_KEYS = {"id", "title", "author", "isbn", "price", "year", "created_at", "updated_at"}
NEW_BOOK = {
    "title": "Testing in Production",
    "author": "R. Eliability",
    "isbn": "978-1-80000-099-5",
    "price": 21.5,
    "year": 2023,
}
CLIENT_TRANSCRIPT = """\
GET /health -> 200
POST /login -> 401
POST /login -> 200
GET /books?page=1&per_page=10 -> 200
GET /books?page=2&per_page=10 -> 200
GET /books/1 -> 200
GET /books/2 -> 200
GET /books/3 -> 200
GET /books/9999 -> 404
POST /books -> 401
POST /books -> 422
POST /books -> 201
GET /books/31 -> 200
PUT /books/31 -> 200
GET /books/31 -> 200
DELETE /books/31 -> 204
GET /books/31 -> 404
"""


# ---------------------------------------------------------------------------
# Process management
# ---------------------------------------------------------------------------
def clean_env() -> dict[str, str]:
    # The tests rely on the built-in default secret (shared by v1 and v2).
    return {k: v for k, v in os.environ.items() if k != "BOOKSTORE_SECRET"}


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    base_url: str
    db_path: Path
    stderr_path: Path

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # never leak a process, even on failure
            self.process.kill()
            code = self.process.wait()
        assert self.process.stdout is not None
        self.process.stdout.close()
        return code


def start_server(tmp_path: Path, version: int, name: str = "") -> RunningServer:
    stem = name or f"v{version}"
    db_path, stderr_path = tmp_path / f"{stem}.sqlite3", tmp_path / f"{stem}.stderr"
    command = [sys.executable, str(SERVER), "--version", str(version), "--port", "0"]
    with stderr_path.open("w") as stderr:  # the child keeps its own copy of the fd
        process = subprocess.Popen(
            [*command, "--db", str(db_path)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=clean_env(),
        )
    server = RunningServer(process, "", db_path, stderr_path)
    assert process.stdout is not None
    # select() so a server that hangs before printing fails the test, not the run.
    ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    found = re.fullmatch(rf"bookstore v{version} listening on (http://127\.0\.0\.1:\d+)\n", line)
    if not found:
        server.stop(signal.SIGKILL)
        pytest.fail(f"server did not start: {line!r}\n{stderr_path.read_text()}")
    server.base_url = found.group(1)
    return server


@pytest.fixture
def v1(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path, 1)
    yield server
    server.stop()


@pytest.fixture
def v2(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path, 2)
    yield server
    server.stop()


def http_client(server: RunningServer) -> httpx.Client:
    # trust_env=False: an HTTP_PROXY in the environment must not intercept.
    return httpx.Client(base_url=server.base_url, trust_env=False, timeout=5.0)


@pytest.fixture
def api(v1: RunningServer) -> Iterator[httpx.Client]:
    with http_client(v1) as client:
        yield client


@pytest.fixture
def api2(v2: RunningServer) -> Iterator[httpx.Client]:
    with http_client(v2) as client:
        yield client


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
def login(client: httpx.Client, username: str = "alice", password: str = "wonderland") -> str:
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jwt_part(token: str, index: int) -> Any:
    segment = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def stable_headers(response: httpx.Response) -> dict[str, str]:
    """Headers minus the ones that legitimately change on every response."""
    return {k: v for k, v in response.headers.items() if k not in ("date", "x-request-id")}


# ---------------------------------------------------------------------------
# Basic behaviour (v1)
# ---------------------------------------------------------------------------
def test_health_and_common_headers(api: httpx.Client) -> None:
    first, second = api.get("/health"), api.get("/health")
    assert first.status_code == 200
    assert first.json() == {"status": "ok"}
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["cache-control"] == "max-age=60"
    assert int(first.headers["content-length"]) == len(first.content)
    assert uuid.UUID(first.headers["x-request-id"]).version == 4
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_seeded_catalogue_paginates(api: httpx.Client) -> None:
    first = api.get("/books", params={"page": 1, "per_page": 10}).json()
    assert [book["id"] for book in first["items"]] == list(range(1, 11))
    assert (first["page"], first["per_page"], first["total"]) == (1, 10, 30)
    assert first["next"] == "/books?page=2&per_page=10"

    seen, url = [], "/books?page=1&per_page=10"
    while url:  # following "next" must visit every book exactly once
        page = api.get(url).json()
        seen += page["items"]
        url = page["next"]
    assert [book["id"] for book in seen] == list(range(1, 31))
    assert all(set(book) == BOOK_KEYS for book in seen)
    assert all(isinstance(b["price"], float) and isinstance(b["year"], int) for b in seen)
    assert api.get("/books?page=4&per_page=10").json()["items"] == []
    assert api.get("/books").json()["per_page"] == 10  # defaults


def test_bad_pagination_parameter_is_400(api: httpx.Client) -> None:
    # One server for all cases: a parametrized test would start six.
    cases = [
        ("page=0", "page"),
        ("page=abc", "page"),
        ("page=-1", "page"),
        ("page=1.5", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=", "per_page"),
    ]
    for query, parameter in cases:
        response = api.get(f"/books?{query}")
        assert response.status_code == 400, query
        assert f"'{parameter}'" in response.json()["error"], query


def test_book_detail_and_missing_book(api: httpx.Client) -> None:
    book = api.get("/books/1").json()
    assert book == {
        "id": 1,
        "title": "Pride and Prejudice",
        "author": "Jane Austen",
        "isbn": "9781800000018",
        "price": 12.5,
        "year": 1813,
        "created_at": "2024-01-02T09:30:00.000000Z",
        "updated_at": "2024-01-02T09:30:00.000000Z",
    }
    missing = api.get("/books/999")
    assert (missing.status_code, missing.json()) == (404, {"error": "book 999 not found"})
    assert api.get(f"/books/{2**70}").status_code == 404  # beyond SQLite's integer range


def test_unknown_path_and_wrong_method(api: httpx.Client) -> None:
    unknown = api.get("/authors")
    assert unknown.status_code == 404
    assert "error" in unknown.json()
    wrong = api.patch("/books", json={})
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert api.delete("/health").headers["allow"] == "GET"


def test_large_bodies_are_gzipped(api: httpx.Client) -> None:
    with api.stream("GET", "/books", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())  # the bytes as sent, not decoded by httpx
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(raw)
    assert len(json.loads(gzip.decompress(raw))["items"]) == 10

    plain = api.get("/books", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) > 1024
    small = api.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under the 1024-byte threshold


# ---------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------
def test_login_issues_hs256_token(api: httpx.Client) -> None:
    response = api.post("/login", json={"username": "bob", "password": "builder"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert jwt_part(body["token"], 0) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt_part(body["token"], 1)
    assert claims["sub"] == "bob"
    assert claims["exp"] == claims["iat"] + 3600
    assert uuid.UUID(claims["jti"]).version == 4
    expected_expiry = datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["expires_at"] == expected_expiry


def test_login_rejections(api: httpx.Client) -> None:
    for credentials in (
        {"username": "alice", "password": "nope"},
        {"username": "mallory", "password": "wonderland"},
    ):
        response = api.post("/login", json=credentials)
        assert (response.status_code, response.json()) == (
            401,
            {"error": "invalid username or password"},
        )
    for malformed in (b"not json", b"[1, 2]", b'{"username": "alice"}', b""):
        assert api.post("/login", content=malformed).status_code == 400


def test_writes_require_a_valid_token(api: httpx.Client) -> None:
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = b64url(json.dumps({"sub": "alice", "exp": int(time.time()) + 60}).encode())
    forged_sig = b64url(hmac.new(b"wrong-key", f"{header}.{claims}".encode(), "sha256").digest())
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Basic YWxpY2U6d29uZGVybGFuZA=="},
        bearer("not.a.token"),
        bearer(f"{header}.{claims}.{forged_sig}"),
        bearer(login(api) + "x"),
    ]
    for headers in bad_headers:
        for method, path in (("POST", "/books"), ("PUT", "/books/1"), ("DELETE", "/books/1")):
            response = api.request(method, path, json=NEW_BOOK, headers=headers)
            assert response.status_code == 401, (method, headers)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.headers["cache-control"] == "no-store"
            assert "error" in response.json()
    assert api.get("/books/1").json()["title"] == "Pride and Prejudice"  # untouched


def test_expired_token_is_rejected(api: httpx.Client) -> None:
    # Sign with the documented default secret, as v1 does, but expired.
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    claims = b64url(json.dumps({"sub": "alice", "iat": 1, "exp": 3601}).encode())
    key = b"bookstore-demo-shared-secret"
    signature = b64url(hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    response = api.post("/books", json=NEW_BOOK, headers=bearer(f"{header}.{claims}.{signature}"))
    assert (response.status_code, response.json()) == (401, {"error": "token expired"})


def test_token_from_v1_is_accepted_by_v2(api: httpx.Client, api2: httpx.Client) -> None:
    token = login(api)
    created = api2.post("/books", json=NEW_BOOK, headers=bearer(token))
    assert created.status_code == 200  # v2's (planted) create status
    path = f"/books/{created.json()['id']}"
    assert api2.put(path, json={"year": 2024}, headers=bearer(token)).status_code == 200
    assert api2.delete(path, headers=bearer(token)).status_code == 204


# ---------------------------------------------------------------------------
# CRUD
# ---------------------------------------------------------------------------
def test_create_read_update_delete(api: httpx.Client, v1: RunningServer) -> None:
    auth = bearer(login(api))
    created = api.post("/books", json=NEW_BOOK, headers=auth)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    book = created.json()
    assert book["id"] == 31  # autoincrement after the 30 seeded books
    assert created.headers["location"] == f"{v1.base_url}/books/{book['id']}"
    assert {k: book[k] for k in NEW_BOOK} == {**NEW_BOOK, "isbn": "9781800000995"}
    assert TIMESTAMP.fullmatch(book["created_at"]) and book["updated_at"] == book["created_at"]

    path = f"/books/{book['id']}"
    assert api.get(path).json() == book
    updated = api.put(path, json={"price": 30}, headers=auth)
    assert updated.status_code == 200
    assert updated.json()["price"] == 30.0 and isinstance(updated.json()["price"], float)
    assert updated.json()["updated_at"] > book["updated_at"]
    assert updated.json()["title"] == NEW_BOOK["title"]  # partial update keeps the rest
    assert api.get(path).json() == updated.json()

    deleted = api.delete(path, headers=auth)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "content-type" not in deleted.headers
    assert api.get(path).status_code == 404
    assert api.delete(path, headers=auth).status_code == 404
    assert api.put(path, json={"price": 1}, headers=auth).status_code == 404
    # Deleted ids are never handed out again.
    assert api.post("/books", json=NEW_BOOK, headers=auth).json()["id"] == 32


def test_validation_errors_are_422(api: httpx.Client) -> None:
    auth = bearer(login(api))
    empty = api.post("/books", json={}, headers=auth)
    assert empty.status_code == 422
    assert empty.json() == {
        "error": "validation failed",
        "fields": dict.fromkeys(["title", "author", "isbn", "price", "year"], "is required"),
    }
    bad = {"title": " ", "author": 7, "isbn": "123", "price": "9.99", "year": 1999.0, "x": 1}
    fields = api.post("/books", json=bad, headers=auth).json()["fields"]
    assert set(fields) == {"title", "author", "isbn", "price", "year", "x"}
    assert api.put("/books/1", json={}, headers=auth).status_code == 422
    assert api.put("/books/1", json={"price": -1}, headers=auth).status_code == 422
    assert api.post("/books", content=b"{oops", headers=auth).status_code == 400
    assert api.get("/books/1").json()["price"] == 12.5  # nothing was written


# ---------------------------------------------------------------------------
# Planted v2 regressions, each contrasted with v1
# ---------------------------------------------------------------------------
def test_v2_detail_price_becomes_string(api: httpx.Client, api2: httpx.Client) -> None:
    old, new = api.get("/books/1").json(), api2.get("/books/1").json()
    assert (old["price"], new["price"]) == (12.5, "12.50")
    assert {**new, "price": old["price"]} == old
    # Only the detail endpoint changed: list prices are still numbers.
    assert api2.get("/books").json()["items"][0]["price"] == 12.5


def test_v2_list_items_lose_isbn(api: httpx.Client, api2: httpx.Client) -> None:
    old, new = api.get("/books").json(), api2.get("/books").json()
    assert all("isbn" in book for book in old["items"])
    assert all("isbn" not in book for book in new["items"])
    stripped = [{k: v for k, v in book.items() if k != "isbn"} for book in old["items"]]
    assert {**old, "items": stripped} == new
    assert "isbn" in api2.get("/books/1").json()


def test_v2_create_answers_200(api: httpx.Client, api2: httpx.Client) -> None:
    token = login(api)
    old = api.post("/books", json=NEW_BOOK, headers=bearer(token))
    new = api2.post("/books", json=NEW_BOOK, headers=bearer(token))
    assert (old.status_code, new.status_code) == (201, 200)
    assert old.headers["location"].endswith("/books/31")
    assert new.headers["location"].endswith("/books/31")
    ignore = ("created_at", "updated_at")
    assert {k: v for k, v in old.json().items() if k not in ignore} == {
        k: v for k, v in new.json().items() if k not in ignore
    }


def test_v2_list_is_slow(api2: httpx.Client) -> None:
    # Only a lower bound: a slow machine can't make this fail.
    started = time.perf_counter()
    assert api2.get("/books").status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_v1_and_v2_agree_everywhere_else(api: httpx.Client, api2: httpx.Client) -> None:
    auth = bearer(login(api))
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/health", {}),
        ("GET", "/books/999", {}),
        ("GET", "/books?page=0", {}),
        ("GET", "/nowhere", {}),
        ("DELETE", "/health", {}),
        ("POST", "/login", {"json": {"username": "alice", "password": "x"}}),
        ("POST", "/login", {"content": b"nope"}),
        ("POST", "/books", {"json": NEW_BOOK}),
        ("POST", "/books", {"json": {"title": ""}, "headers": auth}),
        ("PUT", "/books/999", {"json": {"year": 2000}, "headers": auth}),
        ("DELETE", "/books/999", {"headers": auth}),
    ]
    for method, path, options in requests:
        old, new = api.request(method, path, **options), api2.request(method, path, **options)
        assert (old.status_code, old.json()) == (new.status_code, new.json()), (method, path)
        assert stable_headers(old) == stable_headers(new), (method, path)


# ---------------------------------------------------------------------------
# Process-level behaviour
# ---------------------------------------------------------------------------
def test_database_file_is_seeded_on_disk(v1: RunningServer) -> None:
    assert v1.db_path.is_file()
    with closing(sqlite3.connect(f"file:{v1.db_path}?mode=ro", uri=True)) as db:
        assert db.execute("SELECT COUNT(*), MIN(id), MAX(id) FROM books").fetchone() == (30, 1, 30)
        assert db.execute("SELECT title FROM books WHERE id = 30").fetchone() == ("Emma",)
        users = dict(db.execute("SELECT username, password_hash FROM users").fetchall())
    assert set(users) == {"alice", "bob"}
    assert all(h.startswith("pbkdf2_sha256$") for h in users.values())
    assert "wonderland" not in users["alice"]


def test_handler_error_is_500_and_server_survives(v1: RunningServer, api: httpx.Client) -> None:
    with closing(sqlite3.connect(v1.db_path)) as db:
        db.execute("DROP TABLE books")  # pull the rug out from under the server
        db.commit()
    broken = api.get("/books/1")
    assert (broken.status_code, broken.json()) == (500, {"error": "internal server error"})
    assert api.get("/health").status_code == 200
    assert "no such table" in v1.stderr_path.read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_server_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    server = start_server(tmp_path, 1)
    try:
        with http_client(server) as client:
            assert client.get("/health").status_code == 200
            # The idle keep-alive connection is still open here; it must not block exit.
            code = server.stop(sig)
    finally:
        server.stop(signal.SIGKILL)
    stderr = server.stderr_path.read_text()
    assert (code, "Traceback" in stderr) == (0, False), stderr


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    """Run examples/bookstore/client.py with a clean environment (no proxy variables)."""
    return subprocess.run(
        [sys.executable, str(CLIENT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )


def test_client_session_against_v1(v1: RunningServer) -> None:
    result = run_client("--base-url", v1.base_url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == CLIENT_TRANSCRIPT


def test_client_sends_through_the_proxy(v1: RunningServer) -> None:
    # HTTP/1.1 servers must accept absolute-form targets, which is what a
    # client sends to a forward proxy; so the server itself can stand in as
    # the proxy. The .invalid base URL proves nothing went to it directly.
    result = run_client("--base-url", "http://bookstore.invalid", "--proxy", v1.base_url)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == CLIENT_TRANSCRIPT


def test_client_reports_unreachable_server(closed_port: int) -> None:
    port = closed_port
    result = run_client("--base-url", f"http://127.0.0.1:{port}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"client: cannot reach http://127.0.0.1:{port}")
