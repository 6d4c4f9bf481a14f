"""apitape.testing plays apitape cassettes to real clients (httpx, urllib) through vcrpy:
recorded answers come back, a real secret meets its placeholder, a stray request says why."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from apitape.cassette import load_cassette, write_cassette
from apitape.errors import CassetteNotFoundError
from apitape.redaction.redact import Redactor
from apitape.testing import (
    DEFAULT_MATCH_ON,
    RECORDED_AT,
    exchange,
    json_response,
    play_cassette,
)
from tests.integration.conftest import REPO

BOOKSTORE = REPO / "cassettes" / "bookstore.yaml"
EXAMPLES = REPO / "examples" / "testing"
BASE = "http://weather.example:8000"
REAL_KEY = "sk_live_0123456789abcdefghij"  # what the client sent while it was recorded


def bookstore_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bookstore_client", REPO / "examples" / "bookstore" / "client.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recorded_base(cassette: Path) -> str:
    return "{0.scheme}://{0.netloc}".format(
        urlsplit(load_cassette(cassette).exchanges[0].request.url)
    )


@pytest.fixture
def key_cassette(tmp_path: Path) -> Path:
    """A cassette as `apitape record` writes it: the api_key in the query and in the JSON body
    became placeholders."""
    sent = [
        exchange("GET", f"{BASE}/v1/forecast?city=Paris&api_key={REAL_KEY}", json_response({"city": "Paris", "high_c": 11})),
        exchange(
            "POST",
            f"{BASE}/v1/alerts",
            json_response({"subscription": "sub-42"}, 201),
            (("Content-Type", "application/json"),),
            json.dumps({"city": "Paris", "api_key": REAL_KEY}).encode(),
            exchange_id="2",
        ),
        exchange("GET", f"{BASE}/v1/me", json_response({"plan": "free"}), (("X-Api-Key", REAL_KEY),), exchange_id="3"),
    ]  # fmt: skip
    path = tmp_path / "forecast.yaml"
    write_cassette(path, [Redactor(b"k" * 32).exchange(e) for e in sent], RECORDED_AT)
    assert REAL_KEY not in path.read_text()
    assert "redacted-api_key-" in path.read_text()
    return path


# --------------------------------------------------------------------------- the committed cassette


def test_the_bookstore_client_runs_its_whole_session_from_the_committed_cassette(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = bookstore_client()
    with play_cassette(BOOKSTORE) as cassette:  # no server runs: every answer is from the file
        assert client.main(["--base-url", recorded_base(BOOKSTORE)]) == 0
    assert (cassette.play_count, cassette.all_played) == (17, True)
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == ["GET /health -> 200", "POST /login -> 401", "POST /login -> 200"]
    assert "POST /books -> 422" in printed
    assert printed[-1] == "GET /books/31 -> 404"


def test_httpx_gets_the_recorded_responses_in_order() -> None:
    base = recorded_base(BOOKSTORE)
    with play_cassette(BOOKSTORE), httpx.Client(base_url=base) as client:
        assert client.get("/health").json() == {"status": "ok"}
        wrong = client.post("/login", json={"password": "not-wonderland", "username": "alice"})
        right = client.post("/login", json={"username": "alice", "password": "wonderland"})
        books = client.get("/books", params={"per_page": "10", "page": "2"})  # any order
        first, second = client.get("/books/31"), client.get("/books/31")
    assert (wrong.status_code, wrong.reason_phrase) == (401, "Unauthorized")
    assert right.json()["token_type"] == "Bearer"
    assert books.json()["page"] == 2
    assert (first.status_code, second.status_code) == (200, 200)  # GET, PUT, GET, ... in order


@pytest.mark.parametrize("suffix", [".yaml", ".jsonl"])
def test_a_redacted_recording_answers_the_client_sending_real_secrets(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The committed cassette, redacted as the recorder redacts: the password in the login
    # bodies and the token (in the login answer and the Authorization headers) are placeholders.
    redacted = tmp_path / f"bookstore{suffix}"
    redactor = Redactor(b"k" * 32)
    write_cassette(
        redacted, map(redactor.exchange, load_cassette(BOOKSTORE).exchanges), RECORDED_AT
    )
    assert "wonderland" not in redacted.read_text()
    client = bookstore_client()
    match_on = (*DEFAULT_MATCH_ON, "header:Authorization")
    with play_cassette(redacted, match_on=match_on) as cassette:
        assert client.main(["--base-url", recorded_base(redacted)]) == 0  # password "wonderland"
    assert cassette.all_played
    assert capsys.readouterr().out.splitlines()[2] == "POST /login -> 200"


# --------------------------------------------------------------------------- placeholders


def test_httpx_with_a_real_key_gets_the_answers_recorded_with_its_placeholder(
    key_cassette: Path,
) -> None:
    match_on = (*DEFAULT_MATCH_ON, "header:X-Api-Key")
    with play_cassette(key_cassette, match_on=match_on), httpx.Client(base_url=BASE) as client:
        forecast = client.get("/v1/forecast", params={"city": "Paris", "api_key": "sk_test_other"})
        alert = client.post("/v1/alerts", json={"api_key": "sk_test_other", "city": "Paris"})
        me = client.get("/v1/me", headers={"X-Api-Key": "sk_test_other"})
    assert forecast.json() == {"city": "Paris", "high_c": 11}
    assert (alert.status_code, alert.json()) == (201, {"subscription": "sub-42"})
    assert me.json() == {"plan": "free"}


def test_urllib_with_a_real_key_gets_the_recorded_answers(key_cassette: Path) -> None:
    with play_cassette(key_cassette):
        with urllib.request.urlopen(f"{BASE}/v1/forecast?city=Paris&api_key=real") as answer:
            forecast = json.loads(answer.read())
        posted = urllib.request.Request(
            f"{BASE}/v1/alerts",
            data=json.dumps({"city": "Paris", "api_key": "real"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(posted) as answer:
            alert = (answer.status, json.loads(answer.read()))
    assert forecast == {"city": "Paris", "high_c": 11}
    assert alert == (201, {"subscription": "sub-42"})


def _httpx_get(url: str) -> Any:
    with httpx.Client() as client:
        return client.get(url)


def _urllib_get(url: str) -> Any:
    with urllib.request.urlopen(url) as answer:
        return answer.read()


@pytest.mark.parametrize("get", [_httpx_get, _urllib_get], ids=["httpx", "urllib"])
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (
            f"{BASE}/v1/forecast?city=Lyon&api_key=real",
            "parameter city: 'Lyon' != recorded 'Paris'",
        ),
        (
            f"{BASE}/v1/forecast?city=Paris",
            "parameter names differ (not sent: ['api_key'], not recorded: [])",
        ),
        (
            f"{BASE}/v1/forecasts?city=Paris&api_key=real",
            "path '/v1/forecasts' != recorded '/v1/forecast'",
        ),
    ],
)
def test_a_request_with_no_match_raises_and_says_why(
    key_cassette: Path, get: Callable[[str], Any], url: str, reason: str
) -> None:
    with (
        pytest.raises(CannotOverwriteExistingCassetteException) as caught,
        play_cassette(key_cassette),
    ):
        get(url)
    assert caught.value.reason == "no_match"
    assert reason in str(caught.value)
    assert caught.value.__notes__ == [
        "apitape.testing plays cassettes and never records: record the new request with "
        "`apitape record`, or loosen match_on (docs/testing.md)."
    ]


def test_a_json_body_with_another_non_secret_value_does_not_match(key_cassette: Path) -> None:
    with (
        play_cassette(key_cassette),
        httpx.Client() as client,
        pytest.raises(CannotOverwriteExistingCassetteException) as caught,
    ):
        client.post(f"{BASE}/v1/alerts", json={"city": "Lyon", "api_key": REAL_KEY})
    assert """JSON body $.city: "Lyon" != recorded "Paris\"""" in str(caught.value)


def test_each_recorded_answer_plays_once_unless_repeats_are_allowed(key_cassette: Path) -> None:
    url = f"{BASE}/v1/forecast?city=Paris&api_key=real"
    with play_cassette(key_cassette), httpx.Client() as client:
        client.get(url)
        with pytest.raises(CannotOverwriteExistingCassetteException) as caught:
            client.get(url)
    assert caught.value.reason == "already_played"
    with play_cassette(key_cassette, allow_playback_repeats=True), httpx.Client() as client:
        assert client.get(url).json() == client.get(url).json()


def test_a_header_named_in_match_on_must_be_sent(key_cassette: Path) -> None:
    with (
        play_cassette(key_cassette, match_on=("method", "path", "header:X-Api-Key")),
        httpx.Client() as client,
        pytest.raises(CannotOverwriteExistingCassetteException) as caught,
    ):
        client.get(f"{BASE}/v1/me")
    assert "header:x-api-key differs: header X-Api-Key: not sent, 'redacted-x_api_key-" in str(
        caught.value
    )


def test_a_missing_cassette_is_an_apitape_error_not_an_empty_tape(tmp_path: Path) -> None:
    with (
        pytest.raises(CassetteNotFoundError, match="no such file"),
        play_cassette(tmp_path / "nope.yaml"),
    ):
        pass


def test_play_cassette_keeps_record_mode_to_itself(key_cassette: Path) -> None:
    with (
        pytest.raises(TypeError, match="record_mode"),
        play_cassette(key_cassette, record_mode="all"),
    ):
        pass


def test_the_cassette_is_never_rewritten(key_cassette: Path) -> None:
    before = key_cassette.read_bytes()
    with play_cassette(key_cassette), httpx.Client() as client:
        client.get(f"{BASE}/v1/forecast?city=Paris&api_key=real")
    assert key_cassette.read_bytes() == before


# --------------------------------------------------------------------------- pytest


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "apitape.testing", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_tests_pass() -> None:
    # From the repository, so its pytest settings apply: --strict-markers, warnings as errors.
    result = run_pytest("examples/testing", "-v", cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_doc_shows_the_example_as_it_is() -> None:
    doc = (REPO / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    assert (EXAMPLES / "test_forecast_client.py").read_text() in blocks


def test_the_marker_alone_plays_and_the_fixture_needs_the_marker(
    tmp_path: Path, key_cassette: Path
) -> None:
    (tmp_path / "test_marked.py").write_text(
        f"""
import httpx, pytest

pytestmark = pytest.mark.apitape_cassette({key_cassette.name!r})

def test_marker_only():
    assert httpx.get("{BASE}/v1/me").json() == {{"plan": "free"}}

@pytest.mark.apitape_cassette("elsewhere/missing.yaml")
def test_closest_marker_wins(apitape_vcr):
    pass
"""
    )
    (tmp_path / "test_unmarked.py").write_text(
        "def test_fixture_without_marker(apitape_vcr):\n    pass\n"
    )
    result = run_pytest("-rA", cwd=tmp_path)
    out = result.stdout
    assert "PASSED test_marked.py::test_marker_only" in out, out
    assert "ERROR test_marked.py::test_closest_marker_wins" in out, out
    assert f"{tmp_path}/elsewhere/missing.yaml: no such file" in out, out
    assert "the apitape_vcr fixture needs @pytest.mark.apitape_cassette(PATH)" in out, out
