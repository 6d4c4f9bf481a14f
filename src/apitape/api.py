"""The Python API: whole runs as functions that return data and print nothing.

`apitape/__init__.py` re-exports these; the CLI, the pytest plugin and the demo call them.
Cassette arguments take one path or several; options not named here go in `settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from apitape.errors import UsageError
from apitape.models import RunReport
from apitape.runs import plan as planning
from apitape.runs import workflows
from apitape.runs.plan import ReplayPlan
from apitape.runs.recording import recording
from apitape.runs.settings import RunSettings

if TYPE_CHECKING:
    from apitape.contract.checker import ContractReport
    from apitape.interop.importing import ImportSummary
    from apitape.replay.replayer import Transport
    from apitape.verdict.noise import NoiseModel

PathArg = str | os.PathLike[str]
Cassettes = PathArg | Sequence[PathArg]

__all__ = [
    "check_contract",
    "compare_live",
    "diff",
    "export_har",
    "import_traffic",
    "learn_noise",
    "plan",
    "recording",
    "replay",
]


def replay(
    cassettes: Cassettes,
    target: str,
    *,
    config: PathArg | None = None,
    noise: PathArg | None = None,
    openapi: PathArg | None = None,
    headers: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    fail_on: str | None = None,
    transport: Transport | None = None,
    settings: RunSettings | None = None,
) -> RunReport:
    """Replay the cassettes' requests against `target`; the report of every difference.

    `config` and `noise` default to ./apitape.yaml and ./apitape-noise.yaml when they exist
    (`report.inputs` says which were applied). `secrets` fill redacted placeholders by label
    (`{"password": "..."}`); `headers` go with every request. `transport` replaces the network
    with an httpx transport (`httpx.ASGITransport(app)`, `httpx.MockTransport(handler)`).
    """
    chosen = _settings(settings, config, noise, openapi, headers, secrets, fail_on, transport)
    return workflows.replay(_paths(cassettes), target, chosen)


def plan(
    cassettes: Cassettes,
    target: str | None = None,
    *,
    config: PathArg | None = None,
    noise: PathArg | None = None,
    openapi: PathArg | None = None,
    settings: RunSettings | None = None,
) -> ReplayPlan:
    """What `replay` would send, and under which endpoint names; nothing is sent.

    The cassettes are read with the rules `replay` applies (apitape.yaml, noise file, OpenAPI
    document, `skip:`). Pass `plan.settings` to `replay` and it names the endpoints as the plan
    does. Raises what `replay` raises before sending (a `target`, when given, is checked).
    """
    chosen = _settings(settings, config, noise, openapi, None, None, None, None)
    return planning.plan(_paths(cassettes), target, chosen)


def compare_live(
    cassettes: Cassettes,
    baseline: str,
    candidate: str,
    *,
    noise_runs: int = 2,
    config: PathArg | None = None,
    noise: PathArg | None = None,
    openapi: PathArg | None = None,
    headers: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    fail_on: str | None = None,
    settings: RunSettings | None = None,
) -> RunReport:
    """Send each request to `baseline` (`noise_runs` times) and to `candidate`; report what
    the candidate answers differently beyond the baseline's own noise."""
    chosen = _settings(settings, config, noise, openapi, headers, secrets, fail_on, None)
    paths = _paths(cassettes)
    return workflows.compare_live(paths, baseline, candidate, chosen, noise_runs=noise_runs)


def diff(
    cassette_a: PathArg,
    cassette_b: PathArg,
    *,
    config: PathArg | None = None,
    noise: PathArg | None = None,
    fail_on: str | None = None,
    settings: RunSettings | None = None,
) -> RunReport:
    """Compare two cassettes exchange by exchange: what B answers differently from A."""
    chosen = _settings(settings, config, noise, None, None, None, fail_on, None)
    return workflows.diff(os.fspath(cassette_a), os.fspath(cassette_b), chosen)


def learn_noise(
    cassettes: Cassettes,
    target: str,
    *,
    runs: int = 2,
    config: PathArg | None = None,
    secrets: Mapping[str, str] | None = None,
    settings: RunSettings | None = None,
    output: PathArg | None = None,
    warnings: list[str] | None = None,
) -> NoiseModel:
    """Send the requests `runs` times to the baseline `target` and learn which fields change
    on their own. With `output`, writes the reviewable noise file there (its header says
    when, from what and with which apitape.yaml it was learned); else writes nothing. What
    the run warns about (requests unanswered, placeholders unfilled) is appended to `warnings`.
    """
    chosen = _settings(settings, config, None, None, None, secrets, None, None)
    source = "learned" if output is None else os.fspath(output)
    learned = workflows.learn_noise(_paths(cassettes), target, chosen, runs=runs, source=source)
    if warnings is not None:
        warnings.extend(learned.warnings)
    if output is not None:
        from apitape.verdict.noise import write_noise_file

        write_noise_file(output, learned.model, learned.header)
    return learned.model


def check_contract(cassettes: Cassettes, openapi: PathArg) -> ContractReport:
    """Check every recorded exchange against an OpenAPI document, and what the traffic covers."""
    from apitape.contract.checker import check_cassettes
    from apitape.contract.openapi import load_openapi

    warnings: list[str] = []
    report = check_cassettes(load_openapi(os.fspath(openapi)), _paths(cassettes), warnings.append)
    return replace(report, warnings=tuple(warnings)) if warnings else report


def import_traffic(
    source: PathArg,
    cassette: PathArg,
    *,
    force: bool = False,
    config: PathArg | None = None,
    redact: bool = True,
    policy: Mapping[str, Any] | None = None,
) -> ImportSummary:
    """Turn a HAR or mitmproxy flow file into a cassette, redacted as `apitape record` does
    (with apitape.yaml's `redact:` additions: `config`, else ./apitape.yaml if present).

    `policy` holds more recording settings by their Python names, as `apitape record` takes
    them: filters (`{"hosts": ["api.*"], "methods": ["GET"]}`), `sample`, body limits, more
    `redact_headers`/`redact_fields`/`redact_values`, `redact_key_file`.
    """
    from apitape.capture.policy import build_policy
    from apitape.capture.settings import POLICY
    from apitape.config import load_config
    from apitape.interop import importing

    given = dict(policy or {})
    known = [s.name for s in POLICY if s.name != "redact"]  # redact is an argument of its own
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UsageError(
            f"takes the recording settings {', '.join(known)}; not {', '.join(unknown)}", "policy"
        )
    configured = load_config(config, required=config is not None).redaction
    for name, extra in zip(
        ("redact_headers", "redact_fields", "redact_values"), configured.extras, strict=True
    ):  # apitape.yaml's first, as `apitape record` puts them
        given[name] = (*extra, *given.get(name, ()))
    built = build_policy({**given, "redact": redact}, os.environ)
    return importing.import_traffic(source, cassette, force=force, policy=built)


def export_har(cassette: PathArg, path: PathArg, *, warnings: list[str] | None = None) -> int:
    """Write a cassette's exchanges as a HAR 1.2 file; the number of exchanges written. What
    reading the cassette warned about (a torn last exchange dropped) is appended to `warnings`."""
    from apitape._version import __version__
    from apitape.cassette import load_cassette
    from apitape.interop.har import write_har

    loaded = load_cassette(os.fspath(cassette))
    if warnings is not None:
        warnings.extend(loaded.warnings)
    write_har(os.fspath(path), loaded.exchanges, __version__)
    return len(loaded.exchanges)


def _paths(cassettes: Cassettes) -> list[str]:
    if isinstance(cassettes, str | os.PathLike):
        return [os.fspath(cassettes)]
    paths = [os.fspath(c) for c in cassettes]
    if not paths:
        raise UsageError("no cassette given: pass a path or a list of paths")
    return paths


def _settings(
    settings: RunSettings | None,
    config: PathArg | None,
    noise: PathArg | None,
    openapi: PathArg | None,
    headers: Mapping[str, str] | None,
    secrets: Mapping[str, str] | None,
    fail_on: str | None,
    transport: Transport | None,
) -> RunSettings:
    """`settings` with the arguments that were given put in."""
    given: dict[str, Any] = {}
    if config is not None:
        given["config_path"] = os.fspath(config)
    if noise is not None:
        given["noise_path"] = os.fspath(noise)
    if openapi is not None:
        given["openapi"] = os.fspath(openapi)
    if headers is not None:
        given["headers"] = tuple(headers.items())
    if secrets is not None:
        given["secrets"] = tuple(secrets.items())
    if fail_on is not None:
        if fail_on not in ("breaking", "changed", "additive"):
            raise UsageError(f"fail_on must be breaking, changed or additive, not {fail_on!r}")
        given["fail_on"] = fail_on
    if transport is not None:
        given["transport_factory"] = lambda: transport
    return replace(settings or RunSettings(), **given)
