"""Replaying a session recorded from a real service against a fresh instance of the same
version must report nothing: exit 0, 0 regressions, 0 errors.

Opt-in (`pytest -m realworld`); see tests/realworld/README.md. apitape is run as $APITAPE,
else `python -m apitape` of this interpreter; only through its CLI and its JSON report.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c
import services


@pytest.mark.realworld
@pytest.mark.parametrize("name", list(services.ALL))
def test_same_version_replays_clean(name, testbed_env, tmp_path):
    svc = services.ALL[name]
    why = svc.available()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not available in CI: {why}")
        pytest.skip(why)
    # $APITAPE_TESTBED_OUT keeps cassettes and reports past pytest's tmp_path rotation
    out = (
        Path(os.environ["APITAPE_TESTBED_OUT"])
        if os.environ.get("APITAPE_TESTBED_OUT")
        else tmp_path
    )
    result = c.run_flow(svc, out, keep=False)
    summary = result.get("summary", {})
    detail = (
        f"{name}: {result.get('exchanges')} exchanges, {summary.get('regressions')} "
        f"regressions, {summary.get('errors')} errors, replay exit {result.get('replay_exit')}\n"
        f"replay: {result.get('replay_command')}\n"
        f"report: {result.get('report')}\n{c.format_groups(result)}"
    )
    assert not result.get("harness_error"), detail
    assert result.get("exchanges", 0) >= 25, detail
    assert summary.get("regressions") == 0, detail
    assert summary.get("errors") == 0, detail
    assert result.get("replay_exit") == 0, detail
