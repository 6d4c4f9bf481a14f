"""Whole runs from files to verdict: replay, three-way comparison, and learning noise."""

from __future__ import annotations

import contextlib
import fnmatch
import itertools
import os
import re
import secrets
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

from apitape.cassette import CassetteWriter, iso_utc, iter_exchanges, load_cassette
from apitape.compare.comparer import Comparer
from apitape.compare.pairing import pair_exchanges
from apitape.config import DEFAULT_NOISE_FILE, Config, load_config
from apitape.errors import ApitapeError, CassetteError, UsageError
from apitape.http.endpoints import endpoint_name, origin
from apitape.models import Exchange, Outcome, Response, RunReport, SkippedExchange, omitted_body
from apitape.redaction.keys import KEY_ENV
from apitape.redaction.redact import Redactor, SecretFiller, label_of
from apitape.replay.replayer import (
    Replayer,
    ReplayResult,
    TransportFactory,
    build_request,
    validate_target,
)
from apitape.report.html import write_html_report
from apitape.report.json_report import write_json_report
from apitape.report.junit import write_junit
from apitape.report.markdown import write_markdown_report
from apitape.report.terminal import TerminalReport
from apitape.runs.progress import progress_bar
from apitape.verdict.judge import Judge, JudgeOptions, exit_status, judge
from apitape.verdict.latency import LatencyPolicy
from apitape.verdict.noise import NoiseCounter, NoiseModel, load_noise_file, write_noise_file

if TYPE_CHECKING:  # openapi-core is loaded only when --openapi is given
    from apitape.contract.checker import ContractChecker


@dataclass(frozen=True)
class RunSettings:
    """What every kind of run shares: limits, rules, outputs and the streams to write to."""

    concurrency: int = 1
    timeout: float = 30.0
    http2: bool = False  # httpx's own transport with HTTP/2 instead of the HTTP/1.1 default
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    config_path: str | None = None
    noise_path: str | None = None
    report_json: str | None = None
    report_md: str | None = None
    report_html: str | None = None
    junit: str | None = None
    junit_per_exchange: bool = False
    fail_on: str = "changed"
    show_noise: bool = False
    retries: int = 2
    session_by: str | None = None  # None: apitape.yaml's, else "client"
    correlate: bool | None = None  # None: apitape.yaml's, else on
    headers: tuple[str, ...] = ()  # "Name: value", $VARS expanded
    secrets: tuple[str, ...] = ()  # "LABEL=value", $VARS expanded: fill placeholders
    redact_key_file: str | None = None  # the recording's key: secrets fill exact placeholders
    methods: tuple[str, ...] = ()
    skip_methods: tuple[str, ...] = ()
    dry_run: bool = False
    before: str | None = None
    rate: float | None = None
    speed: float = 0.0
    save_responses: str | None = None
    quiet: bool = False  # no progress bar
    verbose: bool = False  # a line per exchange in the terminal report
    stdout: TextIO | None = None
    stderr: TextIO | None = None
    transport_factory: TransportFactory | None = None
    openapi: str | None = None  # check each answer against this OpenAPI document

    def replayer(self, target: str, config: Config | None = None) -> Replayer:
        """A replayer for `target` with these limits and apitape.yaml's session rules."""
        config = config or Config()
        check_not_protected(target, config)
        templates = config.templates
        return Replayer(
            target,
            concurrency=self.concurrency,
            timeout=self.timeout,
            retries=self.retries,
            session_by=self.session_by or config.session_by or "client",
            correlate=config.correlation if self.correlate is None else self.correlate,
            extract=config.extract,
            extra_headers=expand_headers(self.headers),
            endpoint_of=lambda e: endpoint_name(e.request.method, e.request.url, templates),
            login=config.login,
            rate=self.rate,
            speed=self.speed,
            secrets=SecretFiller(expand_secrets(self.secrets), self.recording_key()),
            redactor=Redactor(secrets.token_bytes(32), config.redaction),
            transport_factory=self.transport_factory,
            http2=self.http2,
        )

    def recording_key(self) -> bytes | None:
        """The redaction key the cassettes were recorded with, when the user gave it."""
        if self.redact_key_file:
            try:
                key = Path(self.redact_key_file).read_text(encoding="utf-8").strip().encode()
            except OSError as exc:
                raise UsageError(
                    f"--redact-key-file {self.redact_key_file}: cannot be read ({exc.strerror}); "
                    "give the key file the cassettes were recorded with"
                ) from None
            return key or None
        return os.environ.get(KEY_ENV, "").encode() or None


def expand_env(value: str, option: str) -> str:
    """`value` with $VARS from the environment; UsageError naming `option` for a missing one."""
    for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", value):
        if name not in os.environ:
            raise UsageError(
                f"{option}: ${name} is not set in the environment; "
                "export it or write the value itself"
            )
    return os.path.expandvars(value)


def expand_headers(specs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`--header 'Authorization: Bearer $TOKEN'` values, with environment variables expanded."""
    headers = []
    for spec in specs:
        name, colon, value = spec.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise UsageError(f"--header {spec!r} must look like 'Name: value'")
        headers.append((name.strip(), expand_env(value.strip(), f"--header {name.strip()}")))
    return tuple(headers)


def expand_secrets(specs: Sequence[str]) -> list[tuple[str, str]]:
    """`--secret 'password=$PASSWORD'` values as (label, value), $VARS expanded."""
    pairs = []
    for spec in specs:
        name, equals, value = spec.partition("=")
        if not equals or not name.strip():
            # Not echoed: without '=' the text may be the secret itself.
            raise UsageError("a --secret must look like LABEL=VALUE, e.g. password=$PASSWORD")
        pairs.append((name.strip(), expand_env(value, f"--secret {name.strip()}")))
    return pairs


def unfilled_counts(results: Iterable[ReplayResult]) -> Counter[str]:
    """How many requests went out with each label's placeholder unfilled."""
    labels: Counter[str] = Counter()
    for result in results:
        labels.update(result.unfilled_secrets)
    return labels


def warn_unfilled(labels: Mapping[str, int], given: Sequence[str], stderr: TextIO) -> None:
    """Say which redacted values went out as placeholders (label -> requests), and how to
    fill them."""
    named = {label_of(spec.partition("=")[0]) for spec in given}
    missing = {label: n for label, n in labels.items() if label not in named}
    other = {label: n for label, n in labels.items() if label in named}
    if missing:
        listed = ", ".join(f"{label} ({count}x)" for label, count in missing.items())
        print(
            f"apitape: warning: requests went out with redacted placeholders nothing filled in: "
            f"{listed}. Give --secret LABEL=VALUE (with --redact-key-file or "
            f"${KEY_ENV} to match recorded values exactly), --header, or a login step",
            file=stderr,
        )
    if other:
        listed = ", ".join(f"{label} ({count}x)" for label, count in other.items())
        print(
            f"apitape: note: placeholders not made from any --secret value were sent as "
            f"recorded: {listed} (a different value was recorded there, e.g. a wrong password)",
            file=stderr,
        )


def check_not_protected(target: str, config: Config) -> None:
    """Refuse a target whose host apitape.yaml's `protected_hosts` lists (globs allowed)."""
    host = (urlsplit(target).hostname or "").lower()
    for pattern in config.protected_hosts:
        if fnmatch.fnmatch(host, pattern):
            raise UsageError(
                f"{target} is a protected host ({pattern!r} in protected_hosts of "
                f"{config.source}); apitape never replays to it"
            )


def select_exchanges(
    exchanges: Sequence[Exchange], names: Sequence[str], config: Config, settings: RunSettings
) -> tuple[list[Exchange], list[str], list[SkippedExchange]]:
    """The exchanges to send, and those the method filters or `skip` rules keep back."""
    selection = Selection(config, settings)
    kept: list[Exchange] = []
    kept_names: list[str] = []
    for exchange, name in zip(exchanges, names, strict=True):
        if selection.keeps(exchange, name):
            kept.append(exchange)
            kept_names.append(name)
    return kept, kept_names, selection.skipped


class Selection:
    """Which exchanges a run sends: the method filters and `skip` rules, one at a time."""

    def __init__(self, config: Config, settings: RunSettings) -> None:
        self.config = config
        self.methods = {m.upper() for m in settings.methods}
        self.skip_methods = {m.upper() for m in settings.skip_methods}
        self.skipped: list[SkippedExchange] = []

    def keeps(self, exchange: Exchange, cassette: str) -> bool:
        """Whether to send `exchange`; if not, it is listed in `skipped` with the reason."""
        config, methods = self.config, self.methods
        method = exchange.request.method
        endpoint = None
        if config.skipped_endpoints:
            endpoint = endpoint_name(method, exchange.request.url, config.templates)
        reason = (
            f"method {method} not in --methods" if methods and method not in methods
            else f"method {method} in --skip-methods" if method in self.skip_methods
            else f"skip: true for {endpoint} in {config.source}"
            if endpoint in config.skipped_endpoints
            else "its request body was too large to record (--max-body-size); it cannot be sent"
            if omitted_body(exchange.extra, "request") is not None
            else None
        )  # fmt: skip
        if reason is None:
            return True
        endpoint = endpoint or endpoint_name(method, exchange.request.url, config.templates)
        self.skipped.append(
            SkippedExchange(exchange.id, cassette, method, exchange.request.url, endpoint, reason)
        )
        return False


def run_before(command: str | None, stderr: TextIO) -> None:
    """Run the --before command (a database reset, say); fail the run clearly if it fails."""
    if not command:
        return
    print(f"apitape: running --before: {command}", file=stderr)
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ApitapeError(
            f"--before command exited with status {result.returncode}; nothing was replayed. "
            + ("Its last output: " + " | ".join(output) if output else "It printed nothing.")
        )


def print_dry_run(
    exchanges: Sequence[Exchange], target: str, settings: RunSettings, out: TextIO
) -> None:
    """What a replay would send, request by request; nothing is sent."""
    extra = expand_headers(settings.headers)
    for exchange in exchanges:
        request = build_request(exchange, validate_target(target))
        print(f"#{exchange.id} {request.method} {request.url}", file=out)
        names = {n.lower() for n, _ in extra}
        for name, value in (*(h for h in request.headers if h[0].lower() not in names), *extra):
            print(f"    {name}: {value}", file=out)
        if request.body:
            print(f"    ({len(request.body)} byte body)", file=out)
    print(f"apitape: dry run: {len(exchanges)} request(s) shown, none sent", file=out)


def load_exchanges(paths: Sequence[str], stderr: TextIO) -> tuple[list[Exchange], list[str]]:
    """Every exchange of the cassettes in order, and the cassette each came from."""
    exchanges: list[Exchange] = []
    names: list[str] = []
    for path in paths:
        cassette = load_cassette(path)
        for warning in cassette.warnings:
            print(f"apitape: warning: {warning}", file=stderr)
        exchanges.extend(cassette.exchanges)
        names.extend([path] * len(cassette.exchanges))
    if not exchanges:
        raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")
    return exchanges, names


def _config_and_noise(settings: RunSettings) -> tuple[Config, NoiseModel | None]:
    config = load_config(settings.config_path, required=settings.config_path is not None)
    noise_path = settings.noise_path or config.noise_file
    if noise_path is not None:
        return config, load_noise_file(noise_path)
    if Path(DEFAULT_NOISE_FILE).is_file():
        return config, load_noise_file(DEFAULT_NOISE_FILE)
    return config, None


def _contract(settings: RunSettings, config: Config) -> tuple[Config, ContractChecker | None]:
    """With --openapi: the document's path templates name the endpoints (before apitape.yaml's
    and the guessed ones), and a checker for the answers."""
    if settings.openapi is None:
        return config, None
    from apitape.contract.checker import ContractChecker
    from apitape.contract.openapi import load_openapi

    spec = load_openapi(settings.openapi)
    return replace(config, templates=spec.templates() + config.templates), ContractChecker(spec)


def _prepare(
    paths: Sequence[str], target: str, config: Config, settings: RunSettings
) -> tuple[list[Exchange], list[str], list[SkippedExchange]] | None:
    """Load and filter the exchanges; print them instead for a dry run (then None); run
    the --before hook."""
    stderr = settings.stderr or sys.stderr
    exchanges, names = load_exchanges(paths, stderr)
    exchanges, names, skipped = select_exchanges(exchanges, names, config, settings)
    if settings.dry_run:
        print_dry_run(exchanges, target, settings, settings.stdout or sys.stdout)
        return None
    run_before(settings.before, stderr)
    return exchanges, names, skipped


def replay_cassettes(paths: Sequence[str], target: str, settings: RunSettings | None = None) -> int:
    """Replay every exchange of the cassettes against `target`; return the exit status.

    Exchanges are read, sent, judged and saved one at a time: memory does not grow with the
    cassettes (a million exchanges replayed in 120 MB, benchmarks/results.md).
    """
    settings = settings or RunSettings()
    config, noise = _config_and_noise(settings)
    config, contract = _contract(settings, config)
    replayer = settings.replayer(target, config)
    if settings.dry_run:
        _prepare(paths, target, config, settings)
        return 0  # shown, not sent
    stderr = settings.stderr or sys.stderr
    cassettes = _Cassettes(paths)
    run_before(settings.before, stderr)
    options = JudgeOptions(config, settings.latency, noise, settings.fail_on, contract)
    judgement = Judge(replayer.target, options)
    selection = Selection(config, settings)
    places: dict[int, tuple[int, str]] = {}  # id of an exchange in flight -> place, cassette
    broken: list[CassetteError] = []

    def feed() -> Iterator[Exchange]:
        place = 0
        for name, exchanges in cassettes:
            try:
                for exchange in exchanges:
                    if selection.keeps(exchange, name):
                        places[id(exchange)] = (place, name)
                        place += 1
                        yield exchange
            except CassetteError as exc:
                broken.append(exc)  # replay what came before it, report, then fail
                return

    with (
        progress_bar(None, stderr, "replaying", settings.quiet) as advance,
        _response_saver(settings.save_responses, stderr) as save,
    ):

        def on_result(result: ReplayResult) -> None:
            place, name = places.pop(id(result.exchange))
            judgement.add(place, result, name)
            save(result)
            if advance is not None:
                advance(result)

        replayer.stream(feed(), on_result)
    for _, warnings in cassettes.warnings():
        for warning in warnings:
            print(f"apitape: warning: {warning}", file=stderr)
    if not judgement.judged:
        if broken:
            raise broken[0]
        if not selection.skipped:
            raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")
    report = judgement.finish(selection.skipped)
    status = _finish(report, settings, judgement.responses(), judgement.unfilled_secrets)
    if broken:
        print(
            f"apitape: the {judgement.judged} exchange(s) before the error below were replayed "
            "and reported",
            file=stderr,
        )
        raise broken[0]
    return status


class _Cassettes:
    """The cassettes of a run, each read lazily, opened (and checked) before anything is sent."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._readers: list[tuple[str, Iterator[Exchange], list[str]]] = []
        for path in paths:
            warnings: list[str] = []
            exchanges = iter_exchanges(path, warnings)
            # The first exchange now: a missing or unreadable file fails before any request.
            first = list(itertools.islice(exchanges, 1))
            self._readers.append((path, itertools.chain(first, exchanges), warnings))

    def __iter__(self) -> Iterator[tuple[str, Iterator[Exchange]]]:
        for path, exchanges, _ in self._readers:
            yield path, exchanges

    def warnings(self) -> list[tuple[str, list[str]]]:
        """What reading each cassette warned about (a torn last exchange dropped, ...)."""
        return [(path, warnings) for path, _, warnings in self._readers]


@contextlib.contextmanager
def _response_saver(path: str | None, stderr: TextIO) -> Iterator[Callable[[ReplayResult], None]]:
    """A callback that appends what the target answered to a cassette at `path` (requests as
    sent, in the order the answers came), or does nothing without a path."""
    if path is None:
        yield lambda result: None
        return
    writer = CassetteWriter(path, iso_utc())
    writer.open()
    counts = {"saved": 0, "unanswered": 0}

    def save(result: ReplayResult) -> None:
        if result.response is None:
            counts["unanswered"] += 1
            return
        writer.append(answered_exchange(result))
        counts["saved"] += 1

    try:
        yield save
    finally:
        writer.close()
    left_out = counts["unanswered"]
    note = f"; {left_out} without an answer left out" if left_out else ""
    print(f"apitape: {counts['saved']} replayed response(s) saved to {path}{note}", file=stderr)


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


def compare_live(
    paths: Sequence[str],
    baseline: str,
    candidate: str,
    noise_runs: int,
    settings: RunSettings | None = None,
) -> int:
    """Three-way mode: send each request to `baseline` (`noise_runs` times) and to `candidate`,
    and report what the candidate answers differently beyond the baseline's own noise."""
    settings = settings or RunSettings()
    if noise_runs < 1:
        raise UsageError(f"--noise-runs must be 1 or more, not {noise_runs}")
    config, learned = _config_and_noise(settings)
    config, contract = _contract(settings, config)
    baseline_replayer = settings.replayer(baseline, config)
    candidate_replayer = settings.replayer(candidate, config)
    prepared = _prepare(paths, candidate, config, settings)
    if prepared is None:
        return 0
    exchanges, names, skipped = prepared
    stderr = settings.stderr or sys.stderr
    total = len(exchanges) * (noise_runs + 1)
    with progress_bar(total, stderr, "baseline and candidate", settings.quiet) as advance:
        baseline_runs = [baseline_replayer.replay(exchanges, advance) for _ in range(noise_runs)]
        candidate_results = candidate_replayer.replay(exchanges, advance)

    counter = NoiseCounter()
    comparer = Comparer(config)
    for earlier, later in itertools.pairwise(baseline_runs):
        _count_between(counter, comparer, earlier, later, config, baseline_replayer.target)
    noise = counter.model(f"baseline, {noise_runs} run(s)")
    if learned is not None:
        noise = noise.merged(learned)

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
    options = JudgeOptions(
        config, settings.latency, noise if noise.endpoints else None, settings.fail_on, contract
    )
    report = judge(
        paired,
        names,
        candidate_replayer.target,
        options,
        expected_from="baseline",
        expected_origin=baseline_replayer.target,
    )
    return _finish_judged(replace(report, skipped=tuple(skipped)), settings, paired)


def diff_cassettes(first: str, second: str, settings: RunSettings | None = None) -> int:
    """Compare two cassettes exchange by exchange, as if `second` had answered `first`."""
    settings = settings or RunSettings()
    stderr = settings.stderr or sys.stderr
    config, noise = _config_and_noise(settings)
    config, contract = _contract(settings, config)
    before = load_cassette(first)
    after = load_cassette(second)
    for warning in (*before.warnings, *after.warnings):
        print(f"apitape: warning: {warning}", file=stderr)
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
        print(
            f"apitape: {len(unmatched)} exchange(s) of {second} match none of {first}", file=stderr
        )
    second_origin = origin(after.exchanges[0].request.url) if after.exchanges else first
    options = JudgeOptions(config, settings.latency, noise, settings.fail_on, contract)
    report = judge(results, [first] * len(results), second_origin, options)
    return _finish_judged(report, settings, results)


def learn_noise(
    paths: Sequence[str], target: str, runs: int, output: str, settings: RunSettings | None = None
) -> NoiseModel:
    """Send the recorded requests `runs` times to the baseline `target`, count per endpoint and
    field how often answers differ between runs and from the recording, and write the noise file."""
    settings = settings or RunSettings()
    stderr = settings.stderr or sys.stderr
    if runs < 2:
        raise UsageError(f"--runs must be 2 or more to see what changes between runs, not {runs}")
    config = load_config(settings.config_path, required=settings.config_path is not None)
    replayer = settings.replayer(target, config)
    exchanges, names = load_exchanges(paths, stderr)
    exchanges, names, _ = select_exchanges(exchanges, names, config, settings)
    with progress_bar(len(exchanges) * runs, stderr, "learning", settings.quiet) as advance:
        all_runs = [replayer.replay(exchanges, advance) for _ in range(runs)]
    failed = sum(1 for run in all_runs for r in run if r.response is None)
    if failed == sum(len(run) for run in all_runs):
        raise UsageError(
            f"the baseline {replayer.target} answered none of the requests: {all_runs[0][0].error}"
        )
    if failed:
        print(f"apitape: warning: {failed} request(s) got no answer and were left out", file=stderr)

    counter = NoiseCounter()
    comparer = Comparer(config)
    for run in all_runs:
        for result in run:
            if result.response is None:
                continue
            exchange = result.exchange
            endpoint = endpoint_name(
                exchange.request.method, exchange.request.url, config.templates
            )
            origins = (origin(exchange.request.url), replayer.target)
            found = comparer.compare(
                exchange.id, endpoint, exchange.response, result.response, origins
            )
            counter.add(endpoint, found, from_recording=True)
    for earlier, later in itertools.pairwise(all_runs):
        _count_between(counter, comparer, earlier, later, config, replayer.target)
    model = counter.model(output)
    header = {
        "learned_at": iso_utc(timespec="seconds"),
        "baseline": replayer.target,
        "runs": runs,
        "cassettes": list(paths),
    }
    write_noise_file(output, model, header)
    return model


def _count_between(
    counter: NoiseCounter,
    comparer: Comparer,
    earlier: Sequence[ReplayResult],
    later: Sequence[ReplayResult],
    config: Config,
    target: str,
) -> None:
    for first, second in zip(earlier, later, strict=True):
        if first.response is None or second.response is None:
            continue
        exchange = first.exchange
        endpoint = endpoint_name(exchange.request.method, exchange.request.url, config.templates)
        found = comparer.compare(
            exchange.id, endpoint, first.response, second.response, (target, target)
        )
        counter.add(endpoint, found, from_recording=False)


def _finish(
    report: RunReport,
    settings: RunSettings,
    responses: Mapping[str, tuple[Exchange, Response | None]],
    unfilled: Mapping[str, int],
) -> int:
    stderr = settings.stderr or sys.stderr
    TerminalReport(settings.stdout).render(
        report, show_noise=settings.show_noise, verbose=settings.verbose
    )
    if settings.report_json:
        write_json_report(report, settings.report_json)
        print(f"apitape: JSON report written to {settings.report_json}", file=stderr)
    if settings.junit:
        write_junit(report, settings.junit, settings.junit_per_exchange)
        print(f"apitape: JUnit XML written to {settings.junit}", file=stderr)
    if settings.report_html:
        write_html_report(report, responses, settings.report_html)
        print(f"apitape: HTML report written to {settings.report_html}", file=stderr)
    if settings.report_md:
        write_markdown_report(report, settings.report_md)
        print(f"apitape: Markdown summary written to {settings.report_md}", file=stderr)
    _explain_unreachable(report, stderr)
    warn_unfilled(unfilled, settings.secrets, stderr)
    return exit_status(report)


def _finish_judged(
    report: RunReport, settings: RunSettings, results: Sequence[ReplayResult]
) -> int:
    """_finish for runs that hold their results in memory (diff, three-way)."""
    responses = {r.exchange.id: (r.exchange, r.response) for r in reversed(results)}
    return _finish(report, settings, responses, unfilled_counts(results))


def _explain_unreachable(report: RunReport, stderr: TextIO) -> None:
    """When nothing got through, say so plainly: the likely cause is the target, not the traffic."""
    errors = [i for i in report.interactions if i.outcome is Outcome.ERROR]
    if errors and len(errors) == len(report.interactions):
        print(
            f"apitape: error: could not replay any of the {len(errors)} exchange(s) against "
            f"{report.target}: {errors[0].error}. Check that the target is running and that "
            "--target is right.",
            file=stderr,
        )
