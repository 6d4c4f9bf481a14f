"""A replay's plan: what it would send and under which endpoint names, read and sent nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from apitape.errors import CassetteError, UsageError
from apitape.http.path_parameters import PathParameterLearner, PathParameters
from apitape.models import AppliedFile, SkippedExchange
from apitape.replay.replayer import validate_target
from apitape.runs.inputs import Cassettes, Selection, load_rules
from apitape.runs.settings import RunSettings, check_not_protected
from apitape.runs.workflows import names_endpoints


@dataclass(frozen=True)
class PlannedExchange:
    """An exchange the replay would send, as recorded (the URL is the recorded one)."""

    cassette: str
    id: str
    method: str
    url: str
    endpoint: str


@dataclass(frozen=True)
class ReplayPlan:
    """What `replay` would do with the cassettes, named before anything is sent.

    Hand `settings` to `replay` and it names every endpoint as `exchanges` and `endpoints`
    do: they carry the path parameters learned here. `broken` is where a cassette broke off
    part-way; nothing after it is read, as the replay reads nothing after it.
    """

    settings: RunSettings
    exchanges: tuple[PlannedExchange, ...]  # in the order the replay sends them
    endpoints: tuple[str, ...]  # of `exchanges`, each once, in the order first seen
    skipped: tuple[SkippedExchange, ...]  # kept back by method filters, `skip:` or size
    broken: CassetteError | None
    inputs: tuple[AppliedFile, ...]  # the files whose rules the replay applies
    warnings: tuple[str, ...]  # what reading the cassettes warned about


def plan(
    paths: Sequence[str], target: str | None = None, settings: RunSettings | None = None
) -> ReplayPlan:
    """Read the cassettes as `workflows.replay` reads them and send nothing: the same rules
    (apitape.yaml, noise file, OpenAPI document), endpoint namer, `skip:` rules and reader,
    so the plan's endpoints are the ones the replay reports.

    Raises what the replay raises before it sends anything, in the same order: a bad rule
    file, a protected or malformed `target` (when given), a cassette that cannot be opened
    or breaks before any exchange to send, cassettes that hold no exchange at all.
    """
    settings = settings or RunSettings()
    # As `judged_replay`: path parameters are learned before the run when apitape.yaml names
    # endpoints in rules (which must match while reading), else from every exchange read.
    rules = load_rules(settings)
    learner = None
    if settings.path_parameters is None:
        if names_endpoints(rules.config):
            rules = load_rules(settings, cassettes=paths)
            fixed = rules.namer.learned or PathParameters()
            rules = replace(rules, namer=replace(rules.namer, learned=fixed))
        else:
            learner = PathParameterLearner()
    if target is not None:
        check_not_protected(target, rules.config)
        validate_target(target)
    cassettes = Cassettes(paths)  # opens every one first, as the run does
    selection = Selection(rules, settings)
    kept: list[tuple[str, str, str, str]] = []
    read = 0
    broken = None
    try:
        for cassette, exchanges in cassettes:
            for exchange in exchanges:
                read += 1
                if learner is not None:
                    learner.observe(exchange)
                if selection.keeps(exchange, cassette):
                    request = exchange.request
                    kept.append((cassette, exchange.id, request.method, request.url))
    except CassetteError as error:
        if not kept:
            raise  # the replay, too, stops having sent nothing
        broken = error
    if not read:
        raise UsageError(f"nothing to replay: {', '.join(paths)} hold(s) no exchanges")
    namer, skipped = rules.namer, selection.skipped
    if learner is not None:
        namer = replace(namer, learned=learner.result())
        skipped = [replace(s, endpoint=namer(s.method, s.url)) for s in skipped]
    planned = tuple(PlannedExchange(c, i, m, u, namer(m, u)) for c, i, m, u in kept)
    return ReplayPlan(
        # The parameters fixed: the run names every endpoint with `namer`, from its first
        # exchange, rather than guessing and renaming at the finish.
        replace(settings, path_parameters=namer.learned),
        planned,
        tuple(dict.fromkeys(p.endpoint for p in planned)),
        tuple(skipped),
        broken,
        rules.applied,
        tuple(cassettes.warnings()),
    )
