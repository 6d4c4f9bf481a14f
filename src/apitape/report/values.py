"""How the reports write a difference's values: JSON (`null` included) or `(absent)`."""

from __future__ import annotations

import json
from typing import Any

ABSENT = "(absent)"
"""What a side shows when it has no value: the field, item or header is not there."""


def shown(value: Any, present: bool = True) -> str:
    """`value` as JSON text (a JSON null is `null`), or `(absent)` when not present."""
    if not present:
        return ABSENT
    return json.dumps(value, ensure_ascii=False, default=str)


def shown_pair(
    expected: Any,
    actual: Any,
    width: int,
    expected_present: bool = True,
    actual_present: bool = True,
) -> tuple[str, str]:
    """Both sides as `shown` writes them, each cut to `width` characters around the first
    place where they differ, so a long pair never reads the same on both sides."""
    before, after = shown(expected, expected_present), shown(actual, actual_present)
    at = first_difference(before, after)
    return window(before, at, width), window(after, at, width)


def first_difference(a: str, b: str) -> int:
    """The index of the first character where `a` and `b` differ (the shorter's length when
    one begins the other)."""
    # Halving with slice comparisons (done in C), not a character loop: values can be long.
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def window(text: str, at: int, width: int) -> str:
    """`text` cut to about `width` characters showing position `at`, with `...` where text
    was left out on either side."""
    if len(text) <= width:
        return text
    width = max(width, 12)
    start = max(0, at - width // 3)
    if start == 0:
        return text[: width - 3] + "..."
    if start + width - 3 >= len(text):
        return "..." + text[len(text) - (width - 3) :]
    return "..." + text[start : start + width - 6] + "..."
