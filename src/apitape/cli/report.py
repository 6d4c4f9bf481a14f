"""`apitape report`: every report format rendered again from a saved JSON report."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from apitape.cli.options import errors_exit_2
from apitape.cli.output import announce_inputs, render
from apitape.errors import ReportFileError


@click.command()
@click.argument("saved", metavar="REPORT.json", type=click.Path(dir_okay=False))
@click.option(
    "--html", "--report-html", "report_html", metavar="PATH", help="Write the HTML report here."
)
@click.option("--junit", metavar="PATH", help="Write JUnit XML here: a test case per endpoint.")
@click.option(
    "--junit-per-exchange", is_flag=True, help="In the JUnit XML, a test case per exchange."
)
@click.option(
    "--report-md", metavar="PATH", help="Write a Markdown summary here (for a pull request)."
)
@click.option(
    "--report-json",
    metavar="PATH",
    help="Write the JSON report again (judged at --fail-on, when it is given).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["breaking", "changed", "additive"]),
    default=None,
    help="The least severity that makes an exchange a regression (default: the run's own).",
)
@click.option(
    "--show-noise",
    is_flag=True,
    help="List what masks, rules and learned noise kept out of the report.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every exchange with its differences.")
@errors_exit_2
def report(saved: str, fail_on: str | None, **outputs: Any) -> None:
    """Render a saved JSON report (`--report-json`) as any other report, later or elsewhere.

    Prints the terminal report and writes the files asked for, as the run would have, and
    exits with the status the run would have had at --fail-on: 0 no regression, 1
    regressions, 2 errors. So CI can replay once and decide later.
    """
    from apitape.report.load import load_json_report

    if not os.path.lexists(saved):
        raise ReportFileError(
            saved, "no such file; write one with `apitape replay ... --report-json PATH`"
        )
    loaded = load_json_report(saved, fail_on)
    announce_inputs(loaded)
    sys.exit(render(loaded, outputs))
