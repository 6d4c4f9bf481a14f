"""Every report's JSON shape, replay and contract alike: what CI tools and the HTML page read."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from apitape._version import __version__
from apitape.contract.checker import ContractReport, ContractSummary, CoverageReport, Violation
from apitape.files import write_atomically
from apitape.models import Exchange, Group, InteractionReport, Outcome, Response, RunReport
from apitape.verdict.groups import group_differences, report_groups, severity


def report_to_dict(report: RunReport) -> dict[str, Any]:
    """The JSON report: summary, every interaction with its differences, latency per endpoint."""
    data = report_head(report)
    data["interactions"] = [
        interaction_to_dict(i, report.expected_from) for i in report.interactions
    ]
    data.update(report_tail(report))
    return data


def report_head(report: RunReport) -> dict[str, Any]:
    """The JSON report with `interactions` left empty (the HTML report lists its own)."""
    head: dict[str, Any] = {
        "apitape_version": __version__,
        "target": report.target,
        "cassettes": list(report.cassettes),
        "summary": {
            "total": len(report.interactions),
            "passed": report.count(Outcome.PASS),
            "regressions": report.count(Outcome.REGRESSION),
            "errors": report.count(Outcome.ERROR),
            "skipped": len(report.skipped),
            "confirmations": report.confirmations,
        },
        "run": report.run,
        "expected_from": report.expected_from,
        "baseline": report.baseline,
        "fail_on": report.fail_on,
        "tls_verified": report.tls_verified,
        "groups": [group_to_dict(g) for g in report_groups(report)],
        "credential_refreshes": report.count("credential_refreshed"),
        "interactions": [],
        "latency": [
            {
                "endpoint": row.endpoint,
                "count": row.count,
                "recorded_p50_ms": _ms(row.recorded_p50),
                "recorded_p95_ms": _ms(row.recorded_p95),
                "replayed_p50_ms": _ms(row.replayed_p50),
                "replayed_p95_ms": _ms(row.replayed_p95),
                "slower": row.slower,
                "held_back": row.held_back,
            }
            for row in report.latency
        ],
        "skipped": [
            {
                "id": x.id,
                "cassette": x.cassette,
                "method": x.method,
                "url": x.url,
                "endpoint": x.endpoint,
                "reason": x.reason,
            }
            for x in report.skipped
        ],
        "ignored": [
            {"endpoint": i.endpoint, "path": i.path, "rule": i.rule, "exchanges": i.exchanges}
            for i in report.ignored
        ],
        "inputs": [
            {"kind": f.kind, "path": f.path, "sha256": f.sha256, "implicit": f.implicit}
            for f in report.inputs
        ],
        "warnings": list(report.warnings),
        "notes": list(report.notes),
    }
    if report.contract is not None:  # replayed with --openapi: the document's coverage
        head["contract"] = summary_to_dict(report.contract)
    return head


def report_tail(report: RunReport) -> dict[str, Any]:
    """The keys after the rest: the example exchanges the HTML report draws, and the error
    a cassette broke off with (only when it did), so `apitape report` renders it all again."""
    tail: dict[str, Any] = {"examples": examples_to_list(report.examples)}
    if report.input_error:
        tail["input_error"] = report.input_error
    return tail


def examples_to_list(
    examples: Mapping[str, tuple[Exchange, Response | None]],
) -> list[dict[str, Any]]:
    """Per example exchange: its request, the expected answer and the actual one (null when
    it got none), bodies whole: text as `body`, anything not UTF-8 as `body_base64`."""
    return [
        {
            "id": key,
            "request": {
                "method": exchange.request.method,
                "url": exchange.request.url,
                "headers": [list(pair) for pair in exchange.request.headers],
                **_body(exchange.request.body),
            },
            "expected": _response(exchange.response),
            "actual": None if replayed is None else _response(replayed),
        }
        for key, (exchange, replayed) in examples.items()
    ]


def _response(response: Response) -> dict[str, Any]:
    return {
        "status": response.status,
        "reason": response.reason,
        "headers": [list(pair) for pair in response.headers],
        **_body(response.body),
    }


def _body(body: bytes) -> dict[str, str]:
    try:
        return {"body": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"body_base64": base64.b64encode(body).decode("ascii")}


def group_to_dict(group: Group, where: str = "endpoint") -> dict[str, Any]:
    """One group of differences as the JSON reports show it, with the groups it folds under
    `consequences`; `where` names the key of its endpoint (the contract report says
    `operation`)."""
    return {
        where: group.endpoint,
        "path": group.path,
        "kind": group.kind,
        "severity": group.severity,
        "count": group.count,
        "total": group.total,
        "summary": group.summary,
        "examples": [
            {
                "id": e.id,
                "expected": e.expected,
                "actual": e.actual,
                "expected_present": e.expected_present,
                "actual_present": e.actual_present,
            }
            for e in group.examples
        ],
        # What this difference caused (a status change's body and header differences),
        # folded under it rather than groups of their own; each has this same shape.
        "consequences": [group_to_dict(c, where) for c in group.consequences],
    }


def interaction_to_dict(item: InteractionReport, expected_from: str) -> dict[str, Any]:
    """One interaction as the JSON report shows it."""
    return {
        "id": item.id,
        "cassette": item.cassette,
        "method": item.method,
        "url": item.url,
        "endpoint": item.endpoint,
        "outcome": item.outcome.value,
        "status": {"expected": item.expected_status, "actual": item.actual_status},
        "duration_ms": {"recorded": _ms(item.recorded_ms), "replayed": _ms(item.replayed_ms)},
        "error": item.error,
        "credential_refreshed": item.credential_refreshed,
        "substitutions": [
            {
                "recorded": s.recorded,
                "replayed": s.replayed,
                "learned_from": s.learned_from,
                "used_in": s.used_in,
            }
            for s in item.substitutions
        ],
        "differences": [
            {
                "path": d.path,
                "kind": d.kind,
                "expected": d.expected,
                "actual": d.actual,
                "expected_present": d.expected_present,
                "actual_present": d.actual_present,
                "severity": severity(d),
                "expected_from": expected_from,
            }
            for d in item.differences
        ],
    }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def write_json_report(report: RunReport, path: str | os.PathLike[str]) -> None:
    """Write the JSON report atomically: a reader never sees half a file.

    Interactions are encoded one at a time, so a million of them never sit in memory; the
    text is what `json.dumps(report_to_dict(report), indent=2)` gives.
    """
    write_atomically(path, _json_report_chunks(report), "the JSON report")


def _json_report_chunks(report: RunReport) -> Iterator[str]:
    marker = "\u0000interactions\u0000"
    head = report_head(report)
    head.update(report_tail(report))
    head["interactions"] = marker
    text = json.dumps(head, indent=2, ensure_ascii=False, default=str)
    before, after = text.split(json.dumps(marker), 1)
    yield before
    separator = "[\n    "
    for item in report.interactions:
        entry = json.dumps(
            interaction_to_dict(item, report.expected_from),
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        # JSON strings hold no raw newline, so every line break is indentation.
        yield separator + entry.replace("\n", "\n    ")
        separator = ",\n    "
    yield "[]" if separator == "[\n    " else "\n  ]"
    yield after + "\n"


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
                        "expected_present": d.expected_present,
                        "actual_present": d.actual_present,
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
