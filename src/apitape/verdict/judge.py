"""Turn replay results into verdicts: pass, regression or error for every exchange."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from apitape.compare.comparer import Comparer
from apitape.config import Config
from apitape.http.endpoints import EndpointNamer, origin
from apitape.jsonpath import generalize
from apitape.models import (
    Difference,
    EndpointLatency,
    Exchange,
    IgnoredField,
    InteractionReport,
    Outcome,
    Response,
    RunReport,
    SkippedExchange,
    Substitution,
    omitted_body,
)
from apitape.replay.correlate import SessionValues
from apitape.replay.replayer import ReplayResult
from apitape.verdict.groups import CONTRACT_KINDS, Grouper, at_least, severity
from apitape.verdict.latency import LatencyPolicy, LatencySamples
from apitape.verdict.noise import NoiseModel
from apitape.verdict.spool import Shelf, Spool, pickled, unpickled

if TYPE_CHECKING:  # the contract check loads openapi-core: only when a document is given
    from apitape.contract.checker import ContractChecker


@dataclass(frozen=True)
class JudgeOptions:
    """How results are judged: the rules of apitape.yaml, what is slow, what is noise."""

    config: Config = field(default_factory=Config)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    noise: NoiseModel | None = None
    fail_on: str = "changed"  # the least severity that makes an exchange a regression
    contract: ContractChecker | None = None  # checks each answer against an OpenAPI document
    endpoint_namer: EndpointNamer | None = None  # None: apitape.yaml's templates, else guessed

    @property
    def namer(self) -> EndpointNamer:
        """How exchanges are named: the run's namer, or one from apitape.yaml's templates."""
        return self.endpoint_namer or EndpointNamer(self.config.templates)


def judge(
    results: Sequence[ReplayResult],
    cassette_names: Sequence[str],
    target: str,
    options: JudgeOptions | None = None,
    *,
    expected_from: str = "recording",
    expected_origin: str | None = None,
) -> RunReport:
    """The report of a replay; `cassette_names[i]` is the cassette `results[i]` came from.

    Each result's exchange holds the expected response: the recorded one, or in three-way
    mode the baseline's (then `expected_origin` is the baseline's address).
    """
    judgement = Judge(target, options, expected_from=expected_from, expected_origin=expected_origin)
    for place, (result, cassette) in enumerate(zip(results, cassette_names, strict=True)):
        judgement.add(place, result, cassette)
    return judgement.finish()


BATCH = 64
"""Results judged together (see Judge.add); they hold their bodies until then."""

BIG_RESULT = 64 * 1024
"""Bytes of body (recorded, replayed and confirming answers together) from which a result
is judged at once rather than held for its batch: a batch of big answers is big memory."""

_LEARNABLE = ("value_changed", "header_changed")  # what SessionValues.explains can explain

EXAMPLES_KEPT = 3
"""Responses kept per group of differences, for the HTML report's side-by-side examples."""


@dataclass
class Tally:
    """A judge's counts before noise and latency are decided from them (`Judge.hand_over`)."""

    answered: Counter[str]  # endpoint -> exchanges answered
    differing: Counter[tuple[str, str]]  # (endpoint, field) -> exchanges it differed in
    differing_kinds: Counter[tuple[str, str, str]]  # ... and the kind of difference
    correlated: Counter[tuple[str, str]]  # (endpoint, field) -> carried values explained
    volatile: set[tuple[str, str, str]]  # (path, field, kind) the target's own answers vary in
    masked: dict[tuple[str, str, str], int]  # (endpoint, field, rule) -> exchanges masked
    unfilled_secrets: Counter[str]  # label -> requests that went out with it unfilled
    confirmations: int  # confirming requests sent
    kept: dict[tuple[str, ...], list[tuple[int, str]]]  # example keys -> (place, exchange id)
    errors: int  # exchanges that could not be replayed
    cassettes: dict[str, int]  # the cassettes of the verdicts -> the place of the first
    grouper: Grouper | None  # the verdicts as handed over, grouped; None if unknown
    counts: Counter[str]  # outcome (and credential_refreshed) -> verdicts


class Judge:
    """Judges replay results one at a time as they arrive, in any order; `finish` reports.

    Memory does not grow with the bodies: each result is compared when it arrives (a big
    one at once, small ones in batches) and only its verdict is kept (in a `Spool`, on disk
    past a few thousand), plus the responses of the first exchanges of each kind of
    difference for the HTML report (in a `Shelf`: big ones on disk). Noise and latency need
    every exchange of an endpoint, so they are applied when the verdicts are read.
    """

    def __init__(
        self,
        target: str,
        options: JudgeOptions | None = None,
        *,
        expected_from: str = "recording",
        expected_origin: str | None = None,
        spool: Spool[InteractionReport] | None = None,
        latency: LatencySamples | None = None,
    ) -> None:
        self.target = target
        self.options = options or JudgeOptions()
        self._namer = self.options.namer
        self.comparer = Comparer(self.options.config)
        self.expected_from = expected_from
        self.expected_origin = expected_origin
        self._target_origin = origin(target)
        self._sides = (expected_from, "candidate" if expected_from == "baseline" else "replayed")
        self._spool: Spool[InteractionReport] = spool if spool is not None else Spool()
        self._cassettes: dict[str, None] = {}
        self._correlated: Counter[tuple[str, str]] = Counter()
        self._answered: Counter[str] = Counter()  # per endpoint, for noise
        self._differing: Counter[tuple[str, str]] = Counter()  # (endpoint, field) -> exchanges
        self._differing_kinds: Counter[tuple[str, str, str]] = Counter()  # + the kind
        # (path template, field, kind) seen differing between two answers of the target to
        # the same safe request: its own noise, for every method on that path
        self._volatile: set[tuple[str, str, str]] = set()
        self.confirmations = 0
        self._latency = latency if latency is not None else LatencySamples()
        self._kept: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        # Exchange id -> the recorded exchange and replayed response of an example, with the
        # place they came from and how many of the `_kept` lists name them.
        self._responses: Shelf[tuple[Exchange, Response | None]] = Shelf()
        self._example_places: dict[str, int] = {}
        self._example_refs: Counter[str] = Counter()
        # Places whose differences a later request of the session may explain, with what
        # is needed to ask again in finish().
        self._unsettled: dict[int, tuple[SessionValues, tuple[Substitution, ...], str]] = {}
        self.unfilled_secrets: Counter[str] = Counter()  # label -> requests it went out in
        self.judged = 0
        self._errors = 0
        self._first_places: dict[str, int] = {}  # cassette -> the first place judged from it
        self._batch: list[tuple[int, ReplayResult, str]] = []
        self._rename: Callable[[str], str] | None = None
        # The verdicts grouped and counted as they are made, so that `finish` need not read
        # them all back when nothing decided at the end changes one (most runs); None once
        # that cannot be known (a shard handed over no grouping).
        self._grouper: Grouper | None = Grouper()
        self._counts: Counter[str] = Counter()

    def add(self, place: int, result: ReplayResult, cassette: str) -> None:
        """Judge one result; `place` is its exchange's position in the recording (0, 1, ...).

        Results are judged in batches of `BATCH`: judging one between two answers of the
        replay found the interpreter's caches cold and took twice as long (diff_share.py).
        A result with big bodies is judged at once, so that they are not held.
        """
        self.judged += 1
        if _body_bytes(result) >= BIG_RESULT:
            self._judge(place, result, cassette)
            return
        self._batch.append((place, result, cassette))
        if len(self._batch) >= BATCH:
            self._judge_batch()

    def _judge_batch(self) -> None:
        batch, self._batch = self._batch, []
        for place, result, cassette in batch:
            self._judge(place, result, cassette)

    def _judge(self, place: int, result: ReplayResult, cassette: str) -> None:
        exchange = result.exchange
        # Named by the replayer with the run's namer; a result made by hand may carry none.
        endpoint = result.endpoint or self._namer(exchange.request.method, exchange.request.url)
        if cassette not in self._cassettes:
            self._cassettes[cassette] = None
        if place < self._first_places.get(cassette, place + 1):
            self._first_places[cassette] = place
        if result.unfilled_secrets:
            self.unfilled_secrets.update(result.unfilled_secrets)
        differences: list[Difference] = []
        response = result.response
        if response is not None:
            self._answered[endpoint] += 1
            try:
                differences = self._compare(place, result, endpoint)
            except RecursionError:
                result = replace(
                    result,
                    error="the answer is nested too deeply to compare (hundreds of levels); "
                    "compare this endpoint by status only with an ignore rule on its body",
                )
                differences = []
            if differences:
                for path in {generalize(d.path) for d in differences}:
                    self._differing[(endpoint, path)] += 1
                for key in {(endpoint, generalize(d.path), d.kind) for d in differences}:
                    self._differing_kinds[key] += 1
            if result.confirmation is not None:
                self._learn_volatile(result, endpoint)
            if self.options.contract is not None:  # never noise: the document says so
                differences += self.options.contract.check(result.request, response)
            self._keep_examples(place, result, endpoint, differences)
        self._latency.add(endpoint, exchange.duration_ms, result.duration_ms)
        self._errors += result.error is not None
        self._put(
            place,
            InteractionReport(
                id=exchange.id,
                cassette=cassette,
                method=exchange.request.method,
                url=exchange.request.url,
                endpoint=endpoint,
                outcome=self._outcome(result.error, differences),
                differences=tuple(differences),
                expected_status=exchange.response.status,
                actual_status=result.response.status if result.response else None,
                recorded_ms=exchange.duration_ms,
                replayed_ms=result.duration_ms,
                error=result.error,
                substitutions=result.substitutions,
                credential_refreshed=result.credential_refreshed,
            ),
        )

    def _put(self, place: int, item: InteractionReport) -> None:
        self._spool.put(place, item)
        _count(item, place, self._grouper, self._counts)

    @property
    def latency(self) -> LatencySamples:
        """The recorded and replayed times per endpoint, as judged so far."""
        return self._latency

    def hand_over(self) -> tuple[Iterator[bytes], Tally]:
        """The verdicts so far, pickled as a spool stores them (`spool.pickled`), read as the
        iterator is, in place order, with correlations settled but noise and latency not yet
        applied; and the counts those need. What one shard of a run hands the driver, which
        adds the shards' up (`absorb`, `adopt`) and decides once, in its `finish`; a verdict
        no late correlation changed is handed over without being unpickled here. A session
        never spans shards, so every later request that could explain a difference was in
        this one. The judge is spent afterwards."""
        self._judge_batch()
        explained = self._settle()

        def settled() -> Iterator[bytes]:
            for place, data in enumerate(self._spool.pickled()):
                late = explained.get(place)
                if late:
                    item = unpickled(data)
                    assert isinstance(item, InteractionReport)
                    differences = tuple(d for d in item.differences if d not in late)
                    outcome = self._outcome(item.error, differences)
                    data = pickled(replace(item, differences=differences, outcome=outcome))
                yield data
            self._spool.close()

        tally = Tally(
            answered=self._answered,
            differing=self._differing,
            differing_kinds=self._differing_kinds,
            correlated=self._correlated,
            volatile=self._volatile,
            masked=self.comparer.mask_log.counts(),
            unfilled_secrets=self.unfilled_secrets,
            confirmations=self.confirmations,
            kept={key: list(entries) for key, entries in self._kept.items()},
            errors=self._errors,
            cassettes=dict(self._first_places),
            grouper=None if explained else self._grouper,
            counts=self._counts,
        )
        return settled(), tally

    def absorb(self, tally: Tally) -> None:
        """Add another judge's counts to these (latency is merged by whoever made this
        judge's `latency`: the samples of one process cannot be added up)."""
        self._answered.update(tally.answered)
        self._differing.update(tally.differing)
        self._differing_kinds.update(tally.differing_kinds)
        self._correlated.update(tally.correlated)
        self._volatile.update(tally.volatile)
        self.comparer.mask_log.absorb(tally.masked)
        self.unfilled_secrets.update(tally.unfilled_secrets)
        self.confirmations += tally.confirmations
        if self._grouper is not None and tally.grouper is not None:
            self._grouper.absorb(tally.grouper)
        else:
            self._grouper = None
        self._counts.update(tally.counts)

    def adopt(self, packed: bytes) -> array[int]:
        """Verdicts another judge handed over (`spool.pack`ed), written as they are, not yet
        at any place in this run: where each is, for `place_adopted`. Their latency and
        counts come by `absorb`, their cassettes by `adopt_cassettes`. They stay pickled
        until the report reads them."""
        return self._spool.put_packed(packed)

    def place_adopted(self, placed: Iterable[tuple[int, int]]) -> None:
        """Put adopted verdicts at their places in this run: (place, where `adopt` said)."""
        before = len(self._spool)
        self._spool.place(placed)
        self.judged += len(self._spool) - before

    def adopt_cassettes(self, names: Iterable[str]) -> None:
        """The cassettes of the verdicts adopted, in the order the report lists them."""
        for name in names:
            self._cassettes.setdefault(name, None)

    def adopt_example(
        self, exchange_id: str, example: tuple[Exchange, Response | None], place: int
    ) -> None:
        """An example's recorded exchange and answer, kept by another judge, at `place`."""
        if exchange_id in self._responses:
            return
        exchange, response = example
        size = len(exchange.response.body) + (len(response.body) if response else 0)
        self._responses.put(exchange_id, example, size)
        self._example_places[exchange_id] = place

    def rename_endpoints(self, rename: Callable[[str], str]) -> None:
        """Name the endpoints anew when the report is made: `rename` maps a name given while
        judging (the guess, for a capture whose parameters are learned as it streams) to the
        final one (`EndpointNamer.renamed`, which keeps names made by explicit templates)."""
        self._rename = rename

    def _renamed(self) -> dict[str, str]:
        """Apply the renaming to everything counted per endpoint: old -> new, changed only."""
        rename = self._rename
        if rename is None:
            return {}
        names = {old: new for old in self._latency.endpoints() if (new := rename(old)) != old}
        if not names:
            return {}

        def counter(counts: Counter[Any]) -> Counter[Any]:
            renamed: Counter[Any] = Counter()
            for key, count in counts.items():
                renamed[(names.get(key[0], key[0]), *key[1:])] += count
            return renamed

        answered: Counter[str] = Counter()
        for endpoint, count in self._answered.items():
            answered[names.get(endpoint, endpoint)] += count
        self._answered = answered
        self._differing = counter(self._differing)
        self._differing_kinds = counter(self._differing_kinds)
        self._correlated = counter(self._correlated)
        paths = {_path_of(old): _path_of(new) for old, new in names.items()}
        self._volatile = {(paths.get(p, p), f, k) for p, f, k in self._volatile}
        self.comparer.mask_log.rename(names)
        self._latency.rename(names)
        kept: dict[tuple[str, ...], list[tuple[int, str]]] = {}
        for key, entries in self._kept.items():
            new_key = (names.get(key[0], key[0]), *key[1:])
            kept[new_key] = sorted([*kept.get(new_key, []), *entries])
        for entries in kept.values():
            for _, dropped in entries[EXAMPLES_KEPT:]:
                self._release_example(dropped)
            del entries[EXAMPLES_KEPT:]
        self._kept = kept
        return names

    def finish(self, skipped: Sequence[SkippedExchange] = ()) -> RunReport:
        """The report: verdicts in recorded order with noise and latency applied, counted."""
        self._judge_batch()
        options = self.options
        explained = self._settle()
        names = self._renamed()
        if names:
            skipped = [replace(s, endpoint=names.get(s.endpoint, s.endpoint)) for s in skipped]
        ignored = [IgnoredField(*entry) for entry in self.comparer.mask_log.entries()]
        ignored += [
            IgnoredField(e, p, "correlated", n) for (e, p), n in sorted(self._correlated.items())
        ]
        quiet: set[tuple[str, str]] = set()
        if options.noise is not None:
            noise = options.noise
            quiet = {
                key
                for key, count in self._differing.items()
                if not noise.is_signal(key[0], key[1], count, self._answered[key[0]])
            }
            ignored += [
                IgnoredField(e, p, f"noise ({noise.source})", self._differing[(e, p)])
                for e, p in sorted(quiet)
            ]
        confirmed = {
            key for key in self._differing_kinds if (_path_of(key[0]), *key[1:]) in self._volatile
        }
        ignored += [
            IgnoredField(
                e, p, f"confirmed: {k.replace('_', ' ')} between two answers of the target "
                "to the same request", self._differing_kinds[(e, p, k)],
            )
            for e, p, k in sorted(confirmed)
        ]  # fmt: skip
        latency = self._latency.rows(options.latency)
        slower = {row.endpoint for row in latency if row.slower}
        final = self._finalizer(quiet, slower, explained, confirmed, names)
        interactions = self._spool.view(final)
        grouper, counts = self._grouper, self._counts
        if final is not _as_judged or grouper is None:  # read every verdict back
            grouper, counts = Grouper(), Counter()
            for place, item in enumerate(interactions):
                _count(item, place, grouper, counts)
        return RunReport(
            self.target,
            tuple(self._cassettes),
            interactions,
            tuple(latency),
            tuple(sorted(ignored, key=lambda i: (i.endpoint, i.path, i.rule))),
            self.expected_from,
            tuple(skipped),
            fail_on=options.fail_on,
            groups=tuple(grouper.groups()),
            counts=dict(counts),
            contract=options.contract.summary() if options.contract is not None else None,
            unfilled_secrets=dict(self.unfilled_secrets),
            examples=self.responses(),
            confirmations=self.confirmations,
            notes=self._latency_notes(options.latency, latency),
            baseline=self.expected_origin if self.expected_from == "baseline" else None,
        )

    def _latency_notes(
        self, policy: LatencyPolicy, latency: Sequence[EndpointLatency]
    ) -> tuple[str, ...]:
        notes = []
        drift = self._latency.drift()
        if policy.factor > 0 and drift >= 1.2:
            notes.append(
                f"the target answered {drift:.1f}x slower than the recording across its "
                "endpoints (the median); an endpoint counts as slower only beyond that"
            )
        held = [row.endpoint for row in latency if row.held_back]
        if held:
            notes.append(
                f"not called slower, with fewer than {policy.few_answers} answers a side, which "
                f"cannot show how much an endpoint varies on its own (that needs "
                f"{policy.few_answers_factor:g}x, not {policy.factor:g}x): {', '.join(held)}"
            )
        return tuple(notes)

    def responses(self) -> Mapping[str, tuple[Exchange, Response | None]]:
        """Per exchange id, the recorded exchange and the replayed response of the examples
        the reports show (the first exchanges of each kind of difference), in recorded order
        whatever order the answers came in; those with big bodies are read back from a
        temporary file when asked for."""
        return _Examples(self._responses, self._example_places)

    def _compare(self, place: int, result: ReplayResult, endpoint: str) -> list[Difference]:
        exchange = result.exchange
        assert result.response is not None
        origins = (self.expected_origin or origin(exchange.request.url), self._target_origin)
        differences = self.comparer.compare(
            exchange.id,
            endpoint,
            exchange.response,
            result.response,
            origins,
            self._sides,
            omitted_body(exchange.extra, "response"),
        )
        values = result.session_values
        if values is not None and differences:
            # The new id in the create response, the new Location: the target's own values,
            # carried into later requests, not regressions.
            explained = [d for d in differences if values.explains(d, result.substitutions)]
            for difference in explained:
                self._correlated[(endpoint, generalize(difference.path))] += 1
            differences = [d for d in differences if d not in explained]
            if any(d.kind in _LEARNABLE for d in differences):
                # Later requests of the session, not sent yet, may still carry these values.
                self._unsettled[place] = (values, result.substitutions, endpoint)
        return differences

    def _learn_volatile(self, result: ReplayResult, endpoint: str) -> None:
        """What differs between the target's two answers to the same safe request: fields
        that change on their own. A status that differs is never noise."""
        assert result.response is not None and result.confirmation is not None
        self.confirmations += 1
        own = self.comparer.compare(
            result.exchange.id,
            endpoint,
            result.response,
            result.confirmation,
            (self._target_origin, self._target_origin),
        )
        where = _path_of(endpoint)
        self._volatile.update(
            (where, generalize(d.path), d.kind) for d in own if d.kind != "status_changed"
        )

    def _outcome(self, error: str | None, differences: Sequence[Difference]) -> Outcome:
        if error is not None:
            return Outcome.ERROR
        if not differences:
            return Outcome.PASS
        fail_on = self.options.fail_on
        failing = any(at_least(severity(d), fail_on) for d in differences)
        return Outcome.REGRESSION if failing else Outcome.PASS

    def _keep_examples(
        self, place: int, result: ReplayResult, endpoint: str, differences: Sequence[Difference]
    ) -> None:
        """Keep the responses of the earliest exchanges of each kind of difference (and of
        each endpoint, for a latency example): those the reports pick as examples. One that
        a later-arriving, earlier exchange pushes out of every list is let go."""
        keys = dict.fromkeys(
            [(endpoint,), *((endpoint, generalize(d.path), d.kind) for d in differences)]
        )
        exchange_id = result.exchange.id
        refs = self._example_refs
        kept_here = False
        for key in keys:
            kept = self._kept.setdefault(key, [])
            if len(kept) == EXAMPLES_KEPT and place > kept[-1][0]:
                continue
            kept.append((place, exchange_id))
            refs[exchange_id] += 1
            kept_here = True
            kept.sort()
            for _, dropped in kept[EXAMPLES_KEPT:]:
                self._release_example(dropped)
            del kept[EXAMPLES_KEPT:]
        if not kept_here or exchange_id not in refs:
            return
        known = self._example_places.get(exchange_id)
        if known is None or place < known:
            self._example_places[exchange_id] = place
            example = (result.exchange, result.response)
            self._responses.put(exchange_id, example, _body_bytes(result))

    def _release_example(self, exchange_id: str) -> None:
        """One list of examples no longer names `exchange_id`; the last lets it go."""
        refs = self._example_refs
        refs[exchange_id] -= 1
        if not refs[exchange_id]:
            del refs[exchange_id]
            self._responses.discard(exchange_id)
            self._example_places.pop(exchange_id, None)

    def _settle(self) -> dict[int, list[Difference]]:
        """Ask the sessions' learned values again, now that every request was sent, about the
        differences they could not explain when the answer came: place -> those now explained."""
        explained: dict[int, list[Difference]] = {}
        for place, (values, carried, endpoint) in self._unsettled.items():
            item = self._spool.view(lambda _, item: item)[place]
            late = [d for d in item.differences if values.explains(d, carried)]
            if not late:
                continue
            explained[place] = late
            before = {generalize(d.path) for d in item.differences}
            after = {generalize(d.path) for d in item.differences if d not in late}
            for path in before - after:
                self._differing[(endpoint, path)] -= 1
            for difference in late:
                self._correlated[(endpoint, generalize(difference.path))] += 1
        self._unsettled.clear()
        return explained

    def _finalizer(
        self,
        quiet: set[tuple[str, str]],
        slower: set[str],
        explained: dict[int, list[Difference]],
        confirmed: set[tuple[str, str, str]],
        names: Mapping[str, str],
    ) -> Callable[[int, InteractionReport], InteractionReport]:
        if not quiet and not slower and not explained and not confirmed and not names:
            return _as_judged

        def final(place: int, item: InteractionReport) -> InteractionReport:
            if item.endpoint in names:
                item = replace(item, endpoint=names[item.endpoint])
            late = explained.get(place, ())
            differences = [
                d
                for d in item.differences
                if d not in late
                and ((item.endpoint, generalize(d.path)) not in quiet or d.kind in CONTRACT_KINDS)
                and (item.endpoint, generalize(d.path), d.kind) not in confirmed
            ]
            if item.actual_status is not None and item.endpoint in slower:
                differences.append(
                    Difference("latency", "latency_increased", item.recorded_ms, item.replayed_ms)
                )
            if len(differences) == len(item.differences) and item.endpoint not in slower:
                return item
            outcome = self._outcome(item.error, differences)
            return replace(item, differences=tuple(differences), outcome=outcome)

        return final


def _count(
    item: InteractionReport, place: int, grouper: Grouper | None, counts: Counter[str]
) -> None:
    """Add a verdict to the groups and the outcome counts a report gives."""
    if grouper is not None:
        grouper.add(item, place)
    counts[item.outcome.value] += 1
    counts["credential_refreshed"] += item.credential_refreshed


def _as_judged(place: int, item: InteractionReport) -> InteractionReport:
    """The finalizer when nothing decided at the end changes a verdict."""
    return item


class _Examples(Mapping[str, tuple[Exchange, Response | None]]):
    """A judge's examples by exchange id, iterated in the order of their places."""

    def __init__(
        self, shelf: Shelf[tuple[Exchange, Response | None]], places: dict[str, int]
    ) -> None:
        self._shelf = shelf
        self._places = places

    def __getitem__(self, key: str) -> tuple[Exchange, Response | None]:
        return self._shelf[key]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._shelf, key=self._places.__getitem__))

    def __len__(self) -> int:
        return len(self._shelf)


def _body_bytes(result: ReplayResult) -> int:
    """The bytes of body a result holds: the recorded answer's and the replayed ones."""
    size = len(result.exchange.response.body) + len(result.exchange.request.body)
    if result.response is not None:
        size += len(result.response.body)
    if result.confirmation is not None:
        size += len(result.confirmation.body)
    return size


def _path_of(endpoint: str) -> str:
    """`/books/{id}` of `GET /books/{id}`: what the target's noise on a path is learned for."""
    return endpoint.split(" ", 1)[-1]
