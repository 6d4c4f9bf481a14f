"""Path parameters learned from a capture: `/posts/3QiPNqZ` is `/posts/{id}` when the
service made `3QiPNqZ`, or when its position holds ids.

The guess in `endpoints` knows an id by its shape (digits, uuids, long keys). A short random
id (a nanoid, a 7-character hex) has no telling shape, so a capture used to name
`GET /posts/3QiPNqZ` beside `GET /posts/{id}` and split its groups, latency rows and noise
per resource. What gives such an id away is where it came from and where it stands:

- **produced**: it appeared in an answer (a JSON value, a `Location`) before any request
  sent it, so the service made it. A value the client sent first (in a path, a query or a
  JSON body) is the client's choice, not the service's, and proves nothing.
- **its position**: the same position under the same parent also holds an id (by shape or
  produced), or many distinct values that are not plain words.

At a parameter position, a plain word (`search`, `new`, `me`, `index.html`) stays a name
unless the service produced it, so `/posts/search` is not folded into `/posts/{id}`; the
first segment (`/books`, `/health`) becomes a parameter only by ids, never by count.
Everything here is decided over the whole capture before anything is named, so every stage
and the pytest plugin (which names its items before the run) agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from apitape.fastjson import loads
from apitape.http.bodies import is_json_type, media_type
from apitape.http.endpoints import DOTTED_VERSION, guessed_id, is_api_version, url_path
from apitape.models import Exchange, Headers, first_header

MANY = 5
"""Distinct non-word values at one position (below the first) that make it a parameter."""

_WORD = re.compile(r"^(?:[A-Za-z][a-z]*|[A-Z]+)(?:[-_.~](?:[A-Za-z][a-z]*|[A-Z]+))*$")
_MAX_VALUE = 128  # longer values are not path segments in practice
_MAX_BODY = 256 * 1024  # bigger bodies are data, not the answers that hand out ids
_MAX_VALUES = 200_000  # bounds memory on a capture of millions of exchanges
_MAX_PATHS = 50_000
_MAX_DEPTH = 32


_REPEATS_KEPT = 4096  # exchanges remembered to skip exact repeats

_BODY_KEPT_WHOLE = 1024
"""Bytes up to which a body is kept as it is to tell a repeat; a longer one by its length and
hash. Kept whole, 4,096 remembered answers of 10 MB each held 40 GB: a replay of 40 such
exchanges peaked at 747 MB against 448 MB for 10 (benchmarks/replay_big_answers.py)."""

_TEACHING = frozenset(("content-type", "location", "content-location"))


def _teaching_headers(headers: Headers) -> Headers:
    """The headers `observe` reads (what an exact repeat must share)."""
    return tuple((k.lower(), v) for k, v in headers if k.lower() in _TEACHING)


_VERSION = re.compile(r"^[vV]\d+(?:\.\d+)*$")
_MARK = re.compile(r"^[^A-Za-z0-9]+$")  # npm's `/pkg/-/pkg-1.0.0.tgz`: punctuation names a route


def _could_be_name(segment: str) -> bool:
    """Whether `is_name` could call `segment` a name at some position."""
    return bool(
        _WORD.match(segment)
        or _VERSION.match(segment)
        or _MARK.match(segment)
        or DOTTED_VERSION.match(segment)
    )


def is_name(segments: list[str], index: int) -> bool:
    """Whether segment `index` reads as a name (`search`, `index.html`, `README`, `v2`, the
    `2.0` of `/api/2.0`, a `-` of punctuation alone), not a key."""
    segment = segments[index]
    named = _WORD.match(segment) or _VERSION.match(segment) or _MARK.match(segment)
    return bool(named) or is_api_version(segments, index)


@dataclass(frozen=True)
class LearnedPosition:
    """Why one path position is a parameter: `/posts/{id}` (2 produced, e.g. 3QiPNqZ)."""

    template: str  # the parent, normalized, with `{id}` appended: `/posts/{id}`
    reason: str


@dataclass(frozen=True)
class PathParameters:
    """What a capture taught about its paths; names a path like `endpoint_template` does,
    with the learned parameters added."""

    positions: frozenset[tuple[str, int]] = frozenset()  # (normalized parent, segment index)
    produced: frozenset[str] = frozenset()
    learned: tuple[LearnedPosition, ...] = ()  # where this names differently from the guess
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def template(self, path: str) -> str:
        """The path with its parameters as `{id}`."""
        known = self._cache.get(path)
        if known is not None:
            return known
        segments = path.split("/")
        named: list[str] = []
        for index, segment in enumerate(segments):
            named.append("{id}" if segment and self._parameter(segments, index, named) else segment)
        result = "/".join(named) or "/"
        if len(self._cache) >= 8192:  # a replay asks for the same few paths again and again
            self._cache.clear()
        self._cache[path] = result
        return result

    def rename(self, endpoint: str) -> str:
        """The learned name of an endpoint named by the guess alone (`GET /posts/3QiPNqZ`
        -> `GET /posts/{id}`): the guess's `{id}` segments stay ids."""
        method, _, path = endpoint.partition(" ")
        return f"{method} {self.template(path)}"

    def to_data(self) -> dict[str, Any]:
        """As JSON data (a shard manifest carries it to every worker): the positions, the
        produced values that could be read as names (only those change a name; an id-like
        value is a parameter at a position anyway), and why each position was learned."""
        return {
            "positions": sorted([parent, index] for parent, index in self.positions),
            "produced": sorted(v for v in self.produced if _could_be_name(v)),
            "learned": [[p.template, p.reason] for p in self.learned],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PathParameters:
        """What `to_data` wrote; raises KeyError, TypeError or ValueError if it is not that."""
        return cls(
            frozenset((str(parent), int(index)) for parent, index in data["positions"]),
            frozenset(str(value) for value in data["produced"]),
            tuple(LearnedPosition(str(t), str(r)) for t, r in data["learned"]),
        )

    def _parameter(self, segments: list[str], index: int, named: list[str]) -> bool:
        if segments[index] == "{id}" or guessed_id(segments, index):
            return True
        return (
            index > 0
            and ("/".join(named), index) in self.positions
            and (not is_name(segments, index) or segments[index] in self.produced)
        )


def _repeat_key(body: bytes) -> bytes | tuple[int, int]:
    """What the repeat check keeps of a body: the body when short, else its length and its
    hash, never the body itself. The hash is the one the check's set computes anyway (a
    bytes object caches it), so it costs nothing more; two different bodies of one length
    and one 64-bit hash would only skip learning from the second."""
    if len(body) <= _BODY_KEPT_WHOLE:
        return body
    return len(body), hash(body)


class PathParameterLearner:
    """Watches a capture's exchanges in recorded order; `result()` says what it learned."""

    def __init__(self) -> None:
        self._answered: set[str] = set()  # values answers held, not yet sent by a client
        self._sent: set[str] = set()  # values some request sent (path, query, JSON body)
        self._produced: set[str] = set()
        self._paths: set[str] = set()
        self._seen: set[tuple[object, ...]] = set()  # exchanges just learned from

    def observe(self, exchange: Exchange) -> None:
        """Learn from one exchange: what its request sent, then what its answer produced.
        An exact repeat of one seen lately is skipped: it teaches nothing new (its values
        are all remembered already), and captures repeat (13.9 -> 2.9 us an exchange)."""
        request = exchange.request
        response = exchange.response
        key = (
            request.url,
            _repeat_key(request.body),
            _repeat_key(response.body),
            *_teaching_headers(request.headers),
            *_teaching_headers(response.headers),
        )
        if key in self._seen:
            return
        if len(self._seen) >= _REPEATS_KEPT:
            self._seen.clear()
        self._seen.add(key)
        path = url_path(request.url)
        if len(self._paths) < _MAX_PATHS:
            self._paths.add(path)
        for segment in path.split("/"):
            if segment and segment not in self._sent:
                if segment in self._answered:
                    self._produced.add(segment)
                self._remember(self._sent, segment)
        query = urlsplit(request.url).query
        for _, value in parse_qsl(query, keep_blank_values=False) if query else ():
            self._remember(self._sent, value)
        for value in _json_values(request.headers, request.body):
            self._remember(self._sent, value)
        for value in _json_values(response.headers, response.body):
            if value not in self._sent:
                self._remember(self._answered, value)
        for name in ("location", "content-location"):
            link = first_header(response.headers, name)
            if link:
                for segment in urlsplit(link).path.split("/"):
                    if segment and segment not in self._sent:
                        self._remember(self._answered, segment)

    @staticmethod
    def _remember(values: set[str], value: str) -> None:
        if len(values) < _MAX_VALUES:
            values.add(value)

    def result(self) -> PathParameters:
        """The parameter positions of the paths seen, decided depth by depth."""
        produced = frozenset(self._produced)
        split = [path.split("/") for path in sorted(self._paths)]
        named: list[list[str]] = [[s[0]] for s in split]  # each path, normalized so far
        positions: set[tuple[str, int]] = set()
        learned: list[LearnedPosition] = []
        depth = max((len(s) for s in split), default=0)
        for index in range(1, min(depth, _MAX_DEPTH)):
            children: dict[str, _Position] = {}
            for segments, done in zip(split, named, strict=True):
                if index < len(segments) and segments[index]:
                    child = children.setdefault("/".join(done), _Position())
                    child.add(segments, index, produced)
            for parent, child in children.items():
                reason = child.reason(index)
                if reason is not None:
                    positions.add((parent, index))
                    if (child.keys | child.made) - child.ids:  # the guess alone names otherwise
                        learned.append(LearnedPosition(f"{parent}/{{id}}", reason))
            decided = PathParameters(frozenset(positions), produced)
            for segments, done in zip(split, named, strict=True):
                if index < len(segments):
                    segment = segments[index]
                    parameter = segment and decided._parameter(segments, index, done)
                    done.append("{id}" if parameter else segment)
        return PathParameters(frozenset(positions), produced, tuple(learned))


@dataclass
class _Position:
    """The values one position of the paths takes, sorted by what they show."""

    ids: set[str] = field(default_factory=set)  # ids by their shape
    keys: set[str] = field(default_factory=set)  # not names: ids by shape, and other keys
    made: set[str] = field(default_factory=set)  # produced by an answer

    def add(self, segments: list[str], index: int, produced: frozenset[str]) -> None:
        segment = segments[index]
        if guessed_id(segments, index):
            self.ids.add(segment)
        if not is_name(segments, index):
            self.keys.add(segment)
        if segment in produced:
            self.made.add(segment)

    def reason(self, index: int) -> str | None:
        """Why this position is a parameter, or None when it holds names."""
        if self.ids:
            return f"it also holds ids by their shape (e.g. {min(self.ids)})"
        if len(self.made) >= 2 or self.made & self.keys:
            example = min(self.made & self.keys or self.made)
            made = len(self.made)
            return f"{made} of its values were produced by earlier answers (e.g. {example})"
        if index >= 2 and len(self.keys) >= MANY:
            keys = len(self.keys)
            return f"it takes {keys} distinct values that are not names (e.g. {min(self.keys)})"
        return None


def learn_path_parameters(exchanges: Iterable[Exchange]) -> PathParameters:
    """What `exchanges`, in recorded order, teach about their paths."""
    learner = PathParameterLearner()
    for exchange in exchanges:
        learner.observe(exchange)
    return learner.result()


def _json_values(headers: Any, body: bytes) -> Iterator[str]:
    """The short scalar values of a JSON body (strings, integers), as they would be sent."""
    if not body or len(body) > _MAX_BODY or body[:1] not in (b"{", b"["):
        return
    mime = media_type(headers)
    if mime and not is_json_type(mime):
        return
    try:
        document = loads(body)
    except ValueError:
        return
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if 0 < len(value) <= _MAX_VALUE and "/" not in value and not value.isspace():
                yield value
        elif isinstance(value, int) and not isinstance(value, bool):
            yield str(value)
