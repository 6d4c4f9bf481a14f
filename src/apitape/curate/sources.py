"""Several cassettes read as one stream, in recorded order, with their headers checked.

Each input is streamed (`iter_exchanges`); several are interleaved by `recorded_at`, each
keeping its own order, so a session that spans inputs comes out in the order it happened.
Placeholders made with different redaction keys never match, so inputs whose headers name
different keys (or one redacted and one not) are refused.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from apitape.cassette.store import cassette_format, iter_exchanges, parse_cassette
from apitape.errors import CassetteError, CassetteNotFoundError, UsageError
from apitape.models import Exchange
from apitape.redaction.keys import KEY_ENV


@dataclass(frozen=True)
class Source:
    """One input cassette: its path, apitape's header, its size in bytes."""

    path: str
    metadata: Mapping[str, Any]
    size: int

    @property
    def redaction(self) -> Mapping[str, Any] | None:
        """The header's `redaction` mapping, None when the header does not say."""
        found = self.metadata.get("redaction")
        return found if isinstance(found, Mapping) else None


def read_header(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """apitape's header of a cassette, read without reading its exchanges."""
    name = str(path)
    if not Path(name).exists():
        raise CassetteNotFoundError(name)
    try:
        with open(name, encoding="utf-8") as handle:
            head = cassette_format(name).header_part(handle)
    except UnicodeDecodeError:
        message = "is not UTF-8 text; a cassette is a YAML or JSON-lines file"
        raise CassetteError(name, message) from None
    except OSError as exc:
        raise CassetteError(name, f"cannot be read: {exc.strerror}") from None
    if head is None:
        return {}
    return dict(parse_cassette(head, name).metadata)


def open_sources(paths: Sequence[str | os.PathLike[str]]) -> list[Source]:
    """The inputs' headers; UsageError when none is given or one is given twice."""
    if not paths:
        raise UsageError("give at least one cassette")
    resolved = [Path(p).resolve() for p in paths]
    for a, b in itertools.combinations(range(len(paths)), 2):
        if resolved[a] == resolved[b]:
            raise UsageError(f"{paths[b]}: is given twice; give each cassette once")
    return [Source(str(p), read_header(p), os.path.getsize(p)) for p in paths]


def check_redaction(sources: Sequence[Source]) -> Mapping[str, Any] | None:
    """The redaction all the inputs share (None when no header says); CassetteError when
    two inputs were redacted with different keys, or one was redacted and another not."""
    stated = [(s, s.redaction) for s in sources if s.redaction is not None]
    if not stated:
        return None
    first, theirs = stated[0]
    for source, redaction in stated[1:]:
        if _key(redaction) != _key(theirs):
            raise CassetteError(
                source.path,
                f"was recorded with {_worded(redaction)} but {first.path} with "
                f"{_worded(theirs)}: their secrets' placeholders would never match, so a "
                "replay could not fill or carry them. Merge only cassettes recorded with the "
                f"same key (one key file, or ${KEY_ENV}, for every proxy), or re-record",
            )
    return theirs


def _key(redaction: Mapping[str, Any]) -> tuple[bool, Any]:
    enabled = bool(redaction.get("enabled", True))
    return (enabled, redaction.get("key_id") if enabled else None)


def _worded(redaction: Mapping[str, Any]) -> str:
    enabled, key_id = _key(redaction)
    if not enabled:
        return "redaction off (secrets in clear)"
    return f"redaction key {key_id}" if key_id else "redaction by an unnamed key"


def _moment(exchange: Exchange) -> float:
    stamp = exchange.recorded_at
    if not stamp:
        return float("-inf")
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return float("-inf")


def exchanges(sources: Sequence[Source], warnings: list[str]) -> Iterator[Exchange]:
    """Every input's exchanges as one stream: one input as it is; several interleaved by
    `recorded_at`, each input's own order kept (ties and untimed exchanges: input order)."""
    if len(sources) == 1:
        yield from iter_exchanges(sources[0].path, warnings)
        return
    streams = [
        ((_moment(e), index, e) for e in iter_exchanges(source.path, warnings))
        for index, source in enumerate(sources)
    ]
    for _, _, exchange in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
        yield exchange


def merged_metadata(sources: Sequence[Source], command: str) -> tuple[str | None, dict[str, Any]]:
    """(created_at, the rest of the header) for a cassette made from `sources`: the first
    input's header (its recorder, redaction, filters...), the earliest `created_at`, and
    under `curated` what it was made from."""
    first = dict(sources[0].metadata)
    first.pop("format", None)
    stamps = [str(s.metadata["created_at"]) for s in sources if s.metadata.get("created_at")]
    first.pop("created_at", None)
    redaction = check_redaction(sources)
    if redaction is not None:
        first["redaction"] = dict(redaction)
    recorders = sorted({str(s.metadata["recorder"]) for s in sources if s.metadata.get("recorder")})
    if recorders:
        first["recorder"] = ", ".join(recorders)
    first["curated"] = {
        "command": command,
        "from": [
            {
                "cassette": Path(s.path).name,
                **{k: s.metadata[k] for k in ("recorder", "created_at") if k in s.metadata},
            }
            for s in sources
        ],
    }
    return (min(stamps) if stamps else None), first
