"""The two on-disk cassette formats as values, each owning what differs between them.

`cassette_format` picks one once per file (by extension, else by the first line); readers and
writers then call its methods instead of comparing names. A format is the string of its name
(`"yaml"`, `"jsonl"`), so code that compared `cassette_format(path) == "jsonl"` still works.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from apitape.cassette import format_yaml
from apitape.cassette.format_jsonl import JsonlReader, dumps_line, entry_line, looks_like_jsonl
from apitape.cassette.format_yaml import HEADER_COMMENT, YamlReader
from apitape.cassette.shape import Entry, exchange_to_dict, header_dict
from apitape.models import Exchange


class EntryReader(Protocol):
    """Reads one cassette's interaction entries in order; `metadata` is apitape's header,
    filled in once the first entry is read."""

    path: str
    metadata: dict[str, Any]

    def entries(self) -> Iterator[Entry]:
        """Each interaction entry with the line it starts on."""
        ...


class CassetteFormat(str):
    """One on-disk cassette format: how to recognise it, read it and write it."""

    __slots__ = ()
    suffixes: ClassVar[tuple[str, ...]]
    """The extensions (lower case) that name this format."""

    def reader(
        self,
        path: str,
        lines: Iterable[str],
        whole_text: Callable[[], str],
        warnings: list[str],
    ) -> EntryReader:
        """A reader of a cassette's `lines`; `whole_text` returns the whole file when the
        format needs it at once, and torn tails are reported in `warnings`."""
        raise NotImplementedError

    def header_bytes(self, created_at: str, extra: Mapping[str, Any] | None) -> bytes:
        """What a new cassette starts with: vcrpy's version and apitape's header."""
        raise NotImplementedError

    def entry_bytes(self, exchange: Exchange) -> bytes:
        """What is appended to a cassette for one exchange, whole."""
        raise NotImplementedError

    def written_by_apitape(self, start: str, metadata: Mapping[str, Any]) -> bool:
        """Whether a file beginning with `start` (its first `len(HEADER_COMMENT)` characters),
        whose header is `metadata`, was written by apitape and so may be appended to."""
        raise NotImplementedError

    def header_part(self, lines: Iterable[str]) -> str | None:
        """The text of a cassette's header as a cassette without exchanges, read from its
        first `lines` only; None when the file has no apitape header."""
        raise NotImplementedError


class _Yaml(CassetteFormat):
    __slots__ = ()
    suffixes = (".yaml", ".yml")

    def reader(
        self,
        path: str,
        lines: Iterable[str],
        whole_text: Callable[[], str],
        warnings: list[str],
    ) -> EntryReader:
        return YamlReader(path, lines, whole_text, warnings)

    def header_bytes(self, created_at: str, extra: Mapping[str, Any] | None) -> bytes:
        return format_yaml.header_text(created_at, dict(extra or {})).encode("utf-8")

    def entry_bytes(self, exchange: Exchange) -> bytes:
        return format_yaml.entry_text(exchange_to_dict(exchange), exchange.id).encode("utf-8")

    def written_by_apitape(self, start: str, metadata: Mapping[str, Any]) -> bool:
        return start == HEADER_COMMENT

    def header_part(self, lines: Iterable[str]) -> str | None:
        head: list[str] = []
        for line in lines:
            if line.startswith("interactions:"):
                head.append("interactions: []\n")
                break
            head.append(line)
        if not any(line.startswith("apitape:") for line in head):
            return None
        return "".join(head)


class _JsonLines(CassetteFormat):
    __slots__ = ()
    suffixes = (".jsonl",)

    def reader(
        self,
        path: str,
        lines: Iterable[str],
        whole_text: Callable[[], str],
        warnings: list[str],
    ) -> EntryReader:
        return JsonlReader(path, lines, warnings)

    def header_bytes(self, created_at: str, extra: Mapping[str, Any] | None) -> bytes:
        return dumps_line(header_dict(created_at, extra))

    def entry_bytes(self, exchange: Exchange) -> bytes:
        return entry_line(exchange_to_dict(exchange))

    def written_by_apitape(self, start: str, metadata: Mapping[str, Any]) -> bool:
        return "format" in metadata

    def header_part(self, lines: Iterable[str]) -> str | None:
        return next((line for line in lines if line.strip()), "")


YAML: CassetteFormat = _Yaml("yaml")
"""vcrpy-compatible YAML (`format_yaml`): `.yaml`, `.yml`, and any name not otherwise known."""
JSON_LINES: CassetteFormat = _JsonLines("jsonl")
"""The same interaction shape, one JSON object a line (`format_jsonl`): `.jsonl`."""

_BY_SUFFIX = {suffix: kind for kind in (YAML, JSON_LINES) for suffix in kind.suffixes}


def format_of_first_line(line: str) -> CassetteFormat:
    """The format of a cassette whose first non-blank line is `line`."""
    return JSON_LINES if looks_like_jsonl(line) else YAML


def cassette_format(path: str | os.PathLike[str]) -> CassetteFormat:
    """The format of a cassette path: by extension, else by the file's first line, else YAML."""
    by_name = _BY_SUFFIX.get(Path(path).suffix.lower())
    if by_name is not None:
        return by_name
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if raw.strip():
                    return format_of_first_line(raw.decode("utf-8", "replace"))
    except OSError:
        pass  # a new file, or one the reader will explain
    return YAML
