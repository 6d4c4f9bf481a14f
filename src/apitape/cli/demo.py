"""`apitape demo`: the whole pipeline on the bundled bookstore."""

from __future__ import annotations

import sys

import click

from apitape.cli.options import errors_exit_2


@click.command()
@click.option(
    "--dir",
    "workdir",
    metavar="DIR",
    help="Keep the cassette and reports here (default: a temporary directory).",
)
@click.option("--show-noise", is_flag=True, help="Also list what was masked, and by which rule.")
@errors_exit_2
def demo(workdir: str | None, show_noise: bool) -> None:
    """Record the bundled bookstore v1, replay against v2, and report what changed.

    Exits like `apitape replay`: 1, because v2 carries planted regressions.
    """
    from apitape.demo import run_demo

    sys.exit(run_demo(workdir, show_noise=show_noise))
