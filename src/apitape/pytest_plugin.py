"""pytest plugin: `pytest --apitape CASSETTE --apitape-target URL` turns each endpoint of a
replay into a test item, failing with its grouped differences. Off unless --apitape is given.

The whole cassette replays once, at the first item that runs (sessions need their order);
`-k` and `-x` choose which results are reported.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from apitape.models import InteractionReport, RunReport
    from apitape.runs.settings import RunSettings

# apitape.testing's marker and fixture: an apitape cassette played to the client under test.
pytest_plugins = ["apitape.testing"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("apitape", "replay recorded HTTP traffic (apitape)")
    group.addoption(
        "--apitape",
        action="append",
        default=[],
        metavar="CASSETTE",
        help="replay this cassette and report each endpoint as a test (repeatable)",
    )
    group.addoption("--apitape-target", metavar="URL", help="the build to replay against")
    group.addoption(
        "--apitape-config", metavar="PATH", help="apitape.yaml (default: ./apitape.yaml if present)"
    )
    group.addoption(
        "--apitape-noise",
        metavar="PATH",
        help="learned noise file (default: apitape.yaml's, else ./apitape-noise.yaml if present)",
    )
    group.addoption(
        "--apitape-openapi",
        metavar="SPEC",
        help="check answers against this OpenAPI document; its paths name the endpoints",
    )
    group.addoption(
        "--apitape-secret",
        action="append",
        default=[],
        metavar="LABEL=VALUE",
        help="fill a redacted placeholder, as `apitape replay --secret` (repeatable)",
    )
    group.addoption(
        "--apitape-per-exchange",
        action="store_true",
        help="a test per exchange instead of per endpoint",
    )


@pytest.hookimpl(tryfirst=True)  # before -k deselects, so our items can be selected
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    cassettes = config.getoption("--apitape")
    if not cassettes:
        return
    target = config.getoption("--apitape-target")
    if not target:
        raise pytest.UsageError("--apitape needs --apitape-target URL")
    from apitape.http.path_parameters import PathParameters
    from apitape.runs.inputs import Selection, load_exchanges, load_rules

    settings = _settings(config)
    rules = load_rules(settings, noise=False, cassettes=cassettes)
    # The run names endpoints as the items were named here, from the first exchange.
    settings = dataclasses.replace(
        settings, path_parameters=rules.namer.learned or PathParameters()
    )
    selection = Selection(rules, settings)
    per_exchange = config.getoption("--apitape-per-exchange")
    exchanges, names = load_exchanges(cassettes)
    run = _Replay(cassettes, target, settings, config)
    seen: dict[str, None] = {}
    for exchange, cassette in zip(exchanges, names, strict=True):
        if not selection.keeps(exchange, cassette):
            continue  # skipped by apitape.yaml, as `apitape replay` skips it
        endpoint = rules.namer(exchange.request.method, exchange.request.url)
        key = f"{cassette}#{exchange.id}" if per_exchange else endpoint
        seen.setdefault(key, None)
    for key in seen:
        items.append(ApitapeItem.from_parent(session, name=key, run=run, per_exchange=per_exchange))


def _settings(config: pytest.Config) -> RunSettings:
    from apitape.runs.settings import RunSettings, expand_secrets

    return RunSettings(
        config_path=config.getoption("--apitape-config"),
        noise_path=config.getoption("--apitape-noise"),
        openapi=config.getoption("--apitape-openapi"),
        secrets=tuple(expand_secrets(config.getoption("--apitape-secret"), "--apitape-secret")),
    )


class _Replay:
    """The replay every item shares, run once through the public API, when the first item
    needs it."""

    def __init__(
        self, cassettes: list[str], target: str, settings: RunSettings, config: pytest.Config
    ) -> None:
        self.cassettes, self.target, self.settings = cassettes, target, settings
        self.config = config
        self._report: RunReport | None = None

    def report(self) -> RunReport:
        if self._report is None:
            import apitape
            from apitape.runs.inputs import describe_applied

            self._report = apitape.replay(self.cassettes, self.target, settings=self.settings)
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            notes = [describe_applied(a) for a in self._report.inputs]
            notes += [f"warning: {w}" for w in self._report.warnings]
            if reporter is not None:
                for note in notes:
                    reporter.write_line(f"apitape: {note}")
        return self._report


class ApitapeFailure(Exception):
    """An endpoint (or exchange) answered differently from the recording."""


class ApitapeItem(pytest.Item):
    """One endpoint (or exchange) of the replay."""

    def __init__(self, *, run: _Replay, per_exchange: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run
        self.per_exchange = per_exchange

    def _mine(self, report: RunReport) -> list[InteractionReport]:
        if self.per_exchange:
            return [i for i in report.interactions if f"{i.cassette}#{i.id}" == self.name]
        return [i for i in report.interactions if i.endpoint == self.name]

    def runtest(self) -> None:
        from apitape.models import Outcome
        from apitape.verdict.groups import group_differences

        mine = self._mine(self.run.report())
        errors = [i for i in mine if i.outcome is Outcome.ERROR]
        if errors:
            raise ApitapeFailure(
                "\n".join(f"#{i.id} {i.method} {i.url}: {i.error}" for i in errors)
            )
        if any(i.outcome is Outcome.REGRESSION for i in mine):
            lines = [
                line
                for g in group_differences(mine)
                for line in (f"[{g.severity}] {g.summary}", *g.folded())
            ]
            raise ApitapeFailure("\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ApitapeFailure):
            return f"apitape: {self.name} answered differently:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.run.cassettes[0], None, f"apitape: {self.name}"
