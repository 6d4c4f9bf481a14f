"""The test bed's services, by name (each module's SERVICE)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import service_mlflow
import service_moto
import service_pypiserver
import service_verdaccio

ALL = {
    "moto": service_moto.SERVICE,
    "mlflow": service_mlflow.SERVICE,
    "verdaccio": service_verdaccio.SERVICE,
    "pypiserver": service_pypiserver.SERVICE,
}

# The changed-build half (changed_build.py): each of these services is recorded from the OLD
# version below (installed in the old-services venv, build_env.OLD_PYTHON_PINS) and replayed
# against the version in the services venv; an independent oracle (oracle.py) says what differs.
CHANGED_BUILD = {
    "moto": {"old": "5.0.28", "new": "5.2.6"},
    "pypiserver": {"old": "2.3.2", "new": "2.4.2"},
}
