"""`apitape contract`: recorded traffic checked against an OpenAPI document."""

from __future__ import annotations

import sys

import click

from apitape.cli.options import errors_exit_2


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option(
    "--openapi", "spec_path", required=True, metavar="SPEC", help="OpenAPI 3.0/3.1 (YAML/JSON)."
)
@click.option("--report-json", metavar="PATH", help="Write the JSON report here.")
@click.option("--report-html", metavar="PATH", help="Write one self-contained HTML page here.")
@errors_exit_2
def contract(
    cassettes: tuple[str, ...], spec_path: str, report_json: str | None, report_html: str | None
) -> None:
    """Check recorded traffic against an OpenAPI document, and show what it covers.

    Each exchange is matched to its documented operation; its status, response body,
    required headers and (when the service accepted it) its request are validated.
    Exit status: 0 all traffic conforms, 1 violations found, 2 bad input.
    """
    from apitape.api import check_contract
    from apitape.report.contract import ContractTerminalReport, write_contract_html
    from apitape.report.json_report import write_contract_json

    report = check_contract(cassettes, spec_path)
    for warning in report.warnings:
        click.echo(f"apitape: warning: {warning}", err=True)
    ContractTerminalReport().render(report)
    if report_json:
        write_contract_json(report, report_json)
        click.echo(f"apitape: JSON report written to {report_json}", err=True)
    if report_html:
        write_contract_html(report, report_html)
        click.echo(f"apitape: HTML report written to {report_html}", err=True)
    sys.exit(1 if report.violations else 0)
