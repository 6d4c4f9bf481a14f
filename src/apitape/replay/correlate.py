"""Correlation: carry the values the new build hands out into the requests that use them.

While a session replays, each recorded response is laid beside the replayed one. Where a
value differs at the same place (a JSON or XML path, Location, ETag, Last-Modified, a
cookie), apitape learns "recorded value -> replayed value". Later requests of the session
that used the recorded value are sent with the replayed one instead.

Provenance decides what is learned and where it is carried, not the value's shape:
- a value the client itself sent earlier in the session was not produced by the service and
  is never learned (an id the client chose, a page number);
- list items are paired by identity (an `id`-like key) before their values are compared, so
  a list the new build orders differently teaches nothing;
- a value produced under an id-like key (`id`, `UploadId`, `run_uuid`, `_rev`), or a
  distinctive one (long numbers, long mixed strings), is carried wherever a later request
  sends it whole: a path segment, a query value, a header, a body value; distinctive values
  also inside longer texts (`runs:/<run id>/model`);
- anything else (a `count` of 1 that became 2) only at the same JSON path;
- HTTP's validators by their meaning: an ETag into If-Match / If-None-Match / If-Range, a
  Last-Modified into If-Modified-Since / If-Unmodified-Since.
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
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

_ID_KEY = re.compile(
    r"(?:^|[_-])(?:id|uuid|guid|key|slug|rev|token|ref|handle)$|(?:Id|ID|Uuid|Key|Rev|Ref)$|^id$",
    re.IGNORECASE,
)
"""Keys whose values name a resource: what the service produced there is carried anywhere."""
_IDENTITY_KEYS = ("id", "_id", "uuid", "key", "name", "slug", "Key", "Name", "Id", "ID")
"""Keys list items are paired by, in this order of preference."""
_STRONG_TEXT = re.compile(r"^(?=.*\d)[A-Za-z0-9._~+/=-]{8,}$")
_URL_HEADERS = ("location", "content-location")
_VALIDATORS = ("etag", "last-modified")
_CONDITIONAL = {
    "if-match": "etag",
    "if-none-match": "etag",
    "if-range": None,  # an ETag or a date
    "if-modified-since": "last-modified",
    "if-unmodified-since": "last-modified",
}
"""Conditional request headers, and the response validator each sends back."""

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
    identifier: bool = False  # produced under an id-like key: carried wherever sent whole

    @property
    def strong(self) -> bool:
        return self.named or is_strong(self.recorded)

    @property
    def anywhere(self) -> bool:
        """Whether a request sending this value whole, anywhere, means the produced value."""
        return self.strong or self.identifier


class SessionValues(Protocol):
    """What a replay result lets the judge ask of its session's learned values: whether a
    difference is a value the target handed out and the session carried on.

    It is live, not a snapshot: a value learned from this answer may be carried only by a
    later request of the session, so the judge asks once when the answer comes and again,
    about what was left unexplained, after the run (`Judge.finish`)."""

    def explains(self, difference: Difference, carried: Iterable[Substitution] = ()) -> bool:
        """Whether `difference` is a learned value that a request carried (or `carried`)."""
        ...


@dataclass
class Correlator:
    """The learned values of one session, applied to its later requests."""

    learned: dict[Any, Learned] = field(default_factory=dict)
    used: set[Any] = field(default_factory=set)  # keys of learned values a request carried
    extract: tuple[tuple[str, PathPattern], ...] = ()  # apitape.yaml: (endpoint, path)
    sent: set[Any] = field(default_factory=set)  # keys of values the client's requests carried
    _inside: re.Pattern[str] | None = field(default=None, repr=False)  # strong texts, any place

    # ------------------------------------------------------------------- learning

    @staticmethod
    def can_learn(recorded: Response, replayed: Response) -> bool:
        """Whether `learn` could find anything: what teaches a value (the body, Location,
        Content-Location, Set-Cookie, ETag, Last-Modified) differs. Most answers are the same
        there, and nothing needs parsing."""
        return recorded.body != replayed.body or _learnable_headers(
            recorded.headers
        ) != _learnable_headers(replayed.headers)

    def learn(self, exchange: Exchange, endpoint: str, replayed: Response) -> None:
        """Learn from a recorded response and the target's answer to the same request."""
        recorded = exchange.response
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
            for name in _VALIDATORS:
                before, after = (
                    first_header(recorded.headers, name),
                    first_header(replayed.headers, name),
                )
                if before and after and before != after:
                    self._add(Learned(before, after, f"{source} header {name}",
                                      frozenset({("header", name)})))  # fmt: skip
            self._learn_cookies(recorded, replayed, source)
        if same_body:
            return
        recorded_type, replayed_type = media_type(recorded.headers), media_type(replayed.headers)
        if is_json_type(recorded_type) and is_json_type(replayed_type):
            try:
                before_doc, after_doc = json.loads(recorded.body), json.loads(replayed.body)
            except (ValueError, RecursionError):
                return
            self._learn_leaves(
                _paired_leaves(before_doc, after_doc, ()), endpoint, source, collection
            )
        elif _is_xml(recorded_type, recorded.body) and _is_xml(replayed_type, replayed.body):
            self._learn_xml(recorded.body, replayed.body, endpoint, source)

    def _learn_leaves(
        self,
        pairs: Iterable[tuple[tuple[Any, ...], Any, Any]],
        endpoint: str,
        source: str,
        collection: str,
    ) -> None:
        for keys, value, after in pairs:
            if after == value or type(after) is not type(value) or _key(value) in self.sent:
                continue  # the same, another kind of value, or the client's own choice
            path = json_path(keys)
            positions: set[Position] = {("json", path)}
            last = keys[-1] if keys else None
            identifier = isinstance(last, str) and bool(_ID_KEY.search(last))
            if identifier:
                positions.add(("path", f"{collection}/{{id}}", str(len(collection.split("/")))))
            if isinstance(value, str) and "/" in value:
                self._learn_url(value, after, f"{source} {path}")
            named = any(e == endpoint and p.matches(keys) for e, p in self.extract)
            self._add(
                Learned(value, after, f"{source} {path}", frozenset(positions), named, identifier)
            )

    def _learn_xml(self, before: bytes, after: bytes, endpoint: str, source: str) -> None:
        try:
            before_root, after_root = ElementTree.fromstring(before), ElementTree.fromstring(after)
        except (ElementTree.ParseError, ValueError, RecursionError):
            return
        for path, value, replayed in _paired_xml(before_root, after_root, ""):
            if value == replayed or _key(value) in self.sent:
                continue
            tag = path.rsplit("/", 1)[-1]
            identifier = bool(_ID_KEY.search(tag))
            positions = frozenset({("xml", path)})
            self._add(
                Learned(value, replayed, f"{source} {path}", positions, identifier=identifier)
            )

    def _learn_url(self, before: str, after: str, source: str) -> None:
        old, new = urlsplit(before), urlsplit(after)
        old_parts, new_parts = old.path.split("/"), new.path.split("/")
        if len(old_parts) != len(new_parts):
            return
        template = endpoint_template(old.path).split("/")
        for index, (a, b) in enumerate(zip(old_parts, new_parts, strict=True)):
            if a != b and a and b and _key(a) not in self.sent:
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
                learned,
                positions=known.positions | learned.positions,
                source=known.source,
                named=known.named or learned.named,
                identifier=known.identifier or learned.identifier,
            )
        self.learned[_key(learned.recorded)] = learned
        if learned.strong and isinstance(learned.recorded, str):
            self._inside = None  # rebuilt with this value when next needed

    # ------------------------------------------------------------------- applying

    def rewrite(self, request: Request, exchange_id: str) -> tuple[Request, list[Substitution]]:
        """The request with every learned value it carries replaced, and what was replaced.

        What the recorded request sent is remembered: a value the client sent is its own
        choice, never learned from a later answer."""
        document = _MISSING
        if request.body and is_json_type(media_type(request.headers)):
            try:
                document = json.loads(request.body)
            except (ValueError, RecursionError):
                document = _MISSING
        self.sent.update(_url_keys(request.url))
        if document is not _MISSING:
            self._remember_sent(value for _, value in _leaves(document, ()))
        if not self.learned:
            return request, []
        url = urlsplit(request.url)
        segments = url.path.split("/")
        query = parse_qsl(url.query, keep_blank_values=True)
        made: list[Substitution] = []

        def use(value: Any, position: Position, where: str) -> Any:
            learned = self.learned.get(_key(value))
            if (
                learned is None
                and isinstance(value, str)
                and value.isdigit()
                and position[0] != "json"
            ):
                learned = self.learned.get(_key(int(value)))  # an id learned from a JSON number
            if learned is not None and (learned.anywhere or position in learned.positions):
                made.append(
                    Substitution(exchange_id, value, learned.replayed, learned.source, where)
                )
                self._mark_used(learned)
                return str(learned.replayed) if isinstance(value, str) else learned.replayed
            if isinstance(value, str) and position[0] in ("query", "json"):
                return self._inside_text(value, exchange_id, where, made)
            return value

        template = endpoint_template(url.path).split("/")
        new_segments = [
            str(use(s, ("path", "/".join(template[: i + 1]), str(i)), f"path segment {i}"))
            if s
            else s
            for i, s in enumerate(segments)
        ]
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
        if document is not _MISSING:
            rewritten = _rewrite_leaves(document, (), use)
            if rewritten != document:
                body = json.dumps(rewritten, separators=(",", ":"), ensure_ascii=False).encode()
        return Request(request.method, new_url, headers, body), made

    def _remember_sent(self, values: Iterable[Any]) -> None:
        self.sent.update(_sent_keys(values))

    def _inside_text(
        self, text: str, exchange_id: str, where: str, made: list[Substitution]
    ) -> str:
        """`text` with distinctive learned values inside it replaced (`runs:/<id>/model`)."""
        pattern = self._inside_pattern()
        if pattern is None:
            return text

        def swap(match: re.Match[str]) -> str:
            learned = self.learned[_key(match.group(0))]
            made.append(Substitution(exchange_id, learned.recorded, learned.replayed,
                                     learned.source, f"{where} (inside)"))  # fmt: skip
            self._mark_used(learned)
            return str(learned.replayed)

        return pattern.sub(swap, text)

    def _inside_pattern(self) -> re.Pattern[str] | None:
        if self._inside is None:
            texts = sorted(
                (
                    str(learned.recorded)
                    for learned in self.learned.values()
                    if learned.strong and isinstance(learned.recorded, str)
                ),
                key=len,
                reverse=True,
            )
            if not texts:
                return None
            alternatives = "|".join(re.escape(text) for text in texts)
            self._inside = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")
        return self._inside

    def _in_header(self, name: str, value: str, exchange_id: str, made: list[Substitution]) -> str:
        lower = name.lower()
        if lower == "cookie":
            return self._in_cookie(value, exchange_id, made)
        if lower in _CONDITIONAL:
            return self._in_conditional(lower, value, exchange_id, made)
        learned = self.learned.get(_key(value))
        if learned is not None and learned.anywhere:  # the whole value: X-Upload-Id: <id>
            made.append(Substitution(exchange_id, value, learned.replayed, learned.source,
                                     f"header {lower}"))  # fmt: skip
            self._mark_used(learned)
            return str(learned.replayed)
        # Tokens inside a header ("Bearer <token>"): strong values only, wherever they sit.
        for learned in self.learned.values():
            if learned.strong and isinstance(learned.recorded, str) and learned.recorded in value:
                made.append(
                    Substitution(
                        exchange_id,
                        learned.recorded,
                        learned.replayed,
                        learned.source,
                        f"header {lower}",
                    )
                )
                self._mark_used(learned)
                value = value.replace(learned.recorded, str(learned.replayed))
        return value

    def _in_cookie(self, value: str, exchange_id: str, made: list[Substitution]) -> str:
        parts = []
        for part in value.split(";"):
            cookie, eq, cookie_value = part.strip().partition("=")
            learned = self.learned.get(_key(cookie_value))
            if eq and learned and (learned.strong or ("cookie", cookie) in learned.positions):
                made.append(Substitution(exchange_id, cookie_value, learned.replayed,
                                         learned.source, f"cookie {cookie}"))  # fmt: skip
                self._mark_used(learned)
                cookie_value = str(learned.replayed)
            parts.append(f"{cookie}{eq}{cookie_value}")
        return "; ".join(parts)

    def _in_conditional(
        self, name: str, value: str, exchange_id: str, made: list[Substitution]
    ) -> str:
        """An If-* header with the validators the session's answers gave replaced: each
        entity tag of a list (weak or strong), or the whole date."""
        validator = _CONDITIONAL[name]

        def swap(text: str) -> str:
            learned = self.learned.get(_key(text))
            if learned is None:
                return text
            wanted = (validator,) if validator else _VALIDATORS
            if not (learned.anywhere or any(("header", v) in learned.positions for v in wanted)):
                return text
            made.append(Substitution(exchange_id, text, learned.replayed, learned.source,
                                     f"header {name}"))  # fmt: skip
            self._mark_used(learned)
            return str(learned.replayed)

        whole = swap(value.strip())
        if whole != value.strip() or validator == "last-modified":
            return whole
        tags = []
        for tag in value.split(","):
            tag = tag.strip()
            weak = tag.startswith("W/")
            bare = tag[2:] if weak else tag
            replaced = swap(bare)
            if replaced == bare and weak:
                replaced = swap(tag)  # a weak ETag learned with its W/
                tags.append(replaced)
                continue
            tags.append(f"W/{replaced}" if weak else replaced)
        return ", ".join(tags)

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
        if learned is not None and learned.replayed == actual:
            keys = path_keys(difference.path)
            if _key(expected) in self.used:
                if learned.anywhere or (keys and ("json", json_path(keys)) in learned.positions):
                    return True
                if keys and isinstance(keys[-1], str) and _ID_KEY.search(keys[-1]):
                    return True
            elif (
                learned.identifier
                and keys
                and ("json", json_path(keys)) in learned.positions
                and _same_shape(expected, actual)
            ):
                # An identifier the service made up (a revision, a generated key) where it
                # was learned: the new build made up another of the same shape. No request
                # used it, but neither did the client choose it: it is the service's own.
                return True
        if isinstance(expected, str) and isinstance(actual, str) and "/" in expected:
            return self._same_url(expected, actual)
        return False

    def _same_url(self, expected: str, actual: str) -> bool:
        old, new = urlsplit(expected), urlsplit(actual)
        old_parts, new_parts = old.path.split("/"), new.path.split("/")
        if len(old_parts) != len(new_parts) or old.query != new.query:
            return False
        carried = False
        for a, b in zip(old_parts, new_parts, strict=True):
            if a != b:
                learned = self.learned.get(_key(a))
                if learned is None or str(learned.replayed) != b or _key(a) not in self.used:
                    return False
                carried = True
        # The same path with another host or scheme is no carried value: each side's own
        # origin was already set aside when the difference was found (`apitape diff` too).
        return carried


_MISSING = object()


def _sent_keys(values: Iterable[Any]) -> list[Any]:
    """The keys of values a request sent: `31` in a path also sent the number 31."""
    keys = []
    for value in values:
        if value != "":
            keys.append(_key(value))
            if isinstance(value, str) and value.isdigit() and len(value) < 19:
                keys.append(_key(int(value)))
    return keys


@functools.lru_cache(maxsize=4096)  # a replay sends the same few URLs again and again
def _url_keys(url: str) -> tuple[Any, ...]:
    """The keys of what a URL sends: its path segments and query values."""
    parts = urlsplit(url)
    values = [
        *parts.path.split("/"),
        *(v for _, v in parse_qsl(parts.query, keep_blank_values=True)),
    ]
    return tuple(_sent_keys(values))


def _same_shape(a: Any, b: Any) -> bool:
    """Whether two generated strings look alike: as long, with separators in the same places
    (`3-467948a2e07c1d2d` and `3-5cb956763628fab8`)."""
    if not (isinstance(a, str) and isinstance(b, str)) or len(a) != len(b) or len(a) < 4:
        return False
    return all(
        x.isalnum() == y.isalnum() and (x.isalnum() or x == y) for x, y in zip(a, b, strict=True)
    )


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


def _paired_leaves(
    before: Any, after: Any, keys: tuple[Any, ...]
) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(keys, recorded leaf, replayed leaf) for each scalar both documents hold at a place of
    the same identity: dict keys by name, list items by an identity key (`id`, ...) when
    they have one, else by position only when position cannot mislead (see _paired_items)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key, item in before.items():
            if key in after:
                yield from _paired_leaves(item, after[key], (*keys, key))
    elif isinstance(before, list) and isinstance(after, list):
        for index, (item, other) in _paired_items(before, after):
            yield from _paired_leaves(item, other, (*keys, index))
    elif (
        isinstance(before, str | int)
        and not isinstance(before, bool)
        and before != ""
        and isinstance(after, str | int)
        and not isinstance(after, bool)
    ):
        yield keys, before, after


def _paired_items(before: list[Any], after: list[Any]) -> list[tuple[int, tuple[Any, Any]]]:
    """Items of two lists that stand for the same thing, with the recorded item's index.

    Objects with an identity key are paired by its value; the one object left unpaired on
    each side, if exactly one, is paired too (the new build's id for the same new thing).
    Other lists pair by position only when they hold the same number of items and no value
    of one list sits at another position in the other (a reordering teaches nothing).
    """
    identity = _identity_key(before, after)
    if identity is not None:
        index_of = {_key(item[identity]): i for i, item in enumerate(after)}
        pairs, left, right = [], [], set(range(len(after)))
        for i, item in enumerate(before):
            j = index_of.get(_key(item[identity]))
            if j is None:
                left.append(i)
            else:
                pairs.append((i, (item, after[j])))
                right.discard(j)
        if len(left) == 1 and len(right) == 1:
            pairs.append((left[0], (before[left[0]], after[right.pop()])))
        return pairs
    if len(before) != len(after):
        return []
    scalars = [_key(v) for v in before if not isinstance(v, dict | list)]
    others = {_key(v): i for i, v in enumerate(after) if not isinstance(v, dict | list)}
    for i, key in enumerate(scalars):
        if key in others and others[key] != i:
            return []  # reordered
    if any(isinstance(v, dict) for v in before) and len(before) > 1:
        return []  # objects without identity, several of them: which is which is a guess
    return list(enumerate(zip(before, after, strict=True)))


def _identity_key(before: list[Any], after: list[Any]) -> str | None:
    """The key every object of both lists has, with values unique within each list."""
    items = [*before, *after]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in _IDENTITY_KEYS:
        if all(key in item and isinstance(item[key], str | int) for item in items) and all(
            len({_key(item[key]) for item in side}) == len(side) for side in (before, after)
        ):
            return key
    return None


def _is_xml(mime: str, body: bytes = b"") -> bool:
    """XML by its type, or by its declaration whatever the type says (a service that labels
    its XML answers text/html, as moto 5.0 does)."""
    if mime in ("application/xml", "text/xml") or mime.endswith("+xml"):
        return True
    return body[:64].lstrip().startswith(b"<?xml")


def _paired_xml(before: Any, after: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, recorded text, replayed text) of the leaf elements both XML documents hold at
    the same path; repeated elements pair by position only when both have as many."""
    tag = before.tag.rsplit("}", 1)[-1]
    here = f"{path}/{tag}"
    if before.tag != after.tag:
        return
    children, others = list(before), list(after)
    if not children and not others:
        if before.text and after.text and before.text.strip():
            yield here, before.text.strip(), after.text.strip()
        return
    by_tag: dict[str, list[Any]] = {}
    for child in others:
        by_tag.setdefault(child.tag, []).append(child)
    seen: dict[str, list[Any]] = {}
    for child in children:
        seen.setdefault(child.tag, []).append(child)
    for child_tag, mine in seen.items():
        theirs = by_tag.get(child_tag, [])
        if len(mine) == len(theirs):
            for a, b in zip(mine, theirs, strict=True):
                yield from _paired_xml(a, b, here)


def _rewrite_leaves(value: Any, keys: tuple[Any, ...], use: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite_leaves(v, (*keys, k), use) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite_leaves(v, (*keys, i), use) for i, v in enumerate(value)]
    if isinstance(value, str | int) and not isinstance(value, bool):
        path = json_path(keys)
        return use(value, ("json", path), f"body {path}")
    return value


_LEARNABLE_HEADERS = frozenset((*_URL_HEADERS, *_VALIDATORS, "set-cookie"))


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
