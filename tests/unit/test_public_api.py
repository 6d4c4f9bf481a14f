"""The public API is what `apitape.__all__` says, and importing it loads no proxy."""

from __future__ import annotations

import subprocess
import sys

import apitape


def test_all_lists_exactly_the_public_names_sorted() -> None:
    public = {name for name in vars(apitape) if not name.startswith("_")}
    # submodules are attributes of the package too, but not part of its API
    modules = {name for name in public if type(getattr(apitape, name)).__name__ == "module"}
    assert sorted(apitape.__all__) == apitape.__all__
    assert set(apitape.__all__) - {"__version__"} == public - modules


def test_run_functions_are_functions_even_where_a_stage_package_has_the_name() -> None:
    import apitape.replay.replayer

    assert callable(apitape.replay) and apitape.replay.__module__ == "apitape.api"
    assert callable(apitape.diff) and apitape.diff.__module__ == "apitape.api"
    assert callable(apitape.plan) and apitape.plan.__module__ == "apitape.api"


def test_importing_the_api_loads_neither_mitmproxy_nor_vcrpy() -> None:
    code = (
        "import sys, apitape;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mitmproxy', 'vcr'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_report_status_follows_the_outcomes() -> None:
    from apitape.models import InteractionReport, Outcome, RunReport

    def item(outcome: Outcome) -> InteractionReport:
        return InteractionReport("1", "c.yaml", "GET", "/x", "GET /x", outcome, (), 200, 200, 1, 1)

    clean = RunReport("http://t", ("c.yaml",), [item(Outcome.PASS)], ())
    regressed = RunReport(
        "http://t", ("c.yaml",), [item(Outcome.PASS), item(Outcome.REGRESSION)], ()
    )
    failed = RunReport("http://t", ("c.yaml",), [item(Outcome.REGRESSION), item(Outcome.ERROR)], ())
    torn = RunReport("http://t", ("c.yaml",), [item(Outcome.PASS)], (), input_error="line 9")
    assert (clean.ok, clean.exit_status) == (True, 0)
    assert (regressed.ok, regressed.exit_status, regressed.regressions) == (False, 1, 1)
    assert (failed.exit_status, failed.errors) == (2, 1)
    assert torn.exit_status == 2 and "stopped early: line 9" in torn.summary()
    assert regressed.summary().startswith(
        "2 exchange(s) replayed against http://t: 1 passed, 1 regression(s), 0 error(s)"
    )
