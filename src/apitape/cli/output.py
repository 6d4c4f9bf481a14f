"""What the CLI does with a run's report: the terminal view, the report files, the notes and
warnings on stderr, and the exit status."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

import click

from apitape.errors import ApitapeError
from apitape.models import Outcome, RunReport
from apitape.runs.inputs import config_file, describe_applied, describe_input


def announce_inputs(report: RunReport, stderr: TextIO | None = None) -> None:
    """Say which apitape.yaml, noise file and OpenAPI document a saved run applied (a run
    says it itself as it starts, through RunSettings.notify)."""
    for applied in report.inputs:
        click.echo(f"apitape: {describe_applied(applied)}", err=True, file=stderr)


def announce_config(config_path: str | None) -> None:
    """Say which apitape.yaml a command that is not a run (record, import, stats...) applies,
    in the words a run uses: the one named, or ./apitape.yaml found in the working directory."""
    found = config_file(config_path)
    if found is not None:
        click.echo(f"apitape: {describe_input('config', *found)}", err=True)


def render(report: RunReport, outputs: Mapping[str, Any]) -> int:
    """Print the report, write the files the options name, say what went wrong; the exit
    status. A cassette that broke off mid-way is raised after the reports are written."""
    from apitape.report.html import write_html_report
    from apitape.report.json_report import write_json_report
    from apitape.report.junit import write_junit
    from apitape.report.markdown import write_markdown_report
    from apitape.report.terminal import TerminalReport

    written = (
        ("report_json", "JSON report", write_json_report),
        (
            "junit",
            "JUnit XML",
            lambda r, p: write_junit(r, p, bool(outputs.get("junit_per_exchange"))),
        ),
        ("report_html", "HTML report", write_html_report),
        ("report_md", "Markdown summary", write_markdown_report),
    )
    # The files first: a reader that stops reading the terminal output (`| head`) must not
    # cost the reports.
    files = [(what, outputs[option]) for option, what, _ in written if outputs.get(option)]
    for option, _, write in written:
        if outputs.get(option):
            write(report, outputs[option])
    terminal = TerminalReport(sys.stdout)
    if terminal.plain:  # a CI log: the outcome and the reports' places come first
        terminal.headline(report, files)
    terminal.render(
        report, show_noise=bool(outputs.get("show_noise")), verbose=bool(outputs.get("verbose"))
    )
    for what, path in files:
        click.echo(f"apitape: {what} written to {path}", err=True)
    for note in report.notes:
        click.echo(f"apitape: {note}", err=True)
    _explain_unreachable(report)
    for warning in report.warnings:
        click.echo(f"apitape: warning: {warning}", err=True)
    if report.input_error:
        raise ApitapeError(report.input_error)
    return report.exit_status


def _explain_unreachable(report: RunReport) -> None:
    """When nothing got through, say so plainly: the likely cause is the target, not the traffic."""
    errors = [i for i in report.interactions if i.outcome is Outcome.ERROR]
    if errors and len(errors) == len(report.interactions):
        error = errors[0].error or ""
        check = " Check that the target is running and that --target is right."
        if error.startswith("TLS:"):
            check = ""  # it names its own fix, and the target is running
        click.echo(
            f"apitape: error: could not replay any of the {len(errors)} exchange(s) against "
            f"{report.target}: {error}.{check}",
            err=True,
        )
