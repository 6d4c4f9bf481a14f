#!/usr/bin/env python3
"""Build the services the test bed runs, outside the package: a Python venv (moto, mlflow,
pypiserver and their clients), a node directory (verdaccio) and, for the changed-build half,
a venv of older moto and pypiserver servers (venv-old). Both come from the package
registries only (pip's and npm's configured indexes).

    python tests/realworld/build_env.py [--dir DIR]     # default: $APITAPE_TESTBED_DIR or .testbed

Idempotent: a part whose stamp file says it was built with these pins is left alone, and so
is a venv or node dir made by hand (no stamp file).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rw_common as c

PYTHON_PINS = [
    "moto[server]==5.2.6",
    "boto3==1.44.18",
    "mlflow[auth]==3.18.0",
    "pypiserver==2.4.2",
    "passlib==1.9.5",
    "twine==7.0.0",
    "requests==2.34.2",
]
NODE_PINS = ["verdaccio@6.8.0"]
# The changed-build half: older releases of moto and pypiserver, in their own venv (the servers
# only; the clients always run from the services venv). services.CHANGED_BUILD names them.
OLD_PYTHON_PINS = [
    "moto[server]==5.0.28",
    "pypiserver==2.3.2",
    "passlib==1.9.5",
]


def old_services_venv() -> Path:
    """The venv of the older servers: $APITAPE_TESTBED_VENV_OLD, else venv-old next to venv."""
    return Path(os.environ.get("APITAPE_TESTBED_VENV_OLD", c.TESTBED_DIR / "venv-old"))


def build_venv(
    venv: Path, python: str = sys.executable, log=print, pins: list[str] | None = None
) -> None:
    pins = PYTHON_PINS if pins is None else pins
    stamp = venv / "testbed-pins.json"
    if (venv / "bin" / "python").exists() and not stamp.exists():
        return  # a venv someone made by hand: use it as it is, never replace it
    if stamp.exists() and json.loads(stamp.read_text()) == pins:
        return
    log(f"building the services venv in {venv} (a few minutes) ...")
    if venv.exists():
        shutil.rmtree(venv)  # only one this script built, with other pins
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    subprocess.run(pip + pins, check=True, env=c.clean_env())
    stamp.write_text(json.dumps(pins))


def build_node(node: Path, log=print) -> None:
    stamp = node / "testbed-pins.json"
    if (node / "node_modules" / ".bin" / "verdaccio").exists() and not stamp.exists():
        return  # installed by hand: leave it
    if stamp.exists() and json.loads(stamp.read_text()) == NODE_PINS:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found on PATH: verdaccio needs Node.js (20 works for 6.8.0)")
    log(f"installing {' '.join(NODE_PINS)} into {node} ...")
    node.mkdir(parents=True, exist_ok=True)
    if not (node / "package.json").exists():
        (node / "package.json").write_text(
            json.dumps({"name": "apitape-testbed-node", "private": True})
        )
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", *NODE_PINS],
        cwd=node,
        check=True,
        env=c.clean_env(),
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text(json.dumps(NODE_PINS))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--dir", help="where to build venv/ and node/ (default: $APITAPE_TESTBED_DIR or .testbed)"
    )
    ap.add_argument("--python", default=sys.executable, help="interpreter for the services venv")
    args = ap.parse_args()
    if args.dir:
        os.environ["APITAPE_TESTBED_DIR"] = args.dir
        c.TESTBED_DIR = Path(args.dir)
    build_venv(c.services_venv(), args.python)
    build_node(c.node_dir())
    build_venv(old_services_venv(), args.python, pins=OLD_PYTHON_PINS)
    print(
        f"services venv: {c.services_venv()}\nnode dir: {c.node_dir()}\n"
        f"old-services venv: {old_services_venv()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
