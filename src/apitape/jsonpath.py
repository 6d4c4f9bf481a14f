"""The one path syntax of apitape.yaml and the noise file: JSON paths with wildcards.

    $                 the whole body
    $.price           key "price" of the top object
    $["odd key"]      a key that is not an identifier
    $.items[0]        the first item of a list
    $.items[*].isbn   "isbn" of every item
    $.*.id            "id" of every value of the top object
    $..created_at     "created_at" at any depth

Concrete paths, as reports print them, use the same syntax without wildcards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\.\.(?P<descend>[A-Za-z_][A-Za-z0-9_]*|\*)   # ..name, ..*
      | \.(?P<key>[A-Za-z_][A-Za-z0-9_-]*)            # .name
      | \.(?P<anykey>\*)                              # .*
      | \[(?P<index>\d+)\]                            # [3]
      | \[(?P<anyindex>\*)\]                          # [*]
      | \[(?P<quoted>"(?:[^"\\]|\\.)*")\]             # ["odd key"]
    """,
    re.VERBOSE,
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Step = tuple[
    str, Any
]  # ("key", "price"), ("index", 3), ("anykey", None), ("anyindex", None), ("descend", name)


class PathSyntaxError(ValueError):
    """Raised when a path is not in the documented syntax; the message says where."""


@dataclass(frozen=True)
class PathPattern:
    """A parsed path that matches concrete key lists."""

    text: str
    steps: tuple[Step, ...]

    def matches(self, keys: Sequence[Any]) -> bool:
        """Whether the concrete path `keys` (as in `$.items[0].isbn` -> items, 0, isbn) matches."""
        return _match(self.steps, tuple(keys))


def parse_path(text: str) -> PathPattern:
    """Parse a path; raise PathSyntaxError naming the position of the first bad character."""
    if not text.startswith("$"):
        raise PathSyntaxError(f"path {text!r} must start with $ (for example $.items[*].id)")
    steps: list[Step] = []
    position = 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise PathSyntaxError(
                f"path {text!r}: cannot read {text[position:]!r} at character {position + 1}; "
                'use .key, ["key"], [N], [*], .* or ..key'
            )
        kind = match.lastgroup or ""
        value: Any = match.group(kind)
        if kind == "index":
            value = int(value)
        elif kind == "quoted":
            kind, value = "key", json.loads(value)
        elif kind in ("anykey", "anyindex"):
            value = None
        steps.append((kind, value))
        position = match.end()
    return PathPattern(text, tuple(steps))


def _match(steps: tuple[Step, ...], keys: tuple[Any, ...]) -> bool:
    if not steps:
        return not keys
    (kind, value), rest = steps[0], steps[1:]
    if kind == "descend":
        # ..name: `name` as a key at this level or any level below; ..*: anything below
        return any(
            (value == "*" or (keys[i] == value and isinstance(keys[i], str)))
            and _match(rest, keys[i + 1 :])
            for i in range(len(keys))
        )
    if not keys:
        return False
    key = keys[0]
    if kind == "key" and key != value:
        return False
    if kind == "index" and key != value:
        return False
    if kind == "anyindex" and not isinstance(key, int):
        return False
    if kind == "anykey" and isinstance(key, int):
        return False
    return _match(rest, keys[1:])


def json_path(keys: Sequence[Any]) -> str:
    """`$.items[0].price` from deepdiff's list of keys and indices."""
    parts = ["$"]
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif isinstance(key, str) and _IDENTIFIER.match(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key)}]")
    return "".join(parts)


_CONCRETE = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[(\"(?:[^\"\\]|\\.)*\")\]")


def path_keys(path: str) -> tuple[Any, ...] | None:
    """The key list of a concrete JSON path as reports print it; None if it is not one."""
    if not path.startswith("$"):
        return None
    keys: list[Any] = []
    position = 1
    while position < len(path):
        match = _CONCRETE.match(path, position)
        if not match:
            return None
        name, index, quoted = match.groups()
        keys.append(
            name if name is not None else int(index) if index is not None else json.loads(quoted)
        )
        position = match.end()
    return tuple(keys)


def generalize(path: str) -> str:
    """A concrete path with list indices made wildcards: `$.items[3].isbn` -> `$.items[*].isbn`."""
    return re.sub(r"\[\d+\]", "[*]", path)


def first_match(value: Any, pattern: PathPattern, keys: tuple[Any, ...] = ()) -> Any:
    """The first value in a parsed JSON document whose path matches `pattern`, or None."""
    if keys and pattern.matches(keys):
        return value
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        found = first_match(child, pattern, (*keys, key))
        if found is not None:
            return found
    return None
