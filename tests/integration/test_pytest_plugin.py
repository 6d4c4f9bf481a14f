"""The pytest plugin, run by pytest's own pytester: endpoints as tests, failures, -k, -x."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apitape.demo import bookstore
from tests.integration.conftest import REPO

pytest_plugins = ["pytester"]

COMMITTED = str(REPO / "cassettes" / "bookstore.yaml")


@pytest.fixture(scope="module")
def v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bookstore(2, tmp_path_factory.mktemp("v2") / "v2.sqlite3") as url:
        yield url


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with bookstore(1, tmp_path_factory.mktemp("v1") / "v1.sqlite3") as url:
        yield url


def test_each_endpoint_is_a_test_and_regressions_fail(pytester: pytest.Pytester, v2: str) -> None:
    result = pytester.runpytest_subprocess(
        "--apitape", COMMITTED, "--apitape-target", v2, "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=4, failed=3)
    result.stdout.fnmatch_lines([
        "*apitape: GET /books/{id} answered differently:*",
        "*[[]breaking[]] GET /books/{id}: $.price type changed float -> str in 5 of 7 responses*",
    ])  # fmt: skip


def test_unchanged_build_passes(pytester: pytest.Pytester, v1: str) -> None:
    result = pytester.runpytest_subprocess(
        "--apitape", COMMITTED, "--apitape-target", v1, "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=7)


def test_k_selects_endpoints_and_per_exchange_items(pytester: pytest.Pytester, v2: str) -> None:
    result = pytester.runpytest_subprocess(
        "--apitape", COMMITTED, "--apitape-target", v2, "-k", "health", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1, deselected=6)
    per_exchange = pytester.runpytest_subprocess("--apitape", COMMITTED, "--apitape-target", v2,
                                                 "--apitape-per-exchange", "-x", "-p", "no:cacheprovider")  # fmt: skip
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
