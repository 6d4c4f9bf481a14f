"""`apitape replay`, `apitape diff` and `apitape learn`: runs whose reports the CLI renders."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from apitape.cli.options import errors_exit_2, report_options, run_settings, shared_options
from apitape.cli.output import render
from apitape.errors import UsageError

if TYPE_CHECKING:
    from apitape.models import RunReport
    from apitape.runs.settings import RunSettings


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option("--target", metavar="URL", help="Base URL of the build to replay against.")
@click.option("--baseline", metavar="URL", help="Three-way mode: the known-good build...")
@click.option("--candidate", metavar="URL", help="...and the build under test, compared with it.")
@click.option(
    "--noise-runs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Three-way mode: how often each request goes to the baseline to see its own noise.",
)
@shared_options
@report_options
@click.option("--dry-run", is_flag=True, help="Print what would be sent, and send nothing.")
@click.option(
    "--before",
    metavar="COMMAND",
    help="Run this shell command first (say, to reset the target's database); stop if it fails.",
)
@click.option(
    "--confirm/--no-confirm",
    default=True,
    show_default=True,
    help="Send a GET, HEAD or OPTIONS again when its answer differs: what differs between the "
    "target's own two answers is noise (listed under --show-noise), not a regression.",
)
@click.option(
    "--save-responses",
    metavar="PATH",
    help="Also save what the target answered as a cassette, for `apitape diff` later.",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[ADDRESS]",
    help="Replay the sessions in shards on a Ray cluster (pip install 'apitape[ray]'): "
    "ADDRESS, or alone the cluster `ray start` runs here ($RAY_ADDRESS). Put it after the "
    "cassettes. A CASSETTE may be a shard manifest of `apitape shard`.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Replay in shards on a local Ray with this many CPUs (pip install 'apitape[ray]').",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1),
    help="With --ray or --workers: how many shards to cut the cassettes into (default: twice "
    "the CPUs).",
)
@click.option(
    "--shards-into",
    metavar="DIR_OR_URL",
    help="With --ray or --workers: where the shards go, a directory or s3://bucket/prefix "
    "every Ray worker reads (default: a temporary directory on this machine).",
)
@errors_exit_2
def replay(
    cassettes: tuple[str, ...],
    target: str | None,
    baseline: str | None,
    candidate: str | None,
    noise_runs: int,
    dry_run: bool,
    before: str | None,
    save_responses: str | None,
    confirm: bool,
    ray_address: str | None,
    workers: int | None,
    shards: int | None,
    shards_into: str | None,
    **shared: Any,
) -> None:
    """Replay recorded requests against --target and report every difference.

    Or, with --baseline and --candidate, send them to both live builds and report what the
    candidate answers differently beyond the baseline's own noise. Redirects are never
    followed; requests go to the named targets only.
    """
    from apitape import api

    settings = run_settings(shared, before=before, save_responses=save_responses, confirm=confirm)
    if baseline or candidate:
        if not (baseline and candidate) or target:
            raise UsageError(
                "three-way mode takes --baseline URL and --candidate URL, without --target"
            )
        if ray_address is not None or workers is not None:
            raise UsageError("three-way mode runs in one process: leave out --ray and --workers")
        if dry_run:
            sys.exit(_dry_run(cassettes, candidate, settings))
        report = api.compare_live(
            cassettes, baseline, candidate, noise_runs=noise_runs, settings=settings
        )
        sys.exit(render(report, shared))
    if not target:
        raise UsageError("give --target URL (or --baseline URL and --candidate URL)")
    if dry_run:
        sys.exit(_dry_run(cassettes, target, settings))
    if before:
        click.echo(f"apitape: running --before: {before}", err=True)
    if ray_address is not None or workers is not None:
        scale = (ray_address, workers, shards, shards_into)
        sys.exit(render(_on_ray(cassettes, target, settings, *scale), shared))
    sys.exit(render(api.replay(cassettes, target, settings=settings), shared))


def _on_ray(
    cassettes: tuple[str, ...],
    target: str,
    settings: RunSettings,
    address: str | None,
    workers: int | None,
    shards: int | None,
    shards_into: str | None,
) -> RunReport:
    """The replay in shards on Ray, a line on stderr as each shard finishes."""
    from apitape.scale.ray_runner import ScaleOut, ShardDone, replay_on_ray

    def progress(done: ShardDone) -> None:
        if done.failure is not None:
            click.echo(f"apitape: {done.failure}", err=True)
            return
        click.echo(
            f"apitape: shard {done.index} done ({done.done}/{done.total}): "
            f"{done.exchanges} exchange(s), {done.errors} error(s), {done.seconds:.1f} s; "
            f"its worker's peak memory {done.peak_rss_mb:.0f} MB",
            err=True,
        )

    scale = ScaleOut(address, workers, shards, shards_into)
    return replay_on_ray(cassettes, target, settings, scale, progress)


def _dry_run(cassettes: tuple[str, ...], target: str, settings: RunSettings) -> int:
    """Print what a replay would send, request by request; send nothing."""
    from apitape.runs.inputs import planned_requests

    def echo(line: str, err: bool = False) -> None:
        # A lone surrogate (a byte of an argument that was not UTF-8, in --target or --header)
        # is no character: written as it is it makes the output invalid UTF-8; shown escaped.
        click.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=err)

    planned, _, warnings = planned_requests(cassettes, target, settings)
    for warning in warnings:
        echo(f"apitape: warning: {warning}", err=True)
    for item in planned:
        request = item.request
        echo(f"#{item.exchange_id} {request.method} {request.url}")
        for name, value in request.headers:
            echo(f"    {name}: {value}")
        if request.body:
            echo(f"    ({len(request.body)} byte body)")
    echo(f"apitape: dry run: {len(planned)} request(s) shown, none sent")
    return 0


@click.command()
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Comparison rules (default: ./apitape.yaml when it exists).",
)
@report_options
@errors_exit_2
def diff(first: str, second: str, **reporting: Any) -> None:
    """Compare two cassettes exchange by exchange: what B answers differently from A.

    Exchanges are matched by id where it is the same request, else by method, path, query and
    order. Use it on a recording and `apitape replay --save-responses`, or two recordings.
    """
    from apitape import api

    sys.exit(render(api.diff(first, second, settings=run_settings(reporting)), reporting))


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option("--target", required=True, metavar="URL", help="The baseline build (known good).")
@click.option(
    "--runs",
    type=click.IntRange(min=2),
    default=2,
    show_default=True,
    help="How often to send each request.",
)
@click.option(
    "--output",
    default="apitape-noise.yaml",
    show_default=True,
    metavar="PATH",
    help="The noise file to write; `apitape replay` reads ./apitape-noise.yaml by default.",
)
@shared_options
@errors_exit_2
def learn(
    cassettes: tuple[str, ...],
    target: str,
    runs: int,
    output: str,
    **shared: Any,
) -> None:
    """Learn which fields change on their own by replaying to the baseline several times.

    Writes a reviewable noise file: per endpoint and field, how often values differed between
    runs and from the recording. `apitape replay` then reports such a field only when the
    target differs there more often than the baseline did.
    """
    from apitape.api import learn_noise

    warnings: list[str] = []
    try:
        model = learn_noise(
            cassettes,
            target,
            runs=runs,
            settings=run_settings(shared),
            output=output,
            warnings=warnings,
        )
    finally:  # said even when the noise file cannot be written
        for warning in warnings:
            click.echo(f"apitape: warning: {warning}", err=True)
    fields = sum(len(e.fields) for e in model.endpoints.values())
    click.echo(
        f"apitape: learned {fields} noisy field(s) on {len(model.endpoints)} endpoint(s); "
        f"review {output}, then `apitape replay` applies it",
        err=True,
    )
