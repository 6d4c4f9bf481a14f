"""The HTML report's pictures: body differences line by line, charts, and its size at the
5,000 exchanges it lists."""

from __future__ import annotations

import json
import time

from apitape.models import Difference, EndpointLatency, InteractionReport, Outcome, RunReport
from apitape.report.bodydiff import ROWS_SHOWN, body_diff
from apitape.report.html import html_report
from tests.unit.factories import exchange, json_response


def test_a_json_diff_pairs_changed_lines_and_folds_the_rest() -> None:
    before = {"items": [{"id": n, "name": f"item {n}", "price": 1.5} for n in range(50)]}
    after = json.loads(json.dumps(before))
    after["items"][25]["price"] = "1.50"
    del after["items"][40]["name"]
    after["items"][45]["tag"] = "new"
    diff = body_diff(json.dumps(before).encode(), json.dumps(after).encode())
    assert diff.mode == "json"
    kinds = [row.kind for row in diff.rows]
    # the price; the comma that "tag" brought after the last price; the name; the tag
    assert kinds.count("changed") == 2 and kinds.count("removed") == 1
    assert kinds.count("added") == 1
    changed = next(row for row in diff.rows if row.kind == "changed")
    assert (changed.left.strip(), changed.right.strip()) == ('"price": 1.5', '"price": "1.50"')
    assert changed.left_no == changed.right_no
    folds = [row for row in diff.rows if row.kind == "fold"]
    assert folds and len(diff.rows) < 40  # 250 lines folded to the three places that differ
    assert sum(int(f.text.split()[0]) for f in folds) > 200


def test_text_is_unified_binary_is_named_and_equal_bodies_say_so() -> None:
    assert body_diff(b"a\nb\nc\n", b"a\nB\nc\n").mode == "text"
    binary = body_diff(b"\xff\x00", b"\xfe")
    assert binary.mode == "binary" and "(2 bytes)" in binary.note and "(1 bytes)" in binary.note
    assert body_diff(b'{"a": 1}', b'{"a":1}').mode == "same"


def test_a_huge_difference_is_cut_to_a_number_of_rows() -> None:
    before = "\n".join(f"line {n}" for n in range(3000)).encode()
    after = "\n".join(f"LINE {n}" for n in range(3000)).encode()
    diff = body_diff(before, after)
    assert len(diff.rows) == ROWS_SHOWN
    assert "more rows not shown" in diff.note


def big_run(count: int) -> RunReport:
    """`count` exchanges over 20 endpoints; one in ten differs, one in fifty got no answer."""
    items = []
    for n in range(count):
        endpoint = f"GET /things{n % 20}/{{id}}"
        differences: tuple[Difference, ...] = ()
        outcome = Outcome.PASS
        if n % 10 == 0:
            outcome = Outcome.REGRESSION
            differences = (Difference("$.price", "type_changed", 9.5, "9.50"),)
        if n % 50 == 7:
            outcome = Outcome.ERROR
        items.append(
            InteractionReport(
                str(n), "big.yaml", "GET", f"http://staging:8000/things{n % 20}/{n}", endpoint,
                outcome, differences, 200, None if outcome is Outcome.ERROR else 200,
                2.0 + n % 7, 3.0 + n % 11,
            )
        )  # fmt: skip
    latency = tuple(
        EndpointLatency(f"GET /things{e}/{{id}}", count // 20, 4.0, 5.0, 6.0, 9.0, e == 3)
        for e in range(20)
    )
    from apitape.verdict.groups import group_differences

    examples = {
        i.id: (
            exchange(response=json_response({"id": int(i.id), "price": 9.5, "name": "x" * 40})),
            json_response({"id": int(i.id), "price": "9.50", "name": "x" * 40}),
        )
        for i in items
        if i.differences
    }
    groups = tuple(group_differences(items))
    return RunReport("http://t", ("big.yaml",), tuple(items), latency, groups=groups,
                     examples=examples)  # fmt: skip


def test_five_thousand_exchanges_make_a_page_of_a_few_megabytes() -> None:
    report = big_run(5000)
    started = time.perf_counter()
    page = html_report(report, report.examples)
    took = time.perf_counter() - started
    size = len(page.encode())
    print(f"5,000 exchanges: {size / 1e6:.2f} MB in {took:.1f} s")
    assert size < 4_000_000
    assert page.count("<tr data-endpoint=") >= 5000  # every exchange listed
    assert page.count('class="latency-chart"') == 20
    assert took < 30
