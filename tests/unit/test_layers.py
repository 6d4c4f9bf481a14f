"""The package is its pipeline: imports only go down the layers, each third-party library stays
behind its one module, and replay never loads mitmproxy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "apitape"

OWNERS: dict[str, tuple[str, ...]] = {
    "mitmproxy": ("capture/",),
    "httpx": ("replay/replayer.py", "replay/http1.py"),
    "anyio": ("replay/replayer.py",),  # httpx's event-loop backend, loaded ahead of a deadline
    "httptools": ("replay/http1.py",),  # the HTTP/1.1 parser of the transport under httpx
    "aiohttp": (),  # the reference client of benchmarks/replay_throughput.py only
    "deepdiff": ("compare/diff.py",),
    "click": ("cli/",),
    # the readers of the three files people write or review: cassettes, apitape.yaml, noise
    "yaml": ("cassette/format_yaml", "config.py", "verdict/noise.py"),
    "rich": (
        "report/terminal.py",
        "cli/progress.py",
        "report/contract.py",
        "cli/curate.py",
    ),  # what people see
    # the contract check: openapi-core and the libraries whose objects it hands back
    "openapi_core": ("contract/openapi.py",),
    "openapi_spec_validator": ("contract/openapi.py",),
    "werkzeug": ("contract/openapi.py",),
    "referencing": ("contract/openapi.py",),
    "orjson": ("fastjson.py",),  # with json as the fallback, in one place
    "vcr": ("testing.py",),  # the cassette played to a client under test (apitape.testing)
    "pygal": ("report/charts.py",),  # the HTML report's charts, drawn as SVG
    # the scale-out extras: Ray runs the shards, DDSketch merges latency, fsspec/s3fs hold shards
    "ray": ("scale/ray_runner.py",),
    "ddsketch": ("scale/sketch.py",),
    "fsspec": ("scale/storage.py",),
    "s3fs": ("scale/storage.py",),
}

LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_version"),
    ("fastjson", "models", "files", "processes", "jsonpath"),
    ("http",),  # what an HTTP message means, apart from any stage
    ("redaction",),
    ("config",),  # apitape.yaml names masks, redaction extras and endpoint templates
    ("cassette",),
    ("curate",),  # stats, select and merge: cassettes, endpoint names, sessions, shapes
    ("capture", "replay", "compare", "contract"),  # the stages: nothing sideways between them
    ("interop",),  # other tools' files in and out, through the capture policy
    ("verdict",),
    ("report",),
    ("runs",),  # whole runs: cassettes in, RunReport out
    ("scale",),  # runs in shards on Ray, merged into one RunReport
    ("api",),
    ("demo", "testing"),
    ("cli", "pytest_plugin"),
    ("__main__", "__init__"),
)
"""Floors from the ground up: a module may import its own package and anything on a lower floor."""

FLOOR = {unit: floor for floor, units in enumerate(LAYERS) for unit in units}


PUBLIC_API = "api"
"""The unit a bare `import apitape` uses: the package's `__init__` re-exports the public API
(`api` and what lies below it), so only the faces above `api` may import the package itself."""

IMPORTERS = {"import_module", "__import__"}
"""Calls that import a module named by a string: `importlib.import_module(...)`, `__import__(...)`."""


def module_name(path: Path) -> str:
    """The dotted name of the module at `path` (a package's `__init__` is the package)."""
    parts = ("apitape", *path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def absolute(name: str, level: int, path: Path) -> str:
    """`name` as written `level` dots deep in the module at `path`, made absolute."""
    if level == 0:
        return name
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]  # a module's relative imports start from its package
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, name] if name else base)


def unit_of(dotted: str) -> str | None:
    """The floor unit of an apitape module name, or None for one outside apitape."""
    parts = dotted.split(".")
    if parts[0] != "apitape":
        return None
    return parts[1] if len(parts) > 1 else PUBLIC_API


def apitape_imports(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, unit) of every apitape module `path` uses, at any depth of the file: absolute and
    relative imports, a bare `import apitape` (the public API), attributes reached through the
    name `apitape` (`apitape.cli.main`), and string names given to `importlib.import_module` or
    `__import__`. `source` stands in for the file's text (the checker's own tests)."""
    found: list[tuple[int, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            module = absolute(node.module or "", node.level, path)
            if module == "apitape":  # `from apitape import x` or `from .. import x`
                found += [(node.lineno, _unit_or_api(a.name)) for a in node.names]
            else:
                found.append((node.lineno, unit_of(module)))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, unit_of(a.name)) for a in node.names]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "apitape"
            and node.attr in FLOOR
        ):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and node.args and _callee(node.func) in IMPORTERS:
            name = node.args[0]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                dots = len(name.value) - len(name.value.lstrip("."))
                found.append((node.lineno, unit_of(absolute(name.value[dots:], dots, path))))
    return [(line, unit) for line, unit in found if unit is not None]


def _unit_or_api(name: str) -> str:
    """What `from apitape import name` uses: a unit, or else the public API that re-exports it."""
    return name if name in FLOOR else PUBLIC_API


def _callee(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def test_every_module_sits_on_a_floor() -> None:
    units = {path.relative_to(SRC).parts[0].removesuffix(".py") for path in SRC.glob("*")}
    units -= {"py.typed", "__pycache__"}
    assert units <= set(FLOOR), f"not placed in LAYERS: {sorted(units - set(FLOOR))}"


def test_imports_only_go_down() -> None:
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        unit = path.relative_to(SRC).parts[0].removesuffix(".py")
        for line, used in apitape_imports(path):
            if used != unit and FLOOR[used] >= FLOOR[unit]:
                upward.append(f"{path.relative_to(SRC)}:{line} imports apitape.{used}")
    assert upward == []


@pytest.mark.parametrize(
    ("module", "source", "used"),
    [
        ("capture/policy.py", "from ..runs import workflows", ["runs"]),
        ("capture/policy.py", "from .. import cli", ["cli"]),
        ("capture/policy.py", "from . import writer", ["capture"]),
        ("capture/__init__.py", "from .writer import frame", ["capture"]),
        ("capture/sink.py", "import apitape", ["api"]),
        ("capture/sink.py", "from apitape import RunSettings", ["api"]),
        ("compare/diff.py", "import apitape.errors\napitape.cli.main()", ["errors", "cli"]),
        ("replay/tls.py", "import importlib\nimportlib.import_module('apitape.cli')", ["cli"]),
        ("replay/tls.py", "__import__('apitape.runs.workflows')", ["runs"]),
        (
            "replay/tls.py",
            "from importlib import import_module\nimport_module('..cli', 'x')",
            ["cli"],
        ),
        ("replay/tls.py", "import importlib\nimportlib.import_module('anyio._backends')", []),
    ],
)
def test_the_checker_sees_every_way_in(module: str, source: str, used: list[str]) -> None:
    """Relative imports, the package itself, attributes through it and importlib's string names
    all count: each once let an upward import pass."""
    assert [unit for _, unit in apitape_imports(SRC / module, source)] == used


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
        "import sys, apitape.cli, apitape.runs.workflows, apitape.replay.replayer, apitape.compare.diff, apitape.demo;"
        "import apitape.interop.har, apitape.interop.importing;"  # HAR import and export need no proxy
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mitmproxy', 'vcr')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_single_process_path_never_loads_the_scale_out_extras() -> None:
    code = (
        "import sys, apitape, apitape.cli, apitape.cli.shard, apitape.runs.workflows;"
        "import apitape.scale.shard;"  # sharding is plain files: no extra needed
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ray', 'ddsketch', 'fsspec', 's3fs')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
