#!/usr/bin/env python3
"""Bookstore: a small JSON REST service used as apitape's example target.

Run two deployments side by side and let apitape compare them:

    python examples/bookstore/server.py --version 1 --port 8001
    python examples/bookstore/server.py --version 2 --port 8002

Version 2 contains four deliberately planted regressions; they all live in
the ``V2Behaviour`` class below so they are easy to find and to audit.

Standard library only, so the example runs in any Python 3.11+ environment.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import gzip
import hashlib
import hmac
import json
import math
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Json = dict[str, Any]

DEFAULT_SECRET = "bookstore-demo-shared-secret"
TOKEN_TTL_S = 3600
GZIP_MIN_BYTES = 1024
MAX_BODY_BYTES = 1 << 20
MAX_PER_PAGE = 100
SQLITE_MAX_INT = 2**63 - 1
# The OpenAPI 3.1 document of this API (as v1 behaves), served at GET /openapi.yaml.
OPENAPI_DOCUMENT = (Path(__file__).parent / "openapi.yaml").read_bytes()
# Far below the ~600k OWASP suggests: this is a demo, and every server start
# hashes the seeded passwords, so startup (and the test suite) stays fast.
PBKDF2_ITERATIONS = 100_000
BOOK_FIELDS = ("title", "author", "isbn", "price", "year")
# A client doing GET -> edit -> PUT sends these back; they are not editable.
READ_ONLY_FIELDS = frozenset({"id", "created_at", "updated_at"})


# ---------------------------------------------------------------------------
# Version behaviour. v2 differs from v1 ONLY by the four regressions in
# V2Behaviour; they are planted on purpose so apitape has something to find.
# Everything else (ids, errors, headers) is shared code.
# ---------------------------------------------------------------------------
class V1Behaviour:
    create_status = HTTPStatus.CREATED
    list_delay_s = 0.0

    def detail_book(self, book: Json) -> Json:
        return book

    def list_item(self, book: Json) -> Json:
        return book


class V2Behaviour(V1Behaviour):
    # Regression 3 (status change): POST /books answers 200 instead of 201.
    create_status = HTTPStatus.OK
    # Regression 4 (latency): GET /books sleeps before answering.
    list_delay_s = 0.3

    def detail_book(self, book: Json) -> Json:
        # Regression 1 (type change): GET /books/{id} renders price as "12.50".
        return {**book, "price": f"{book['price']:.2f}"}

    def list_item(self, book: Json) -> Json:
        # Regression 2 (removed field): GET /books items lose "isbn".
        return {k: v for k, v in book.items() if k != "isbn"}


BEHAVIOURS: dict[int, V1Behaviour] = {1: V1Behaviour(), 2: V2Behaviour()}


# ---------------------------------------------------------------------------
# Seed data: fixed, so two fresh databases start out byte-for-byte comparable.
# ---------------------------------------------------------------------------
SEED_BOOKS: list[tuple[str, str, float, int]] = [
    ("Pride and Prejudice", "Jane Austen", 12.5, 1813),
    ("Moby-Dick", "Herman Melville", 19.99, 1851),
    ("Frankenstein", "Mary Shelley", 9.99, 1818),
    ("Dracula", "Bram Stoker", 11.25, 1897),
    ("The Adventures of Sherlock Holmes", "Arthur Conan Doyle", 14.0, 1892),
    ("Alice's Adventures in Wonderland", "Lewis Carroll", 8.75, 1865),
    ("Great Expectations", "Charles Dickens", 13.49, 1861),
    ("Jane Eyre", "Charlotte Brontë", 12.99, 1847),
    ("Wuthering Heights", "Emily Brontë", 10.5, 1847),
    ("The Picture of Dorian Gray", "Oscar Wilde", 9.5, 1890),
    ("War and Peace", "Leo Tolstoy", 24.99, 1869),
    ("Crime and Punishment", "Fyodor Dostoevsky", 16.4, 1866),
    ("Anna Karenina", "Leo Tolstoy", 18.0, 1878),
    ("Madame Bovary", "Gustave Flaubert", 11.99, 1857),
    ("Les Misérables", "Victor Hugo", 22.5, 1862),
    ("The Count of Monte Cristo", "Alexandre Dumas", 21.75, 1844),
    ("Don Quixote", "Miguel de Cervantes", 17.99, 1605),
    ("Middlemarch", "George Eliot", 15.25, 1871),
    ("The Time Machine", "H. G. Wells", 7.99, 1895),
    ("The War of the Worlds", "H. G. Wells", 8.5, 1898),
    ("Treasure Island", "Robert Louis Stevenson", 9.25, 1883),
    ("Little Women", "Louisa May Alcott", 12.0, 1868),
    ("The Scarlet Letter", "Nathaniel Hawthorne", 10.99, 1850),
    ("Adventures of Huckleberry Finn", "Mark Twain", 11.5, 1884),
    ("Heart of Darkness", "Joseph Conrad", 6.99, 1899),
    ("The Call of the Wild", "Jack London", 7.5, 1903),
    ("Ulysses", "James Joyce", 19.5, 1922),
    ("The Great Gatsby", "F. Scott Fitzgerald", 14.99, 1925),
    ("The Metamorphosis", "Franz Kafka", 8.99, 1915),
    ("Emma", "Jane Austen", 12.75, 1815),
]
SEED_USERS = {"alice": "wonderland", "bob": "builder"}
SEED_EPOCH = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)

SCHEMA = """
CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    isbn TEXT NOT NULL,
    price REAL NOT NULL,
    year INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL
);
"""


def iso_utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_iso() -> str:
    return iso_utc(datetime.now(UTC))


def isbn13(book_id: int) -> str:
    """A made-up but checksum-valid ISBN-13, stable per seed id."""
    digits = f"97818{book_id:07d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def seed_rows() -> list[tuple[Any, ...]]:
    rows = []
    for book_id, (title, author, price, year) in enumerate(SEED_BOOKS, start=1):
        stamp = iso_utc(SEED_EPOCH + timedelta(days=book_id))
        rows.append((book_id, title, author, isbn13(book_id), price, year, stamp, stamp))
    return rows


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    _scheme, iterations, salt, expected = stored.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)


@functools.cache
def dummy_hash() -> str:
    """Checked for unknown users so login timing doesn't reveal which exist."""
    return hash_password("not-a-real-password")


# ---------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------
class Store:
    """SQLite access. One connection guarded by a lock: the handler threads
    share it, and the lock keeps each read-modify-return sequence atomic."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    def setup(self, id_offset: int = 0) -> None:
        with self._lock, self._conn:
            self._conn.executescript(SCHEMA)
            if self._conn.execute("SELECT COUNT(*) FROM books").fetchone()[0] == 0:
                self._conn.executemany(
                    "INSERT INTO books VALUES (?, ?, ?, ?, ?, ?, ?, ?)", seed_rows()
                )
                if id_offset:
                    # As if `id_offset` books had come and gone: new books get other ids,
                    # as they would on a database with another history.
                    self._conn.execute(
                        "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'books'",
                        (id_offset,),
                    )
            for username, password in SEED_USERS.items():
                if self._user_hash(username) is None:
                    self._conn.execute(
                        "INSERT INTO users VALUES (?, ?)", (username, hash_password(password))
                    )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def password_hash(self, username: str) -> str | None:
        with self._lock:
            return self._user_hash(username)

    def _user_hash(self, username: str) -> str | None:
        row = self._conn.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
        return None if row is None else str(row[0])

    def list_books(self, offset: int, limit: int) -> tuple[list[Json], int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM books ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
            ).fetchall()
            total = self._conn.execute("SELECT COUNT(*) FROM books").fetchone()[0]
        return [dict(row) for row in rows], int(total)

    def get_book(self, book_id: int) -> Json | None:
        with self._lock:
            return self._fetch(book_id)

    def _fetch(self, book_id: int) -> Json | None:
        row = self._conn.execute("SELECT * FROM books WHERE id = ?", (book_id,)).fetchone()
        return None if row is None else dict(row)

    def create_book(self, values: Json) -> Json:
        now = utc_now_iso()
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "INSERT INTO books (title, author, isbn, price, year, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*(values[name] for name in BOOK_FIELDS), now, now),
            )
            book = self._fetch(int(cursor.lastrowid or 0))
        assert book is not None
        return book

    def update_book(self, book_id: int, values: Json) -> Json | None:
        # Column names come from the validated BOOK_FIELDS whitelist, never
        # from the request, so building the SET clause here is safe.
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._lock, self._conn:
            cursor = self._conn.execute(
                f"UPDATE books SET {assignments}, updated_at = ? WHERE id = ?",
                (*values.values(), utc_now_iso(), book_id),
            )
            return self._fetch(book_id) if cursor.rowcount else None

    def delete_book(self, book_id: int) -> bool:
        with self._lock, self._conn:
            return self._conn.execute("DELETE FROM books WHERE id = ?", (book_id,)).rowcount > 0


# ---------------------------------------------------------------------------
# HTTP-independent request/response model and errors
# ---------------------------------------------------------------------------
@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    host: str  # the Host header, or our own address for HTTP/1.0 clients
    body: bytes


@dataclass
class Response:
    status: int
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body sent as it is, with its own Content-Type header


class HttpError(Exception):
    """Raised anywhere in request handling; becomes a JSON error response."""

    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.response = Response(status, {"error": message, **extra}, dict(headers or {}))


def unauthorized(message: str) -> HttpError:
    return HttpError(HTTPStatus.UNAUTHORIZED, message, {"WWW-Authenticate": "Bearer"})


# ---------------------------------------------------------------------------
# Tokens: a minimal HS256 JWT, enough for the demo and verifiable by any JWT lib
# ---------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


class Tokens:
    HEADER = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sign(self, signing_input: str) -> str:
        return b64url(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())

    def issue(self, subject: str) -> tuple[str, int]:
        iat = int(time.time())
        exp = iat + TOKEN_TTL_S
        claims = {"sub": subject, "iat": iat, "exp": exp, "jti": str(uuid.uuid4())}
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{self.HEADER}.{payload}"
        return f"{signing_input}.{self._sign(signing_input)}", exp

    def verify(self, authorization: str | None) -> Json:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("missing bearer token")
        header, _, rest = token.strip().partition(".")
        payload, _, signature = rest.partition(".")
        # Compare signatures before decoding anything an attacker controls.
        # (bytes, because compare_digest rejects non-ASCII str from the header)
        if not hmac.compare_digest(self._sign(f"{header}.{payload}").encode(), signature.encode()):
            raise unauthorized("invalid token")
        try:
            claims = b64url_json(payload)
            valid_header = b64url_json(header).get("alg") == "HS256"
        except (ValueError, AttributeError):
            raise unauthorized("invalid token") from None
        if not (valid_header and isinstance(claims, dict) and isinstance(claims.get("exp"), int)):
            raise unauthorized("invalid token")
        if claims["exp"] <= time.time():
            raise unauthorized("token expired")
        return claims


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------
def _check_text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    return "must be at most 300 characters" if len(value) > 300 else None


def _check_isbn(value: Any) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d{13}|\d{9}[\dX]", value.replace("-", "")):
        return None
    return "must be an ISBN-10 or ISBN-13 string"


def _check_price(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number"
    ok = math.isfinite(value) and 0 <= value <= 100_000
    return None if ok else "must be between 0 and 100000"


def _check_year(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer"
    return None if 1450 <= value <= 2100 else "must be between 1450 and 2100"


CHECKS: dict[str, Callable[[Any], str | None]] = {
    "title": _check_text,
    "author": _check_text,
    "isbn": _check_isbn,
    "price": _check_price,
    "year": _check_year,
}


def normalize(name: str, value: Any) -> Any:
    if name in ("title", "author"):
        return value.strip()
    if name == "isbn":
        return value.replace("-", "")
    return round(float(value), 2) if name == "price" else value


def validate_book(data: Json, partial: bool) -> Json:
    """Return normalized column values, or raise 422 listing every bad field."""
    errors = {name: "unknown field" for name in data.keys() - CHECKS.keys() - READ_ONLY_FIELDS}
    for name, check in CHECKS.items():
        missing = None if partial else "is required"
        problem = check(data[name]) if name in data else missing
        if problem:
            errors[name] = problem
    if partial and not errors and not data.keys() & CHECKS.keys():
        errors["body"] = f"at least one of {', '.join(BOOK_FIELDS)} is required"
    if errors:
        raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, "validation failed", fields=errors)
    return {name: normalize(name, data[name]) for name in BOOK_FIELDS if name in data}


def json_object(req: Request) -> Json:
    try:
        data = json.loads(req.body)
    except (ValueError, RecursionError):
        raise HttpError(HTTPStatus.BAD_REQUEST, "request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
    return data


def int_param(req: Request, name: str, default: int, maximum: int) -> int:
    values = req.query.get(name)
    if not values:
        return default
    # Digits only (no sign, no unicode digits); 9 digits keeps OFFSET in range.
    if not re.fullmatch(r"[0-9]{1,9}", values[-1]) or not 1 <= int(values[-1]) <= maximum:
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            f"invalid query parameter '{name}': must be an integer between 1 and {maximum}",
        )
    return int(values[-1])


def book_id_from(raw: str) -> int:
    book_id = int(raw)
    if book_id > SQLITE_MAX_INT:  # SQLite would overflow; no such book can exist
        raise HttpError(HTTPStatus.NOT_FOUND, f"book {book_id} not found")
    return book_id


# ---------------------------------------------------------------------------
# Application: routing and endpoint logic (no socket code here)
# ---------------------------------------------------------------------------
Handler = Callable[..., Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool = False  # requires a bearer token; response is never cached
    no_store: bool = False


class BookstoreApp:
    def __init__(self, store: Store, tokens: Tokens, behaviour: V1Behaviour) -> None:
        self.store = store
        self.tokens = tokens
        self.behaviour = behaviour
        book = re.compile(r"/books/([0-9]+)")
        self.routes = [
            Route("GET", re.compile(r"/health"), self.health),
            Route("GET", re.compile(r"/openapi\.yaml"), self.openapi),
            Route("POST", re.compile(r"/login"), self.login, no_store=True),
            Route("GET", re.compile(r"/books"), self.list_books),
            Route("POST", re.compile(r"/books"), self.create_book, auth=True),
            Route("GET", book, self.get_book),
            Route("PUT", book, self.update_book, auth=True),
            Route("DELETE", book, self.delete_book, auth=True),
        ]

    def handle(self, req: Request) -> Response:
        matches = [(r, m) for r in self.routes if (m := r.pattern.fullmatch(req.path))]
        chosen = next(((r, m) for r, m in matches if r.method == req.method), None)
        try:
            if not matches:
                raise HttpError(HTTPStatus.NOT_FOUND, f"no route for {req.path}")
            if chosen is None:
                allow = ", ".join(r.method for r, _ in matches)
                raise HttpError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"method {req.method} not allowed",
                    {"Allow": allow},
                )
            route, match = chosen
            if route.auth:
                self.tokens.verify(req.headers.get("Authorization"))
            response = route.handler(req, *match.groups())
        except HttpError as exc:
            response = exc.response
        if chosen and (chosen[0].auth or chosen[0].no_store):
            response.headers["Cache-Control"] = "no-store"
        elif req.method == "GET":
            response.headers["Cache-Control"] = "max-age=60"
        return response

    def health(self, req: Request) -> Response:
        return Response(HTTPStatus.OK, {"status": "ok"})

    def openapi(self, req: Request) -> Response:
        # The document describes v1; v2 serves the same one, and breaks it (see README).
        return Response(
            HTTPStatus.OK, headers={"Content-Type": "application/yaml"}, raw=OPENAPI_DOCUMENT
        )

    def login(self, req: Request) -> Response:
        data = json_object(req)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise HttpError(HTTPStatus.BAD_REQUEST, "username and password must be strings")
        stored = self.store.password_hash(username)
        if not verify_password(password, stored or dummy_hash()) or stored is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, "invalid username or password")
        token, exp = self.tokens.issue(username)
        expires_at = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Response(
            HTTPStatus.OK, {"token": token, "token_type": "Bearer", "expires_at": expires_at}
        )

    def list_books(self, req: Request) -> Response:
        if self.behaviour.list_delay_s:
            time.sleep(self.behaviour.list_delay_s)
        page = int_param(req, "page", 1, 10**9 - 1)
        per_page = int_param(req, "per_page", 10, MAX_PER_PAGE)
        books, total = self.store.list_books((page - 1) * per_page, per_page)
        more = page * per_page < total
        return Response(
            HTTPStatus.OK,
            {
                "items": [self.behaviour.list_item(book) for book in books],
                "page": page,
                "per_page": per_page,
                "total": total,
                "next": f"/books?page={page + 1}&per_page={per_page}" if more else None,
            },
        )

    def get_book(self, req: Request, raw_id: str) -> Response:
        book = self._existing(book_id_from(raw_id))
        return Response(HTTPStatus.OK, self.behaviour.detail_book(book))

    def create_book(self, req: Request) -> Response:
        book = self.store.create_book(validate_book(json_object(req), partial=False))
        # Absolute URL from the Host the client used, so it works behind a proxy.
        location = f"http://{req.host}/books/{book['id']}"
        return Response(self.behaviour.create_status, book, {"Location": location})

    def update_book(self, req: Request, raw_id: str) -> Response:
        book_id = book_id_from(raw_id)
        values = validate_book(json_object(req), partial=True)
        book = self.store.update_book(book_id, values)
        if book is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"book {book_id} not found")
        return Response(HTTPStatus.OK, book)

    def delete_book(self, req: Request, raw_id: str) -> Response:
        book_id = book_id_from(raw_id)
        if not self.store.delete_book(book_id):
            raise HttpError(HTTPStatus.NOT_FOUND, f"book {book_id} not found")
        return Response(HTTPStatus.NO_CONTENT)

    def _existing(self, book_id: int) -> Json:
        book = self.store.get_book(book_id)
        if book is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"book {book_id} not found")
        return book


# ---------------------------------------------------------------------------
# HTTP transport
# ---------------------------------------------------------------------------
def accepts_gzip(accept_encoding: str) -> bool:
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "").lower() not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class BookstoreHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    # No version numbers: the Server header must be identical for v1 and v2.
    server_version = "bookstore"
    timeout = 30  # idle keep-alive connections must not pin a thread forever
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle
    # plus delayed ACKs stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server: BookstoreServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: apitape runs this server in the background."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Called by the base class for unparseable requests; answer in JSON too.
        self.close_connection = True
        self._write(Response(code, {"error": message or HTTPStatus(code).phrase}))

    def _serve(self) -> None:
        try:
            response = self.server.app.handle(self._read_request())
        except HttpError as exc:
            response = exc.response
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = Response(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal server error"}
            )
        self._write(response)

    def _read_request(self) -> Request:
        # Absolute-form targets (from a forward proxy) are handled by urlsplit.
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return Request(self.command, url.path, query, self.headers, host, self._read_body())

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            # Not worth a chunked decoder in a demo; HTTP allows refusing it.
            self.close_connection = True
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isascii() or not raw.isdigit():
            self.close_connection = True
            raise HttpError(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        if int(raw) > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body would poison the connection
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        return self.rfile.read(int(raw))

    def _write(self, response: Response) -> None:
        headers = {"X-Request-Id": str(uuid.uuid4()), **response.headers}
        body = b""
        if response.raw is not None:
            body = response.raw
            headers["Content-Length"] = str(len(body))
        elif response.status != HTTPStatus.NO_CONTENT:
            payload = response.body
            random_field = getattr(self.server, "random_field", None)
            if random_field and isinstance(payload, dict):
                # A deployment detail that changes on every call (a cache counter, a shard):
                # what noise learning exists for. Off unless --random-field is given.
                payload = {**payload, random_field: random.randint(0, 1_000_000)}
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
            body = self._maybe_gzip(body, headers)
            headers["Content-Length"] = str(len(body))
        if self.close_connection:
            headers["Connection"] = "close"
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _maybe_gzip(self, body: bytes, headers: dict[str, str]) -> bytes:
        if len(body) <= GZIP_MIN_BYTES:
            return body
        # Vary even when not compressing: a cache must not hand this
        # uncompressed copy to a gzip client or vice versa.
        headers["Vary"] = "Accept-Encoding"
        request_headers = getattr(self, "headers", None)  # absent on early send_error
        if request_headers is None or not accepts_gzip(request_headers.get("Accept-Encoding", "")):
            return body
        headers["Content-Encoding"] = "gzip"
        return gzip.compress(body, mtime=0)  # mtime=0: same body -> same bytes


class BookstoreServer(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive threads must not block exit
    random_field: str | None = None
    # The stdlib default backlog of 5 drops connections when a proxy opens a burst of them.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: BookstoreApp) -> None:
        super().__init__(address, BookstoreHandler)
        self.app = app

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-response are routine, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------------------
# Process entry point
# ---------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Bookstore example REST service.")
    parser.add_argument(
        "--version",
        type=int,
        choices=sorted(BEHAVIOURS),
        required=True,
        help="API version to serve (2 contains planted regressions)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--db", help="SQLite file (default: a new file in a fresh temp dir)")
    parser.add_argument(
        "--secret",
        default=os.environ.get("BOOKSTORE_SECRET", DEFAULT_SECRET),
        help="HS256 token key (env BOOKSTORE_SECRET)",
    )
    parser.add_argument(
        "--id-offset",
        type=int,
        default=0,
        metavar="N",
        help="start the ids of new books N higher, as on a database with another history",
    )
    parser.add_argument(
        "--random-field",
        metavar="NAME",
        help="add a field NAME with a random number to every JSON object answered",
    )
    return parser.parse_args(argv)


STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})


def stop_on_signals(server: BookstoreServer) -> None:
    """Stop serve_forever() when SIGTERM or SIGINT arrives; it then returns normally.

    The signals are blocked in every thread (main() blocks them before it starts
    any) and taken synchronously by sigwait() in a watcher thread, so no Python
    signal handler ever runs. A handler that raised to leave serve_forever()
    would interrupt whatever the main thread happened to be executing: when
    that was accepting a connection (e.g. waiting in Thread.start() for the
    handler thread), socketserver caught the exception as a failed request,
    printed a traceback and kept serving, and the server never exited.
    """

    def watch() -> None:
        signal.sigwait(STOP_SIGNALS)
        server.shutdown()  # returns once serve_forever() has returned

    threading.Thread(target=watch, name="stop-on-signals", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    # First thing, before any thread exists: threads inherit the mask, so a
    # SIGTERM/SIGINT from now on stays pending until stop_on_signals() takes
    # it (even one sent during setup), and a repeated one is never delivered.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    args = parse_args(argv)
    with contextlib.ExitStack() as cleanup:
        db_path = args.db
        if db_path is None:  # throwaway database, removed on exit
            tmp_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bookstore-"))
            db_path = os.path.join(tmp_dir, "bookstore.sqlite3")
        store = Store(db_path)
        cleanup.callback(store.close)
        store.setup(args.id_offset)
        app = BookstoreApp(store, Tokens(args.secret), BEHAVIOURS[args.version])
        try:
            server = BookstoreServer((args.host, args.port), app)
        except OSError as exc:  # port taken, bad host: one line, not a traceback
            print(f"bookstore: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        server.random_field = args.random_field
        cleanup.callback(server.server_close)
        port = server.server_address[1]
        print(f"bookstore v{args.version} listening on http://{args.host}:{port}", flush=True)
        stop_on_signals(server)
        server.serve_forever()  # SIGTERM / SIGINT: returns, a normal, successful exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
