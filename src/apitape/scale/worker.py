"""One shard's replay, as a Ray task runs it: `apitape.runs.workflows.judged_replay` over the
shard's exchanges, each put back as it was in its input, then the judge handed over whole
(`merge.shard_result`), with what the target answered when the responses are saved (the
driver writes the one cassette). Nothing here knows about Ray."""

from __future__ import annotations

import itertools
import resource
import struct
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import replace
from operator import itemgetter
from pathlib import Path

from apitape.cassette import iter_exchanges
from apitape.models import Exchange, SkippedExchange
from apitape.replay.replayer import ReplayResult
from apitape.runs.inputs import Selection, load_rules
from apitape.runs.settings import RunSettings
from apitape.runs.workflows import answered_exchange, judged_replay
from apitape.scale import storage
from apitape.scale.merge import Answers, ShardResult, shard_result
from apitape.scale.shard import ShardFile, origin_of, verify
from apitape.verdict.spool import pack, pickled


def worker_settings(settings: RunSettings, session_by: str) -> RunSettings:
    """What every shard runs with: the run's settings less what the driver does once
    (`before`, the progress display, `rate`, held by the budget, and saying which files it
    applies: `notify`; the shards' warnings reach the report), sessions keyed as the shards
    were cut. The OpenAPI document is named by its absolute path, so a worker started
    elsewhere (`ray start` in another directory) reads the same file."""
    openapi = settings.openapi
    if openapi is not None and Path(openapi).is_file():
        openapi = str(Path(openapi).resolve())
    return replace(
        settings,
        progress=None,
        before=None,
        rate=None,
        notify=None,
        session_by=session_by,
        openapi=openapi,
    )


class ShardSources:
    """A shard's exchanges as a replay's sources: (input cassette, its exchanges) in order,
    each exchange as it was in its input; records each kept one's place in the inputs."""

    def __init__(
        self,
        path: Path,
        inputs: tuple[str, ...],
        selection: Selection,
        take_token: Callable[[], None] | None,
    ) -> None:
        self._path = path
        self._inputs = inputs
        self._selection = selection
        self._take = take_token
        self._warnings: list[str] = []
        self.places: array[int] = array("q")
        self.skipped: list[tuple[int, SkippedExchange]] = []

    def __iter__(self) -> Iterator[tuple[str, Iterator[Exchange]]]:
        for name, group in itertools.groupby(self._kept(), key=itemgetter(0)):
            yield name, map(itemgetter(1), group)

    def _kept(self) -> Iterator[tuple[str, Exchange]]:
        selection = self._selection
        for marked in iter_exchanges(self._path, self._warnings):
            place, source, exchange = origin_of(marked)
            name = self._inputs[source]
            if not selection.keeps(exchange, name):
                self.skipped.append((place, selection.skipped.pop()))
                continue
            if self._take is not None:
                self._take()
            self.places.append(place)
            yield name, exchange

    def warnings(self) -> list[str]:
        """What reading the shard warned about."""
        return self._warnings


_RECORD = struct.Struct("<qqI")  # place in the shard, offset, length


class ShardAnswers:
    """What the target answered in one shard, as `answered_exchange` makes it to save: each
    pickled to an unnamed temporary file as it comes, in the order the answers come, then
    handed over in the inputs' order (`hand_over`)."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="apitape-answers-")  # noqa: SIM115
        self._index = bytearray()  # a _RECORD per answer
        self._end = 0
        self.unanswered = 0

    def __call__(self, place: int, result: ReplayResult) -> None:
        if result.response is None:
            self.unanswered += 1
            return
        data = pickled(answered_exchange(result))
        self._file.write(data)
        self._index += _RECORD.pack(place, self._end, len(data))
        self._end += len(data)

    def hand_over(self, places: array[int]) -> Answers:
        """The answers `spool.pack`ed in the order of their places in the inputs
        (`places[i]`: the place in the inputs of the shard's exchange `i`); closes the file."""
        records = sorted(
            (places[local], offset, length)
            for local, offset, length in _RECORD.iter_unpack(self._index)
        )
        file = self._file
        file.flush()

        def read(offset: int, length: int) -> bytes:
            file.seek(offset)
            return file.read(length)

        packed = pack(read(offset, length) for _, offset, length in records)
        file.close()
        order = array("q", (place for place, _, _ in records))
        return Answers(order, packed, self.unanswered)


def replay_shard(
    index: int,
    location: str,
    shard: ShardFile,
    inputs: tuple[str, ...],
    target: str,
    settings: RunSettings,
    take_token: Callable[[], None] | None = None,
) -> ShardResult:
    """Replay shard `index` (at `location`, checked against its manifest entry) against
    `target` and hand back its judge's counts and verdicts, and what the target answered
    when `settings.save_responses` asks for it (the driver saves the shards' answers)."""
    started = time.monotonic()
    answers = ShardAnswers() if settings.save_responses is not None else None
    settings = replace(settings, save_responses=None)  # never the driver's path from here
    with tempfile.TemporaryDirectory(prefix="apitape-shard-") as scratch:
        path = storage.download(location, Path(scratch))
        verify(path, shard)
        selection = Selection(load_rules(settings, noise=False), settings)
        run = judged_replay(
            target,
            settings,
            lambda: ShardSources(path, inputs, selection, take_token),
            save=answers,
        )
        sources = run.sources
        handed = answers.hand_over(sources.places) if answers is not None else None
        result = shard_result(index, run.judgement, sources.places, sources.skipped, handed)
    result.warnings = [*sources.warnings(), *run.notes]
    result.input_error = str(run.broken[0]) if run.broken else None
    result.seconds = time.monotonic() - started
    result.peak_rss_mb = peak_rss_mb()
    return result


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (a Ray worker runs many tasks: it
    is the peak over them all)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes there, KB here
