"""Each third-party library stays behind its one module; replay never loads mitmproxy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "apitape"

OWNERS: dict[str, tuple[str, ...]] = {
    "mitmproxy": ("capture/",),
    "httpx": ("replay.py", "http1.py"),
    "httptools": ("http1.py",),  # the HTTP/1.1 parser of the transport under httpx for replay
    "aiohttp": (),  # the reference client of benchmarks/replay_throughput.py only
    "deepdiff": ("diff.py",),
    "click": ("cli.py",),
    # the readers of the three files people write or review: cassettes, apitape.yaml, noise
    "yaml": ("cassette_yaml", "config.py", "noise.py"),
    "rich": ("report.py", "progress.py", "contract_report.py"),  # what people see
    # the contract check: openapi-core and the libraries whose objects it hands back
    "openapi_core": ("openapi.py",),
    "openapi_spec_validator": ("openapi.py",),
    "werkzeug": ("openapi.py",),
    "referencing": ("openapi.py",),
    "orjson": ("fastjson.py",),  # with json as the fallback, in one place
    "vcr": (),  # vcrpy is a test-time companion: apitape reads its format itself
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_library_is_imported_only_by_its_owner(library: str) -> None:
    owner = OWNERS[library]
    users = sorted(
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if library in imported_modules(path)
    )
    allowed = [u for u in users if u.startswith(owner)]
    assert users == allowed, f"{library} imported outside {owner}: {users}"


def test_replay_diff_and_cli_import_without_mitmproxy() -> None:
    code = (
        "import sys, apitape.cli, apitape.run, apitape.replay, apitape.diff, apitape.demo;"
        "import apitape.har, apitape.importing;"  # HAR import and export need no proxy
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mitmproxy', 'vcr')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
