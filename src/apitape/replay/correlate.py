"""Correlation: carry ids and tokens the new build hands out into the requests that use them.

While a session replays, each recorded response is laid beside the replayed one. Where a
value differs at the same place (a JSON path, the Location header, a cookie), apitape learns
"recorded value -> replayed value". Later requests of the session that used the recorded value
are sent with the replayed one instead. Values that could be coincidences (short numbers,
plain words) are only substituted in the same position: the path segment of the same endpoint
template, the same JSON path, or an id path segment under the collection that produced them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from apitape.http.bodies import is_json_type, media_type
from apitape.http.endpoints import endpoint_template
from apitape.jsonpath import PathPattern, json_path, path_keys
from apitape.models import (
    Difference,
    Exchange,
    Headers,
    Request,
    Response,
    Substitution,
    first_header,
    header_values,
)

_ID_KEY = re.compile(r"(?:^|_)id$|Id$|^id$")
_STRONG_TEXT = re.compile(r"^(?=.*\d)[A-Za-z0-9._~+/=-]{8,}$")
_URL_HEADERS = ("location", "content-location")

Position = tuple[str, ...]


def is_strong(value: Any) -> bool:
    """Whether a value is distinctive enough to substitute wherever it appears.

    Long numbers and long mixed strings (UUIDs, tokens) are; `1`, `31` or `alice` are not.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) >= 100_000
    return isinstance(value, str) and bool(_STRONG_TEXT.match(value))


@dataclass(frozen=True)
class Learned:
    """One value the new build produced in place of a recorded one."""

    recorded: Any
    replayed: Any
    source: str  # where it was learned: "#12 POST /books response $.id"
    positions: frozenset[Position] = frozenset()
    named: bool = False  # an extract rule of apitape.yaml names it: carried wherever it appears

    @property
    def strong(self) -> bool:
        return self.named or is_strong(self.recorded)


@dataclass
class Correlator:
    """The learned values of one session, applied to its later requests."""

    learned: dict[Any, Learned] = field(default_factory=dict)
    used: set[Any] = field(default_factory=set)  # keys of learned values a request carried
    extract: tuple[tuple[str, PathPattern], ...] = ()  # apitape.yaml: (endpoint, path)

    # ------------------------------------------------------------------- learning

    @staticmethod
    def can_learn(recorded: Response, replayed: Response) -> bool:
        """Whether `learn` could find anything: what teaches a value (Location,
        Content-Location, Set-Cookie, the body) differs. Most answers are the same there,
        and nothing needs parsing."""
        return recorded.body != replayed.body or _learnable_headers(
            recorded.headers
        ) != _learnable_headers(replayed.headers)

    def learn(self, exchange: Exchange, endpoint: str, replayed: Response) -> None:
        """Learn from a recorded response and the target's answer to the same request."""
        recorded = exchange.response
        # What can teach a value: Location, Content-Location, Set-Cookie and the body. Where
        # those are the same on both sides (most answers), there is nothing to parse.
        same_headers = _learnable_headers(recorded.headers) == _learnable_headers(replayed.headers)
        same_body = recorded.body == replayed.body
        if same_headers and same_body:
            return
        source = f"#{exchange.id} {endpoint} response"
        collection = _collection_of(endpoint)
        if not same_headers:
            for name in _URL_HEADERS:
                before, after = (
                    first_header(recorded.headers, name),
                    first_header(replayed.headers, name),
                )
                if before and after and before != after:
                    self._learn_url(before, after, f"{source} header {name}")
            self._learn_cookies(recorded, replayed, source)
        if (
            not same_body
            and is_json_type(media_type(recorded.headers))
            and is_json_type(media_type(replayed.headers))
        ):
            try:
                before_doc, after_doc = json.loads(recorded.body), json.loads(replayed.body)
            except ValueError:
                return
            for keys, value in _leaves(before_doc, ()):
                after = _at(after_doc, keys)
                if after is _MISSING or after == value or type(after) is not type(value):
                    continue
                path = json_path(keys)
                positions: set[Position] = {("json", path)}
                if keys and isinstance(keys[-1], str) and _ID_KEY.search(keys[-1]):
                    positions.add(("path", f"{collection}/{{id}}", str(len(collection.split("/")))))
                if isinstance(value, str) and "/" in value:
                    self._learn_url(value, after, f"{source} {path}")
                named = any(e == endpoint and p.matches(keys) for e, p in self.extract)
                self._add(Learned(value, after, f"{source} {path}", frozenset(positions), named))

    def _learn_url(self, before: str, after: str, source: str) -> None:
        old, new = urlsplit(before), urlsplit(after)
        old_parts, new_parts = old.path.split("/"), new.path.split("/")
        if len(old_parts) != len(new_parts):
            return
        template = endpoint_template(old.path).split("/")
        for index, (a, b) in enumerate(zip(old_parts, new_parts, strict=True)):
            if a != b and a and b:
                prefix = "/".join(template[: index + 1])
                self._add(Learned(a, b, source, frozenset({("path", prefix, str(index))})))
                if a.isdigit() and b.isdigit():
                    # ids in JSON bodies are numbers: /books/31 also teaches 31 -> 32
                    self._add(
                        Learned(int(a), int(b), source, frozenset({("path", prefix, str(index))}))
                    )

    def _learn_cookies(self, recorded: Response, replayed: Response, source: str) -> None:
        before, after = _set_cookies(recorded), _set_cookies(replayed)
        for name, value in before.items():
            new = after.get(name)
            if new is not None and new != value:
                self._add(
                    Learned(value, new, f"{source} cookie {name}", frozenset({("cookie", name)}))
                )

    def _add(self, learned: Learned) -> None:
        known = self.learned.get(_key(learned.recorded))
        if known is not None and known.replayed == learned.replayed:
            learned = replace(
                learned, positions=known.positions | learned.positions, source=known.source
            )
        self.learned[_key(learned.recorded)] = learned

    # ------------------------------------------------------------------- applying

    def rewrite(self, request: Request, exchange_id: str) -> tuple[Request, list[Substitution]]:
        """The request with every learned value it carries replaced, and what was replaced."""
        if not self.learned:
            return request, []
        made: list[Substitution] = []

        def use(value: Any, position: Position, where: str) -> Any:
            learned = self.learned.get(_key(value))
            if learned is None and position[0] == "path" and value.isdigit():
                learned = self.learned.get(_key(int(value)))  # an id learned from a JSON number
            if learned is None or not (learned.strong or position in learned.positions):
                return value
            made.append(Substitution(exchange_id, value, learned.replayed, learned.source, where))
            self._mark_used(learned)
            return learned.replayed

        url = urlsplit(request.url)
        segments = url.path.split("/")
        template = endpoint_template(url.path).split("/")
        new_segments = [
            str(use(s, ("path", "/".join(template[: i + 1]), str(i)), f"path segment {i}"))
            if s
            else s
            for i, s in enumerate(segments)
        ]
        query = parse_qsl(url.query, keep_blank_values=True)
        new_query = [(k, str(use(v, ("query", k), f"query {k}"))) for k, v in query]
        new_url = urlunsplit(
            (
                url.scheme,
                url.netloc,
                "/".join(new_segments),
                urlencode(new_query) if new_query != query else url.query,
                "",
            )
        )
        headers = tuple(
            (name, self._in_header(name, value, exchange_id, made))
            for name, value in request.headers
        )
        body = request.body
        if body and is_json_type(media_type(request.headers)):
            try:
                document = json.loads(body)
            except ValueError:
                document = _MISSING
            if document is not _MISSING:
                rewritten = _rewrite_leaves(document, (), use)
                if rewritten != document:
                    body = json.dumps(rewritten, separators=(",", ":"), ensure_ascii=False).encode()
        return Request(request.method, new_url, headers, body), made

    def _in_header(self, name: str, value: str, exchange_id: str, made: list[Substitution]) -> str:
        if name.lower() == "cookie":
            parts = []
            for part in value.split(";"):
                cookie, eq, cookie_value = part.strip().partition("=")
                learned = self.learned.get(_key(cookie_value))
                if eq and learned and (learned.strong or ("cookie", cookie) in learned.positions):
                    made.append(
                        Substitution(
                            exchange_id,
                            cookie_value,
                            learned.replayed,
                            learned.source,
                            f"cookie {cookie}",
                        )
                    )
                    cookie_value = str(learned.replayed)
                parts.append(f"{cookie}{eq}{cookie_value}")
            return "; ".join(parts)
        # Tokens inside a header ("Bearer <token>"): strong values only, wherever they sit.
        for learned in self.learned.values():
            if learned.strong and isinstance(learned.recorded, str) and learned.recorded in value:
                made.append(
                    Substitution(
                        exchange_id,
                        learned.recorded,
                        learned.replayed,
                        learned.source,
                        f"header {name.lower()}",
                    )
                )
                value = value.replace(learned.recorded, str(learned.replayed))
        return value

    def _mark_used(self, learned: Learned) -> None:
        # 31 learned from "/books/31" and 31 from "$.id" are one id: using either uses both.
        self.used.add(_key(learned.recorded))
        self.used.add(_key(str(learned.recorded)))
        if isinstance(learned.recorded, str) and learned.recorded.isdigit():
            self.used.add(_key(int(learned.recorded)))

    # ------------------------------------------------------------------- judging

    def explains(self, difference: Difference, carried: Iterable[Substitution] = ()) -> bool:
        """Whether a difference is a learned value that later requests carried (the new id in
        the create response). A value no request used explains nothing: it may be a change.

        `carried` are the substitutions of this exchange's own request: a text that echoes
        them back ("book 131 not found" for "book 31 not found") is explained too.
        """
        expected, actual = difference.expected, difference.actual
        if difference.kind not in ("value_changed", "header_changed"):
            return False
        if (
            isinstance(expected, str)
            and isinstance(actual, str)
            and _echoes(expected, actual, carried)
        ):
            return True
        if not isinstance(expected, str | int) or isinstance(expected, bool):
            return False  # learned values are strings and numbers, never objects or lists
        learned = self.learned.get(_key(expected))
        if learned is not None and learned.replayed == actual and _key(expected) in self.used:
            keys = path_keys(difference.path)
            if learned.strong or (keys and ("json", json_path(keys)) in learned.positions):
                return True
            if keys and isinstance(keys[-1], str) and _ID_KEY.search(keys[-1]):
                return True
        if isinstance(expected, str) and isinstance(actual, str) and "/" in expected:
            return self._same_url(expected, actual)
        return False

    def _same_url(self, expected: str, actual: str) -> bool:
        old, new = urlsplit(expected), urlsplit(actual)
        old_parts, new_parts = old.path.split("/"), new.path.split("/")
        if len(old_parts) != len(new_parts) or old.query != new.query:
            return False
        for a, b in zip(old_parts, new_parts, strict=True):
            if a != b:
                learned = self.learned.get(_key(a))
                if learned is None or str(learned.replayed) != b or _key(a) not in self.used:
                    return False
        return True


_MISSING = object()


def _echoes(expected: str, actual: str, carried: Iterable[Substitution]) -> bool:
    """Whether `actual` is `expected` with the values the request carried put in, word by word."""
    text = expected
    for substitution in carried:
        old, new = str(substitution.recorded), str(substitution.replayed)
        text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])", new, text)
    return text == actual and text != expected


def _key(value: Any) -> Any:
    # 31 and "31" are different values; True is not 1.
    return (type(value).__name__, value)


def _collection_of(endpoint: str) -> str:
    path = endpoint.split(" ", 1)[-1]
    return path[: -len("/{id}")] if path.endswith("/{id}") else path


def _leaves(value: Any, keys: tuple[Any, ...]) -> Iterable[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*keys, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*keys, index))
    elif isinstance(value, str | int) and not isinstance(value, bool) and value != "":
        yield keys, value


def _at(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        in_dict = isinstance(value, dict) and isinstance(key, str) and key in value
        in_list = isinstance(value, list) and isinstance(key, int) and key < len(value)
        if in_dict or in_list:
            value = value[key]
        else:
            return _MISSING
    return value


def _rewrite_leaves(value: Any, keys: tuple[Any, ...], use: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite_leaves(v, (*keys, k), use) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_leaves(v, (*keys, i), use) for i, v in enumerate(value)]
    if isinstance(value, str | int) and not isinstance(value, bool):
        path = json_path(keys)
        return use(value, ("json", path), f"body {path}")
    return value


_LEARNABLE_HEADERS = frozenset((*_URL_HEADERS, "set-cookie"))


def _learnable_headers(headers: Headers) -> list[tuple[str, str]]:
    """The headers `learn` reads, in order, names lower-cased: equal lists teach nothing."""
    return [(k, v) for n, v in headers if (k := n.lower()) in _LEARNABLE_HEADERS]


def _set_cookies(response: Response) -> dict[str, str]:
    cookies = {}
    for header in header_values(response.headers, "set-cookie"):
        name, eq, rest = header.partition("=")
        if eq:
            cookies[name.strip()] = rest.split(";", 1)[0].strip()
    return cookies
