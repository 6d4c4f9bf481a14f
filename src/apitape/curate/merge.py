"""Several proxies' or days' cassettes as one: interleaved by `recorded_at`, ids renumbered.

Each input keeps its own order and every exchange is kept, so sessions stay whole; a
session that spans inputs comes out in the order its exchanges were recorded. Inputs
redacted with different keys are refused (`sources.check_redaction`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from apitape.cassette.store import write_cassette
from apitape.curate.select import check_out
from apitape.curate.sources import exchanges, merged_metadata, open_sources
from apitape.models import Exchange


@dataclass(frozen=True)
class MergeSummary:
    """What `merge_cassettes` wrote."""

    out: str
    inputs: tuple[str, ...]
    exchanges: int
    redaction_key: str | None
    warnings: tuple[str, ...] = ()


def merge_cassettes(
    cassettes: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    force: bool = False,
) -> MergeSummary:
    """Write every exchange of `cassettes` to `out` (format by its extension), in recorded
    order, numbered 1, 2, 3...; streams, and writes `out` atomically."""
    sources = open_sources(list(cassettes))
    check_out(sources, out, force)
    created_at, metadata = merged_metadata(sources, "merge")
    warnings: list[str] = []
    count = 0

    def numbered() -> Iterator[Exchange]:
        nonlocal count
        for count, exchange in enumerate(exchanges(sources, warnings), 1):
            yield exchange.with_id(str(count))

    write_cassette(out, numbered(), created_at, metadata)
    redaction = metadata.get("redaction")
    key = redaction.get("key_id") if isinstance(redaction, dict) else None
    return MergeSummary(str(out), tuple(s.path for s in sources), count, key, tuple(warnings))
