"""The progress bar shows at a terminal only, and counts errors."""

from __future__ import annotations

import io

import pytest

from apitape.cli.progress import progress_bar
from apitape.models import Request
from apitape.replay.replayer import ReplayResult
from tests.unit.factories import exchange


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def result(error: str | None = None) -> ReplayResult:
    return ReplayResult(exchange(), Request("GET", "http://t/"), None, None, error)


def test_no_bar_when_not_a_terminal_or_quiet() -> None:
    with progress_bar(3, io.StringIO(), "replaying") as advance:
        assert advance is None
    with progress_bar(3, Terminal(), "replaying", quiet=True) as advance:
        assert advance is None


def test_no_bar_in_ci_even_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with progress_bar(3, Terminal(), "replaying") as advance:
        assert advance is None


def test_bar_at_a_terminal_counts_done_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    stream = Terminal()
    with progress_bar(3, stream, "replaying") as advance:
        assert advance is not None
        advance(result())
        advance(result("could not connect"))
        advance(result())
    shown = stream.getvalue()
    assert "replaying" in shown
    assert "1 error(s)" in shown
