"""Replaying a session recorded from an OLD version of a real service against the NEW version
must report exactly the differences an independent direct comparison finds: nothing missed,
nothing false (tests/realworld/changed_build.py, oracle.py).

Opt-in (`pytest -m realworld`); see tests/realworld/README.md. apitape is run as $APITAPE,
else `python -m apitape` of this interpreter; only through its CLI and its JSON report.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_env
import changed_build
import services


@pytest.fixture(scope="module")
def old_services(testbed_env):
    """The old-version servers' venv, built from the registry when missing."""
    try:
        build_env.build_venv(
            changed_build.old_venv(),
            pins=build_env.OLD_PYTHON_PINS,
            log=lambda m: print(m, file=sys.stderr),
        )
    except Exception as e:
        give_up = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
        give_up(f"could not build the old-services venv {changed_build.old_venv()}: {e}")
    return changed_build.old_venv()


@pytest.mark.realworld
@pytest.mark.parametrize("name", list(services.CHANGED_BUILD))
def test_changed_build_reports_exactly_the_oracles_differences(name, old_services, tmp_path):
    why = changed_build.available(name)
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not available in CI: {why}")
        pytest.skip(why)
    out = (
        Path(os.environ["APITAPE_TESTBED_OUT"]) / "changed"
        if os.environ.get("APITAPE_TESTBED_OUT")
        else tmp_path
    )
    r = changed_build.run_service(name, out)
    detail = (
        f"{name} {r.get('old')} -> {r.get('new')}: {len(r.get('matched', []))} matched, "
        f"{len(r.get('missed', []))} missed, {len(r.get('false', []))} false\n"
        f"replay: {r.get('apitape', {}).get('replay_command')}\n"
        f"{changed_build.MATCHING_RULES}\n{changed_build.format_result(r)}\n"
        f"written: {out / name / 'changed-build.json'}"
    )
    assert not r.get("harness_error"), detail
    # the versions must differ visibly, or this test proves nothing
    assert r.get("oracle_differences", 0) > 0, detail
    assert not r.get("oracle_unaligned"), detail
    assert r.get("missed") == [], detail
    assert r.get("false") == [], detail
    json.dumps(r, default=str)  # the result is writable as JSON
