"""Two bodies line by line for the HTML report: JSON side by side, other text unified.

JSON is pretty-printed (keys in the order the service wrote them) and lined up with
difflib; runs of unchanged lines longer than a few are folded to a count, so a long body
shows only the places where it differs, and a huge one is cut to a number of rows.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
from dataclasses import dataclass

CONTEXT = 3
"""Unchanged lines shown around each change."""

LINES_COMPARED = 5000
"""Lines of each body that are compared; past them a body is cut (and says so)."""

ROWS_SHOWN = 300
"""Rows of one exchange's view; past them the view says how many more there were."""

LINE_CHARS = 400
"""Characters of one line shown."""


@dataclass(frozen=True)
class Row:
    """One row: `same`, `changed`, `removed`, `added`, or `fold` (`text` says how many lines
    are folded). Line numbers are 1-based, None where a side has no line."""

    kind: str
    left: str = ""
    right: str = ""
    left_no: int | None = None
    right_no: int | None = None
    text: str = ""


@dataclass(frozen=True)
class BodyDiff:
    """The view: `mode` is `json` (side by side), `text` (unified), `binary` or `same`
    (`note` then says what there is to say), with its rows and a note on what was cut."""

    mode: str
    rows: tuple[Row, ...] = ()
    note: str = ""


def body_diff(expected: bytes, actual: bytes) -> BodyDiff:
    """The rows that show how `actual` differs from `expected`, unchanged runs folded."""
    left, left_json = _lines(expected)
    right, right_json = _lines(actual)
    if left is None or right is None:
        return BodyDiff("binary", note=f"recorded {_digest(expected)}, replayed {_digest(actual)}")
    if left == right:
        return BodyDiff("same", note=f"the bodies are the same ({len(left)} lines)")
    notes = [
        f"{side} body cut to its first {LINES_COMPARED} lines"
        for side, lines in (("the recorded", left), ("the replayed", right))
        if len(lines) > LINES_COMPARED
    ]
    left, right = left[:LINES_COMPARED], right[:LINES_COMPARED]
    rows = _fold(_rows(left, right))
    if len(rows) > ROWS_SHOWN:
        notes.append(f"{len(rows) - ROWS_SHOWN} more rows not shown")
        rows = rows[:ROWS_SHOWN]
    mode = "json" if left_json and right_json else "text"
    return BodyDiff(mode, tuple(rows), "; ".join(notes))


def _lines(body: bytes) -> tuple[list[str] | None, bool]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None, False
    parsed = False
    with contextlib.suppress(ValueError, RecursionError):
        if text.strip():
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            parsed = True
    return [_cut(line) for line in text.splitlines()], parsed


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + f"... ({len(line)} chars)"


def _digest(body: bytes) -> str:
    return f"sha256:{hashlib.sha256(body).hexdigest()[:16]}... ({len(body)} bytes)"


def _rows(left: list[str], right: list[str]) -> list[Row]:
    rows: list[Row] = []
    matcher = difflib.SequenceMatcher(None, left, right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [
                Row("same", left[i], right[j], i + 1, j + 1)
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            ]
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        rows += [Row("changed", left[i1 + k], right[j1 + k], i1 + k + 1, j1 + k + 1)
                 for k in range(paired)]  # fmt: skip
        rows += [Row("removed", left=left[i], left_no=i + 1) for i in range(i1 + paired, i2)]
        rows += [Row("added", right=right[j], right_no=j + 1) for j in range(j1 + paired, j2)]
    return rows


def _fold(rows: list[Row]) -> list[Row]:
    """Unchanged runs cut to CONTEXT lines either side of a change, the rest one fold row."""
    changed = [n for n, row in enumerate(rows) if row.kind != "same"]
    keep = {n for c in changed for n in range(c - CONTEXT, c + CONTEXT + 1)}
    folded: list[Row] = []
    hidden = 0
    for n, row in enumerate(rows):
        if n in keep:
            if hidden:
                folded.append(Row("fold", text=f"{hidden} unchanged line(s)"))
                hidden = 0
            folded.append(row)
        else:
            hidden += 1
    if hidden:
        folded.append(Row("fold", text=f"{hidden} unchanged line(s)"))
    return folded
