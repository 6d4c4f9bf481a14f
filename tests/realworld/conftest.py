"""The real-service test bed is opt-in: `pytest -m realworld` (or APITAPE_REALWORLD=1).

It needs the services (a Python venv and verdaccio under node/) in $APITAPE_TESTBED_DIR
(default .testbed at the repository root, or $APITAPE_TESTBED_VENV / $APITAPE_TESTBED_NODE);
the session fixture builds whatever is missing from the package registries, once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_env
import rw_common as c


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "realworld: record a real open-source service and replay it against a fresh "
        "instance (opt-in: pytest -m realworld, or APITAPE_REALWORLD=1)",
    )


def _opted_in(config) -> bool:
    return os.environ.get("APITAPE_REALWORLD") == "1" or "realworld" in (
        config.option.markexpr or ""
    )


@pytest.fixture(scope="session")
def testbed_env(request):
    """Make sure the services venv and node dir exist (building them if needed)."""
    if not _opted_in(request.config):
        pytest.skip(
            "real-service tests are opt-in: run `pytest -m realworld` (or APITAPE_REALWORLD=1)"
        )
    # In CI nothing may be skipped quietly: a service that cannot be built fails the run.
    give_up = pytest.fail if os.environ.get("CI") == "true" else pytest.skip
    try:
        build_env.build_venv(c.services_venv(), log=lambda m: print(m, file=sys.stderr))
    except Exception as e:  # no registry reachable, no compiler...
        give_up(f"could not build the services venv {c.services_venv()}: {e}")
    try:
        build_env.build_node(c.node_dir(), log=lambda m: print(m, file=sys.stderr))
    except Exception as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"could not install verdaccio into {c.node_dir()}: {e}")
        print(f"verdaccio unavailable: {e}", file=sys.stderr)
    return c.services_venv()
