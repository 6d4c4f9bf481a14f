"""Causes first: a status or content-type change folds the differences it causes, in every
report format (terminal, JSON, Markdown, JUnit, HTML, the pytest plugin's lines)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema

from apitape.models import Difference, InteractionReport, Outcome, RunReport
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.html import html_report
from apitape.report.json_report import report_to_dict
from apitape.report.junit import junit_xml
from apitape.report.markdown import markdown_report
from apitape.report.terminal import TerminalReport
from apitape.verdict.groups import cause_of, group_differences
from apitape.verdict.judge import JudgeOptions, judge
from apitape.verdict.latency import LatencyPolicy
from tests.unit.factories import exchange, json_response

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text()
)
GRANTED = {"data": {"id": 7, "name": "report"}, "permissions": ["read", "write"], "ok": True}
REFUSED = {"code": "precondition_failed", "message": "If-Match does not match"}


def refused_run() -> RunReport:
    """Three exchanges of one endpoint: two answered 412 instead of 200, one still 200."""
    results = []
    for number in (1, 2, 3):
        recorded = exchange(
            url=f"http://staging.example:8000/reports/{number}",
            response=json_response(GRANTED),
            exchange_id=str(number),
        )
        answer = json_response(REFUSED, 412) if number < 3 else json_response(GRANTED)
        results.append(ReplayResult(recorded, build_request(recorded, "http://t"), answer, 1.0))
    return judge(results, ["c"] * 3, "http://t", JudgeOptions(latency=LatencyPolicy(0)))


def test_a_status_change_is_one_group_with_its_body_differences_folded_under_it() -> None:
    report = refused_run()
    assert [(g.path, g.kind, g.detail, g.count) for g in report.groups or ()] == [
        ("status", "status_changed", "200 -> 412", 2),
    ]
    (status,) = report.groups or ()
    assert status.severity == "breaking"
    folded = {(c.path, c.kind, c.count, c.total) for c in status.consequences}
    assert folded == {
        ("$.data", "field_removed", 2, 3),
        ("$.permissions", "field_removed", 2, 3),
        ("$.ok", "field_removed", 2, 3),
        ("$.code", "field_added", 2, 3),
        ("$.message", "field_added", 2, 3),
    }
    # the exchanges keep every difference: only the grouping folds
    assert len(report.interactions[0].differences) == 6


def test_a_cause_takes_the_worst_severity_of_what_it_folds() -> None:
    def item(id: str) -> InteractionReport:
        return InteractionReport(
            id, "c", "GET", "http://h/x", "GET /x", Outcome.REGRESSION,
            (Difference("status", "status_changed", 200, 203),
             Difference("$.title", "field_removed", "Dune", None)),
            200, 203, 1.0, 1.0,
        )  # fmt: skip

    (group,) = group_differences([item("1"), item("2")])
    assert group.kind == "status_changed"
    assert group.severity == "breaking"  # 200 -> 203 is "changed"; the title it lost is not
    assert [c.severity for c in group.consequences] == ["breaking"]


def test_a_content_type_change_folds_the_body_but_not_other_headers() -> None:
    differences = (
        Difference("headers.content-type", "header_changed", "application/json", "text/html"),
        Difference("body", "body_format_changed", "json", "text"),
        Difference("headers.cache-control", "header_changed", "no-store", "max-age=60"),
    )
    assert cause_of(differences) is differences[0]
    item = InteractionReport(
        "1", "c", "GET", "http://h/x", "GET /x", Outcome.REGRESSION, differences, 200, 200,
        1.0, 1.0,
    )  # fmt: skip
    groups = group_differences([item])
    assert sorted(g.path for g in groups) == ["headers.cache-control", "headers.content-type"]
    (content_type,) = [g for g in groups if g.path == "headers.content-type"]
    assert [c.path for c in content_type.consequences] == ["body"]


def test_latency_is_never_folded() -> None:
    differences = (
        Difference("status", "status_changed", 200, 500),
        Difference("latency", "latency_increased", 2.0, 900.0),
    )
    item = InteractionReport(
        "1", "c", "GET", "http://h/x", "GET /x", Outcome.REGRESSION, differences, 200, 500,
        1.0, 1.0,
    )  # fmt: skip
    assert sorted(g.path for g in group_differences([item])) == ["latency", "status"]


def test_the_json_report_keeps_the_consequences_under_their_cause() -> None:
    data = report_to_dict(refused_run())
    jsonschema.validate(data, SCHEMA)
    (group,) = data["groups"]
    assert group["summary"] == "GET /reports/{id}: status changed 200 -> 412 in 2 of 3 responses"
    assert {c["path"] for c in group["consequences"]} == {
        "$.data", "$.permissions", "$.ok", "$.code", "$.message",
    }  # fmt: skip
    removed = next(c for c in group["consequences"] if c["path"] == "$.data")
    assert removed["examples"][0]["expected"] == {"id": 7, "name": "report"}
    assert removed["consequences"] == []


def test_text_reports_lead_with_the_cause_and_name_what_it_folds() -> None:
    report = refused_run()
    stream = io.StringIO()
    TerminalReport(stream, width=160).render(report)
    terminal = stream.getvalue()
    assert "status changed 200 -> 412 in 2 of 3 responses" in terminal
    assert "folds [breaking] $.data field removed in 2 of 3 responses" in terminal
    assert "$.data field removed" not in terminal.split("folds", 1)[0]

    markdown = markdown_report(report)
    rows = [line for line in markdown.splitlines() if line.startswith("| breaking")]
    assert len(rows) == 1
    assert "status changed 200 -> 412 (and 5 difference(s) it causes: $.code, $.data" in rows[0]

    junit = junit_xml(report)
    assert 'message="GET /reports/{id}: status changed 200 -&gt; 412 in 2 of 3 responses"' in junit
    assert "  folds [additive] $.code field added in 2 of 3 responses" in junit

    assert "  folds [breaking] $.permissions field removed" in report.summary()


def test_the_html_report_shows_the_cause_with_its_consequences_inside() -> None:
    report = refused_run()
    page = html_report(report, report.examples)
    assert page.count('class="group"') == 1
    assert "status changed 200 -&gt; 412 in 2 of 3 responses" in page
    assert "$.permissions field removed in 2 of 3 responses" in page
