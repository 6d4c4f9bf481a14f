"""Entries written directly (apitape.cassette.format_yaml_text) and through nodes read exactly as yaml.dump.

The reference is yaml's own generic path: its representer and its resolver, with the
cassette's representers for text and flow collections, and libyaml's emitter where it is
installed (as in the writer). Entries are generated from fragments chosen for the corners
of YAML's scalar styles: indicators, quotes, things that read as other types, spaces at
the ends, line breaks, non-printable and non-BMP characters.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from apitape.cassette import format_yaml
from apitape.cassette.format_yaml_text import entry_yaml
from apitape.cassette.shape import FlowDict, FlowList

_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Reference(_BaseDumper):  # type: ignore[misc]
    """yaml's generic dumping with the cassette's styles, without apitape's shortcuts."""


_Reference.add_representer(str, format_yaml._represent_str)
_Reference.add_representer(FlowList, format_yaml._represent_flow_list)
_Reference.add_representer(FlowDict, format_yaml._represent_flow_dict)


def reference(data: Any) -> str:
    return str(yaml.dump(data, Dumper=_Reference, **format_yaml._DUMP_OPTIONS))


FRAGMENTS = [
    "",
    " ",
    "a",
    "GET",
    "Content-Type",
    "http://h:1/p?q=1&r=2",
    "127.0.0.1:80",
    "a: b",
    "a:b",
    "a:",
    "x #y",
    "x#y",
    "#x",
    "-",
    "- x",
    "-x",
    "--",
    "?x",
    "? x",
    ":x",
    ": x",
    "---",
    "...",
    "--- x",
    "'",
    "''",
    '"',
    "a'b",
    "[",
    "]",
    "{",
    "}",
    ",",
    "a,b",
    "a, b",
    "true",
    "True",
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "null",
    "Null",
    "~",
    "1",
    "-1",
    "+1",
    "0x1f",
    "0o7",
    "0b101",
    "1_000",
    "1.5",
    "1e3",
    "1.0e+3",
    ".5",
    ".inf",
    "-.Inf",
    ".NaN",
    "2024-01-02",
    "2024-01-02T09:30:00Z",
    "2024-01-02 09:30:00.5 +01:00",
    "12:30:45",
    "1:20",
    "190:20:30",
    "=",
    "<<",
    "@",
    "`",
    "%",
    "!",
    "!!str",
    "&a",
    "*a",
    "|",
    ">",
    "é",
    "日本語",
    "\xa0",
    "\u2028",
    "\u2029",
    "\t",
    "\n",
    "a\nb",
    "\r",
    "\x85",
    "\ufeff",
    "\ufffe",
    "😀",
    "\x7f",
    "\x00",
    "\x1b",
    "a ",
    " a",
    "  ",
    "\\",
    "\\n",
    "max-age=60",
    "*/*",
    "Sun, 06 Dec 2026 19:29:18 GMT",
    '{"id": 1, "title": "Pride"}',
    "<html>",
    "a\n",
]


PRINTABLE = [
    fragment
    for fragment in FRAGMENTS
    if not any(ch in "\t\n\r\x85\u2028\u2029\ufeff\ufffe\x7f\x00\x1b" for ch in fragment)
    and all(ord(ch) < 0x10000 for ch in fragment)
]


def random_text(rng: random.Random) -> str:
    # Most texts only printable: an entry with one line break in it is left to yaml.
    pool = PRINTABLE if rng.random() < 0.9 else FRAGMENTS
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 4)))


def random_scalar(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.7:
        return random_text(rng)
    return rng.choice(
        [0, 1, -7, 2**70, 0.0, -0.0, 1.5, 12.5, 1e20, 1.5e-7, float("inf"), float("-inf"),
         float("nan"), True, False, None, b"\x00\xffbin"]
    )  # fmt: skip


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.55 or depth > 2:
        return random_scalar(rng)
    if roll < 0.7:
        return FlowList(random_scalar(rng) for _ in range(rng.randint(0, 3)))
    if roll < 0.8:
        return FlowDict((random_text(rng), random_scalar(rng)) for _ in range(rng.randint(0, 2)))
    if roll < 0.95:
        return random_mapping(rng, depth + 1)
    return [random_scalar(rng) for _ in range(rng.randint(0, 2))]


def random_mapping(rng: random.Random, depth: int) -> dict[str, Any]:
    keys = [random_text(rng) if rng.random() < 0.4 else rng.choice(["method", "uri", "body"])]
    keys += [random_text(rng) for _ in range(rng.randint(0, 3))]
    return {key: random_value(rng, depth) for key in keys}


def entry_like(rng: random.Random) -> dict[str, Any]:
    """An entry of the writer's shape, with generated texts in it."""
    return {
        "request": {
            "method": random_text(rng),
            "uri": random_text(rng),
            "headers": {random_text(rng): FlowList([random_text(rng)]) for _ in range(3)},
            "body": random_text(rng),
        },
        "response": {
            "status": FlowDict(code=rng.choice([200, 404]), message=random_text(rng)),
            "headers": {},
            "body": {"string": random_text(rng)},
        },
        "apitape": {"id": rng.randint(1, 10**6), "duration_ms": rng.random() * 100},
    }


@pytest.mark.parametrize("seed", range(4))
def test_entries_written_directly_are_what_yaml_dump_writes(seed: int) -> None:
    rng = random.Random(seed)
    written_directly = 0
    for _ in range(1500):
        entry = random_mapping(rng, 0) if rng.random() < 0.5 else entry_like(rng)
        expected = reference([entry])
        direct = entry_yaml(entry)
        if direct is not None:
            written_directly += 1
            assert direct == expected, entry
        assert format_yaml.dump_yaml([entry]) == expected, entry
    # Both ways are exercised: many entries hold something left to yaml (a line break, a
    # tab, an emoji, bytes, a list).
    assert 300 < written_directly < 1200


def test_an_entry_as_the_writer_makes_it_is_written_directly_as_yaml_would() -> None:
    entry = {
        "request": {
            "method": "GET",
            "uri": "http://127.0.0.1:8000/books/1?q=a%20b",
            "headers": {"Host": FlowList(["127.0.0.1:8000"]), "Accept": FlowList(["*/*"])},
            "body": "",
        },
        "response": {
            "status": FlowDict(code=200, message="OK"),
            "headers": {"Content-Length": FlowList(["210"]), "Set-Cookie": FlowList(["a", "b"])},
            "body": {"string": '{"id": 1, "price": 12.5, "title": "It\'s"}'},
        },
        "apitape": {"id": 7, "recorded_at": "2026-12-06T19:30:06.285752Z", "duration_ms": 1.5},
    }
    direct = entry_yaml(entry)
    assert direct == reference([entry])
    assert "  status: {code: 200, message: OK}\n" in direct
    assert "    body: ''\n" in direct
    assert "      Content-Length: ['210']\n" in direct
    assert '      string: \'{"id": 1, "price": 12.5, "title": "It\'\'s"}\'\n' in direct


@pytest.mark.parametrize(
    "body",
    ["line one\nline two\n", "tab\there", "emoji 😀", "x y " * 250_001, "'" * 450_001, b"\x00"],
    ids=["multi-line", "tab", "non-BMP", "past yaml's width", "past it once quoted", "binary"],
)
def test_what_is_not_written_directly_is_left_to_yaml(body: str | bytes) -> None:
    entry = {"request": {"method": "POST", "body": body}}
    assert entry_yaml(entry) is None
    assert format_yaml.dump_yaml([entry]) == reference([entry])


def test_a_long_body_is_written_directly_up_to_yaml_s_width() -> None:
    body = '[{"title": "It\'s a book"}, ' * 20_000 + "]"  # 560,001 characters, one line
    entry = {"response": {"body": {"string": body}}}
    assert entry_yaml(entry) == reference([entry])


def test_a_container_met_twice_is_written_by_yaml_with_an_alias() -> None:
    shared = FlowList(["x"])
    data = [{"a": shared, "b": shared}]
    assert format_yaml.dump_yaml(data) == reference(data)
    assert "&id001" in format_yaml.dump_yaml(data)
