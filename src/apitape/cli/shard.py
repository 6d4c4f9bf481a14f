"""`apitape shard`: split cassettes into session-whole shards for `apitape replay --ray`."""

from __future__ import annotations

import click

from apitape.cli.options import errors_exit_2


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option(
    "--into",
    required=True,
    metavar="DIR_OR_URL",
    help="Where the shards and manifest.json go: a directory, a shared volume, or "
    "s3://bucket/prefix (pip install 'apitape[s3]').",
)
@click.option(
    "-n",
    "shards",
    type=click.IntRange(min=1),
    required=True,
    help="How many shards; a few per worker CPU balances the work.",
)
@click.option(
    "--session-by",
    default="client",
    show_default=True,
    metavar="KEY",
    help="What a session is (it is never split): client, connection, exchange, header:NAME "
    "or cookie:NAME; replay with the same key.",
)
@errors_exit_2
def shard(cassettes: tuple[str, ...], into: str, shards: int, session_by: str) -> None:
    """Split cassettes into N JSON-lines shards by a stable hash of each session's key.

    One streaming pass; every session goes whole, in recorded order, to one shard. Cassettes
    of several recording proxies (recorded with the same redaction key) shard together; a
    session found in several of them is put back in order by recorded_at. Replay the shards
    with `apitape replay DIR_OR_URL --target URL --ray` (or --workers N).
    """
    from apitape.scale.shard import MANIFEST, shard_cassettes

    manifest = shard_cassettes(cassettes, into, shards, session_by)
    for warning in manifest.warnings:
        click.echo(f"apitape: warning: {warning}", err=True)
    if manifest.reordered_sessions:
        click.echo(
            f"apitape: {manifest.reordered_sessions} session(s) appear in several cassettes "
            "(recorded without client affinity): put back in order by recorded_at; the "
            "proxies' clocks must agree to within the gap between a session's requests",
            err=True,
        )
    sizes = ", ".join(str(s.exchanges) for s in manifest.shards)
    click.echo(
        f"apitape: {manifest.exchanges} exchange(s) of {len(cassettes)} cassette(s) in "
        f"{len(manifest.shards)} shard(s) by {session_by} ({sizes}); manifest: "
        f"{manifest.location.rstrip('/')}/{MANIFEST}",
        err=True,
    )
