"""The terminal report of a replay (rich): groups worst first, errors, latency, summary."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apitape.models import Difference, Group, InteractionReport, Outcome, RunReport
from apitape.report.contract import ContractTerminalReport
from apitape.report.values import shown_pair
from apitape.verdict.groups import report_groups

_SEVERITY_STYLE = {"breaking": "bold red", "changed": "yellow", "additive": "cyan"}

_OUTCOME_STYLE = {
    Outcome.PASS: ("pass", "green"),
    Outcome.REGRESSION: ("REGRESSION", "bold red"),
    Outcome.ERROR: ("ERROR", "bold yellow"),
}


def ci_log(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether output to `stream` (stdout by default) ends up in a log, not before a person:
    `CI` is set (GitHub Actions and GitLab CI set CI=true), or the stream is no terminal."""
    environ = os.environ if environ is None else environ
    if environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    isatty = getattr(stream if stream is not None else sys.stdout, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # a closed stream
        return True


class TerminalReport:
    """Prints a replay for people: a line per exchange, its differences, latency, a summary.

    `plain` (by default: `ci_log`, in CI or when the stream is no terminal) writes no colour
    or other escape codes, whatever FORCE_COLOR or TTY_COMPATIBLE say.
    """

    def __init__(
        self, stream: TextIO | None = None, width: int | None = None, plain: bool | None = None
    ) -> None:
        self.plain = ci_log(stream) if plain is None else plain
        # soft_wrap: a difference stays on one line however long, so it can be grepped.
        self.console = Console(
            file=stream,
            width=width,
            highlight=False,
            soft_wrap=True,
            force_terminal=False if self.plain else None,
            color_system=None if self.plain else "auto",
        )
        if width is None and not self.console.is_terminal:
            self.console.width = 120  # logs and CI output are wider than rich's 80 default

    def render(self, report: RunReport, show_noise: bool = False, verbose: bool = False) -> None:
        """Print the report: differences grouped by endpoint and field (worst first), the
        exchanges that could not be replayed, latency, and a summary.

        `verbose` adds a line per exchange with its differences and the values it carried;
        `show_noise` what masks, rules and learned noise kept out of the report.
        """
        out = self.console
        out.print(title_line(report))
        out.print()
        groups = report_groups(report)
        if groups:
            self._groups(groups)
        for item in report.interactions:
            if verbose or item.outcome is Outcome.ERROR:
                self._interaction(item)
        if not verbose and report.count(Outcome.ERROR) < len(report.interactions):
            self.console.print("[dim]--verbose lists every exchange with its differences[/]")
        if report.latency:
            self._latency(report)
        if show_noise:
            self._ignored(report)
        elif report.ignored:
            self.console.print()
            self.console.print(
                f"[dim]{len(report.ignored)} field(s) masked or treated as noise; "
                "--show-noise lists them[/]"
            )
        if report.contract is not None:
            self.console.print()
            ContractTerminalReport(console=self.console).render_coverage(report.contract.coverage)
        self._summary(report)

    def headline(self, report: RunReport, reports: Sequence[tuple[str, str]] = ()) -> None:
        """Two lines to lead a CI log with: the outcome and its exit status, and where the
        reports are (`reports`: what and path, such as ("JUnit XML", "junit.xml"))."""
        status = report.exit_status
        outcome = ("PASSED", "FAILED: regressions found", "FAILED: errors")[status]
        passed = report.count(Outcome.PASS)
        regressions, errors = report.count(Outcome.REGRESSION), report.count(Outcome.ERROR)
        against = f"against {escape(report.target)}"
        if report.run == "diff":
            against = f"compared with the answers recorded at {escape(report.target)}"
        elif report.baseline is not None:
            against = f"against the candidate {escape(report.target)}"
        self.console.print(
            f"apitape: {outcome} (exit status {status}): {len(report.interactions)} exchanges "
            f"{against}: {passed} passed, {regressions} regression(s), "
            f"{errors} error(s); failing on {report.fail_on} and worse"
        )
        written = escape(", ".join(f"{what} {path}" for what, path in reports))
        none = "none (--report-json, --report-html, --junit and --report-md write them)"
        self.console.print(f"apitape: reports: {written or none}")
        self.console.print()

    def _groups(self, groups: list[Group]) -> None:
        self.console.print("[bold]Differences by endpoint and field, worst first[/]")
        for group in groups:
            example = group.examples[0]
            style = _SEVERITY_STYLE[group.severity]
            before, after = shown_pair(
                example.expected,
                example.actual,
                40,
                example.expected_present,
                example.actual_present,
            )
            self.console.print(
                f"  [{style}]{group.severity:<9}[/] {escape(group.summary)}  [dim](e.g. "
                f"#{escape(example.id)}: {escape(before)} -> {escape(after)})[/]"
            )
            for line in group.folded(" " * 13, most=5):
                self.console.print(f"[dim]{escape(line)}[/]")
        self.console.print()

    def _interaction(self, item: InteractionReport) -> None:
        label, style = _OUTCOME_STYLE[item.outcome]
        path = urlsplit(item.url)
        target = path.path + (f"?{path.query}" if path.query else "")
        status = f"{item.expected_status} -> {item.actual_status or '-'}"
        timing = f"{_fmt_ms(item.recorded_ms)} -> {_fmt_ms(item.replayed_ms)}"
        self.console.print(
            f"[{style}]{label:<10}[/] #{escape(item.id):<4} {item.method:<6} {escape(target)}  "
            f"[dim]{escape(item.endpoint)}  {status}  {timing}[/]"
        )
        if item.error:
            self.console.print(f"    [yellow]{escape(item.error)}[/]")
        for sub in item.substitutions:
            carried = " -> ".join(shown_pair(sub.recorded, sub.replayed, 40))
            self.console.print(
                f"    [dim]carried {escape(carried)} in {escape(sub.used_in)}, "
                f"learned from {escape(sub.learned_from)}[/]"
            )
        for difference in item.differences:
            self.console.print(f"    {escape(_describe(difference))}")

    def _latency(self, report: RunReport) -> None:
        table = Table(title="Latency by endpoint (ms)", title_justify="left", show_edge=False)
        # three-way mode compares the candidate with the baseline, not with a recording
        before, after = (
            ("baseline", "candidate")
            if report.expected_from == "baseline"
            else (("recorded", "replayed"))
        )
        for column in (
            "endpoint",
            "n",
            f"{before} p50",
            f"{after} p50",
            f"{before} p95",
            f"{after} p95",
            "",
        ):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        for row in report.latency:
            table.add_row(
                escape(row.endpoint),
                str(row.count),
                _fmt_ms(row.recorded_p50),
                _fmt_ms(row.replayed_p50),
                _fmt_ms(row.recorded_p95),
                _fmt_ms(row.replayed_p95),
                "[bold red]slower[/]" if row.slower else "",
            )
        self.console.print()
        self.console.print(table)

    def _ignored(self, report: RunReport) -> None:
        table = Table(title="Masked or treated as noise", title_justify="left", show_edge=False)
        for column in ("endpoint", "path", "rule", "exchanges"):
            table.add_column(column, justify="right" if column == "exchanges" else "left")
        for item in report.ignored:
            table.add_row(
                escape(item.endpoint), escape(item.path), escape(item.rule), str(item.exchanges)
            )
        self.console.print()
        if report.ignored:
            self.console.print(table)
        else:
            self.console.print("Nothing was masked or treated as noise.")

    def _summary(self, report: RunReport) -> None:
        passed = report.count(Outcome.PASS)
        regressions = report.count(Outcome.REGRESSION)
        errors = report.count(Outcome.ERROR)
        style = "red" if regressions or errors else "green"
        self.console.print()
        skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
        self.console.print(
            f"[bold {style}]{len(report.interactions)} exchanges: {passed} passed, "
            f"{regressions} regression(s), {errors} error(s){skipped}[/]"
        )
        if report.confirmations:
            self.console.print(
                f"[dim]{report.confirmations} answer(s) differed and were asked for again, to "
                "tell the target's own noise from a change (--no-confirm turns it off)[/]"
            )
        if not report.tls_verified:
            self.console.print(
                "[yellow]TLS certificates were not verified (--insecure): the answers may "
                "not come from the service named[/]"
            )

    def note(self, message: str) -> None:
        """Print a line of commentary (where files went, what the exit status means)."""
        self.console.print(escape(message))


def _describe(difference: Difference) -> str:
    if difference.kind == "latency_increased":
        return (
            f"latency: endpoint markedly slower, this exchange "
            f"{_fmt_ms(difference.expected)} -> {_fmt_ms(difference.actual)}"
        )
    # Each side cut around where they first differ: tokens share their beginning (a JWT's
    # header), long texts most of their length.
    before, after = shown_pair(
        difference.expected,
        difference.actual,
        120,
        difference.expected_present,
        difference.actual_present,
    )
    return f"{difference.path}: {difference.kind.replace('_', ' ')}: {before} -> {after}"


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def title_line(report: RunReport) -> str:
    """The report's first line: what was compared with what."""
    count, cassettes = len(report.interactions), escape(", ".join(report.cassettes))
    if report.run == "diff":
        return (
            f"[bold]apitape diff[/] of {count} exchange(s) of {cassettes} against the answers "
            f"recorded at {escape(report.target)}"
        )
    if report.expected_from == "baseline":
        return (
            f"[bold]apitape replay[/] of {count} exchange(s) from {cassettes}: the candidate "
            f"{escape(report.target)} against the baseline {escape(report.baseline or '')}"
        ).rstrip()
    target = escape(report.target)
    return f"[bold]apitape replay[/] of {count} exchange(s) from {cassettes} against {target}"
