"""Golden files for the text formats, on a fixed run: the committed bookstore session judged
against answers a v2 would give (planted regressions), timings fixed so nothing varies."""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from apitape.cassette import load_cassette
from apitape.models import Response, RunReport
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.junit import junit_xml
from apitape.report.markdown import markdown_report
from apitape.report.terminal import TerminalReport
from apitape.verdict.judge import JudgeOptions, judge
from apitape.verdict.latency import LatencyPolicy

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
TARGET = "http://127.0.0.1:9000"


def v2_answer(method: str, path: str, response: Response) -> Response:
    """What bookstore v2 at TARGET answers where v1 answered `response`: the planted
    regressions, and its own address in Location."""

    def moved(url: str) -> str:
        return TARGET + "/" + url.split("://", 1)[1].split("/", 1)[1]

    headers = tuple((n, moved(v) if n.lower() == "location" else v) for n, v in response.headers)
    response = replace(response, headers=headers)
    if response.status == 201:
        return replace(response, status=200, reason="OK")
    if not response.body.startswith(b"{"):
        return response
    body = json.loads(response.body)
    if method == "GET" and path.startswith("/books/") and "price" in body:
        body["price"] = f"{body['price']:.2f}"
    if path == "/books" and "items" in body:
        for item in body["items"]:
            item.pop("isbn")
    return replace(response, body=json.dumps(body).encode())


@pytest.fixture(scope="module")
def fixed_run() -> RunReport:
    exchanges = load_cassette(REPO / "cassettes" / "bookstore.yaml").exchanges
    results = []
    for exchange in exchanges:
        exchange = replace(exchange, duration_ms=2.0)
        path = exchange.request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        slow = path == "books" and exchange.request.method == "GET"  # the planted slowdown
        results.append(
            ReplayResult(
                exchange,
                build_request(exchange, TARGET),
                v2_answer(exchange.request.method, f"/{path}", exchange.response),
                300.0 if slow else 2.0,
            )
        )
    return judge(
        results,
        ["cassettes/bookstore.yaml"] * len(results),
        TARGET,
        JudgeOptions(latency=LatencyPolicy()),
    )


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("APITAPE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), (
        f"{name} changed; rerun with APITAPE_UPDATE_GOLDEN=1 if that is intended"
    )


def test_markdown_golden(fixed_run: RunReport) -> None:
    check("report.md", markdown_report(fixed_run))


def test_junit_golden(fixed_run: RunReport) -> None:
    check("report.junit.xml", junit_xml(fixed_run))


def test_terminal_golden(fixed_run: RunReport) -> None:
    stream = io.StringIO()
    TerminalReport(stream, width=120).render(fixed_run)
    check("report.txt", stream.getvalue())
