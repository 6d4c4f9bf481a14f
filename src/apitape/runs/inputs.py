"""A run's inputs: its cassettes, the exchanges it sends, and the files whose rules it applies."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from apitape.cassette import iter_exchanges, load_cassette
from apitape.config import DEFAULT_CONFIG, DEFAULT_NOISE_FILE, Config, load_config
from apitape.errors import ApitapeError, UsageError
from apitape.http.endpoints import EndpointNamer
from apitape.http.path_parameters import PathParameterLearner, PathParameters
from apitape.models import AppliedFile, Exchange, Request, SkippedExchange, omitted_body
from apitape.replay.replayer import build_request, validate_target
from apitape.runs.settings import RunSettings
from apitape.verdict.noise import NoiseModel, load_noise_file

if TYPE_CHECKING:  # openapi-core is loaded only when an OpenAPI document is given
    from apitape.contract.checker import ContractChecker


@dataclass(frozen=True)
class Rules:
    """Everything a run applies besides its settings: apitape.yaml, the noise file, the
    OpenAPI document, the one endpoint namer they make, and which files they came from."""

    config: Config
    noise: NoiseModel | None
    contract: ContractChecker | None
    namer: EndpointNamer
    applied: tuple[AppliedFile, ...]
    notes: tuple[str, ...] = ()  # what the report should say about how the rules were made


def load_rules(
    settings: RunSettings, *, noise: bool = True, cassettes: Sequence[str] = ()
) -> Rules:
    """apitape.yaml (named, or ./apitape.yaml), the noise file (named, apitape.yaml's, or
    ./apitape-noise.yaml) and the OpenAPI document; files found implicitly are marked so.
    Each file is announced through `settings.notify` as it is taken up, before it is read.
    Endpoint names also use the path parameters learned from `cassettes` (one pass over them
    before the run, so every exchange is named the same way from the first)."""
    announce = settings.notify or (lambda line: None)
    found = config_file(settings.config_path)
    if found is not None:
        announce(describe_input("config", *found))
    config = load_config(settings.config_path, required=settings.config_path is not None)
    applied = []
    if config.source is not None and Path(config.source).is_file():
        applied.append(_applied("config", config.source, settings.config_path is None))
    model = None
    if noise:
        noise_path = settings.noise_path or config.noise_file
        implicit = noise_path is None and Path(DEFAULT_NOISE_FILE).is_file()
        if implicit:
            noise_path = DEFAULT_NOISE_FILE
        if noise_path is not None:
            announce(describe_input("noise", noise_path, implicit))
            model = load_noise_file(noise_path)
            applied.append(_applied("noise", noise_path, implicit))
    templates = config.templates
    contract = None
    if settings.openapi is not None:
        from apitape.contract.checker import ContractChecker
        from apitape.contract.openapi import load_openapi

        announce(describe_input("openapi", settings.openapi, False))
        spec = load_openapi(settings.openapi)
        templates = spec.templates() + templates  # the document's paths name endpoints first
        contract = ContractChecker(spec)
        applied.append(_applied("openapi", settings.openapi, False))
    learned, notes = settings.path_parameters, []
    if learned is None and cassettes:
        learned = learn_path_parameters(cassettes)
        if learned is None:
            notes.append(NOT_LEARNED)
    namer = EndpointNamer(tuple(templates), learned)
    return Rules(config, model, contract, namer, tuple(applied), tuple(notes))


LEARN_LIMIT = 64 * 1024 * 1024
"""Cassette bytes up to which endpoint parameters are learned before a run. The pass reads
the cassettes once more: about 20 us an exchange in JSON lines and 80 us in YAML
(docs/configuration.md), a second or two at this size, but minutes on a capture of
millions, where `templates:` names endpoints at no cost."""

NOT_LEARNED = (
    f"endpoint names were not learned from the traffic: the cassettes hold over "
    f"{LEARN_LIMIT // 2**20} MB (a second pass would cost minutes); short random ids in paths "
    "stay in the names unless apitape.yaml's templates: name them"
)


def learn_path_parameters(
    paths: Sequence[str], limit: int | None = LEARN_LIMIT
) -> PathParameters | None:
    """The path parameters the cassettes' traffic shows (`apitape.http.path_parameters`),
    reading each once, as it streams; None when they hold more than `limit` bytes. A
    cassette that cannot be read teaches what came before the fault (the run itself reads
    it again and reports where it breaks)."""
    if limit is not None and sum(_size(path) for path in paths) > limit:
        return None
    learner = PathParameterLearner()
    for path in paths:
        try:
            for exchange in iter_exchanges(path):
                learner.observe(exchange)
        except ApitapeError:
            continue
    return learner.result()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0  # missing: the run says so when it opens it


def _applied(kind: str, path: str, implicit: bool) -> AppliedFile:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return AppliedFile(kind, path, digest, implicit)


def config_file(path: str | None) -> tuple[str, bool] | None:
    """The apitape.yaml a command applies, and whether it was found rather than named: `path`
    when given, else ./apitape.yaml when it exists, else None."""
    if path is not None:
        return path, False
    return (DEFAULT_CONFIG, True) if Path(DEFAULT_CONFIG).is_file() else None


def describe_input(kind: str, path: str, implicit: bool) -> str:
    """`applying rules from apitape.yaml (apitape.yaml found in the working directory)`: the
    one line every command says on stderr about a file it applies (`kind` as AppliedFile's)."""
    what = {"config": "rules", "noise": "learned noise", "openapi": "OpenAPI document"}
    where = ""
    if implicit:
        default = DEFAULT_CONFIG if kind == "config" else DEFAULT_NOISE_FILE
        where = f" ({default} found in the working directory)"
    return f"applying {what[kind]} from {path}{where}"


def describe_applied(applied: AppliedFile) -> str:
    """`describe_input` of a file a run applied (`RunReport.inputs`)."""
    return describe_input(applied.kind, applied.path, applied.implicit)


class Selection:
    """Which exchanges a run sends: the method filters and `skip` rules, one at a time."""

    def __init__(self, rules: Rules, settings: RunSettings) -> None:
        self.config = rules.config
        self.namer = rules.namer
        self.methods = {m.upper() for m in settings.methods}
        self.skip_methods = {m.upper() for m in settings.skip_methods}
        self.skipped: list[SkippedExchange] = []

    def keeps(self, exchange: Exchange, cassette: str) -> bool:
        """Whether to send `exchange`; if not, it is listed in `skipped` with the reason."""
        config, methods = self.config, self.methods
        method = exchange.request.method
        endpoint = None
        if config.skipped_endpoints:
            endpoint = self.namer(method, exchange.request.url)
        reason = (
            f"method {method} is not among the methods chosen" if methods and method not in methods
            else f"method {method} is among the methods skipped" if method in self.skip_methods
            else f"skip: true for {endpoint} in {config.source}"
            if endpoint in config.skipped_endpoints
            else "its request body was too large to record; it cannot be sent"
            if omitted_body(exchange.extra, "request") is not None
            else None
        )  # fmt: skip
        if reason is None:
            return True
        endpoint = endpoint or self.namer(method, exchange.request.url)
        self.skipped.append(
            SkippedExchange(exchange.id, cassette, method, exchange.request.url, endpoint, reason)
        )
        return False


def load_exchanges(
    paths: Sequence[str], warnings: list[str] | None = None
) -> tuple[list[Exchange], list[str]]:
    """Every exchange of the cassettes in order, and the cassette each came from; what
    reading them warned about is appended to `warnings`."""
    exchanges: list[Exchange] = []
    names: list[str] = []
    for path in paths:
        cassette = load_cassette(path)
        if warnings is not None:
            warnings.extend(cassette.warnings)
        exchanges.extend(cassette.exchanges)
        names.extend([path] * len(cassette.exchanges))
    if not exchanges:
        raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")
    return exchanges, names


def selected_exchanges(
    paths: Sequence[str], rules: Rules, settings: RunSettings, warnings: list[str]
) -> tuple[list[Exchange], list[str], list[SkippedExchange]]:
    """The exchanges to send (and their cassettes), and those the method filters or `skip`
    rules keep back."""
    exchanges, names = load_exchanges(paths, warnings)
    selection = Selection(rules, settings)
    kept = [(e, n) for e, n in zip(exchanges, names, strict=True) if selection.keeps(e, n)]
    return [e for e, _ in kept], [n for _, n in kept], selection.skipped


@dataclass(frozen=True)
class PlannedRequest:
    """A request a replay would send, as it would go out (before carried values)."""

    exchange_id: str
    request: Request


def planned_requests(
    paths: Sequence[str], target: str, settings: RunSettings
) -> tuple[list[PlannedRequest], list[SkippedExchange], list[str]]:
    """What a replay would send, request by request, and what it would skip; nothing is sent.
    Endpoints are named with the path parameters the cassettes teach, as the replay names
    them, so `skip:` rules keep back the same exchanges."""
    rules = load_rules(settings, noise=False, cassettes=paths)
    warnings: list[str] = []
    exchanges, _, skipped = selected_exchanges(paths, rules, settings, warnings)
    base = validate_target(target)
    planned = []
    for exchange in exchanges:
        request = build_request(exchange, base)
        names = {n.lower() for n, _ in settings.headers}
        headers = (*(h for h in request.headers if h[0].lower() not in names), *settings.headers)
        planned.append(
            PlannedRequest(exchange.id, Request(request.method, request.url, headers, request.body))
        )
    return planned, skipped, warnings


class Cassettes:
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

    def warnings(self) -> list[str]:
        """What reading the cassettes warned about (a torn last exchange dropped, ...)."""
        return [warning for _, _, warnings in self._readers for warning in warnings]


def run_before(command: str | None) -> None:
    """Run the `before` command (a database reset, say); fail the run clearly if it fails."""
    if not command:
        return
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ApitapeError(
            f"the command run before replaying ({command!r}) exited with status "
            f"{result.returncode}; nothing was replayed. "
            + ("Its last output: " + " | ".join(output) if output else "It printed nothing.")
        )
