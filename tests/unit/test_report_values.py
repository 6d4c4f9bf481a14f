"""How every report writes a difference's values: null is not absent, long texts show where
they differ, and the HTML page shows each example exchange once (issue 18 item 8)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from apitape.compare.diff import TEXT_EXCERPT, diff_bodies, diff_values
from apitape.http.bodies import ParsedBody
from apitape.models import Difference, Response, RunReport
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.html import html_report
from apitape.report.json_report import report_to_dict
from apitape.report.junit import junit_xml
from apitape.report.terminal import TerminalReport
from apitape.report.values import first_difference, shown, shown_pair, window
from apitape.verdict.judge import judge
from tests.unit.factories import exchange, json_response

TARGET = "http://127.0.0.1:9000"
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())


def replay(*pairs: tuple[Response, Response]) -> RunReport:
    results = []
    for number, (recorded, replayed) in enumerate(pairs, 1):
        made = exchange(url=f"http://s/books/{number}", response=recorded, exchange_id=str(number))
        results.append(ReplayResult(made, build_request(made, TARGET), replayed, 2.0))
    return judge(results, ["c.yaml"] * len(results), TARGET)


def terminal(report: RunReport) -> str:
    stream = io.StringIO()
    TerminalReport(stream, width=200).render(report, verbose=True)
    return stream.getvalue()


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        # a null that went away: removed from null (present) to nothing
        ({"title": None}, {}, Difference("$.title", "field_removed", None, None, True, False)),
        # a field that became null is a change of type to a present null, not a removal
        ({"title": "Dune"}, {"title": None}, Difference("$.title", "type_changed", "Dune", None)),
        ({"title": None}, {"title": "Dune"}, Difference("$.title", "type_changed", None, "Dune")),
        ({}, {"title": None}, Difference("$.title", "field_added", None, None, False, True)),
        ([{"t": None}], [{}], Difference("$[0].t", "field_removed", None, None, True, False)),
        ([1, None], [1], Difference("$[1]", "item_removed", None, None, True, False)),
        ([1], [1, None], Difference("$[1]", "item_added", None, None, False, True)),
    ],
)
def test_null_is_a_value_and_absent_is_not(
    before: object, after: object, expected: Difference
) -> None:
    assert diff_values(before, after) == [expected]


def test_the_added_and_removed_kinds_mark_their_missing_side() -> None:
    assert not Difference("$.a", "field_removed", None, None).actual_present
    assert Difference("$.a", "field_removed", None, None).expected_present
    assert not Difference("headers.vary", "header_added", None, "x").expected_present
    assert Difference("$.a", "value_changed", None, None).actual_present


def test_every_report_tells_null_from_absent() -> None:
    report = replay(
        (json_response({"title": None, "id": 1}), json_response({"id": 1})),
        (json_response({"title": "Dune", "id": 2}), json_response({"title": None, "id": 2})),
    )
    text = terminal(report)
    assert "$.title: field removed: null -> (absent)" in text
    assert '$.title: type changed: "Dune" -> null' in text
    assert "(absent) -> (absent)" not in text
    assert "#1: null -> (absent)" in text and '#2: "Dune" -> null' in text  # the groups

    data = report_to_dict(report)
    jsonschema.validate(data, SCHEMA)
    first, second = (i["differences"][0] for i in data["interactions"])
    assert (first["kind"], first["expected"], first["actual"]) == ("field_removed", None, None)
    assert (first["expected_present"], first["actual_present"]) == (True, False)
    assert (second["kind"], second["actual"], second["actual_present"]) == (
        "type_changed",
        None,
        True,
    )
    examples = {g["kind"]: g["examples"][0] for g in data["groups"]}
    assert examples["field_removed"]["actual_present"] is False
    assert examples["type_changed"]["actual_present"] is True

    xml = junit_xml(report)
    assert "e.g. #1: null -&gt; (absent)" in xml
    assert 'e.g. #2: "Dune" -&gt; null' in xml

    page = html_report(report, report.examples)
    assert "<mark>null</mark></td><td><mark>(absent)</mark>" in page
    assert "<mark>&#34;Dune&#34;</mark></td><td><mark>null</mark>" in page


def test_the_schema_refuses_a_value_on_a_side_that_is_not_there() -> None:
    data = report_to_dict(
        replay((json_response({"title": None, "id": 1}), json_response({"id": 1})))
    )
    data["interactions"][0]["differences"][0]["actual"] = "ghost"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_a_long_text_body_is_cut_around_where_it_differs() -> None:
    same = "lorem ipsum " * 1000
    before, after = same + "price 10" + same, same + "price 12" + same
    (difference,) = diff_bodies(ParsedBody("text", before), ParsedBody("text", after))
    assert difference.expected != difference.actual
    assert "price 10" in difference.expected and "price 12" in difference.actual
    assert len(difference.expected) < TEXT_EXCERPT + 60
    assert difference.expected.startswith("...")  # 500 characters before "price 1[02]"
    assert difference.expected.endswith(f"(characters 11508 to 13507 of {len(before)})")
    # a difference near the start keeps the excerpt from the first character, as before
    (early,) = diff_bodies(ParsedBody("text", "a" + same), ParsedBody("text", "b" + same))
    assert early.expected == ("a" + same)[:TEXT_EXCERPT] + f"... ({len(same) + 1} characters)"
    # one text that ends where the other goes on: both excerpts show that place
    (cut,) = diff_bodies(ParsedBody("text", same * 2), ParsedBody("text", same))
    assert cut.actual.endswith(f"(characters {len(same) - 1999} to {len(same)} of {len(same)})")
    assert f"characters {len(same) - 499} to" in cut.expected


def test_the_one_line_summary_shows_the_differing_part_on_both_sides() -> None:
    same = "x" * 3000
    response = Response(200, "OK", (("Content-Type", "text/plain"),), (same + "A" + same).encode())
    changed = Response(200, "OK", (("Content-Type", "text/plain"),), (same + "B" + same).encode())
    line = next(
        line for line in terminal(replay((response, changed))).splitlines() if "body:" in line
    )
    before, after = line.split(": body changed: ", 1)[1].split(" -> ")
    assert before != after
    assert "A" in before and "B" in after
    assert len(before) <= 120 and len(after) <= 120


@pytest.mark.parametrize(
    ("a", "b", "at"),
    [("", "", 0), ("abc", "abc", 3), ("abc", "abd", 2), ("ab", "abc", 2), ("x", "y", 0)],
)
def test_first_difference(a: str, b: str, at: int) -> None:
    assert first_difference(a, b) == at


def test_window_keeps_the_place_in_view() -> None:
    text = "0123456789" * 10
    assert window(text, 95, 20).startswith("...") and window(text, 95, 20).endswith("9")
    assert window(text, 2, 20) == text[:17] + "..."
    middle = window(text, 50, 20)
    assert middle.startswith("...") and middle.endswith("...") and "0" in middle
    assert len(window(text, 50, 20)) == 20
    token = "eyJhbGciOiJIUzI1NiJ9." + "a" * 100
    assert shown_pair(token + "1", token + "2", 40)[0].endswith('1"')
    assert shown(None) == "null" and shown(None, False) == "(absent)"


def test_the_html_report_shows_each_example_exchange_once() -> None:
    # one exchange with three differences: three groups, one example exchange
    report = replay(
        (
            json_response({"price": 9.5, "title": "Dune", "isbn": "978"}),
            json_response({"price": "9.50", "title": None, "year": 1965}),
        )
    )
    page = html_report(report, report.examples)
    assert len(report.groups or ()) >= 3
    assert page.count('<table class="diff json">') == 1  # the two bodies side by side, once
    assert page.count('<section id="example-1"') == 1
    assert page.count('<a href="#example-1">#1</a>') == len(report.groups or ())
    for number in range(1, len(report.groups or ()) + 1):
        assert f'<details id="group-{number}"' in page
        assert f'<a href="#group-{number}">' in page
    assert not re.search(r"""\bhref\s*=\s*(?!["']?#)""", page)  # links stay on the page
