"""Contract checks: matching requests to documented operations, coverage, bad documents."""

from __future__ import annotations

import json
import textwrap

import pytest

from apitape.contract.checker import ContractChecker, Coverage
from apitape.contract.openapi import Operation, parse_openapi
from apitape.errors import OpenApiSpecError
from apitape.http.endpoints import Template
from apitape.models import Difference, Request, Response

SPEC = textwrap.dedent(
    """\
    openapi: 3.0.3
    info: {title: Shop, version: "1"}
    servers: [{url: "https://shop.example.com/api"}]
    paths:
      /items:
        get:
          responses:
            200:
              description: all
              content:
                application/json:
                  schema: {type: array, items: {$ref: "#/components/schemas/Item"}}
      /items/search:
        get:
          responses: {"200": {description: found}}
      /items/{itemId}:
        parameters:
          - {name: itemId, in: path, required: true, schema: {type: integer}}
        get:
          operationId: getItem
          responses:
            "200":
              description: one
              headers:
                X-Version: {required: true, schema: {type: string}}
              content:
                application/json:
                  schema: {$ref: "#/components/schemas/Item"}
            4XX: {description: client error}
        delete:
          responses: {"204": {description: gone}, default: {description: error}}
      /files/{name}.json:
        parameters: [{name: name, in: path, required: true, schema: {type: string}}]
        get:
          responses: {"200": {description: a file}}
    components:
      schemas:
        Item:
          type: object
          required: [id, price]
          properties:
            id: {type: integer}
            price: {type: number}
            note: {type: string, nullable: true}
    """
)

JSON = (("Content-Type", "application/json"),)


@pytest.fixture(scope="module")
def spec():  # type: ignore[no-untyped-def]
    return parse_openapi(SPEC, "shop.yaml")


def test_operations_with_the_servers_base_path_and_unquoted_status_keys(spec) -> None:  # type: ignore[no-untyped-def]
    names = [op.name for op in spec.operations]
    assert names == [
        "GET /items",
        "GET /items/search",
        "GET /items/{itemId}",
        "DELETE /items/{itemId}",
        "GET /files/{name}.json",
    ]
    assert spec.operations[0].statuses == ("200",)
    assert spec.operations[0].base_paths == ("/api",)


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "http://127.0.0.1:8000/api/items", "GET /items"),
        ("GET", "http://staging/api/items/search", "GET /items/search"),  # literal wins
        ("GET", "http://staging/api/items/17", "GET /items/{itemId}"),
        ("delete", "http://staging/api/items/17", "DELETE /items/{itemId}"),
        ("GET", "http://staging/api/files/report.json", "GET /files/{name}.json"),
        ("GET", "http://staging/api/files/report.xml", None),
        ("POST", "http://staging/api/items", None),  # path documented, method not
        ("GET", "http://staging/items", None),  # without the base path
        ("GET", "http://staging/api/items/17/extra", None),
    ],
)
def test_requests_match_their_documented_operation(spec, method, url, expected) -> None:  # type: ignore[no-untyped-def]
    found = spec.operation_for(method, url)
    assert (found.name if found else None) == expected


def test_templates_name_endpoints_most_literal_first(spec) -> None:  # type: ignore[no-untyped-def]
    paths = [t.path for t in spec.templates()]
    assert paths.index("/api/items/search") < paths.index("/api/items/{itemId}")
    assert Template(None, ("", "files", "{name}.json")).match("GET", "/files/a.json")
    assert not Template(None, ("", "files", "{name}.json")).match("GET", "/files/a.xml")


@pytest.mark.parametrize(
    ("statuses", "status", "key"),
    [
        (("200", "4XX"), 200, "200"),
        (("200", "4XX"), 404, "4XX"),
        (("200", "default"), 500, "default"),
        (("200",), 500, None),
    ],
)
def test_a_status_is_documented_by_its_code_its_range_or_default(statuses, status, key) -> None:  # type: ignore[no-untyped-def]
    assert Operation("GET", "/x", statuses=statuses).documents(status) == key


def test_coverage_counts_statuses_unexercised_and_undocumented() -> None:
    read = Operation("GET", "/items/{id}", "getItem", ("200", "4XX"))
    delete = Operation("DELETE", "/items/{id}", None, ("204",))
    coverage = Coverage([read, delete])
    for status in (200, 200, 404):
        coverage.add(read, read.name, status)
    coverage.add(read, read.name, 400, rejected=True)
    coverage.add(None, "GET /metrics", 200)
    coverage.add(None, "GET /metrics", 200)
    coverage.add(None, "GET /debug", 500)
    report = coverage.report()
    first, second = report.operations
    assert (first.operation, first.exchanges, first.statuses_seen) == (
        "GET /items/{id}",
        4,
        ((200, 2), (400, 1), (404, 1)),
    )
    assert first.statuses_unseen == () and first.rejected_requests == 1
    assert (second.exchanges, second.statuses_unseen) == (0, ("204",))
    assert report.unexercised == ("DELETE /items/{id}",)
    assert report.undocumented == (("GET /metrics", 2), ("GET /debug", 1))


def item(body: object, *headers: tuple[str, str]) -> Response:
    return Response(200, "", (*JSON, *headers), json.dumps(body).encode())


def test_a_type_change_names_the_json_path_and_both_types(spec) -> None:  # type: ignore[no-untyped-def]
    checker = ContractChecker(spec)
    found = checker.check(
        Request("GET", "http://h/api/items/1"),
        item({"id": 1, "price": "12.50"}, ("X-Version", "1")),
    )
    assert found == (Difference("$.price", "contract_body", "number", "string"),)


def test_missing_fields_headers_and_undocumented_statuses(spec) -> None:  # type: ignore[no-untyped-def]
    checker = ContractChecker(spec)
    listed = checker.check(Request("GET", "http://h/api/items"), item([{"id": 1}, {"price": 2}]))
    assert listed == (
        Difference("$[0].price", "contract_body", "required", None, actual_present=False),
        Difference("$[1].id", "contract_body", "required", None, actual_present=False),
    )
    nullable = checker.check(
        Request("GET", "http://h/api/items/1"), item({"id": 1, "price": 2, "note": None})
    )
    assert nullable == (
        Difference("headers.x-version", "contract_header", "required", None, actual_present=False),
    )
    wrong = checker.check(Request("GET", "http://h/api/items"), Response(302))
    assert wrong == (Difference("status", "contract_status", ["200"], 302),)


def test_a_bad_request_counts_only_when_the_service_accepted_it(spec) -> None:  # type: ignore[no-untyped-def]
    checker = ContractChecker(spec)
    request = Request("GET", "http://h/api/items/abc")
    accepted = checker.check(request, item({"id": 1, "price": 2}, ("X-Version", "1")))
    assert accepted == (Difference("request:path.itemId", "contract_request", "integer", "abc"),)
    assert checker.check(request, Response(400)) == ()
    (row,) = [r for r in checker.coverage.report().operations if r.operation_id == "getItem"]
    assert row.rejected_requests == 1 and row.statuses_seen == ((200, 1), (400, 1))


def test_an_undocumented_endpoint_is_counted_under_its_name(spec) -> None:  # type: ignore[no-untyped-def]
    checker = ContractChecker(spec)
    assert checker.check(Request("POST", "http://h/api/items/7"), Response(201)) == ()
    assert checker.check(Request("GET", "http://h/health"), Response(200)) == ()
    assert checker.coverage.report().undocumented == (
        ("GET /health", 1),
        ("POST /api/items/{itemId}", 1),
    )


def error_of(text: str) -> OpenApiSpecError:
    with pytest.raises(OpenApiSpecError) as caught:
        parse_openapi(textwrap.dedent(text), "bad.yaml")
    return caught.value


def test_unparseable_yaml_names_the_line() -> None:
    error = error_of(
        """\
        openapi: 3.1.0
        info: {title: x, version: "1"}
        paths:
          /a: [unclosed
        """
    )
    assert error.line == 5 and "bad.yaml, line 5" in str(error)


def test_unparseable_json_names_the_line() -> None:
    with pytest.raises(OpenApiSpecError, match=r"bad.json, line 3: is not valid JSON"):
        parse_openapi('{\n "openapi": "3.1.0",\n "paths": {,}\n}', "bad.json")


def test_an_unresolved_ref_names_its_line_and_pointer() -> None:
    error = error_of(
        """\
        openapi: 3.1.0
        info: {title: x, version: "1"}
        paths:
          /a:
            get:
              responses:
                "200":
                  description: ok
                  content:
                    application/json:
                      schema:
                        $ref: "#/components/schemas/Missing"
        """
    )
    assert error.line == 12
    assert error.pointer == "#/paths/~1a/get/responses/200/content/application~1json/schema/$ref"
    assert "'#/components/schemas/Missing' points to nothing" in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'swagger: "2.0"\ninfo: {title: x, version: "1"}\npaths: {}\n',
            "is a Swagger 2.0 document",
        ),
        ('openapi: "2.5.0"\npaths: {}\n', "has openapi: '2.5.0'"),
        ("openapi: 3.1.0\ninfo: {title: x, version: '1'}\n", "has no 'paths' mapping"),
        ("- a list\n", "expected a mapping at the top"),
    ],
)
def test_unsupported_documents_say_why(text: str, message: str) -> None:
    with pytest.raises(OpenApiSpecError, match=message):
        parse_openapi(text, "bad.yaml")


def test_an_invalid_document_names_the_place() -> None:
    error = error_of(
        """\
        openapi: 3.1.0
        info: {title: x, version: "1"}
        paths:
          /a:
            get:
              responses:
                "200": {description: no}
        """
    )
    assert error.line == 7 and error.pointer == "#/paths/~1a/get/responses/200/description"


def test_yaml_tags_are_never_run() -> None:
    error = error_of("openapi: !!python/object/apply:os.system ['true']\npaths: {}\n")
    assert error.line == 1


def test_a_replay_judged_against_the_document_reports_violations_and_coverage(spec) -> None:  # type: ignore[no-untyped-def]
    from apitape.models import Exchange
    from apitape.replay.replayer import ReplayResult
    from apitape.report.json_report import report_to_dict
    from apitape.verdict.judge import JudgeOptions, judge

    request = Request("GET", "http://127.0.0.1:8000/api/items/1")
    good = item({"id": 1, "price": 2.5}, ("X-Version", "1"))
    bad = item({"id": 1, "price": "2.50"}, ("X-Version", "1"))
    recorded = Exchange("1", request, good)
    results = [
        ReplayResult(recorded, request, good, 1.0),  # same as recorded, and documented
        ReplayResult(recorded.with_id("2"), request, bad, 1.0),
    ]
    options = JudgeOptions(contract=ContractChecker(spec))
    report = judge(results, ["c.yaml", "c.yaml"], "http://127.0.0.1:9000", options)
    first, second = report.interactions
    assert first.differences == ()
    assert Difference("$.price", "contract_body", "number", "string") in second.differences
    assert second.outcome.value == "regression"
    data = report_to_dict(report)
    assert data["contract"]["spec"] == "shop.yaml"
    (row,) = [r for r in data["contract"]["coverage"]["operations"] if r["operation_id"]]
    assert row["statuses_seen"] == {"200": 2}
    groups = [g["summary"] for g in data["groups"] if g["kind"] == "contract_body"]
    assert groups == ["GET /api/items/{id}: $.price contract body (number expected, string found) "
                      "in 1 of 2 responses"]  # fmt: skip
