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
