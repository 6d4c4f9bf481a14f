"""Shapes and signatures: what makes two exchanges the same test case.

An exchange's signature is its endpoint (`GET /books/{id}`), its status, the shape of its
request (query parameter names and the body's structure) and the shape of its response
body. A shape is the JSON structure with every value replaced by its type: `{"id": 1,
"tags": ["a"]}` and `{"id": 9, "tags": ["b", "c"]}` have one shape; a list's shape is the
set of its items' shapes, so its length does not count. `Signer(widen=...)` adds the value
of a query parameter or a request header that selects behaviour (`query:format`,
`header:Accept`) to the signature.

Endpoints are named as a replay's report names them: explicit templates, else the guess from
the path's shape, renamed at the end by the path parameters learned from the whole capture
(`PathParameterLearner`), so `GET /posts/3QiPNqZ` and `GET /posts/x8Tq2Lm` are one
`GET /posts/{id}` when the service made those ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from apitape.errors import UsageError
from apitape.fastjson import loads
from apitape.http.bodies import is_json_type, media_type
from apitape.http.endpoints import EndpointNamer
from apitape.http.path_parameters import PathParameters
from apitape.models import Exchange, Headers, first_header

WIDEN_KINDS = ("query:NAME", "header:NAME")


def value_shape(value: Any) -> str:
    """The structure of a JSON value with its values replaced by their types."""
    if isinstance(value, dict):
        inner = ",".join(f"{key}:{value_shape(item)}" for key, item in sorted(value.items()))
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + "|".join(sorted({value_shape(item) for item in value})) + "]"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return "num"
    return "str"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


_CACHE_LIMIT = 4096


class _BodyShapes:
    """Body -> shape, remembering the last few thousand bodies (captures repeat answers)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, bytes], str] = {}

    def __call__(self, headers: Headers, body: bytes) -> str:
        if not body:
            return "empty"
        mime = media_type(headers)
        key = (mime, body)
        known = self._seen.get(key)
        if known is not None:
            return known
        shape = _body_shape(mime, body)
        if len(self._seen) >= _CACHE_LIMIT:
            self._seen.clear()
        self._seen[key] = shape
        return shape


def _body_shape(mime: str, body: bytes) -> str:
    if is_json_type(mime) or (not mime and body[:1] in (b"{", b"[")):
        try:
            return "json:" + _digest(value_shape(loads(body)))
        except (ValueError, RecursionError):
            return "text"
    if mime == "application/x-www-form-urlencoded":
        try:
            names = sorted({name for name, _ in parse_qsl(body.decode(), keep_blank_values=True)})
        except UnicodeDecodeError:
            return "binary"
        return "form:" + _digest(",".join(names))
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return f"binary:{mime or '-'}"
    return f"text:{mime or '-'}"


@dataclass(frozen=True)
class Widen:
    """One extra part of the signature: a query parameter's or a request header's value."""

    kind: str  # "query" or "header"
    name: str

    @classmethod
    def parse(cls, spec: str) -> Widen:
        """`query:NAME` or `header:NAME`; UsageError otherwise."""
        kind, _, name = spec.partition(":")
        if kind not in ("query", "header") or not name:
            raise UsageError(f"{spec!r} is not one of: {', '.join(WIDEN_KINDS)}", "widen")
        return cls(kind, name)

    def value(self, exchange: Exchange) -> str:
        if self.kind == "header":
            return first_header(exchange.request.headers, self.name) or ""
        query = urlsplit(exchange.request.url).query
        return next((v for k, v in parse_qsl(query, keep_blank_values=True) if k == self.name), "")


@dataclass(frozen=True)
class Signature:
    """What an exchange is a case of: endpoint, status, request shape, response shape."""

    endpoint: str
    status: int
    request_shape: str
    response_shape: str
    widened: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = "".join(f" {part}" for part in self.widened)
        return (
            f"{self.endpoint} {self.status} request:{self.request_shape} "
            f"response:{self.response_shape}{extra}"
        )


@dataclass
class Signer:
    """Makes the signature of each exchange; one per run, so every exchange is named alike."""

    namer: EndpointNamer = field(default_factory=EndpointNamer)
    widen: Sequence[Widen] = ()

    def __post_init__(self) -> None:
        self._shapes = _BodyShapes()

    def endpoint(self, exchange: Exchange) -> str:
        return self.namer(exchange.request.method, exchange.request.url)

    def request_shape(self, exchange: Exchange) -> str:
        """Query parameter names (values masked) and the body's shape."""
        query = urlsplit(exchange.request.url).query
        names = sorted({k for k, _ in parse_qsl(query, keep_blank_values=True)}) if query else []
        body = self._shapes(exchange.request.headers, exchange.request.body)
        return f"{_digest(','.join(names)) if names else 'noquery'}/{body}"

    def response_shape(self, exchange: Exchange) -> str:
        return self._shapes(exchange.response.headers, exchange.response.body)

    def __call__(self, exchange: Exchange, endpoint: str | None = None) -> Signature:
        return Signature(
            endpoint if endpoint is not None else self.endpoint(exchange),
            exchange.response.status,
            self.request_shape(exchange),
            self.response_shape(exchange),
            tuple(f"{w.kind}:{w.name}={w.value(exchange)}" for w in self.widen),
        )

    def learned(self, parameters: PathParameters) -> Signer:
        """This signer, naming endpoints with the path parameters a capture taught."""
        return Signer(replace(self.namer, learned=parameters), self.widen)

    def renamer(self, parameters: PathParameters) -> Callable[[str], str]:
        """Maps an endpoint named by this signer to its learned name; names made by explicit
        templates are kept (as the replay's judge does)."""
        return lambda endpoint: self.namer.renamed(endpoint, parameters)
