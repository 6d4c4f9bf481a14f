"""`apitape import`, `export` and `convert`: cassettes from and to other files."""

from __future__ import annotations

from typing import Any

import click

from apitape.cli.options import errors_exit_2, policy_options
from apitape.cli.output import announce_config


@click.command(name="import")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--cassette",
    required=True,
    metavar="PATH",
    help="The cassette to write: YAML, or JSON lines for a .jsonl path.",
)
@click.option("--force", is_flag=True, help="Replace the cassette if it exists.")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="apitape.yaml whose `redact:` section adds secrets (default ./apitape.yaml if present).",
)
@policy_options
@errors_exit_2
def import_(
    source: str, cassette: str, force: bool, config_path: str | None, **chosen: Any
) -> None:
    """Turn a HAR file or a mitmproxy flow file into a cassette to replay.

    SOURCE is a HAR file (.har, .zhar: browsers' developer tools, mitmproxy's hardump) or a
    flow file written by `mitmdump -w`. Exchanges without a response are skipped. Secrets
    are redacted, and filters, sampling and body limits applied, as `apitape record` does.
    """
    from apitape.api import import_traffic

    redact = chosen.pop("redact")
    if not redact:
        click.echo(f"apitape: warning: --no-redact: {cassette} keeps every secret", err=True)
    announce_config(config_path)
    summary = import_traffic(
        source, cassette, force=force, config=config_path, redact=redact, policy=chosen
    )
    dropped = f", {summary.dropped} left out by filters or sampling" if summary.dropped else ""
    click.echo(
        f"apitape: imported {summary.imported} exchange(s) from {source} into {cassette} "
        f"({summary.skipped} skipped: no response{dropped})",
        err=True,
    )


@click.command(name="export")
@click.argument("cassette", metavar="CASSETTE")
@click.option("--har", "har_path", required=True, metavar="PATH", help="The HAR file to write.")
@errors_exit_2
def export(cassette: str, har_path: str) -> None:
    """Write a cassette's exchanges as a HAR 1.2 file (for browsers, mitmproxy, HAR viewers)."""
    from apitape.api import export_har

    warnings: list[str] = []
    try:
        count = export_har(cassette, har_path, warnings=warnings)
    finally:  # said even when the HAR file cannot be written
        for warning in warnings:
            click.echo(f"apitape: warning: {warning}", err=True)
    click.echo(f"apitape: exported {count} exchange(s) from {cassette} to {har_path}", err=True)


@click.command()
@click.argument("source", metavar="SRC")
@click.argument("target", metavar="DST")
@click.option("--force", is_flag=True, help="Replace DST if it exists.")
@errors_exit_2
def convert(source: str, target: str, force: bool) -> None:
    """Convert a cassette between YAML and JSON lines (by DST's extension: .jsonl or .yaml).

    Exchanges, ids and apitape's header are kept exactly; the cassette is streamed, so its
    size does not matter. JSON lines load many times faster than YAML: convert big captures
    for replay, and back to YAML to review them or to use them with vcrpy.
    """
    from apitape.cassette import convert_cassette

    warnings: list[str] = []
    count = convert_cassette(source, target, force=force, warnings=warnings)
    for warning in warnings:
        click.echo(f"apitape: warning: {warning}", err=True)
    click.echo(f"apitape: converted {count} exchange(s) from {source} to {target}", err=True)
