"""A cassette entry's YAML text, written directly the way libyaml would write it.

The writer process appends one entry per exchange, and yaml.dump took 137 us of the 186 us
the writer spent on a small exchange (GET /books/1 of the bookstore, in a loop): Python-level
representer and resolver calls for each of the entry's 50-odd values, then libyaml's
emitter. An entry always has the same plain shape, so `entry_yaml` writes it itself: block
mappings of text, numbers and one-line flow lists and mappings, in the styles libyaml
chooses (plain where a plain scalar is allowed and reads back as the same text, else
single-quoted), keys in order. The same exchange now takes about 20 us here, 55 in all.

It only takes what it can write exactly: texts of printable characters without line
breaks, numbers, booleans and null, in dicts, FlowDicts and FlowLists inside dicts. For
anything else (a multi-line or binary body, a tab, a list of mappings, a very long line)
it returns None and the caller asks yaml. tests/unit/test_cassette_yaml_text.py checks it
against yaml.dump on thousands of generated entries.
"""

from __future__ import annotations

import re
from typing import Any

from yaml.representer import SafeRepresenter

from apitape.cassette.format_yaml_tags import STR, plain_tag
from apitape.cassette.shape import FlowDict, FlowList

# Printable for libyaml and for yaml's own emitter, neither a space nor a line break: what a
# plain or single-quoted scalar may hold. No tab, no BOM, nothing outside the BMP.
_TEXT = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
_LONGEST = 900_000
"""Longest scalar written here, quotes included. yaml folds a line at a space once it is past
its width (1,000,000 columns); a key and its indentation take at most a few hundred."""
_LONGEST_KEY = 128
"""Bytes of a key libyaml still writes as a simple `key:` (a longer one becomes `? key`)."""

# Where a plain scalar would read as YAML syntax (yaml's analyze_scalar): at the start, or
# anywhere; a flow collection forbids more characters than block context does.
_BLOCK_INDICATOR_AT_START = re.compile(r"""[#,\[\]{}&*!|>'"%@`]|[?:-](?: |\Z)|---|\.\.\.""")
_BLOCK_INDICATOR = re.compile(r":(?: |\Z)| #")
_FLOW_INDICATOR = re.compile(r"[,?\[\]{}:]")

_NUMBER_OR_NULL = frozenset({bool, int, float, type(None)})
_REPRESENTER = SafeRepresenter()
"""yaml's own representer: the text and tag it gives a boolean, number or null."""


class _Unwritable(Exception):
    """Not in the subset written here."""


def entry_yaml(entry: dict[str, Any]) -> str | None:
    """`yaml.dump([entry])` in the cassette's style, or None when it is not written here."""
    if type(entry) is not dict or not entry:
        return None
    lines: list[str] = []
    try:
        _block_mapping(entry, 2, "- ", lines)
    except _Unwritable:
        return None
    lines.append("")
    return "\n".join(lines)


def _block_mapping(
    mapping: dict[str, Any], indent: int, first_prefix: str, lines: list[str]
) -> None:
    """A non-empty block mapping: its first key after `first_prefix`, the rest at `indent`."""
    prefix = first_prefix
    for key, value in mapping.items():
        head = f"{prefix}{_key_text(key, False)}:"
        prefix = " " * indent
        kind = type(value)
        if kind is dict:
            if value:
                lines.append(head)
                _block_mapping(value, indent + 2, prefix + "  ", lines)
            else:
                lines.append(head + " {}")
        elif kind is FlowList:
            lines.append(f"{head} [{', '.join(_scalar(item, True) for item in value)}]")
        elif kind is FlowDict:
            pairs = ", ".join(
                f"{_key_text(name, True)}: {_scalar(item, True)}" for name, item in value.items()
            )
            lines.append(f"{head} {{{pairs}}}")
        else:
            lines.append(f"{head} {_scalar(value, False)}")


def _key_text(key: Any, in_flow: bool) -> str:
    if type(key) is not str or len(key.encode()) > _LONGEST_KEY:
        raise _Unwritable
    return _scalar_text(key, in_flow)


def _scalar(value: Any, in_flow: bool) -> str:
    kind = type(value)
    if kind is str:
        return _scalar_text(value, in_flow)
    if kind not in _NUMBER_OR_NULL:
        raise _Unwritable  # a nested collection, bytes (!!binary), a subclass...
    # Its text always reads back as its own type, so yaml writes it plain, with no tag.
    return str(_REPRESENTER.yaml_representers[kind](_REPRESENTER, value).value)


def _scalar_text(text: str, in_flow: bool) -> str:
    """A text plain when libyaml would leave it plain, else single-quoted."""
    seen = _SEEN[in_flow]
    written = seen.get(text)
    if written is not None:
        return written
    if len(text) > _LONGEST or not _TEXT.fullmatch(text):
        raise _Unwritable
    if text and _plain_allowed(text, in_flow) and plain_tag(text) == STR:
        written = text
    else:
        written = "'" + text.replace("'", "''") + "'"
        if len(written) > _LONGEST:
            raise _Unwritable
    if len(text) <= _SEEN_LONGEST and len(seen) < _SEEN_MOST:
        seen[text] = written
    return written


# Keys, methods, header names and many header values come back in every entry: their
# scalar texts are kept (block context, flow context), up to a bound, never evicted.
_SEEN: tuple[dict[str, str], dict[str, str]] = ({}, {})
_SEEN_LONGEST = 64
_SEEN_MOST = 4096


def _plain_allowed(text: str, in_flow: bool) -> bool:
    if text[0] == " " or text[-1] == " ":
        return False
    if _BLOCK_INDICATOR_AT_START.match(text) or _BLOCK_INDICATOR.search(text):
        return False
    return not (in_flow and _FLOW_INDICATOR.search(text))
