"""Verdicts, latency, endpoints and the two report formats, on fixed exchanges."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from apitape.http.endpoints import endpoint_name
from apitape.models import Outcome, Response
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.json_report import report_to_dict, write_json_report
from apitape.report.terminal import TerminalReport
from apitape.verdict.judge import JudgeOptions, judge
from apitape.verdict.latency import LatencyPolicy, endpoint_latencies, percentile
from tests.unit.factories import exchange, json_response

TARGET = "http://127.0.0.1:9000"


def result(
    recorded_body: object,
    replayed: Response | None,
    *,
    exchange_id: str = "1",
    url: str = "http://s/books/1",
    recorded_ms: float = 2.0,
    replayed_ms: float = 2.0,
    error: str | None = None,
) -> ReplayResult:
    recorded = exchange(
        url=url,
        response=json_response(recorded_body),
        exchange_id=exchange_id,
        duration_ms=recorded_ms,
    )
    return ReplayResult(
        recorded, build_request(recorded, TARGET), replayed, None if error else replayed_ms, error
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://h/books/17", "GET /books/{id}"),
        ("http://h/books/17/reviews/3?x=1", "GET /books/{id}/reviews/{id}"),
        ("http://h/u/0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f", "GET /u/{id}"),
        ("http://h/obj/507f1f77bcf86cd799439011", "GET /obj/{id}"),
        ("http://h/books/dune", "GET /books/dune"),
        ("http://h", "GET /"),
        ("http://h/api/2.0/mlflow/runs/get", "GET /api/2.0/mlflow/runs/get"),  # the API's version
        ("http://h/api/v2/books/3", "GET /api/v2/books/{id}"),
        ("http://h/left-pad/1.0.0", "GET /left-pad/{id}"),  # a package's version is a resource
    ],
)
def test_endpoint_names_template_id_segments(url: str, name: str) -> None:
    assert endpoint_name("get", url) == name


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0


@pytest.mark.parametrize(
    ("recorded", "replayed", "slower"),
    [(2.0, 300.0, True), (2.0, 90.0, False), (200.0, 350.0, False), (None, 300.0, False)],
)
def test_slower_needs_both_factor_and_absolute_increase(
    recorded: float | None, replayed: float, slower: bool
) -> None:
    samples = [("GET /x", recorded, replayed)] * 5
    (row,) = endpoint_latencies(samples, LatencyPolicy(2.0, 100.0))
    assert row.slower is slower


def test_one_slow_answer_is_not_a_slower_endpoint() -> None:
    (row,) = endpoint_latencies([("GET /x", 2.0, 900.0)], LatencyPolicy(2.0, 100.0))
    assert row.slower is False


@pytest.mark.parametrize(
    ("replayed", "slower"),
    [
        ([5.0, 900.0], False),  # the p95 of two is the slower one: one pause, not a trend
        ([900.0, 900.0], True),
        ([5.0] * 18 + [900.0], False),  # below 20 answers the p95 is still the slowest
        ([5.0] * 17 + [900.0, 900.0], True),
        ([5.0] * 94 + [900.0] * 6, True),  # the p95 (the 95th of 100) itself is slow
        ([5.0] * 95 + [900.0] * 5, False),
    ],
)
def test_an_endpoint_is_slower_only_when_two_answers_are(
    replayed: list[float], slower: bool
) -> None:
    samples = [("GET /x", 2.0, ms) for ms in replayed]
    (row,) = endpoint_latencies(samples, LatencyPolicy(2.0, 100.0))
    assert row.slower is slower
    assert row.replayed_p95 == 900.0 or not slower  # the report still shows the true p95


def test_a_slowdown_of_the_whole_run_is_set_aside() -> None:
    """A busier machine makes every endpoint slower alike; only an endpoint slower beyond
    that counts, and a build slower everywhere is said in a note."""
    everywhere = [(f"GET /{n}", 100.0, 400.0) for n in "abcd" for _ in range(5)]
    one_more = [("GET /e", 100.0, 1500.0)] * 5
    rows = endpoint_latencies([*everywhere, *one_more], LatencyPolicy(2.0, 100.0))
    assert {row.endpoint for row in rows if row.slower} == {"GET /e"}


# POST /api/2.0/mlflow/experiments/create on an unchanged MLflow, in the test bed under load.
MLFLOW_RECORDED, MLFLOW_REPLAYED = [490.0, 663.0], [1665.0, 2781.0]


def test_few_answers_need_ten_times_not_the_factor() -> None:
    """Two answers a side cannot show an endpoint's own spread: 3.4x slower is held back
    (and said), while the same slowdown over five answers a side is a regression."""
    few = [("POST /e", r, p) for r, p in zip(MLFLOW_RECORDED, MLFLOW_REPLAYED, strict=True)]
    (row,) = endpoint_latencies(few, LatencyPolicy())
    assert (row.slower, row.held_back) == (False, True)
    (row,) = endpoint_latencies(few * 3, LatencyPolicy())  # six answers a side
    assert (row.slower, row.held_back) == (True, False)
    recorded_few = [("POST /e", MLFLOW_RECORDED[0], None)] + [("POST /e", None, 1665.0)] * 5
    (row,) = endpoint_latencies(recorded_few, LatencyPolicy())
    assert (row.slower, row.held_back) == (False, True)  # one recorded answer is few too


def test_few_answers_ten_times_slower_is_still_slower() -> None:
    (row,) = endpoint_latencies([("GET /books", 3.0, 300.0)] * 2, LatencyPolicy())
    assert (row.slower, row.held_back) == (True, False)
    (row,) = endpoint_latencies([("GET /x", 300.0, 310.0)] * 2, LatencyPolicy())
    assert (row.slower, row.held_back) == (False, False)  # not slower at all: nothing to say


def test_latency_check_can_be_turned_off() -> None:
    (row,) = endpoint_latencies([("GET /x", 1.0, 900.0)], LatencyPolicy(factor=0))
    assert row.slower is False


def test_verdicts_and_exit_status() -> None:
    results = [
        result({"a": 1}, json_response({"a": 1}), exchange_id="1"),
        result({"a": 1}, json_response({"a": "1"}), exchange_id="2"),
        result({"a": 1}, None, exchange_id="3", error="could not connect to t: connection refused"),
    ]
    report = judge(results, ["c.yaml"] * 3, TARGET)
    assert [i.outcome for i in report.interactions] == [
        Outcome.PASS,
        Outcome.REGRESSION,
        Outcome.ERROR,
    ]
    assert report.exit_status == 2
    assert judge(results[:2], ["c.yaml"] * 2, TARGET).exit_status == 1
    assert judge(results[:1], ["c.yaml"], TARGET).exit_status == 0


def test_slow_endpoint_marks_its_exchanges() -> None:
    results = [
        result(
            {"a": 1},
            json_response({"a": 1}),
            exchange_id="1",
            url="http://s/slow",
            replayed_ms=400.0,
        ),
        result(
            {"a": 1}, json_response({"a": 1}), exchange_id="2", url="http://s/fast", replayed_ms=2.5
        ),
        result(
            {"a": 1},
            json_response({"a": 1}),
            exchange_id="3",
            url="http://s/slow",
            replayed_ms=400.0,
        ),
    ]
    report = judge(results, ["c.yaml"] * 3, TARGET, JudgeOptions(latency=LatencyPolicy(2.0, 100.0)))
    slow, fast, _ = report.interactions
    assert slow.outcome is Outcome.REGRESSION
    assert [(d.path, d.kind, d.expected, d.actual) for d in slow.differences] == [
        ("latency", "latency_increased", 2.0, 400.0)
    ]
    assert fast.outcome is Outcome.PASS


def test_a_held_back_slowdown_passes_and_is_said_in_a_note() -> None:
    results = [
        result({"a": 1}, json_response({"a": 1}), exchange_id=str(n), url="http://s/e",
               recorded_ms=rec, replayed_ms=rep)
        for n, (rec, rep) in enumerate(zip(MLFLOW_RECORDED, MLFLOW_REPLAYED, strict=True))
    ]  # fmt: skip
    report = judge(results, ["c.yaml"] * 2, TARGET)
    assert [i.outcome for i in report.interactions] == [Outcome.PASS, Outcome.PASS]
    (note,) = report.notes
    assert note.startswith("not called slower, with fewer than 5 answers a side")
    assert note.endswith("(that needs 10x, not 2x): GET /e")
    assert report_to_dict(report)["latency"][0]["held_back"] is True


def test_json_report_has_the_product_schema(tmp_path: Path) -> None:
    results = [
        result({"price": 9.5}, json_response({"price": "9.50"}), exchange_id="1"),
        result({"a": 1}, None, exchange_id="2", error="no response within 30 s"),
    ]
    path = tmp_path / "out" / "r.json"
    write_json_report(judge(results, ["c.yaml"] * 2, TARGET), path)
    data = json.loads(path.read_text())
    assert data["summary"] == {
        "total": 2,
        "passed": 0,
        "regressions": 1,
        "errors": 1,
        "skipped": 0,
        "confirmations": 0,
    }
    first, second = data["interactions"]
    assert {k: first[k] for k in ("id", "method", "url", "endpoint", "outcome")} == {
        "id": "1",
        "method": "GET",
        "url": "http://s/books/1",
        "endpoint": "GET /books/{id}",
        "outcome": "regression",
    }
    assert first["differences"] == [
        {
            "path": "$.price",
            "kind": "type_changed",
            "expected": 9.5,
            "actual": "9.50",
            "expected_present": True,
            "actual_present": True,
            "severity": "breaking",
            "expected_from": "recording",
        }
    ]
    assert (second["outcome"], second["error"], second["status"]) == (
        "error",
        "no response within 30 s",
        {"expected": 200, "actual": None},
    )
    assert data["latency"][0]["endpoint"] == "GET /books/{id}"
    assert not list(tmp_path.glob("out/.*tmp*"))  # the temporary file was renamed into place


def test_terminal_report_lists_differences_and_summary() -> None:
    results = [
        result({"price": 9.5}, json_response({"price": "9.50"}), exchange_id="1"),
        result({"a": 1}, json_response({"a": 1}), exchange_id="2", url="http://s/books/2"),
    ]
    stream = io.StringIO()
    TerminalReport(stream, width=200).render(judge(results, ["c.yaml"] * 2, TARGET), verbose=True)
    text = stream.getvalue()
    assert "REGRESSION #1    GET    /books/1  GET /books/{id}  200 -> 200  2.0 ms -> 2.0 ms" in text
    assert '    $.price: type changed: 9.5 -> "9.50"' in text
    assert "pass       #2    GET    /books/2  GET /books/{id}  200 -> 200" in text
    assert "2 exchanges: 1 passed, 1 regression(s), 0 error(s)" in text


def test_report_dict_is_json_serializable_for_binary_and_text() -> None:
    binary = Response(200, "", (("Content-Type", "image/png"),), b"\x89PNG\x01")
    recorded = exchange(
        response=Response(200, "", (("Content-Type", "image/png"),), b"\x89PNG\x00")
    )
    report = judge(
        [ReplayResult(recorded, build_request(recorded, TARGET), binary, 1.0)], ["c"], TARGET
    )
    (difference,) = report_to_dict(report)["interactions"][0]["differences"]
    assert difference["kind"] == "body_changed" and difference["actual"].startswith("sha256:")
    json.dumps(report_to_dict(report))


@pytest.mark.parametrize(
    "url",
    [
        "http://h/a/b?x=1#f",
        "http://h",
        "http://h?x=/y",
        "http://h#/z",
        "https://u:p@h:8/p;q?x",
        "http://h/a%20b/",
        "/rel/path?x",
        "http://h/a?b#c/d",
        "http://h//double",
        "http://[::1]:8080/v6?x",
    ],
)
def test_url_path_and_origin_agree_with_urlsplit(url: str) -> None:
    from urllib.parse import urlsplit

    from apitape.http.endpoints import origin, url_path

    parts = urlsplit(url)
    assert url_path(url) == (parts.path or "/")
    if parts.scheme:
        assert origin(url) == f"{parts.scheme}://{parts.netloc}"


@pytest.mark.parametrize("depth", [900, 5000])
def test_an_answer_nested_past_the_stack_is_an_error_of_its_exchange_not_a_crash(
    depth: int,
) -> None:
    body = ("[" * depth + "2" + "]" * depth).encode()
    replayed = Response(200, "OK", (("Content-Type", "application/json"),), body)
    report = judge([result([[1]], replayed)], ["c.yaml"], TARGET)
    (item,) = report.interactions
    # too deep to parse: compared as text (a regression); parsed but too deep to walk: an error
    assert item.outcome in (Outcome.ERROR, Outcome.REGRESSION)
    if item.outcome is Outcome.ERROR:
        assert "nested too deeply" in (item.error or "")


def test_each_kind_of_run_says_what_it_compared() -> None:
    from dataclasses import replace

    report = judge([result({"a": 1}, json_response({"a": 1}))], ["a.yaml"], TARGET)

    def first_lines(report: object) -> list[str]:
        out = io.StringIO()
        TerminalReport(out).render(report)  # type: ignore[arg-type]
        return out.getvalue().splitlines()

    assert first_lines(report)[0].startswith("apitape replay of 1 exchange(s) from a.yaml against")
    assert first_lines(replace(report, run="diff"))[0].startswith(
        "apitape diff of 1 exchange(s) of a.yaml"
    )
    three_way = first_lines(replace(report, expected_from="baseline"))
    assert "against the baseline" in three_way[0]
    assert any("baseline p50" in line and "candidate p50" in line for line in three_way)
    assert report_to_dict(replace(report, run="diff"))["run"] == "diff"


def test_the_judge_counts_each_exchange_under_the_endpoint_its_result_carries() -> None:
    body = {"id": 1}
    made = [
        result(body, json_response(body), url=f"http://h/books/{i}", exchange_id=str(i))
        for i in range(3)
    ]
    named = [replace(r, endpoint="GET /books/{book_id}") for r in made]
    report = judge(named, ["c"] * 3, TARGET)
    assert {i.endpoint for i in report.interactions} == {"GET /books/{book_id}"}
    assert [row.endpoint for row in report.latency] == ["GET /books/{book_id}"]
