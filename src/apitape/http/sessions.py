"""Sessions: which recorded exchanges depend on each other and must replay in order.

A session's exchanges replay one after another, each after the previous answer; different
sessions replay side by side. The key that groups them:

    client        the client's address at capture, without the port (the default)
    connection    the client connection the exchange came on
    exchange      none: every exchange on its own (independent traffic, load replays)
    header:NAME   the value of a request header (an API key, a session header)
    cookie:NAME   the value of a request cookie
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from apitape.errors import UsageError
from apitape.models import Exchange, first_header

SESSION_KEYS = ("client", "connection", "exchange", "header:NAME", "cookie:NAME")

SessionKey = Callable[[int, Exchange], str]


def session_key(spec: str) -> SessionKey:
    """The key function for a `session_by` value; UsageError for an unknown one."""
    kind, _, name = spec.partition(":")
    if kind == "client" and not name:
        return lambda _, e: (e.client or "").rsplit(":", 1)[0]
    if kind == "connection" and not name:
        return lambda _, e: e.connection or ""
    if kind == "exchange" and not name:
        return lambda index, _: str(index)
    if kind == "header" and name:
        return lambda _, e: first_header(e.request.headers, name) or ""
    if kind == "cookie" and name:
        return lambda _, e: _cookie(e, name)
    raise UsageError(f"{spec!r} is not one of: {', '.join(SESSION_KEYS)}", "session_by")


def _cookie(exchange: Exchange, name: str) -> str:
    for part in (first_header(exchange.request.headers, "cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def group_sessions(exchanges: Sequence[Exchange], key: SessionKey) -> list[list[int]]:
    """Indices of the exchanges per session, each in recorded order, sessions by first use."""
    sessions: dict[str, list[int]] = {}
    for index, exchange in enumerate(exchanges):
        sessions.setdefault(key(index, exchange), []).append(index)
    return list(sessions.values())
