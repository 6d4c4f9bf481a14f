"""One report from many shards: each shard's judge is handed back as counts, sketches and its
verdicts before noise and latency; the driver adds them up into one `Judge` and lets its
`finish` decide noise once from the global counts, apply the merged latency and group, as one
process does.

A shard's judge has settled its own correlations (a session never spans shards, so every
later request that could explain a difference was in the same shard) before it hands over.
The judge's own `hand_over`, `absorb` and `adopt` carry its counts across, so a counter
added to the judge is carried too; `tests/scaleout` replays the same sessions on one process
and on four shards and compares every verdict.
"""

from __future__ import annotations

import heapq
import tempfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING

from apitape.models import Exchange, Response, RunReport, SkippedExchange
from apitape.scale.sketch import NOTE, SketchLatency
from apitape.verdict.judge import EXAMPLES_KEPT, Judge, JudgeOptions, Tally
from apitape.verdict.spool import pack, unpack, unpickled

if TYPE_CHECKING:  # the contract check loads openapi-core: only when a document is given
    from apitape.contract.checker import CoverageCounts


@dataclass
class Answers:
    """What the target answered in one shard, for the driver to save as one cassette: each
    answered exchange as `answered_exchange` made it, `spool.pack`ed in the inputs' order,
    with its place there; and how many results had no answer."""

    places: array[int]
    exchanges: bytes
    unanswered: int


@dataclass
class ShardResult:
    """What one shard's replay hands back to the driver (pickled by Ray)."""

    index: int
    places: array[int]  # the place in the inputs of each verdict, in the shard's order
    verdicts: bytes  # `spool.pack`ed, correlations settled; noise and latency not yet
    skipped: list[tuple[int, SkippedExchange]]
    tally: Tally  # the judge's counts; its example places are places in the inputs
    latency: SketchLatency
    examples: dict[str, tuple[Exchange, Response | None]]
    warnings: list[str] = field(default_factory=list)
    input_error: str | None = None
    seconds: float = 0.0
    peak_rss_mb: float = 0.0  # of the worker process that ran it, so far in its life
    coverage: CoverageCounts | None = None  # of the OpenAPI document, when one is checked
    answers: Answers | None = None  # when the responses are saved

    @property
    def judged(self) -> int:
        """Exchanges replayed and judged in this shard."""
        return len(self.places)

    @property
    def errors(self) -> int:
        """Exchanges of this shard that could not be replayed."""
        return self.tally.errors


def shard_result(
    index: int,
    judgement: Judge,
    places: array[int],
    skipped: list[tuple[int, SkippedExchange]],
    answers: Answers | None = None,
) -> ShardResult:
    """Hand a shard's judge over (`Judge.hand_over`), with its contract coverage when it
    checked a document. `places[i]` is the place in the inputs of the exchange the judge saw
    at place `i`. The verdicts go pickled, as the driver's spool stores them: the driver, one
    process for every shard, never unpickles them until the report reads them."""
    contract = judgement.options.contract
    verdicts, tally = judgement.hand_over()
    tally.kept = {
        key: [(places[local], exchange_id) for local, exchange_id in entries]
        for key, entries in tally.kept.items()
    }
    tally.cassettes = {name: places[local] for name, local in tally.cassettes.items()}
    if tally.grouper is not None:
        tally.grouper = tally.grouper.relocated(places)
    return ShardResult(
        index=index,
        places=places,
        verdicts=pack(verdicts),
        skipped=skipped,
        tally=tally,
        latency=SketchLatency.of(judgement.latency),
        examples=dict(judgement.responses().items()),
        coverage=contract.coverage.counts() if contract is not None else None,
        answers=answers,
    )


class Merge:
    """The driver's side: shards are added as they finish, in any order; `finish` reports."""

    def __init__(self, target: str, options: JudgeOptions) -> None:
        self._latency = SketchLatency()
        self.judge = Judge(target, options, latency=self._latency)
        self.shards: list[int] = []
        self.judged = 0
        self.skipped = 0
        self._verdicts: list[tuple[array[int], array[int]]] = []  # places, where adopted
        self._cassettes: dict[str, int] = {}
        self._skipped: list[tuple[int, SkippedExchange]] = []
        self._kept: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        self._examples: dict[str, tuple[Exchange, Response | None]] = {}
        self.warnings: list[str] = []
        self.input_errors: list[str] = []
        self._answers: list[tuple[array[int], IO[bytes]]] = []
        self.unanswered = 0  # of the shards whose answers are saved

    def add(self, result: ShardResult) -> None:
        """Add one finished shard: its counts now, its verdicts and answers, as they came,
        to files."""
        self.shards.append(result.index)
        self.judged += result.judged
        self.skipped += len(result.skipped)
        self.judge.absorb(result.tally)
        self._latency.merge(result.latency)
        self._verdicts.append((result.places, self.judge.adopt(result.verdicts)))
        for name, place in result.tally.cassettes.items():
            self._cassettes[name] = min(place, self._cassettes.get(name, place))
        self._skipped += result.skipped
        for key, entries in result.tally.kept.items():
            merged = sorted([*self._kept.get(key, []), *entries])[:EXAMPLES_KEPT]
            self._kept[key] = merged
        self._examples.update(result.examples)
        self.warnings += result.warnings
        if result.input_error:
            self.input_errors.append(result.input_error)
        if result.coverage is not None:
            contract = self.judge.options.contract
            assert contract is not None, "a shard checked a document the driver did not load"
            contract.coverage.absorb(result.coverage)
        if result.answers is not None:
            answers = _on_disk(result.answers.exchanges, "apitape-answers-")
            self._answers.append((result.answers.places, answers))
            self.unanswered += result.answers.unanswered

    def answers(self) -> Iterator[Exchange]:
        """What the target answered in every shard added, in the inputs' order: each shard's
        file read once, front to back, one exchange of each held at a time. Read once."""
        for _, data in _in_place_order(self._answers):
            exchange = unpickled(data)
            assert isinstance(exchange, Exchange)
            yield exchange
        for _, handle in self._answers:
            handle.close()
        self._answers.clear()

    def finish(self) -> RunReport:
        """The report over every shard added: verdicts in the inputs' order, noise decided
        from the global counts, latency from the merged sketches, through `Judge.finish`."""
        judge = self.judge
        chosen = sorted({pair for kept in self._kept.values() for pair in kept})
        wanted = {place for place, _ in chosen}
        ranks: dict[int, int] = {}

        def ranked() -> Iterator[tuple[int, int]]:
            # Each shard's places rise already: a merge of them is the inputs' order.
            in_order = heapq.merge(*(zip(p, at, strict=True) for p, at in self._verdicts))
            for rank, (place, at) in enumerate(in_order):
                if place in wanted:
                    ranks[place] = rank
                yield rank, at

        judge.place_adopted(ranked())
        judge.adopt_cassettes(sorted(self._cassettes, key=self._cassettes.__getitem__))
        for place, exchange_id in chosen:
            example = self._examples.get(exchange_id)
            if example is not None:
                judge.adopt_example(exchange_id, example, ranks[place])
        skipped = [item for _, item in sorted(self._skipped, key=lambda pair: pair[0])]
        report = judge.finish(skipped)
        return replace(report, notes=(*report.notes, NOTE))


def _on_disk(packed: bytes, prefix: str) -> IO[bytes]:
    """`spool.pack`ed records in an unnamed file (gone however the driver ends), read from
    its start; the shard's bytes need not stay in memory."""
    handle = tempfile.TemporaryFile(prefix=prefix)  # noqa: SIM115 - closed by its reader
    handle.write(packed)
    handle.seek(0)
    return handle


def _in_place_order(parts: list[tuple[array[int], IO[bytes]]]) -> Iterator[tuple[int, bytes]]:
    """Each shard's records, still pickled, with their places in the inputs, merged into the
    inputs' order: a shard's are in that order already, so each file is read front to back."""
    streams = [zip(places, unpack(handle), strict=True) for places, handle in parts]
    return heapq.merge(*streams, key=lambda pair: pair[0])
