"""Reports of a contract check: the terminal view (rich), the JSON file and one HTML page."""

from __future__ import annotations

import html
import json
import os
from dataclasses import replace
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from apitape import __version__
from apitape.contract import ContractReport, ContractSummary, CoverageReport, Violation
from apitape.files import write_atomically
from apitape.groups import Group, group_differences, severity
from apitape.models import InteractionReport, Outcome
from apitape.report import group_to_dict

_SEVERITY_STYLE = {"breaking": "bold red", "changed": "yellow", "additive": "cyan"}


def coverage_to_dict(coverage: CoverageReport) -> dict[str, Any]:
    """Coverage as JSON: per operation the statuses seen; the unexercised and undocumented."""
    return {
        "operations": [
            {
                "operation": row.operation,
                "operation_id": row.operation_id,
                "exchanges": row.exchanges,
                "documented_statuses": list(row.documented_statuses),
                "statuses_seen": {str(status): count for status, count in row.statuses_seen},
                "statuses_unseen": list(row.statuses_unseen),
                "rejected_requests": row.rejected_requests,
            }
            for row in coverage.operations
        ],
        "unexercised": list(coverage.unexercised),
        "undocumented": [
            {"endpoint": endpoint, "count": count} for endpoint, count in coverage.undocumented
        ],
    }


def summary_to_dict(summary: ContractSummary) -> dict[str, Any]:
    """The `contract` key of a replay's JSON report."""
    return contract_section(summary.spec, summary.title, summary.version, summary.coverage)


def contract_section(
    spec: str, title: str, version: str, coverage: CoverageReport
) -> dict[str, Any]:
    """The `contract` key of the JSON reports (of `apitape contract` and of a replay)."""
    return {
        "spec": spec,
        "title": title,
        "openapi": version,
        "coverage": coverage_to_dict(coverage),
    }


def contract_groups(report: ContractReport) -> list[Group]:
    """The violations grouped by operation, field and kind; totals are each operation's
    exchanges, whether they violate the document or not."""
    totals = {row.operation: row.exchanges for row in report.coverage.operations}
    items = [_as_interaction(v) for v in report.violations]
    return [replace(g, total=totals.get(g.endpoint, g.total)) for g in group_differences(items)]


def _as_interaction(violation: Violation) -> InteractionReport:
    return InteractionReport(
        violation.id,
        violation.cassette,
        violation.method,
        violation.url,
        violation.operation,
        Outcome.REGRESSION,
        violation.differences,
        violation.status,
        violation.status,
        None,
        None,
    )


def contract_report_to_dict(report: ContractReport) -> dict[str, Any]:
    """The JSON report of `apitape contract`."""
    return {
        "apitape_version": __version__,
        "cassettes": list(report.cassettes),
        "summary": {
            "checked": report.checked,
            "conforming": report.checked - len(report.violations),
            "violating": len(report.violations),
        },
        "groups": [group_to_dict(g, "operation") for g in contract_groups(report)],
        "violations": [
            {
                "id": v.id,
                "cassette": v.cassette,
                "method": v.method,
                "url": v.url,
                "operation": v.operation,
                "status": v.status,
                "differences": [
                    {
                        "path": d.path,
                        "kind": d.kind,
                        "severity": severity(d),
                        "expected": d.expected,
                        "actual": d.actual,
                    }
                    for d in v.differences
                ],
            }
            for v in report.violations
        ],
        "contract": contract_section(report.spec, report.title, report.version, report.coverage),
    }


def write_contract_json(report: ContractReport, path: str | os.PathLike[str]) -> None:
    """Write the JSON report atomically."""
    text = json.dumps(contract_report_to_dict(report), indent=2, ensure_ascii=False, default=str)
    write_atomically(path, text + "\n", "the JSON report")


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
