"""A saved JSON report read back into the `RunReport` it was written from (json_report's
inverse), so every other format can be rendered from it later, at any `--fail-on`."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from apitape.contract.checker import ContractSummary, CoverageReport, OperationCoverage
from apitape.errors import ReportFileError
from apitape.models import (
    AppliedFile,
    Difference,
    EndpointLatency,
    Example,
    Exchange,
    Group,
    IgnoredField,
    InteractionReport,
    Outcome,
    Request,
    Response,
    RunReport,
    SkippedExchange,
    Substitution,
)
from apitape.verdict.groups import SEVERITIES, at_least, severity


def load_json_report(path: str | os.PathLike[str], fail_on: str | None = None) -> RunReport:
    """The report saved at `path`; with `fail_on`, judged again at that severity, as a fresh
    run with `--fail-on` would have judged it (the differences are the same)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as stream:
            data = json.load(stream)
    except FileNotFoundError:
        raise ReportFileError(
            name, "no such file; give the path a replay's JSON report was written to"
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportFileError(name, f"not a JSON report: {exc}") from None
    return report_from_dict(data, name, fail_on)


def report_from_dict(
    data: Any, name: str = "the JSON report", fail_on: str | None = None
) -> RunReport:
    """The `RunReport` that `report_to_dict` gave `data`; `name` says where it came from."""
    if not isinstance(data, dict) or "interactions" not in data or "groups" not in data:
        raise ReportFileError(name, "not an apitape replay report (no interactions or groups)")
    key = "?"
    try:
        key = "interactions"
        interactions = [_interaction(i) for i in data["interactions"]]
        key = "groups"
        groups = tuple(_group(g) for g in data["groups"])
        key = "latency"
        latency = tuple(_latency(row) for row in data.get("latency", []))
        key = "examples"
        examples = {e["id"]: _example(e) for e in data.get("examples", [])}
        key = "contract"
        contract = _contract(data["contract"]) if data.get("contract") is not None else None
        key = "the head"
        report = RunReport(
            data["target"],
            tuple(data["cassettes"]),
            interactions,
            latency,
            tuple(IgnoredField(**i) for i in data.get("ignored", [])),
            data.get("expected_from", "recording"),
            tuple(SkippedExchange(**x) for x in data.get("skipped", [])),
            fail_on=data.get("fail_on", "changed"),
            groups=groups,
            contract=contract,
            inputs=tuple(AppliedFile(**f) for f in data.get("inputs", [])),
            warnings=tuple(data.get("warnings", [])),
            notes=tuple(data.get("notes", [])),
            input_error=data.get("input_error"),
            confirmations=data.get("summary", {}).get("confirmations", 0),
            tls_verified=data.get("tls_verified", True),
            run=data.get("run", "replay"),
            baseline=data.get("baseline"),
            examples=examples,
        )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise ReportFileError(name, f"{key}: unexpected shape ({exc!r})") from None
    if fail_on is not None and fail_on != report.fail_on:
        report = rejudged(report, fail_on)
    return report


def rejudged(report: RunReport, fail_on: str) -> RunReport:
    """`report` with every answered exchange judged again at `fail_on`: a regression when any
    difference is that severe or worse, else a pass (the verdict's own rule)."""
    if fail_on not in SEVERITIES:
        raise ValueError(f"fail_on must be one of {', '.join(SEVERITIES)}, not {fail_on!r}")
    interactions = [
        item
        if item.outcome is Outcome.ERROR
        else replace(
            item,
            outcome=Outcome.REGRESSION
            if any(at_least(severity(d), fail_on) for d in item.differences)
            else Outcome.PASS,
        )
        for item in report.interactions
    ]
    return replace(report, interactions=interactions, fail_on=fail_on, counts=None)


def _interaction(data: Mapping[str, Any]) -> InteractionReport:
    return InteractionReport(
        data["id"],
        data["cassette"],
        data["method"],
        data["url"],
        data["endpoint"],
        Outcome(data["outcome"]),
        tuple(
            Difference(
                d["path"],
                d["kind"],
                d["expected"],
                d["actual"],
                d.get("expected_present", True),
                d.get("actual_present", True),
            )
            for d in data["differences"]
        ),
        data["status"]["expected"],
        data["status"]["actual"],
        data["duration_ms"]["recorded"],
        data["duration_ms"]["replayed"],
        data.get("error"),
        tuple(
            Substitution(data["id"], s["recorded"], s["replayed"], s["learned_from"], s["used_in"])
            for s in data.get("substitutions", [])
        ),
        data.get("credential_refreshed", False),
    )


def _group(data: Mapping[str, Any]) -> Group:
    group = Group(
        data["endpoint"],
        data["path"],
        data["kind"],
        data["severity"],
        data["count"],
        data["total"],
        tuple(
            Example(
                e["id"],
                e["expected"],
                e["actual"],
                e.get("expected_present", True),
                e.get("actual_present", True),
            )
            for e in data["examples"]
        ),
    )
    return replace(group, detail=_detail(group, data.get("summary", "")))


def _detail(group: Group, summary: str) -> str:
    """The group's detail ("float -> str", "201 -> 200"): the JSON writes it only inside the
    summary, `ENDPOINT: [PATH ]KIND[ DETAIL] in COUNT of TOTAL responses`."""
    head = f"{group.endpoint}: "
    tail = f" in {group.count} of {group.total} responses"
    if not (summary.startswith(head) and summary.endswith(tail)):
        return ""
    what = summary[len(head) : len(summary) - len(tail)]
    kind = group.kind.replace("_", " ")
    for start in (f"{group.path} {kind}", kind):
        if what == start:
            return ""
        if what.startswith(start + " "):
            return what[len(start) + 1 :]
    return ""


def _latency(data: Mapping[str, Any]) -> EndpointLatency:
    return EndpointLatency(
        data["endpoint"],
        data["count"],
        data["recorded_p50_ms"],
        data["recorded_p95_ms"],
        data["replayed_p50_ms"],
        data["replayed_p95_ms"],
        data["slower"],
        data.get("held_back", False),  # reports written before it was kept
    )


def _example(data: Mapping[str, Any]) -> tuple[Exchange, Response | None]:
    request = data["request"]
    exchange = Exchange(
        data["id"],
        Request(request["method"], request["url"], _headers(request["headers"]), _body(request)),
        _response(data["expected"]),
    )
    actual = data.get("actual")
    return exchange, None if actual is None else _response(actual)


def _response(data: Mapping[str, Any]) -> Response:
    return Response(
        data["status"], data.get("reason", ""), _headers(data.get("headers", [])), _body(data)
    )


def _headers(pairs: Sequence[Sequence[str]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, value) for name, value in pairs)


def _body(data: Mapping[str, Any]) -> bytes:
    if "body_base64" in data:
        return base64.b64decode(data["body_base64"], validate=True)
    return str(data.get("body", "")).encode("utf-8")


def _contract(data: Mapping[str, Any]) -> ContractSummary:
    coverage = data["coverage"]
    return ContractSummary(
        data["spec"],
        data["title"],
        data["openapi"],
        CoverageReport(
            tuple(
                OperationCoverage(
                    row["operation"],
                    row["operation_id"],
                    row["exchanges"],
                    tuple(row["documented_statuses"]),
                    tuple((int(status), count) for status, count in row["statuses_seen"].items()),
                    tuple(row["statuses_unseen"]),
                    row.get("rejected_requests", 0),
                )
                for row in coverage["operations"]
            ),
            tuple((u["endpoint"], u["count"]) for u in coverage["undocumented"]),
        ),
    )
