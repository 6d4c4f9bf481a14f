"""Helpers for tests: model factories, and a vcrpy player that makes a cassette the client's mocks.

`play_cassette` plays an apitape cassette (YAML or JSON lines) to the client under test through
vcrpy, with `record_mode="none"`: the client's requests are answered from the file and never
reach the network. A redaction placeholder in the recording (`redacted-api_key-5de15a437b9bc871`)
matches whatever real value the client sends in its place. The pytest side is the
`apitape_cassette` marker and the `apitape_vcr` fixture; see docs/testing.md.

vcrpy is imported only when a cassette is played, so importing this module (as the pytest
plugin does at every start) stays cheap.
"""

from __future__ import annotations

import functools
import json as jsonlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from apitape.cassette import exchange_to_dict, iter_exchanges
from apitape.http.bodies import is_json_type
from apitape.jsonpath import json_path
from apitape.models import Exchange, Headers, Request, Response
from apitape.redaction.redact import PLACEHOLDER, is_placeholder

__all__ = [
    "DEFAULT_MATCH_ON",
    "JSON_HEADERS",
    "MATCHERS",
    "RECORDED_AT",
    "CassettePersister",
    "apitape_vcr",
    "exchange",
    "header_matcher",
    "json_response",
    "matches_text",
    "play_cassette",
    "pytest_configure",
    "request",
]

# --------------------------------------------------------------------------- factories

RECORDED_AT = "2026-11-24T10:00:00.000000Z"
"""The fixed time every factory-made exchange was recorded at."""

JSON_HEADERS: Headers = (("Content-Type", "application/json"),)

_NO_JSON: Any = object()


def request(
    method: str = "GET",
    url: str = "http://staging.example:8000/books/1",
    headers: Headers = (("Accept", "application/json"),),
    body: bytes = b"",
    *,
    json: Any = _NO_JSON,
) -> Request:
    """A request; `json=` encodes a body and adds `Content-Type: application/json` if missing."""
    if json is not _NO_JSON:
        body = jsonlib.dumps(json).encode()
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers = (*headers, *JSON_HEADERS)
    return Request(method, url, headers, body)


def json_response(
    value: Any, status: int = 200, headers: Headers = JSON_HEADERS, reason: str | None = None
) -> Response:
    """A response whose body is `value` as JSON; the reason defaults to the status's phrase."""
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:  # a status code the standard library does not name
            reason = ""
    return Response(status, reason, headers, jsonlib.dumps(value).encode())


def exchange(
    method: str = "GET",
    url: str = "http://staging.example:8000/books/1",
    response: Response | None = None,
    request_headers: Headers = (("Accept", "application/json"),),
    body: bytes = b"",
    exchange_id: str = "1",
    duration_ms: float | None = 3.0,
) -> Exchange:
    """An exchange recorded at RECORDED_AT from one fixed client and connection.

    The response defaults to a 200 with the JSON book `{"id": 1, "title": "Dune", "price": 9.5}`.
    """
    return Exchange(
        id=exchange_id,
        request=Request(method, url, request_headers, body),
        response=response or json_response({"id": 1, "title": "Dune", "price": 9.5}),
        recorded_at=RECORDED_AT,
        duration_ms=duration_ms,
        client="127.0.0.1:50000",
        connection="conn-1",
    )


# --------------------------------------------------------------------------- matching

Matcher = Callable[[Any, Any], None]
"""A vcrpy matcher: called with the live request first and the recorded one second; raises
AssertionError saying how they differ (vcrpy lists that when nothing matches)."""

_FORM = "application/x-www-form-urlencoded"


@functools.lru_cache(maxsize=4096)
def _template(recorded: str) -> re.Pattern[str]:
    """`recorded` as a regex in which each placeholder stands for any non-empty text.

    The same placeholder twice stands for the same text twice: equal secrets got equal
    placeholders when they were recorded.
    """
    parts: list[str] = []
    groups: dict[str, str] = {}
    end = 0
    for match in PLACEHOLDER.finditer(recorded):
        parts.append(re.escape(recorded[end : match.start()]))
        group = groups.get(match.group(0))
        if group is None:
            group = groups[match.group(0)] = f"p{len(groups)}"
            parts.append(f"(?P<{group}>.+?)")
        else:
            parts.append(f"(?P={group})")
        end = match.end()
    parts.append(re.escape(recorded[end:]))
    return re.compile("".join(parts), re.DOTALL)


def matches_text(recorded: str, live: str) -> bool:
    """Whether a live value fits a recorded one: equal, but each placeholder matches any text."""
    if recorded == live:
        return True
    if "redacted-" not in recorded:
        return False
    return _template(recorded).fullmatch(live) is not None


def _pairs_mismatch(
    recorded: Iterable[tuple[str, str]], live: Iterable[tuple[str, str]], what: str
) -> str | None:
    """How two lists of (name, value) pairs differ (None when they match).

    Names are compared as sets, as vcrpy's own matcher does; a name's values in order when
    one of them is a placeholder, sorted otherwise.
    """
    recorded_by, live_by = _by_name(recorded), _by_name(live)
    if recorded_by.keys() != live_by.keys():
        missing = sorted(recorded_by.keys() - live_by.keys())
        extra = sorted(live_by.keys() - recorded_by.keys())
        return f"{what} names differ (not sent: {missing}, not recorded: {extra})"
    for name, recorded_values in recorded_by.items():
        live_values = live_by[name]
        if not any("redacted-" in value for value in recorded_values):
            recorded_values, live_values = sorted(recorded_values), sorted(live_values)
        if len(recorded_values) != len(live_values) or not all(
            map(matches_text, recorded_values, live_values)
        ):
            return f"{what} {name}: {_shown(live_values)} != recorded {_shown(recorded_values)}"
    return None


def _by_name(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def _shown(values: list[str]) -> str:
    return repr(values[0]) if len(values) == 1 else repr(values)


def _json_mismatch(recorded: Any, live: Any, keys: tuple[Any, ...] = ()) -> str | None:
    """Where two parsed JSON values differ (None when they match)."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        if recorded.keys() != live.keys():
            missing = sorted(recorded.keys() - live.keys())
            extra = sorted(live.keys() - recorded.keys())
            return f"{json_path(keys)}: keys differ (not sent: {missing}, not recorded: {extra})"
        for key, value in recorded.items():
            found = _json_mismatch(value, live[key], (*keys, key))
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(live, list):
        if len(recorded) != len(live):
            return f"{json_path(keys)}: {len(live)} items != recorded {len(recorded)}"
        for index, (one, other) in enumerate(zip(recorded, live, strict=True)):
            found = _json_mismatch(one, other, (*keys, index))
            if found:
                return found
        return None
    if _json_scalar_matches(recorded, live):
        return None
    return f"{json_path(keys)}: {jsonlib.dumps(live)} != recorded {jsonlib.dumps(recorded)}"


def _json_scalar_matches(recorded: Any, live: Any) -> bool:
    """A recorded string holding a placeholder matches a live string that fits it; one that is
    only a placeholder also matches any number (a secret-named number, such as a PIN, is
    recorded as a placeholder string)."""
    if isinstance(recorded, str) and "redacted-" in recorded:
        if isinstance(live, str):
            return matches_text(recorded, live)
        return is_placeholder(recorded) and _is_number(live)
    if _is_number(recorded) and _is_number(live):
        return bool(recorded == live)  # 1 and 1.0 are the same JSON number
    return type(recorded) is type(live) and bool(recorded == live)  # true is not 1 in JSON


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _body_mismatch(recorded: bytes, live: bytes, content_type: str) -> str | None:
    """How a live body differs from a recorded one: JSON as parsed values, forms by field,
    other text with placeholders as wildcards, anything else byte for byte."""
    if recorded == live:
        return None
    mime = content_type.split(";", 1)[0].strip().lower()
    if is_json_type(mime) or (not mime and recorded[:1] in (b"{", b"[")):
        try:
            recorded_value, live_value = jsonlib.loads(recorded), jsonlib.loads(live)
        except ValueError:
            pass  # not the JSON it says it is: compared as text below
        else:
            found = _json_mismatch(recorded_value, live_value)
            return None if found is None else f"JSON body {found}"
    try:
        recorded_text, live_text = recorded.decode(), live.decode()
    except UnicodeDecodeError:
        return f"the bodies differ ({len(live)} bytes sent, {len(recorded)} bytes recorded)"
    if mime == _FORM:
        return _pairs_mismatch(_form(recorded_text), _form(live_text), "form field")
    if matches_text(recorded_text, live_text):
        return None
    return f"body {_clip(live_text)!r} != recorded {_clip(recorded_text)!r}"


def _form(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _body_bytes(vcr_request: Any) -> bytes:
    from vcr.util import read_body

    body = read_body(vcr_request)
    if body is None:
        return b""
    return body.encode() if isinstance(body, str) else bytes(body)


def _fail(problem: str | None) -> None:
    if problem is not None:
        raise AssertionError(problem)


def _match_path(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the paths are equal, a placeholder in the recorded one matching any text."""
    live_path, recorded_path = live.path or "/", recorded.path or "/"
    if not matches_text(recorded_path, live_path):
        raise AssertionError(f"path {live_path!r} != recorded {recorded_path!r}")


def _match_query(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the query parameters match, a recorded placeholder matching any value."""
    _fail(
        _pairs_mismatch(_form(recorded.parsed_uri.query), _form(live.parsed_uri.query), "parameter")
    )


def _match_uri(live: Any, recorded: Any) -> None:
    """vcrpy matcher: scheme, host and port equal; path and query as their own matchers."""
    for part in ("scheme", "host", "port"):
        if getattr(live, part) != getattr(recorded, part):
            raise AssertionError(f"{part} {getattr(live, part)!r} != {getattr(recorded, part)!r}")
    _match_path(live, recorded)
    _match_query(live, recorded)


def _match_body(live: Any, recorded: Any) -> None:
    """vcrpy matcher: the bodies match; JSON compared as parsed values, forms by field, and a
    recorded placeholder matching any value."""
    content_type = recorded.headers.get("Content-Type") or live.headers.get("Content-Type") or ""
    _fail(_body_mismatch(_body_bytes(recorded), _body_bytes(live), _text(content_type)))


def header_matcher(name: str) -> Matcher:
    """A vcrpy matcher for one header: both requests lack it, or the values match
    (a recorded placeholder matching any value, so `Bearer redacted-...` fits any bearer token)."""

    def match_header(live: Any, recorded: Any) -> None:
        live_value, recorded_value = live.headers.get(name), recorded.headers.get(name)
        if live_value is None and recorded_value is None:
            return
        if live_value is None or recorded_value is None:
            sent = "not sent" if live_value is None else f"{_text(live_value)!r} sent"
            kept = (
                "not recorded" if recorded_value is None else f"{_text(recorded_value)!r} recorded"
            )
            raise AssertionError(f"header {name}: {sent}, {kept}")
        if not matches_text(_text(recorded_value), _text(live_value)):
            raise AssertionError(
                f"header {name}: {_text(live_value)!r} != recorded {_text(recorded_value)!r}"
            )

    return _named(f"header:{name.lower()}", match_header)


def _named(name: str, matcher: Matcher) -> Matcher:
    matcher.__name__ = name  # vcrpy's error message names a failed matcher by it
    return matcher


MATCHERS: Mapping[str, Matcher] = {
    "path": _named("path", _match_path),
    "query": _named("query", _match_query),
    "uri": _named("uri", _match_uri),
    "body": _named("body", _match_body),
}
"""The placeholder-aware matchers, under the vcrpy matcher names they replace in `play_cassette`.
`header:NAME` in `match_on` adds `header_matcher(NAME)`."""

DEFAULT_MATCH_ON = ("method", "scheme", "host", "port", "path", "query", "body")
"""What a live request must share with a recorded one to get its response."""


# --------------------------------------------------------------------------- playing


class CassettePersister:
    """vcrpy persister that reads apitape cassettes, YAML or JSON lines, with apitape's reader.

    Register it on a `vcr.VCR` of your own (`my_vcr.register_persister(CassettePersister)`)
    to play `.jsonl` cassettes there; it never writes.
    """

    @staticmethod
    def load_cassette(cassette_path: str | os.PathLike[str], serializer: Any) -> tuple[Any, Any]:
        """(requests, responses) in vcrpy's shapes, built from each exchange's cassette entry."""
        from vcr.request import Request as VcrRequest
        from vcr.serializers.compat import convert_to_bytes

        requests: list[Any] = []
        responses: list[Any] = []
        for entry in map(exchange_to_dict, iter_exchanges(cassette_path)):
            requests.append(VcrRequest._from_dict(entry["request"]))
            responses.append(convert_to_bytes(entry["response"]))
        return requests, responses

    @staticmethod
    def save_cassette(
        cassette_path: str | os.PathLike[str], cassette_dict: Any, serializer: Any
    ) -> None:
        """Refuse: a played cassette is never rewritten (record with `apitape record`)."""
        raise NotImplementedError(
            f"{cassette_path}: apitape.testing plays cassettes, never writes them"
        )


_SET_BY_PLAYER = frozenset({"record_mode", "persister", "serializer", "match_on"})


@contextmanager
def play_cassette(
    path: str | os.PathLike[str],
    *,
    match_on: Sequence[str | Matcher] = DEFAULT_MATCH_ON,
    allow_playback_repeats: bool = False,
    **options: Any,
) -> Iterator[Any]:
    """Answer the client's HTTP requests from a cassette, with vcrpy; yields vcrpy's cassette.

    Each recorded exchange answers one matching request, in recorded order (all of them, as
    often as asked, with `allow_playback_repeats`). A request with no match raises vcrpy's
    CannotOverwriteExistingCassetteException, naming the closest recorded requests and how
    each differs. `match_on` names vcrpy matchers (`path`, `query`, `uri` and `body` are
    placeholder-aware), `header:NAME` entries, or matcher functions; `options` go to
    `vcr.VCR.use_cassette` (`ignore_localhost`, `filter_headers`, ...).
    """
    import vcr
    import vcr.errors

    fixed = sorted(_SET_BY_PLAYER & options.keys())
    if fixed:
        raise TypeError(f"play_cassette sets {', '.join(fixed)} itself")
    player = vcr.VCR(record_mode="none")
    player.register_persister(CassettePersister)
    for name, matcher in MATCHERS.items():
        player.register_matcher(name, matcher)
    names: list[str] = []
    for entry in match_on:
        if callable(entry):
            player.register_matcher(entry.__name__, entry)
            names.append(entry.__name__)
            continue
        if entry.lower().startswith("header:"):
            player.register_matcher(entry, header_matcher(entry.partition(":")[2].strip()))
        names.append(entry)
    with player.use_cassette(
        os.fspath(path),
        match_on=names,
        allow_playback_repeats=allow_playback_repeats,
        **options,
    ) as cassette:
        try:
            yield cassette
        except vcr.errors.CannotOverwriteExistingCassetteException as exc:
            # vcrpy's advice is to record with another record_mode, which this player refuses
            exc.add_note(_NOT_RECORDED)
            raise


_NOT_RECORDED = (
    "apitape.testing plays cassettes and never records: record the new request with "
    "`apitape record`, or loosen match_on (docs/testing.md)."
)


# --------------------------------------------------------------------------- pytest

MARKER = "apitape_cassette"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the `apitape_cassette` marker (the suite may run with --strict-markers)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(path, **options): play this apitape cassette to the test through the "
        "apitape_vcr fixture; a relative path is found next to the test file; options as for "
        "apitape.testing.play_cassette",
    )


@pytest.fixture
def apitape_vcr(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The cassette named by the test's `apitape_cassette` marker, playing; vcrpy's cassette.

    The closest marker wins (test, then class, then module); a relative path is taken from
    the directory of the test's file.
    """
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or len(marker.args) != 1:
        pytest.fail(
            f"the apitape_vcr fixture needs @pytest.mark.{MARKER}(PATH) on the test, "
            "its class or its module",
            pytrace=False,
        )
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = Path(request.path).parent / path
    with play_cassette(path, **marker.kwargs) as cassette:
        yield cassette


@pytest.fixture(autouse=True)
def _apitape_cassette_marker(request: pytest.FixtureRequest) -> None:
    """Play the marked cassette for a test that has the marker but does not ask for the
    fixture; autouse fixtures run first, so it plays before the test's other fixtures."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("apitape_vcr")
