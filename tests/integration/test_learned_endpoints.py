"""A capture whose service hands out short random ids names one endpoint per route, not one
per resource, and the report says where the names were learned."""

from __future__ import annotations

import json
from pathlib import Path

from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from tests.integration.conftest import run_apitape

JSON = (("Content-Type", "application/json"),)


def capture(title_of_second: str) -> list[Exchange]:
    """Two posts created (ids the service made, no Location), then each read."""

    def answered(i: int, method: str, path: str, value: object) -> Exchange:
        request = Request(method, f"http://svc.example{path}", (), b"")
        response = Response(200, "OK", JSON, json.dumps(value).encode())
        return Exchange(str(i), request, response, duration_ms=1.0)

    return [
        answered(1, "POST", "/posts", {"id": "3QiPNqZ"}),
        answered(2, "POST", "/posts", {"id": "x7Yq2Lm"}),
        answered(3, "GET", "/posts/3QiPNqZ", {"id": "3QiPNqZ", "title": "first"}),
        answered(4, "GET", "/posts/x7Yq2Lm", {"id": "x7Yq2Lm", "title": title_of_second}),
    ]


def test_diff_groups_random_ids_under_one_endpoint(tmp_path: Path) -> None:
    write_cassette(tmp_path / "a.yaml", capture("second"))
    write_cassette(tmp_path / "b.yaml", capture("renamed"))
    report_path = tmp_path / "report.json"
    result = run_apitape(
        "diff", "a.yaml", "b.yaml", "--report-json", str(report_path), cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(report_path.read_text())
    endpoints = {row["endpoint"] for row in report["groups"]}
    assert endpoints == {"GET /posts/{id}"}
    assert "GET /posts/x7Yq2Lm" not in result.stdout
    assert any(
        "endpoint name /posts/{id} learned from the traffic" in note
        and "produced by earlier answers" in note
        for note in report["notes"]
    ), report["notes"]
