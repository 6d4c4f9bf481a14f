"""Reports of a contract check: the terminal view (rich), the JSON file and one HTML page."""

from __future__ import annotations

import html
import os
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apitape.contract.checker import ContractReport, CoverageReport
from apitape.files import write_atomically
from apitape.report.json_report import contract_groups

_SEVERITY_STYLE = {"breaking": "bold red", "changed": "yellow", "additive": "cyan"}


def write_contract_html(report: ContractReport, path: str | os.PathLike[str]) -> None:
    """Write one self-contained HTML page: the violations, then the coverage."""
    write_atomically(path, contract_html(report), "the HTML report")


class ContractTerminalReport:
    """Prints a contract check for people: violations grouped, coverage, a summary line."""

    def __init__(
        self, stream: TextIO | None = None, width: int | None = None, console: Console | None = None
    ) -> None:
        if console is not None:  # inside the replay's terminal report
            self.console = console
            return
        self.console = Console(file=stream, width=width, highlight=False, soft_wrap=True)
        if width is None and not self.console.is_terminal:
            self.console.width = 120

    def render(self, report: ContractReport) -> None:
        """Print the violations (worst and most widespread first), then the coverage."""
        out = self.console
        out.print(
            f"[bold]apitape contract[/] of {report.checked} exchange(s) from "
            f"{escape(', '.join(report.cassettes))} against {escape(report.title or 'the API')} "
            f"(OpenAPI {escape(report.version)}, {escape(report.spec)})"
        )
        out.print()
        groups = contract_groups(report)
        if groups:
            out.print("[bold]Contract violations by operation and field[/]")
            for group in groups:
                example = group.examples[0]
                out.print(
                    f"  [{_SEVERITY_STYLE[group.severity]}]{group.severity:<9}[/] "
                    f"{escape(group.summary)}  [dim](e.g. #{escape(example.id)})[/]"
                )
            out.print()
        self.render_coverage(report.coverage)
        out.print()
        style = "red" if report.violations else "green"
        out.print(
            f"[bold {style}]{report.checked} exchanges: "
            f"{report.checked - len(report.violations)} conform, "
            f"{len(report.violations)} violate the document[/]"
        )

    def render_coverage(self, coverage: CoverageReport) -> None:
        """The coverage table, the unexercised operations and the undocumented endpoints."""
        out = self.console
        exercised = sum(1 for row in coverage.operations if row.exchanges)
        table = Table(
            title=f"Coverage: {exercised} of {len(coverage.operations)} documented operations "
            "exercised",
            title_justify="left",
            show_edge=False,
        )
        for column in ("operation", "exchanges", "statuses seen", "documented, never seen"):
            table.add_column(column, justify="right" if column == "exchanges" else "left")
        for row in coverage.operations:
            seen = ", ".join(f"{status} ({count})" for status, count in row.statuses_seen)
            table.add_row(
                escape(row.operation),
                str(row.exchanges),
                seen or "[red]none[/]",
                escape(", ".join(row.statuses_unseen)),
            )
        out.print(table)
        if coverage.unexercised:
            out.print(f"Never exercised: {escape(', '.join(coverage.unexercised))}")
        if coverage.undocumented:
            listed = ", ".join(f"{e} ({n})" for e, n in coverage.undocumented)
            out.print(f"[yellow]Undocumented endpoints hit:[/] {escape(listed)}")
        rejected = sum(row.rejected_requests for row in coverage.operations)
        if rejected:
            out.print(
                f"[dim]{rejected} request(s) broke the document and the service refused them "
                "(4xx/5xx): not counted as violations[/]"
            )


def contract_html(report: ContractReport) -> str:
    """The HTML page of a contract check (no scripts, no external resources)."""
    e = html.escape
    rows = []
    for group in contract_groups(report):
        rows.append(
            f"<tr class='{e(group.severity)}'><td>{e(group.severity)}</td>"
            f"<td>{e(group.endpoint)}</td><td><code>{e(group.path)}</code></td>"
            f"<td>{e(group.summary)}</td><td>{', '.join('#' + e(x.id) for x in group.examples)}"
            "</td></tr>"
        )
    coverage_rows = []
    for row in report.coverage.operations:
        seen = ", ".join(f"{status} ({count})" for status, count in row.statuses_seen)
        coverage_rows.append(
            f"<tr class='{'unexercised' if not row.exchanges else ''}'>"
            f"<td>{e(row.operation)}</td><td>{row.exchanges}</td><td>{e(seen or 'none')}</td>"
            f"<td>{e(', '.join(row.statuses_unseen))}</td></tr>"
        )
    undocumented = "".join(
        f"<li>{e(endpoint)} ({count})</li>" for endpoint, count in report.coverage.undocumented
    )
    violations = (
        "<table><tr><th>severity</th><th>operation</th><th>path</th><th>violation</th>"
        f"<th>examples</th></tr>{''.join(rows)}</table>"
        if rows
        else "<p>Every exchange conforms to the document.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>apitape contract: {e(report.title or report.spec)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.breaking td:first-child {{ color: #b00; font-weight: bold; }}
tr.unexercised td {{ color: #999; }}
</style></head><body>
<h1>Contract check: {e(report.title or report.spec)}</h1>
<p>{report.checked} exchange(s) from {e(", ".join(report.cassettes))} against
{e(report.spec)} (OpenAPI {e(report.version)}): {report.checked - len(report.violations)}
conform, {len(report.violations)} violate the document.</p>
<h2>Violations</h2>
{violations}
<h2>Coverage</h2>
<table><tr><th>operation</th><th>exchanges</th><th>statuses seen</th>
<th>documented, never seen</th></tr>{"".join(coverage_rows)}</table>
<h3>Undocumented endpoints hit</h3>
{f"<ul>{undocumented}</ul>" if undocumented else "<p>None.</p>"}
</body></html>
"""
