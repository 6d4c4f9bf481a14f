"""Severity, grouping across exchanges, --fail-on and the Markdown summary."""

from __future__ import annotations

import pytest

from apitape.models import Difference, InteractionReport, Outcome, RunReport
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.markdown import markdown_report
from apitape.verdict.groups import group_differences, severity
from apitape.verdict.judge import JudgeOptions, judge
from apitape.verdict.latency import LatencyPolicy
from tests.unit.factories import exchange, json_response


@pytest.mark.parametrize(
    ("difference", "level"),
    [
        (Difference("status", "status_changed", 200, 500), "breaking"),
        (Difference("status", "status_changed", 201, 200), "changed"),
        (Difference("$.isbn", "field_removed", "x", None), "breaking"),
        (Difference("$.price", "type_changed", 9.5, "9.50"), "breaking"),
        (Difference("body", "body_format_changed", "json", "text"), "breaking"),
        (Difference("headers.location", "header_removed", "/a", None), "breaking"),
        (Difference("$.price", "value_changed", 9.5, 9.9), "changed"),
        (Difference("$.tags[1]", "item_added", None, "x"), "changed"),
        (Difference("latency", "latency_increased", 1.0, 300.0), "changed"),
        (Difference("$.new", "field_added", None, 1), "additive"),
        (Difference("headers.vary", "header_added", None, "Accept"), "additive"),
    ],
)
def test_severity(difference: Difference, level: str) -> None:
    assert severity(difference) == level


def interaction(
    id: str, endpoint: str, *differences: Difference, outcome: Outcome = Outcome.REGRESSION
) -> InteractionReport:
    return InteractionReport(
        id, "c", "GET", "http://h/x", endpoint, outcome, differences, 200, 200, 1.0, 1.0
    )


def test_groups_count_exchanges_once_and_put_the_worst_first() -> None:
    isbn = [Difference(f"$.items[{i}].isbn", "field_removed", "x", None) for i in range(10)]
    groups = group_differences([
        interaction("1", "GET /books", *isbn),
        interaction("2", "GET /books", *isbn[:3], Difference("$.count", "value_changed", 1, 2)),
        interaction("3", "GET /books"),
        interaction("4", "GET /books", outcome=Outcome.ERROR),
        interaction("5", "GET /books/{id}", Difference("$.price", "type_changed", 9.5, "9.50")),
    ])  # fmt: skip
    assert [(g.endpoint, g.path, g.severity, g.count, g.total) for g in groups] == [
        ("GET /books/{id}", "$.price", "breaking", 1, 1),
        ("GET /books", "$.items[*].isbn", "breaking", 2, 3),
        ("GET /books", "$.count", "changed", 1, 3),
    ]
    assert (
        groups[0].summary
        == "GET /books/{id}: $.price type changed float -> str in 1 of 1 responses"
    )
    assert [e.id for e in groups[1].examples] == ["1", "2"]


def judged(fail_on: str) -> RunReport:
    recorded = exchange(response=json_response({"a": 1}))
    added = json_response({"a": 1, "new": True})
    result = ReplayResult(recorded, build_request(recorded, "http://t"), added, 1.0)
    return judge(
        [result], ["c"], "http://t", JudgeOptions(latency=LatencyPolicy(0), fail_on=fail_on)
    )


def test_fail_on_decides_what_is_a_regression() -> None:
    assert judged("additive").exit_status == 1
    lenient = judged("changed")
    assert lenient.exit_status == 0
    assert lenient.interactions[0].differences  # still listed, just not failing


def test_markdown_summary_has_counts_and_a_table() -> None:
    recorded = exchange(response=json_response({"price": 9.5}))
    result = ReplayResult(
        recorded, build_request(recorded, "http://t"), json_response({"price": "9.50"}), 1.0
    )
    text = markdown_report(judge([result], ["c"], "http://t"))
    assert text.startswith("### apitape: regressions found\n")
    assert (
        "1 exchanges against `http://t`: **0 passed**, **1 regression(s)**, **0 error(s)**" in text
    )
    assert (
        "| breaking | `GET /books/{id}` | `$.price` | type changed float -> str | 1 of 1 |" in text
    )
    assert "http" not in text.split("|", 1)[1]  # the table itself carries no links


def test_markdown_escapes_table_cells() -> None:
    report = RunReport(
        "http://t",
        ("c",),
        (interaction("1", "GET /a|b", Difference("$.x", "value_changed", 1, 2)),),
        (),
    )
    assert "`GET /a\\|b`" in markdown_report(report)
