"""`apitape contract`: real traffic, recorded through the real recorder, against OpenAPI documents."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from apitape.demo import bookstore
from apitape.jsonpath import generalize
from tests.bookstore_cassette import SECRET_ARGS
from tests.integration.conftest import REPO, RunningProxy, run_apitape

BOOKSTORE_SPEC = REPO / "examples" / "bookstore" / "openapi.yaml"
PETSTORE_SPEC = REPO / "tests" / "fixtures" / "petstore" / "openapi.yaml"
CLIENT = REPO / "examples" / "bookstore" / "client.py"


def contract_schema() -> dict[str, Any]:
    return json.loads((REPO / "docs" / "contract-report.schema.json").read_text())


def check(*args: str, report: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = run_apitape("contract", *args, "--report-json", str(report))
    data = json.loads(report.read_text()) if report.is_file() else {}
    if data:
        jsonschema.validate(data, contract_schema())
    return result, data


def violations(data: dict[str, Any]) -> set[tuple[str, str, str, str, Any]]:
    """(operation, path with [*] for indices, kind, expected as JSON, actual) of every violation."""
    return {
        (v["operation"], generalize(d["path"]), d["kind"], json.dumps(d["expected"]), d["actual"])
        for v in data["violations"]
        for d in v["differences"]
    }


def record_client_session(
    start_proxy: Callable[..., RunningProxy], target: str, cassette: Path
) -> Path:
    proxy = start_proxy(target, cassette=cassette)
    result = subprocess.run(
        [sys.executable, str(CLIENT), "--base-url", proxy.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert proxy.stop() == 0
    return cassette


def test_a_v1_recording_conforms(tmp_path: Path) -> None:
    result, data = check(
        str(REPO / "cassettes" / "bookstore.yaml"),
        "--openapi",
        str(BOOKSTORE_SPEC),
        report=tmp_path / "contract.json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["summary"] == {"checked": 17, "conforming": 17, "violating": 0}
    assert "17 exchanges: 17 conform, 0 violate the document" in result.stdout


def test_a_json_lines_cassette_is_checked_as_it_streams(tmp_path: Path) -> None:
    lines = tmp_path / "bookstore.jsonl"
    converted = run_apitape("convert", str(REPO / "cassettes" / "bookstore.yaml"), str(lines))
    assert converted.returncode == 0, converted.stderr
    result, data = check(str(lines), "--openapi", str(BOOKSTORE_SPEC), report=tmp_path / "c.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["summary"] == {"checked": 17, "conforming": 17, "violating": 0}


def test_a_v2_recording_breaks_the_document_where_v2_was_changed(
    start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        cassette = record_client_session(start_proxy, v2, tmp_path / "v2.yaml")
    result, data = check(
        str(cassette), "--openapi", str(BOOKSTORE_SPEC), report=tmp_path / "contract.json"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # The planted type change, with its operation and JSON path; v2's other planted
    # regressions that the document also forbids (items without isbn, 200 for a create);
    # nothing else: no latency, no per-run values, no request the service refused.
    assert violations(data) == {
        ("GET /books/{bookId}", "$.price", "contract_body", '"number"', "string"),
        ("GET /books", "$.items[*].isbn", "contract_body", '"required"', None),
        ("POST /books", "status", "contract_status", '["201", "400", "401", "422"]', 200),
    }
    price = next(g for g in data["groups"] if g["path"] == "$.price")
    assert price["summary"] == (
        "GET /books/{bookId}: $.price contract body (number expected, string found) "
        "in 5 of 7 responses"
    )
    assert price["severity"] == "breaking"
    assert price["summary"] in result.stdout


def test_coverage_of_part_of_the_api_with_an_undocumented_endpoint(
    start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    with bookstore(1, tmp_path / "v1.sqlite3") as v1:
        proxy = start_proxy(v1, cassette=tmp_path / "part.yaml")
        with httpx.Client(base_url=proxy.url, trust_env=False) as client:
            assert client.get("/health").status_code == 200
            for book in (1, 2, 9999):
                client.get(f"/books/{book}")
            served = [client.get("/openapi.yaml") for _ in range(2)]
            assert client.get("/no/such/thing").status_code == 404
        assert proxy.stop() == 0
    assert served[0].content == BOOKSTORE_SPEC.read_bytes()
    assert served[0].headers["content-type"] == "application/yaml"
    result, data = check(
        str(tmp_path / "part.yaml"),
        "--openapi",
        str(BOOKSTORE_SPEC),
        report=tmp_path / "contract.json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    coverage = data["contract"]["coverage"]
    assert coverage["unexercised"] == [
        "POST /login",
        "GET /books",
        "POST /books",
        "PUT /books/{bookId}",
        "DELETE /books/{bookId}",
    ]
    assert coverage["undocumented"] == [
        {"endpoint": "GET /openapi.yaml", "count": 2},
        {"endpoint": "GET /no/such/thing", "count": 1},
    ]
    by_operation = {row["operation"]: row for row in coverage["operations"]}
    assert by_operation["GET /books/{bookId}"]["statuses_seen"] == {"200": 2, "404": 1}
    assert by_operation["GET /books/{bookId}"]["statuses_unseen"] == []
    assert by_operation["GET /health"]["statuses_seen"] == {"200": 1}
    assert by_operation["POST /books"]["statuses_unseen"] == ["201", "400", "401", "422"]
    assert "Undocumented endpoints hit: GET /openapi.yaml (2), GET /no/such/thing (1)" in (
        result.stdout
    )


# --------------------------------------------------------------------------- Petstore

PETS = {1: {"id": 1, "name": "doggie", "photoUrls": ["https://example.com/d.png"],
            "status": "available"},
        2: {"id": 2, "name": "kitty", "photoUrls": [], "status": "sold"}}  # fmt: skip


class PetstoreHandler(BaseHTTPRequestHandler):
    """A few Petstore operations under /api/v3; findByStatus leaves out `photoUrls`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/api/v3/pet/findByStatus":
            wanted = query.partition("status=")[2] or "available"
            # The planted bug: a summary of each pet, without the required photoUrls.
            self.answer(200, [{"id": p["id"], "name": p["name"], "status": p["status"]}
                              for p in PETS.values() if p["status"] == wanted])  # fmt: skip
        elif path.startswith("/api/v3/pet/") and path.rsplit("/", 1)[1].isdigit():
            pet = PETS.get(int(path.rsplit("/", 1)[1]))
            self.answer(200, pet) if pet else self.answer(404, None)
        elif path == "/api/v3/store/inventory":
            counts: dict[str, int] = {}
            for pet in PETS.values():
                counts[str(pet["status"])] = counts.get(str(pet["status"]), 0) + 1
            self.answer(200, counts)
        else:
            self.answer(404, None)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/api/v3/store/order":
            self.answer(200, {**body, "status": "placed", "complete": False})
        elif self.path == "/api/v3/pet":
            self.answer(200, {**body, "id": 3})
        else:
            self.answer(404, None)

    def answer(self, status: int, value: object) -> None:
        payload = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        if value is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def petstore() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PetstoreHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_petstore_service_breaks_one_documented_operation(
    petstore: str, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(petstore, cassette=tmp_path / "petstore.yaml")
    oauth = {"Authorization": "Bearer a-token"}
    with httpx.Client(base_url=f"{proxy.url}/api/v3", trust_env=False) as client:
        assert client.get("/pet/1", headers={"api_key": "special-key"}).status_code == 200
        assert client.get("/pet/7", headers={"api_key": "special-key"}).status_code == 404
        client.get("/pet/findByStatus", params={"status": "available"}, headers=oauth)
        client.get("/pet/findByStatus", params={"status": "sold"}, headers=oauth)
        client.get("/store/inventory", headers={"api_key": "special-key"})
        client.post("/store/order", json={"id": 5, "petId": 1, "quantity": 1})
        new_pet = {"name": "rex", "photoUrls": [], "status": "pending"}
        assert client.post("/pet", json=new_pet, headers=oauth).status_code == 200
    assert proxy.stop() == 0
    result, data = check(
        str(tmp_path / "petstore.yaml"),
        "--openapi",
        str(PETSTORE_SPEC),
        report=tmp_path / "contract.json",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert violations(data) == {
        ("GET /pet/findByStatus", "$[*].photoUrls", "contract_body", '"required"', None)
    }
    assert data["summary"] == {"checked": 7, "conforming": 5, "violating": 2}
    coverage = data["contract"]["coverage"]
    assert coverage["undocumented"] == []
    assert "GET /pet/findByTags" in coverage["unexercised"]
    by_operation = {row["operation"]: row for row in coverage["operations"]}
    assert by_operation["GET /pet/{petId}"]["statuses_seen"] == {"200": 1, "404": 1}
    assert by_operation["GET /pet/{petId}"]["statuses_unseen"] == ["400"]


# --------------------------------------------------------------------------- bad documents


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a: [\n", "bad.yaml, line 5"),
        (
            "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n"
            "      responses:\n        '200': {$ref: '#/components/responses/Gone'}\n",
            "bad.yaml, line 7 (at #/paths/~1a/get/responses/200/$ref)",
        ),
        (
            'swagger: "2.0"\ninfo: {title: x, version: "1"}\npaths: {}\n',
            "bad.yaml, line 1 (at #/swagger)",
        ),
    ],
    ids=["unparseable", "unresolved-ref", "swagger-2"],
)
def test_a_bad_document_is_exit_2_with_its_location(
    document: str, where: str, tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(document)
    result = run_apitape(
        "contract", str(REPO / "cassettes" / "bookstore.yaml"), "--openapi", str(spec)
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"apitape: error: {spec.parent}/{where}: ")
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- replay


def test_replay_against_v2_with_the_document_reports_its_violations(tmp_path: Path) -> None:
    report, page = tmp_path / "report.json", tmp_path / "report.html"
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        result = run_apitape(
            "replay",
            str(REPO / "cassettes" / "bookstore.yaml"),
            "--target",
            v2,
            *SECRET_ARGS,
            "--openapi",
            str(BOOKSTORE_SPEC),
            "--report-json",
            str(report),
            "--report-html",
            str(page),
        )
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(report.read_text())
    found = {
        (i["endpoint"], generalize(d["path"]), d["kind"], json.dumps(d["expected"]), d["actual"])
        for i in data["interactions"]
        for d in i["differences"]
        if d["kind"].startswith("contract_")
    }
    assert found == {
        ("GET /books/{bookId}", "$.price", "contract_body", '"number"', "string"),
        ("GET /books", "$.items[*].isbn", "contract_body", '"required"', None),
        ("POST /books", "status", "contract_status", '["201", "400", "401", "422"]', 200),
    }
    # Every endpoint is named by the document's templates, the replay's own findings too.
    assert {i["endpoint"] for i in data["interactions"]} == {
        "GET /health",
        "POST /login",
        "GET /books",
        "POST /books",
        "GET /books/{bookId}",
        "PUT /books/{bookId}",
        "DELETE /books/{bookId}",
    }
    summaries = [g["summary"] for g in data["groups"]]
    assert (
        "GET /books/{bookId}: $.price contract body (number expected, string found) "
        "in 5 of 7 responses"
    ) in summaries
    assert "GET /books/{bookId}: $.price type changed float -> str in 5 of 7 responses" in (
        summaries
    )
    jsonschema.validate(data["contract"], contract_schema()["$defs"]["contract"])
    assert data["contract"]["coverage"]["unexercised"] == []
    assert "Coverage: 7 of 7 documented operations exercised" in result.stdout
    html = page.read_text()
    assert '<h2 id="contract">Coverage of Bookstore (OpenAPI 3.1.0)</h2>' in html
    assert '<code>GET /books/{bookId}</code></td><td class="num">7</td>' in html
