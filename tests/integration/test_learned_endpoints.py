"""A capture whose service hands out short random ids names one endpoint per route, not one
per resource, and the report says where the names were learned."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
from pathlib import Path
from typing import ClassVar

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
    assert "4 exchanges compared with the answers recorded at http://svc.example" in result.stdout
    assert any(
        "endpoint name /posts/{id} learned from the traffic" in note
        and "produced by earlier answers" in note
        for note in report["notes"]
    ), report["notes"]


class _PostsHandler(http.server.BaseHTTPRequestHandler):
    """Hands out the recorded ids in order; the second post's title has changed."""

    made: ClassVar[list[str]] = []

    def _answer(self, value: object) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        post_id = ("3QiPNqZ", "x7Yq2Lm")[len(self.made) % 2]
        self.made.append(post_id)
        self._answer({"id": post_id})

    def do_GET(self) -> None:
        post_id = self.path.rsplit("/", 1)[1]
        self._answer({"id": post_id, "title": "first" if post_id == "3QiPNqZ" else "renamed"})

    def log_message(self, *args: object) -> None:
        pass


def replay_posts(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    write_cassette(tmp_path / "a.yaml", capture("second"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PostsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = f"http://127.0.0.1:{server.server_port}"
        report_path = tmp_path / "report.json"
        return run_apitape(
            "replay", "a.yaml", "--target", target, "--report-json", str(report_path), *extra,
            cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()


def test_replay_names_learned_endpoints_in_every_part_of_the_report(tmp_path: Path) -> None:
    """Learned as the cassette streams, applied when the report is made: groups, latency
    rows and verdicts all say GET /posts/{id}, never a resource's own id."""
    result = replay_posts(tmp_path)
    report_path = tmp_path / "report.json"
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert {(g["endpoint"], g["path"]) for g in report["groups"]} == {
        ("GET /posts/{id}", "$.title")
    }
    assert [row["endpoint"] for row in report["latency"]] == ["GET /posts/{id}", "POST /posts"]
    assert [row["count"] for row in report["latency"]] == [2, 2]
    assert {i["endpoint"] for i in report["interactions"]} == {"POST /posts", "GET /posts/{id}"}
    assert any("endpoint name /posts/{id} learned" in note for note in report["notes"])


def test_a_rule_for_a_learned_endpoint_name_applies(tmp_path: Path) -> None:
    """A name copied from the report into apitape.yaml matches while judging."""
    config = tmp_path / "apitape.yaml"
    config.write_text('endpoints:\n  "GET /posts/{id}":\n    ignore: ["$.title"]\n')
    result = replay_posts(tmp_path, "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert ("GET /posts/{id}", "$.title") in {(i["endpoint"], i["path"]) for i in report["ignored"]}
