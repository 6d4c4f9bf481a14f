"""pytest plugin: `pytest --apitape CASSETTE --apitape-target URL` turns each endpoint of a
replay into a test item, failing with its grouped differences. Off unless --apitape is given.

The whole cassette replays once, at the first item that runs (sessions need their order);
`-k` and `-x` choose which results are reported. Input the replay cannot start from (a
missing or unreadable cassette, a malformed apitape.yaml, a bad option) is a pytest usage
error; a cassette that breaks off mid-way is an error item after the endpoints before it,
which run, as `apitape replay` replays them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from apitape import RunSettings
    from apitape.errors import ApitapeError, CassetteError
    from apitape.models import InteractionReport, RunReport

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


OPTIONS = {
    "target": "--apitape-target",
    "config_path": "--apitape-config",
    "noise_path": "--apitape-noise",
    "openapi": "--apitape-openapi",
    "secrets": "--apitape-secret",
}
"""The plugin's own names for the settings apitape's errors carry (`UsageError.setting`)."""


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
    import apitape

    per_exchange = config.getoption("--apitape-per-exchange")
    try:
        # Read as the replay reads them, nothing sent: the items are the endpoints it reports.
        plan = apitape.plan(cassettes, target, settings=_settings(config))
    except apitape.ApitapeError as error:  # bad input: said as pytest says a bad option
        raise pytest.UsageError(f"apitape: {_worded(error)}") from None
    run = _Replay(cassettes, target, plan.settings, config)
    keys = [f"{e.cassette}#{e.id}" for e in plan.exchanges] if per_exchange else plan.endpoints
    for key in dict.fromkeys(keys):  # an id met twice is one item, as its results are one
        items.append(ApitapeItem.from_parent(session, name=key, run=run, per_exchange=per_exchange))
    if plan.broken is not None:
        items.append(
            BrokenInputItem.from_parent(
                session,
                name=f"unreadable input: {plan.broken.location()}",
                error=plan.broken,
                before=len(plan.exchanges),
            )
        )


def _worded(error: ApitapeError) -> str:
    """The error's message, a setting it names called by the plugin's option for it."""
    from apitape.errors import UsageError

    if isinstance(error, UsageError) and error.setting in OPTIONS:
        return error.worded(OPTIONS[error.setting])
    return str(error)


def _settings(config: pytest.Config) -> RunSettings:
    from apitape import RunSettings
    from apitape.runs.settings import expand_secrets

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
        self._error: str | None = None  # why the replay could not run, said by every item

    def report(self) -> RunReport:
        if self._error is not None:
            raise ApitapeFailure("could not be replayed", self._error)
        if self._report is None:
            import apitape
            from apitape.runs.inputs import describe_applied

            try:
                self._report = apitape.replay(self.cassettes, self.target, settings=self.settings)
            except apitape.ApitapeError as error:  # after collection: the input changed since
                self._error = f"the replay stopped: {_worded(error)}"
                raise ApitapeFailure("could not be replayed", self._error) from None
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            notes = [describe_applied(a) for a in self._report.inputs]
            notes += [f"warning: {w}" for w in self._report.warnings]
            if reporter is not None:
                for note in notes:
                    reporter.write_line(f"apitape: {note}")
        return self._report


class ApitapeFailure(Exception):
    """An endpoint (or exchange) answered differently from the recording, or was not
    answered; `heading` says which."""

    def __init__(self, heading: str, detail: str) -> None:
        super().__init__(detail)
        self.heading = heading


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
        if not mine:  # named here one way and by the run another: never a silent pass
            raise ApitapeFailure(
                "was not replayed",
                "the replay reported no exchange under this name; the plugin named its "
                "items unlike the run (please report it, with your apitape.yaml)",
            )
        errors = [i for i in mine if i.outcome is Outcome.ERROR]
        if errors:
            raise ApitapeFailure(
                "could not be replayed",
                "\n".join(f"#{i.id} {i.method} {i.url}: {i.error}" for i in errors),
            )
        if any(i.outcome is Outcome.REGRESSION for i in mine):
            lines = [
                line
                for g in group_differences(mine)
                for line in (f"[{g.severity}] {g.summary}", *g.folded())
            ]
            raise ApitapeFailure("answered differently", "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ApitapeFailure):
            return f"apitape: {self.name} {excinfo.value.heading}:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        return self.run.cassettes[0], None, f"apitape: {self.name}"


class BrokenInputItem(pytest.Item):
    """A cassette that breaks off mid-way: an error at setup, as a cassette that a fixture
    cannot load is, while the exchanges before the break are collected and replayed (as
    `apitape replay` replays them and then exits with status 2)."""

    def __init__(self, *, error: CassetteError, before: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error
        self.before = before

    def setup(self) -> None:
        pytest.fail(
            f"apitape: {self.error}\n"
            f"The {self.before} exchange(s) to replay before it were collected as the other "
            "apitape items; nothing after it was read.",
            pytrace=False,
        )

    def runtest(self) -> None:  # never reached: setup fails
        pass

    def reportinfo(self) -> tuple[str, int | None, str]:
        line = None if self.error.line is None else self.error.line - 1
        return self.error.path, line, f"apitape: {self.name}"
