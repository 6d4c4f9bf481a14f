"""The pytest plugin, run by pytest's own pytester: endpoints as tests, failures, -k, -x."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from apitape.demo import bookstore
from tests.bookstore_cassette import SECRET
from tests.integration.conftest import REPO

pytest_plugins = ["pytester"]

COMMITTED = str(REPO / "cassettes" / "bookstore.yaml")
# its redacted password filled in, as `apitape replay --secret` does
REPLAY = ("--apitape", COMMITTED, "--apitape-secret", SECRET, "-p", "no:cacheprovider")


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bookstore(2, tmp_path_factory.mktemp("v2") / "v2.sqlite3") as url:
        yield url


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bookstore(1, tmp_path_factory.mktemp("v1") / "v1.sqlite3") as url:
        yield url


def test_each_endpoint_is_a_test_and_regressions_fail(pytester: pytest.Pytester, v2: str) -> None:
    result = pytester.runpytest_subprocess(*REPLAY, "--apitape-target", v2)
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines([
        "*apitape: GET /books/{id} answered differently:*",
        "*[[]breaking[]] GET /books/{id}: $.price type changed float -> str in 5 of 7 responses*",
    ])  # fmt: skip


def test_unchanged_build_passes(pytester: pytest.Pytester, v1: str) -> None:
    result = pytester.runpytest_subprocess(*REPLAY, "--apitape-target", v1)
    result.assert_outcomes(passed=7)


def test_k_selects_endpoints_and_per_exchange_items(pytester: pytest.Pytester, v2: str) -> None:
    result = pytester.runpytest_subprocess(*REPLAY, "--apitape-target", v2, "-k", "health")
    result.assert_outcomes(passed=1, deselected=6)
    per_exchange = pytester.runpytest_subprocess(
        *REPLAY, "--apitape-target", v2, "--apitape-per-exchange", "-x"
    )
    per_exchange.assert_outcomes(passed=3, failed=1)  # -x stops at the first failing exchange (#4)


def test_plugin_is_off_unless_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing_to_do_with_apitape(): pass")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    missing = pytester.runpytest_subprocess("--apitape", COMMITTED, "-p", "no:cacheprovider")
    assert missing.ret != 0
    missing.stderr.fnmatch_lines(["*--apitape needs --apitape-target URL*"])


def test_plugin_is_registered_as_an_entry_point() -> None:
    from importlib.metadata import entry_points

    assert [e.value for e in entry_points(group="pytest11") if e.name == "apitape"] == [
        "apitape.pytest_plugin"
    ]
    assert Path(COMMITTED).is_file()


def test_the_recording_key_from_the_environment_fills_exactly(
    pytester: pytest.Pytester,
    v1: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As the README says: --apitape-secret by label, the key in $APITAPE_REDACT_KEY; the
    # client's deliberately wrong password stays wrong, so all of v1 passes.
    import apitape
    from apitape.demo import DEMO_PASSWORD, drive_client

    work = tmp_path_factory.mktemp("keyed")
    cassette, key = work / "keyed.yaml", work / "redaction.key"
    with (
        bookstore(1, work / "v1.sqlite3") as recorded,
        apitape.recording(
            recorded, cassette, redact_key_file=key, log=work / "record.log"
        ) as proxy,
    ):
        drive_client(proxy, io.StringIO())
    monkeypatch.setenv("APITAPE_REDACT_KEY", key.read_text().strip())
    secret = f"password={DEMO_PASSWORD}"
    result = pytester.runpytest_subprocess(
        "--apitape", str(cassette), "--apitape-target", v1, "--apitape-secret", secret,
        "-p", "no:cacheprovider",
    )  # fmt: skip
    result.assert_outcomes(passed=7)
