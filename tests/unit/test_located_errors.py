"""One `except apitape.LocatedError` catches every "this file is wrong here" error, with the
file, line and place as attributes, while each kind keeps its own message, constructor and
builtin base."""

from __future__ import annotations

import contextlib
import json
import pickle
import re
from pathlib import Path

import pytest

import apitape
from apitape.errors import (
    ApitapeError,
    CassetteError,
    CassetteNotFoundError,
    ConfigError,
    ImportFileError,
    LocatedError,
    OpenApiSpecError,
    ReportFileError,
)
from apitape.report.load import load_json_report
from tests.unit.factories import exchange

REPO = Path(__file__).resolve().parents[2]

# A vcrpy cassette whose second exchange (from line 7) has a status that is not a number.
_VCRPY_CASSETTE = """\
interactions:
- request: {method: GET, uri: 'http://api.test/1', headers: {}, body: null}
  response:
    status: {code: 200, message: OK}
    headers: {}
    body: {string: ''}
- request: {method: GET, uri: 'http://api.test/2', headers: {}, body: null}
  response:
    status: {code: many, message: OK}
    headers: {}
    body: {string: ''}
version: 1
"""


def caught(call: object) -> LocatedError:
    assert callable(call)
    with pytest.raises(LocatedError) as info:
        call()
    return info.value


def test_a_yaml_cassette_names_the_line_where_the_bad_exchange_starts(tmp_path: Path) -> None:
    cassette = tmp_path / "broken.yaml"
    cassette.write_text(_VCRPY_CASSETTE)

    error = caught(lambda: apitape.load_cassette(cassette))

    assert isinstance(error, CassetteError) and isinstance(error, ValueError)
    assert (error.path, error.line, error.place) == (str(cassette), 7, None)
    assert error.detail.startswith("interaction 2: ")
    assert str(error) == f"{cassette}, line 7: {error.detail}"


def test_a_json_lines_cassette_names_the_line_that_is_not_json(tmp_path: Path) -> None:
    cassette = tmp_path / "broken.jsonl"
    apitape.write_cassette(cassette, [exchange()])
    cassette.write_text(cassette.read_text() + "{not json\n")

    error = caught(lambda: list(apitape.iter_exchanges(cassette)))

    assert isinstance(error, CassetteError)
    assert (error.path, error.line) == (str(cassette), 3)
    assert error.detail.startswith("is not JSON")


def test_a_missing_cassette_is_located_and_still_a_file_not_found_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    error = caught(lambda: apitape.load_cassette(missing))
    assert isinstance(error, CassetteNotFoundError) and isinstance(error, FileNotFoundError)
    assert (error.path, error.line) == (str(missing), None)


def test_a_malformed_apitape_yaml_names_its_line(tmp_path: Path) -> None:
    config = tmp_path / "apitape.yaml"
    config.write_text("masks:\n  - $.updated_at\nredact:\n  headers: [x-token\n")
    har = tmp_path / "traffic.har"
    har.write_text(json.dumps({"log": {"entries": []}}))

    error = caught(lambda: apitape.import_traffic(har, tmp_path / "out.yaml", config=config))

    assert isinstance(error, ConfigError) and isinstance(error, ValueError)
    assert (error.path, error.line, error.place) == (str(config), 5, None)
    assert str(error) == f"{config}, line 5: {error.detail}"


def test_a_bad_har_entry_is_named_as_the_place(tmp_path: Path) -> None:
    config = tmp_path / "apitape.yaml"
    config.write_text("{}\n")
    har = tmp_path / "traffic.har"
    entry = {
        "request": {"method": "GET", "url": "http://api.test/", "headers": []},
        "response": {"status": "abc"},
    }
    har.write_text(json.dumps({"log": {"entries": [entry]}}))

    error = caught(lambda: apitape.import_traffic(har, tmp_path / "out.yaml", config=config))

    assert isinstance(error, ImportFileError) and isinstance(error, ValueError)
    assert (error.path, error.line) == (str(har), None)
    assert error.place == error.where and error.where is not None
    assert error.where.startswith("log.entries[0]")
    assert str(error) == f"{har}: {error.where}: {error.detail}"


def test_a_dangling_openapi_ref_gives_line_and_pointer(tmp_path: Path) -> None:
    spec = tmp_path / "openapi.yaml"
    spec.write_text(
        "openapi: 3.0.3\n"
        "info: {title: t, version: '1'}\n"
        "paths:\n"
        "  /a:\n"
        "    get:\n"
        "      responses:\n"
        "        '200':\n"
        "          description: ok\n"
        "          content:\n"
        "            application/json:\n"
        "              schema: {$ref: '#/components/schemas/Nope'}\n"
    )

    error = caught(lambda: apitape.check_contract([], spec))

    assert isinstance(error, OpenApiSpecError) and isinstance(error, ValueError)
    pointer = "#/paths/~1a/get/responses/200/content/application~1json/schema/$ref"
    assert (error.path, error.line, error.place, error.pointer) == (str(spec), 11, pointer, pointer)
    assert error.location() == f"{spec}, line 11 (at {pointer})"
    assert str(error) == f"{error.location()}: {error.detail}"


def test_a_report_file_that_is_not_json_is_located(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("{not json")
    error = caught(lambda: load_json_report(report))
    assert isinstance(error, ReportFileError) and isinstance(error, ValueError)
    assert (error.path, error.line, error.place) == (str(report), None, None)
    assert error.detail.startswith("not a JSON report")


# The messages are matched on by users and tests: written out here as they were before the
# base existed, so a change to `location()` cannot alter one unnoticed.
MESSAGES = [
    (CassetteError("c.yaml", "bad", 3), "c.yaml, line 3: bad"),
    (CassetteError("c.yaml", "bad"), "c.yaml: bad"),
    (
        CassetteNotFoundError("c.yaml"),
        "c.yaml: no such file; check the path (record one with `apitape record`)",
    ),
    (ConfigError("apitape.yaml", 2, "bad"), "apitape.yaml, line 2: bad"),
    (ConfigError("apitape.yaml", None, "bad"), "apitape.yaml: bad"),
    (ImportFileError("t.har", "bad", "log.entries[3]"), "t.har: log.entries[3]: bad"),
    (ImportFileError("t.har", "bad"), "t.har: bad"),
    (OpenApiSpecError("o.yaml", "bad", 4, "#/paths"), "o.yaml, line 4 (at #/paths): bad"),
    (OpenApiSpecError("o.yaml", "bad", None, "#/paths"), "o.yaml (at #/paths): bad"),
    (OpenApiSpecError("o.yaml", "bad", 4), "o.yaml, line 4: bad"),
    (OpenApiSpecError("o.yaml", "bad"), "o.yaml: bad"),
    (ReportFileError("r.json", "bad"), "r.json: bad"),
]


@pytest.mark.parametrize(("error", "message"), MESSAGES, ids=lambda v: str(v)[:24])
def test_each_kind_keeps_its_message_and_is_one_located_error(
    error: LocatedError, message: str
) -> None:
    assert str(error) == message and error.args == (message,)
    assert str(error) == f"{error.location()}: {error.detail}"
    assert isinstance(error, ApitapeError) and isinstance(error, ValueError)


@pytest.mark.parametrize(("error", "message"), MESSAGES, ids=lambda v: str(v)[:24])
def test_a_located_error_survives_pickling(error: LocatedError, message: str) -> None:
    # as it does when a worker process (the scale-out runner) hands it to its driver
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == message
    assert (again.path, again.line, again.place, again.detail) == (
        error.path,
        error.line,
        error.place,
        error.detail,
    )


def test_the_errors_example_in_the_api_docs_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (REPO / "docs" / "api.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "Located" in b]
    cassette = tmp_path / "cassettes" / "broken.yaml"
    cassette.parent.mkdir()
    cassette.write_text("interactions:\n- request: [not, a, mapping]\n")
    with contextlib.chdir(tmp_path):
        exec(compile(example, "docs/api.md", "exec"), {})  # the docs' own example, as written
    assert capsys.readouterr().out.startswith("cassettes/broken.yaml:2: interaction 1: ")
