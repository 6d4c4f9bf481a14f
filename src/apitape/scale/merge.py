"""One report from many shards: each shard's judge is handed back as counts, sketches and its
verdicts before noise and latency; the driver adds them up into one `Judge` and lets its
`finish` decide noise once from the global counts, apply the merged latency and group, as one
process does.

A shard's judge has settled its own correlations (a session never spans shards, so every
later request that could explain a difference was in the same shard) before it hands over.
This module reads and fills `Judge`'s counters by name: `tests/scaleout` replays the same
sessions on one process and on four shards and compares every verdict, so a change to the
judge's counters that this merge misses fails there.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from apitape.models import Exchange, InteractionReport, Response, RunReport, SkippedExchange
from apitape.scale.sketch import NOTE, SketchLatency
from apitape.verdict.judge import EXAMPLES_KEPT, Judge, JudgeOptions
from apitape.verdict.spool import Spool


@dataclass
class ShardResult:
    """What one shard's replay hands back to the driver (pickled by Ray)."""

    index: int
    places: array[int]  # the place in the inputs of each verdict, in the shard's order
    items: list[InteractionReport]  # verdicts, correlations settled; noise and latency not yet
    skipped: list[tuple[int, SkippedExchange]]
    cassettes: dict[str, int]  # cassette -> the first place judged from it
    answered: Counter[str]
    differing: Counter[tuple[str, str]]
    differing_kinds: Counter[tuple[str, str, str]]
    correlated: Counter[tuple[str, str]]
    volatile: set[tuple[str, str, str]]
    masked: dict[tuple[str, str, str], int]
    unfilled_secrets: Counter[str]
    latency: SketchLatency
    kept: dict[tuple[str, ...], list[tuple[int, str]]]  # example keys -> (place, exchange id)
    examples: dict[str, tuple[Exchange, Response | None]]
    confirmations: int
    warnings: list[str] = field(default_factory=list)
    input_error: str | None = None
    seconds: float = 0.0

    @property
    def judged(self) -> int:
        """Exchanges replayed and judged in this shard."""
        return len(self.items)

    @property
    def errors(self) -> int:
        """Exchanges of this shard that could not be replayed."""
        return sum(1 for item in self.items if item.error is not None)


def shard_result(
    index: int,
    judgement: Judge,
    places: array[int],
    skipped: list[tuple[int, SkippedExchange]],
    cassettes: dict[str, int],
) -> ShardResult:
    """Hand a shard's judge over: its verdicts with correlations settled, and its counts.
    `places[i]` is the place in the inputs of the exchange the judge saw at place `i`."""
    judgement._judge_batch()
    explained = judgement._settle()
    items = []
    for local, item in enumerate(judgement._spool):
        late = explained.get(local)
        if late:
            differences = tuple(d for d in item.differences if d not in late)
            item = replace(
                item,
                differences=differences,
                outcome=judgement._outcome(item.error, differences),
            )
        items.append(item)
    judgement._spool.close()
    kept = {
        key: [(places[local], exchange_id) for local, exchange_id in entries]
        for key, entries in judgement._kept.items()
    }
    return ShardResult(
        index=index,
        places=places,
        items=items,
        skipped=skipped,
        cassettes=cassettes,
        answered=judgement._answered,
        differing=judgement._differing,
        differing_kinds=judgement._differing_kinds,
        correlated=judgement._correlated,
        volatile=judgement._volatile,
        masked=dict(judgement.comparer.mask_log._counts),
        unfilled_secrets=judgement.unfilled_secrets,
        latency=SketchLatency.of(judgement._latency),
        kept=kept,
        examples=dict(judgement.responses().items()),
        confirmations=judgement.confirmations,
    )


class Merge:
    """The driver's side: shards are added as they finish, in any order; `finish` reports."""

    def __init__(self, target: str, options: JudgeOptions) -> None:
        self.judge = Judge(target, options)
        self.judge._latency = SketchLatency()
        self.shards: list[int] = []
        self.judged = 0
        self._verdicts: list[tuple[array[int], Spool[InteractionReport]]] = []
        self._skipped: list[tuple[int, SkippedExchange]] = []
        self._cassettes: dict[str, int] = {}
        self._kept: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        self._examples: dict[str, tuple[Exchange, Response | None]] = {}
        self.warnings: list[str] = []
        self.input_errors: list[str] = []

    def add(self, result: ShardResult) -> None:
        """Add one finished shard: its counts now, its verdicts to a spool of their own."""
        judge = self.judge
        self.shards.append(result.index)
        self.judged += result.judged
        judge._answered.update(result.answered)
        judge._differing.update(result.differing)
        judge._differing_kinds.update(result.differing_kinds)
        judge._correlated.update(result.correlated)
        judge._volatile.update(result.volatile)
        for masked, count in result.masked.items():
            judge.comparer.mask_log._counts[masked] += count
        judge.unfilled_secrets.update(result.unfilled_secrets)
        judge.confirmations += result.confirmations
        assert isinstance(judge._latency, SketchLatency)
        judge._latency.merge(result.latency)
        spool: Spool[InteractionReport] = Spool()
        for local, item in enumerate(result.items):
            spool.put(local, item)
        self._verdicts.append((result.places, spool))
        self._skipped += result.skipped
        for name, place in result.cassettes.items():
            self._cassettes[name] = min(place, self._cassettes.get(name, place))
        for key, entries in result.kept.items():
            merged = sorted([*self._kept.get(key, []), *entries])[:EXAMPLES_KEPT]
            self._kept[key] = merged
        self._examples.update(result.examples)
        self.warnings += result.warnings
        if result.input_error:
            self.input_errors.append(result.input_error)

    def _in_order(self) -> Iterator[tuple[int, InteractionReport]]:
        streams = [zip(places, spool, strict=True) for places, spool in self._verdicts]
        return heapq.merge(*streams, key=lambda pair: pair[0])

    def finish(self) -> RunReport:
        """The report over every shard added: verdicts in the inputs' order, noise decided
        from the global counts, latency from the merged sketches, through `Judge.finish`."""
        judge = self.judge
        chosen = sorted({pair for kept in self._kept.values() for pair in kept})
        wanted = {place for place, _ in chosen}
        ranks: dict[int, int] = {}
        for rank, (place, item) in enumerate(self._in_order()):
            judge._spool.put(rank, item)
            if place in wanted:
                ranks[place] = rank
        judge.judged = self.judged
        for name, _ in sorted(self._cassettes.items(), key=lambda pair: pair[1]):
            judge._cassettes[name] = None
        for place, exchange_id in chosen:
            example = self._examples.get(exchange_id)
            if example is not None and exchange_id not in judge._responses:
                exchange, response = example
                size = len(exchange.response.body) + (len(response.body) if response else 0)
                judge._responses.put(exchange_id, example, size)
                judge._example_places[exchange_id] = ranks[place]
        skipped = [item for _, item in sorted(self._skipped, key=lambda pair: pair[0])]
        report = judge.finish(skipped)
        for _, spool in self._verdicts:
            spool.close()
        return replace(report, notes=(*report.notes, NOTE))
