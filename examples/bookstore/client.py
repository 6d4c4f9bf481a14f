#!/usr/bin/env python3
"""A scripted, realistic client session against the bookstore example.

    python examples/bookstore/client.py --base-url http://127.0.0.1:8001
    python examples/bookstore/client.py --base-url http://127.0.0.1:8001 \\
        --proxy http://127.0.0.1:8080   # e.g. `apitape record --mode forward`

Each request is printed as ``METHOD PATH -> STATUS``. The client does not
judge the statuses (v2 answers differently on purpose); it only needs the
token and the new book's id from the responses to carry on.
Exit status: 0 completed, 1 a response lacked data needed for the next step,
2 the server (or proxy) could not be reached.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import httpx

NEW_BOOK = {
    "title": "The Pragmatic Regression Hunter",
    "author": "Ada Tester",
    "isbn": "978-0-13-595705-9",
    "price": 24.99,
    "year": 2024,
}
# Several problems at once, so the 422 lists more than one field.
INVALID_BOOK = {"title": "", "author": "Nobody", "price": "free"}


class SessionError(Exception):
    """A response lacked something the rest of the session depends on."""


class Session:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, json=body, headers=headers)
        print(f"{method} {path} -> {response.status_code}", flush=True)
        return response


def field(response: httpx.Response, name: str) -> Any:
    """Pull a value the session needs from a JSON response body."""
    try:
        return response.json()[name]
    except (ValueError, KeyError, TypeError):
        request = response.request
        raise SessionError(
            f"{request.method} {request.url.path} -> {response.status_code}: no {name!r} in body"
        ) from None


def run(session: Session, username: str, password: str) -> None:
    call = session.call
    call("GET", "/health")
    # "not-" + password is guaranteed to differ from the real one.
    call("POST", "/login", {"username": username, "password": f"not-{password}"})
    token = field(call("POST", "/login", {"username": username, "password": password}), "token")

    for page in (1, 2):
        call("GET", f"/books?page={page}&per_page=10")
    for book_id in (1, 2, 3, 9999):
        call("GET", f"/books/{book_id}")

    call("POST", "/books", NEW_BOOK)  # no token: 401
    call("POST", "/books", INVALID_BOOK, token=token)  # 422
    created = call("POST", "/books", NEW_BOOK, token=token)
    path = f"/books/{field(created, 'id')}"

    call("GET", path)
    call("PUT", path, {"price": 19.95}, token=token)
    call("GET", path)
    call("DELETE", path, token=token)
    call("GET", path)  # gone: 404


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run a scripted bookstore client session.")
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8001")
    parser.add_argument("--proxy", help="send every request through this forward proxy")
    parser.add_argument("--username", default="alice")
    parser.add_argument("--password", default="wonderland")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = args.proxy or args.base_url
    try:
        # trust_env=False: only --proxy may route traffic, never HTTP_PROXY
        # and friends from the environment, so recordings are predictable.
        with httpx.Client(
            base_url=args.base_url,
            proxy=args.proxy,
            follow_redirects=False,
            trust_env=False,
            timeout=10.0,
        ) as client:
            run(Session(client), args.username, args.password)
    except (httpx.TransportError, httpx.InvalidURL) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        print(f"client: cannot reach {target}: {reason}", file=sys.stderr)
        return 2
    except SessionError as exc:
        print(f"client: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
