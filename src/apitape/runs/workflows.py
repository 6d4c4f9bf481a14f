"""Whole runs, cassettes in and a RunReport out: replay, three-way comparison, diff, learning.

Nothing here prints, writes a report or exits: the CLI, the pytest plugin, the demo and the
public API render what these functions return.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from apitape.cassette import CassetteWriter, iso_utc, load_cassette
from apitape.compare.comparer import Comparer
from apitape.compare.pairing import pair_exchanges
from apitape.config import Config
from apitape.errors import CassetteError, UsageError
from apitape.http.endpoints import EndpointNamer, origin
from apitape.http.path_parameters import (
    PathParameterLearner,
    PathParameters,
    learn_path_parameters,
)
from apitape.models import AppliedFile, Exchange, RunReport
from apitape.redaction.keys import KEY_ENV
from apitape.redaction.redact import given_label
from apitape.replay.replayer import ReplayResult
from apitape.runs.inputs import (
    Cassettes,
    Rules,
    Selection,
    load_rules,
    run_before,
    selected_exchanges,
)
from apitape.runs.settings import RunSettings
from apitape.verdict.judge import Judge, JudgeOptions, judge
from apitape.verdict.noise import NoiseCounter, NoiseModel


def replay(paths: Sequence[str], target: str, settings: RunSettings | None = None) -> RunReport:
    """Replay every exchange of the cassettes against `target` and judge the answers.

    Exchanges are read, sent, judged and saved one at a time: memory does not grow with the
    cassettes (a million exchanges replayed in 120 MB, benchmarks/results.md). A cassette
    that breaks off mid-way ends the run: what came before it is judged, and the report's
    `input_error` says what broke.
    """
    settings = settings or RunSettings()
    run = judged_replay(target, settings, lambda: Cassettes(paths), paths)
    judgement, broken, notes = run.judgement, run.broken, run.notes
    if not judgement.judged:
        if broken:
            raise broken[0]
        if not run.selection.skipped:
            raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")
    report = run.finish()
    input_error = None
    if broken:
        input_error = str(broken[0])
        notes.append(f"the {judgement.judged} exchange(s) before the error were replayed")
    notes += learned_path_notes(run.rules, run.learned)
    return _with_context(
        report, run.rules, settings, run.sources.warnings(), notes, input_error=input_error
    )


class Sources(Protocol):
    """Where a replay reads its exchanges: (cassette name, its exchanges) in order."""

    def __iter__(self) -> Iterator[tuple[str, Iterator[Exchange]]]: ...

    def warnings(self) -> list[str]: ...


S = TypeVar("S", bound=Sources)


@dataclass
class JudgedReplay(Generic[S]):
    """A replay streamed into its `Judge`, not finished yet: `replay` finishes it, and each
    shard of a scaled-out replay (apitape.scale) hands its judge's counts to one merge."""

    judgement: Judge
    rules: Rules
    selection: Selection
    sources: S
    notes: list[str]
    broken: list[CassetteError]
    learned: PathParameters | None = None  # learned as the exchanges streamed past

    def finish(self) -> RunReport:
        """The judge's report, endpoints named with what was learned from the whole stream."""
        learned = self.learned
        if learned is not None:
            namer = self.rules.namer
            self.judgement.rename_endpoints(lambda endpoint: namer.renamed(endpoint, learned))
        return self.judgement.finish(self.selection.skipped)


def judged_replay(
    target: str,
    settings: RunSettings,
    sources: Callable[[], S],
    learn_from: Sequence[str] = (),
    save: Callable[[int, ReplayResult], None] | None = None,
) -> JudgedReplay[S]:
    """Send every exchange `sources()` yields to `target` and judge each answer as it comes:
    the whole of `replay` but its finish. A cassette error stops the reading (in `broken`).
    `save`, when given, gets each result with its place instead of the cassette of
    `settings.save_responses` (a shard hands its answers to the driver, which saves them).

    Path parameters are learned unless the settings carry them: from every exchange read
    (those skipped too), endpoints judged under their guessed names and renamed at the
    finish, so the cassettes are read once. When apitape.yaml names endpoints in rules
    (`endpoints:`, `skip`, `correlation.extract`), which must match while judging, they are
    learned before the run from the cassettes `learn_from`, read one more time."""
    rules = load_rules(settings)
    learner = None
    if settings.path_parameters is None:
        if learn_from and names_endpoints(rules.config):
            rules = load_rules(settings, cassettes=learn_from)
        else:
            learner = PathParameterLearner()
    replayer = settings.replayer(target, rules.config, rules.namer, confirm=settings.confirm)
    replayer.before_unfilled = warn_before_sending_placeholders(settings)
    cassettes = sources()
    run_before(settings.before)
    judgement = Judge(replayer.target, _judge_options(rules, settings))
    selection = Selection(rules, settings)
    notes: list[str] = []
    broken: list[CassetteError] = []

    # Where each cassette's exchanges begin among those replayed: the stream tells each
    # result's place, and a place's cassette is the last one that began at or before it.
    first_places: list[int] = []
    cassette_names: list[str] = []

    def feed() -> Iterator[Exchange]:
        place = 0
        for name, exchanges in cassettes:
            first_places.append(place)
            cassette_names.append(name)
            try:
                for exchange in exchanges:
                    if learner is not None:
                        learner.observe(exchange)
                    if selection.keeps(exchange, name):
                        yield exchange
                        place += 1
            except CassetteError as exc:
                broken.append(exc)  # replay what came before it, report, then fail
                return

    saving: contextlib.AbstractContextManager[Callable[[int, ReplayResult], None]] = (
        _response_saver(settings.save_responses, notes)
        if save is None
        else contextlib.nullcontext(save)
    )
    with settings.progress_of(None, "replaying") as advance, saving as save_one:

        def on_result(place: int, result: ReplayResult) -> None:
            name = cassette_names[bisect.bisect_right(first_places, place) - 1]
            judgement.add(place, result, name)
            save_one(place, result)
            if advance is not None:
                advance(result)

        replayer.stream(feed(), on_result)
    learned = learner.result() if learner is not None else None
    return JudgedReplay(judgement, rules, selection, cassettes, notes, broken, learned)


def compare_live(
    paths: Sequence[str],
    baseline: str,
    candidate: str,
    settings: RunSettings | None = None,
    *,
    noise_runs: int = 2,
) -> RunReport:
    """Three-way mode: send each request to `baseline` (`noise_runs` times) and to `candidate`,
    and report what the candidate answers differently beyond the baseline's own noise."""
    settings = settings or RunSettings()
    if noise_runs < 1:
        raise UsageError(f"noise_runs must be 1 or more, not {noise_runs}")
    rules = load_rules(settings, cassettes=paths)
    baseline_replayer = settings.replayer(baseline, rules.config, rules.namer)
    baseline_replayer.before_unfilled = warn_before_sending_placeholders(settings)
    candidate_replayer = settings.replayer(candidate, rules.config, rules.namer)
    warnings: list[str] = []
    exchanges, names, skipped = selected_exchanges(paths, rules, settings, warnings)
    run_before(settings.before)
    total = len(exchanges) * (noise_runs + 1)
    with settings.progress_of(total, "baseline and candidate") as advance:
        baseline_runs = [baseline_replayer.replay(exchanges, advance) for _ in range(noise_runs)]
        candidate_results = candidate_replayer.replay(exchanges, advance)

    counter = NoiseCounter()
    comparer = Comparer(rules.config)
    for earlier, later in itertools.pairwise(baseline_runs):
        _count_between(counter, comparer, earlier, later, baseline_replayer.target)
    noise = counter.model(f"baseline, {noise_runs} run(s)")
    if rules.noise is not None:
        noise = noise.merged(rules.noise)

    # Each exchange's expected answer is the baseline's first; where the baseline did not
    # answer, the exchange is an error: there is nothing to compare the candidate with.
    paired = []
    for result, base in zip(candidate_results, baseline_runs[0], strict=True):
        if base.response is None:
            paired.append(
                replace(result, response=None, duration_ms=None, error=f"baseline: {base.error}")
            )
            continue
        expected = replace(result.exchange, response=base.response, duration_ms=base.duration_ms)
        paired.append(replace(result, exchange=expected))
    options = replace(_judge_options(rules, settings), noise=noise if noise.endpoints else None)
    report = judge(
        paired,
        names,
        candidate_replayer.target,
        options,
        expected_from="baseline",
        expected_origin=baseline_replayer.target,
    )
    notes = learned_path_notes(rules)
    return _with_context(replace(report, skipped=tuple(skipped)), rules, settings, warnings, notes)


def diff(first: str, second: str, settings: RunSettings | None = None) -> RunReport:
    """Compare two cassettes exchange by exchange, as if `second` had answered `first`."""
    settings = settings or RunSettings()
    rules = load_rules(settings)
    before = load_cassette(first)
    after = load_cassette(second)
    if settings.path_parameters is None:  # both are in memory: learn from them, not the files
        learned = learn_path_parameters([*before.exchanges, *after.exchanges])
        rules = replace(rules, namer=EndpointNamer(rules.namer.templates, learned))
    warnings = [*before.warnings, *after.warnings]
    if not before.exchanges:
        raise UsageError(f"nothing to compare: {first} holds no exchanges")
    pairs, unmatched = pair_exchanges(before.exchanges, after.exchanges)
    results = []
    for exchange, match in pairs:
        if match is None:
            error = f"no exchange in {second} for {exchange.request.method} {exchange.request.url}"
            results.append(ReplayResult(exchange, exchange.request, None, None, error))
        else:
            results.append(ReplayResult(exchange, match.request, match.response, match.duration_ms))
    if unmatched:
        warnings.append(f"{len(unmatched)} exchange(s) of {second} match none of {first}")
    second_origin = origin(after.exchanges[0].request.url) if after.exchanges else first
    report = judge(results, [first] * len(results), second_origin, _judge_options(rules, settings))
    notes = learned_path_notes(rules)
    return _with_context(replace(report, run="diff"), rules, settings, warnings, notes)


@dataclass(frozen=True)
class LearnedNoise:
    """What `learn_noise` found: the model, the header its file carries, warnings, and the
    files it applied (apitape.yaml; the header lists them too)."""

    model: NoiseModel
    header: dict[str, Any]
    warnings: tuple[str, ...] = ()
    inputs: tuple[AppliedFile, ...] = ()


def learn_noise(
    paths: Sequence[str],
    target: str,
    settings: RunSettings | None = None,
    *,
    runs: int = 2,
    source: str = "learned",
) -> LearnedNoise:
    """Send the recorded requests `runs` times to the baseline `target`, and count per endpoint
    and field how often answers differ between runs and from the recording. Writes nothing:
    `apitape.verdict.noise.write_noise_file(path, learned.model, learned.header)` does."""
    settings = settings or RunSettings()
    if runs < 2:
        raise UsageError(f"runs must be 2 or more to see what changes between runs, not {runs}")
    rules = load_rules(settings, noise=False, cassettes=paths)
    replayer = settings.replayer(target, rules.config, rules.namer)
    warnings: list[str] = []
    exchanges, _, _ = selected_exchanges(paths, rules, settings, warnings)
    with settings.progress_of(len(exchanges) * runs, "learning") as advance:
        all_runs = [replayer.replay(exchanges, advance) for _ in range(runs)]
    failed = sum(1 for run in all_runs for r in run if r.response is None)
    if failed == sum(len(run) for run in all_runs):
        raise UsageError(
            f"the baseline {replayer.target} answered none of the requests: {all_runs[0][0].error}"
        )
    if failed:
        warnings.append(f"{failed} request(s) got no answer and were left out")

    counter = NoiseCounter()
    comparer = Comparer(rules.config)
    for run in all_runs:
        for result in run:
            if result.response is None:
                continue
            exchange = result.exchange
            endpoint = result.endpoint
            origins = (origin(exchange.request.url), replayer.target)
            found = comparer.compare(
                exchange.id, endpoint, exchange.response, result.response, origins
            )
            counter.add(endpoint, found, from_recording=True)
    for earlier, later in itertools.pairwise(all_runs):
        _count_between(counter, comparer, earlier, later, replayer.target)
    header = {
        "learned_at": iso_utc(timespec="seconds"),
        "baseline": replayer.target,
        "runs": runs,
        "cassettes": list(paths),
        "inputs": [
            {"kind": f.kind, "path": f.path, "sha256": f.sha256, "implicit": f.implicit}
            for f in rules.applied
        ],
    }
    warnings += unfilled_warnings(unfilled_counts(all_runs[0]), settings)
    return LearnedNoise(counter.model(source), header, tuple(warnings), rules.applied)


def _judge_options(rules: Rules, settings: RunSettings) -> JudgeOptions:
    return JudgeOptions(
        rules.config, settings.latency, rules.noise, settings.fail_on, rules.contract, rules.namer
    )


def _with_context(
    report: RunReport,
    rules: Rules,
    settings: RunSettings,
    warnings: Iterable[str],
    notes: Iterable[str],
    *,
    input_error: str | None = None,
) -> RunReport:
    """The judged report with what the run knows around it: the files it applied, what
    reading the cassettes warned about, secrets that went out unfilled, notes."""
    warnings = [*warnings, *unfilled_warnings(report.unfilled_secrets, settings)]
    return replace(
        report,
        inputs=rules.applied,
        warnings=(*report.warnings, *warnings),
        notes=(*report.notes, *notes),
        input_error=input_error,
        tls_verified=not settings.insecure,
    )


def names_endpoints(config: Config) -> bool:
    """Whether apitape.yaml has rules for endpoints by name, applied while judging."""
    return bool(config.endpoint_rules or config.extract or config.skipped_endpoints)


def learned_path_notes(
    rules: Rules, learned: PathParameters | None = None, most: int = 10
) -> list[str]:
    """Where the endpoint names came from the traffic rather than the paths' shapes: what
    `learned` says, else what the rules' namer learned before the run."""
    learned = learned or rules.namer.learned
    positions = learned.learned if learned is not None else ()
    notes = [*rules.notes]
    notes += [
        f"endpoint name {position.template} learned from the traffic: {position.reason}"
        for position in positions[:most]
    ]
    if len(positions) > most:
        notes.append(f"... and {len(positions) - most} more endpoint parameter(s) learned")
    return notes


def warn_before_sending_placeholders(
    settings: RunSettings,
) -> Callable[[tuple[str, ...]], None] | None:
    """A callback that tells a person watching, once and before the first such request goes
    out, which redacted placeholders will be sent unfilled (the report counts them)."""
    notify = settings.notify
    if notify is None:
        return None
    told: set[str] = set()

    def warn(labels: tuple[str, ...]) -> None:
        missing, _ = _unfilled_kinds(dict.fromkeys(labels, 1), settings)
        new = [label for label in missing if label not in told]
        if new:
            told.update(new)
            notify(
                f"warning: about to send redacted placeholders nothing fills in: "
                f"{', '.join(new)}. {HOW_TO_FILL}"
            )

    return warn


HOW_TO_FILL = (
    f"Give each secret by its label (secrets: LABEL=VALUE, with the recording's key file or "
    f"${KEY_ENV} to match recorded values exactly), a header, or a login step"
)


def _unfilled_kinds(
    labels: Mapping[str, int], settings: RunSettings
) -> tuple[dict[str, int], dict[str, int]]:
    """The labels no secret was given for, and those one was (a different value recorded)."""
    named = {given_label(name) for name, _ in settings.secrets}
    missing = {label: n for label, n in sorted(labels.items()) if label not in named}
    other = {label: n for label, n in sorted(labels.items()) if label in named}
    return missing, other


def unfilled_counts(results: Iterable[ReplayResult]) -> Counter[str]:
    """How many requests went out with each label's placeholder unfilled."""
    labels: Counter[str] = Counter()
    for result in results:
        labels.update(result.unfilled_secrets)
    return labels


def unfilled_warnings(labels: Mapping[str, int], settings: RunSettings) -> list[str]:
    """Which redacted values went out as placeholders (label -> requests), and how to fill
    them; a label a secret was given for means a different value was recorded there."""
    missing, other = _unfilled_kinds(labels, settings)
    warnings = []
    if missing:
        listed = ", ".join(f"{label} ({count}x)" for label, count in missing.items())
        warnings.append(
            f"requests went out with redacted placeholders nothing filled in: {listed}. "
            + HOW_TO_FILL
        )
    if other:
        listed = ", ".join(f"{label} ({count}x)" for label, count in other.items())
        warnings.append(
            f"placeholders not made from any secret given were sent as recorded: {listed} "
            "(a different value was recorded there, e.g. a wrong password)"
        )
    return warnings


@contextlib.contextmanager
def _response_saver(
    path: str | None, notes: list[str]
) -> Iterator[Callable[[int, ReplayResult], None]]:
    """A callback that appends what the target answered to a cassette at `path` (requests as
    sent, in the order the answers came), or does nothing without a path."""
    if path is None:
        yield lambda place, result: None
        return
    with saved_responses(path, notes) as saved:

        def save(place: int, result: ReplayResult) -> None:
            saved.add(answered_exchange(result) if result.response is not None else None)

        yield save


@dataclass
class SavedResponses:
    """The cassette of what the target answered, appended to as answers come
    (`saved_responses`)."""

    writer: CassetteWriter
    saved: int = 0
    unanswered: int = 0  # results without an answer, left out

    def add(self, exchange: Exchange | None) -> None:
        """Append an answered exchange (`answered_exchange`); None counts one without."""
        if exchange is None:
            self.unanswered += 1
            return
        self.writer.append(exchange)
        self.saved += 1


@contextlib.contextmanager
def saved_responses(path: str, notes: list[str]) -> Iterator[SavedResponses]:
    """A cassette at `path` for what the target answered, opened (and locked) at once; once
    closed, a note in `notes` says how many were saved."""
    writer = CassetteWriter(path, iso_utc())
    writer.open()
    saved = SavedResponses(writer)
    try:
        yield saved
    finally:
        writer.close()
    left_out = saved.unanswered
    note = f"; {left_out} without an answer left out" if left_out else ""
    notes.append(f"{saved.saved} replayed response(s) saved to {path}{note}")


def answered_exchange(result: ReplayResult) -> Exchange:
    """What the target answered, as an exchange to save: the request as sent."""
    assert result.response is not None
    return Exchange(
        result.exchange.id,
        result.request,
        result.response,
        recorded_at=iso_utc(),
        duration_ms=result.duration_ms,
        client=result.exchange.client,
        connection=result.exchange.connection,
    )


def _count_between(
    counter: NoiseCounter,
    comparer: Comparer,
    earlier: Sequence[ReplayResult],
    later: Sequence[ReplayResult],
    target: str,
) -> None:
    for first, second in zip(earlier, later, strict=True):
        if first.response is None or second.response is None:
            continue
        exchange = first.exchange
        endpoint = first.endpoint
        found = comparer.compare(
            exchange.id, endpoint, first.response, second.response, (target, target)
        )
        counter.add(endpoint, found, from_recording=False)
