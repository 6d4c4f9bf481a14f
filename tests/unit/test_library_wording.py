"""The library speaks Python: no module below the faces words a command-line flag of apitape.

A mitmdump user sets `apitape_sample`, a Python user `RunSettings(timeout=...)`: a message
that tells them about `--sample` or `--timeout` names something they never typed. Errors carry
the setting's Python name (`UsageError.setting`) and each face words it; texts that reach a
report or a warning name the setting as Python spells it, or no setting at all.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "apitape"

FACES = ("cli/", "capture/settings.py", "capture/addon.py", "pytest_plugin.py", "__main__.py")
"""The faces word their own flags and options: the command line, the one table the click and
mitmproxy options are made from, the mitmproxy addon, the pytest plugin."""

ARGV_MODULES = ("demo/", "runs/recording.py")
"""Modules that start processes: the strings of their list literals are argv (`apitape record
--port N`, the example service's `--port`), not messages."""

CLI_RENDERER = ("report/terminal.py",)
"""The terminal report is the command line's renderer, whatever folder it lives in: only
`cli/output.py` and `apitape demo` (a command, rendering with every exchange listed) draw it;
the pytest plugin, the Python API and the report files never do. Its hints name the flags of
the command the reader just ran (`--verbose lists every exchange`)."""

PENDING: dict[str, set[str]] = {
    # Being reworded by their owners as this test lands (issue 17 item 2); an entry that no
    # longer matches fails the test below, so the list can only shrink.
}
"""Modules that still word flags, and which, until their owners change them."""


def apitape_flags() -> frozenset[str]:
    """Every long option of every apitape command, read from the click command tree itself."""
    from apitape.cli import main

    flags: set[str] = set()

    def visit(command: click.Command) -> None:
        for param in command.params:
            if isinstance(param, click.Option):
                flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                visit(sub)

    visit(main)
    flags.add("--help")  # click's own, on every command
    return frozenset(flags)


FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")


def worded_flags(text: str, flags: frozenset[str]) -> list[str]:
    """The flags of apitape that `text` names."""
    return [found for found in FLAG.findall(text) if found in flags]


def messages(path: Path, argv: bool) -> Iterator[tuple[int, str]]:
    """(line, text) of every string constant in the module that is not a docstring (nor a
    bare string statement, the attribute docstrings), f-strings' literal parts included; with
    `argv`, the strings of list and tuple literals are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skipped.add(id(node.value))
        elif argv and isinstance(node, ast.List | ast.Tuple):
            skipped.update(id(e) for e in node.elts if isinstance(e, ast.Constant))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
        ):
            yield node.lineno, node.value


def library_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        name = path.relative_to(SRC).as_posix()
        if not name.startswith(FACES) and name not in CLI_RENDERER:
            yield name, path


def flags_worded(name: str, path: Path, flags: frozenset[str]) -> list[tuple[int, str]]:
    argv = name.startswith(ARGV_MODULES)
    return sorted(
        (line, flag) for line, text in messages(path, argv) for flag in worded_flags(text, flags)
    )


def test_the_flags_are_read_from_the_command_tree() -> None:
    flags = apitape_flags()
    assert {"--sample", "--timeout", "--secret", "--cert", "--no-redact", "--port"} <= flags
    assert "--apitape-target" not in flags  # the pytest plugin's, not the command line's


def test_no_library_module_words_a_flag() -> None:
    flags = apitape_flags()
    found = {name: flags_worded(name, path, flags) for name, path in library_modules()}
    wrong = [
        f"{name}:{line}: {flag}"
        for name, hits in found.items()
        for line, flag in hits
        if flag not in PENDING.get(name, set())
    ]
    assert not wrong, "library messages name command-line flags:\n" + "\n".join(wrong)
    stale = [
        f"{name}: {flag}"
        for name, pending in PENDING.items()
        for flag in sorted(pending - {flag for _, flag in found.get(name, [])})
    ]
    assert not stale, "PENDING lists flags no longer worded; remove them:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ('raise UsageError("pick another --port")', ["--port"]),
        ('x = f"{n} s (raise --timeout if slow)"', ["--timeout"]),
        ('"""Docstrings may name --timeout."""', []),
        ('x = "--apitape-target URL, --not-a-flag, -----BEGIN"', []),
        ('x = "a ca=PEM setting, raise the timeout"', []),
    ],
)
def test_a_planted_flag_is_found(tmp_path: Path, source: str, found: list[str]) -> None:
    module = tmp_path / "planted.py"
    module.write_text(source + "\n")
    assert [flag for _, flag in flags_worded("planted.py", module, apitape_flags())] == found


def test_argv_lists_of_process_starters_are_not_messages(tmp_path: Path) -> None:
    module = tmp_path / "starter.py"
    module.write_text('argv = ["apitape", "record", "--port", "0"]\nerr = "pick another --port"\n')
    assert flags_worded("demo/starter.py", module, apitape_flags()) == [(2, "--port")]
    assert len(flags_worded("other.py", module, apitape_flags())) == 2
