"""`apitape stats`, `select` and `merge`: see what a capture holds, cut it, join captures."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from apitape.cli.options import errors_exit_2
from apitape.cli.output import announce_config

if TYPE_CHECKING:
    from apitape.curate.signature import Signer
    from apitape.curate.stats import CaptureStats

_SESSION_HELP = (
    "What makes a session: client (the default), connection, exchange, header:NAME or cookie:NAME."
)


def _signer(config_path: str | None, widen: tuple[str, ...]) -> Signer:
    from apitape.config import load_config
    from apitape.curate.signature import Signer, Widen
    from apitape.http.endpoints import EndpointNamer

    announce_config(config_path)
    config = load_config(config_path, required=bool(config_path))
    return Signer(EndpointNamer(tuple(config.templates)), tuple(Widen.parse(w) for w in widen))


def _warn(warnings: tuple[str, ...] | list[str]) -> None:
    for warning in warnings:
        click.echo(f"apitape: warning: {warning}", err=True)


def _config_option(command: Any) -> Any:
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        help="apitape.yaml whose `templates:` name endpoints (default ./apitape.yaml if present).",
    )(command)


def _session_option(command: Any) -> Any:
    return click.option("--session-by", default="client", metavar="KEY", help=_SESSION_HELP)(
        command
    )


# --------------------------------------------------------------------------- stats


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON on stdout.")
@_session_option
@_config_option
@errors_exit_2
def stats(
    cassettes: tuple[str, ...], as_json: bool, session_by: str, config_path: str | None
) -> None:
    """Show what a capture holds: exchanges, sessions, time span and, per endpoint, statuses,
    content types, body sizes, latency and distinct request and response shapes.

    Streams the cassettes (either format), so a capture of any size runs in flat memory.
    Several cassettes are read as one capture.
    """
    from apitape.curate.stats import capture_stats

    found = capture_stats(cassettes, session_by=session_by, signer=_signer(config_path, ()))
    _warn(found.warnings)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2))
        return
    width = None if sys.stdout.isatty() else 120  # a file or a pipe gets whole rows
    render_stats(found, Console(file=sys.stdout, highlight=False, width=width))


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f}{unit}" if unit == "B" else f"{n:,.1f}{unit}"
        n /= 1000
    return "-"  # pragma: no cover


def _ms(n: float | None) -> str:
    return "-" if n is None else f"{n:,.1f}"


def render_stats(found: CaptureStats, console: Console) -> None:
    """The stats as rich tables: the capture, its endpoints, its secrets."""
    data = found.as_dict()
    span = data["span_seconds"]
    console.print(
        f"[bold]{data['exchanges']:,} exchange(s)[/bold] in {len(data['cassettes'])} "
        f"cassette(s), {_size(data['bytes'])}; {data['sessions']:,} session(s) by "
        f"{data['session_by']}"
    )
    console.print(
        f"recorded {data['first']} to {data['last']} ({span:,.1f} s)"
        if span is not None
        else "no recording times"
    )
    for cassette in data["cassettes"]:
        redaction = cassette["redaction"] or {}
        key = (
            f"redaction key {redaction.get('key_id')}"
            if redaction.get("enabled")
            else ("redaction off" if redaction else "redaction not stated")
        )
        console.print(f"  {cassette['path']}: {cassette['recorder'] or 'recorder unknown'}, {key}")
    table = Table(title="Endpoints", title_justify="left", show_edge=False)
    table.add_column("endpoint", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("statuses", no_wrap=True)
    table.add_column("type", overflow="ellipsis")
    table.add_column("body p50/95", justify="right", no_wrap=True)
    table.add_column("ms p50/95", justify="right", no_wrap=True)
    table.add_column("shapes", justify="right")
    for row in data["endpoints"]:
        sizes, times = row["response_bytes"], row["latency_ms"]
        table.add_row(
            row["endpoint"],
            f"{row['count']:,}",
            " ".join(f"{code}:{n:,}" for code, n in row["statuses"].items()),
            ", ".join(t.removeprefix("application/") for t in row["content_types"]),
            f"{_size(sizes['p50'])}/{_size(sizes['p95'])}",
            f"{_ms(times['p50'])}/{_ms(times['p95'])}",
            f"{row['request_shapes']}/{row['response_shapes']}",
        )
    console.print(table)
    if data["secrets"]:
        secrets = Table(title="Redacted secrets", title_justify="left", show_edge=False)
        for column in ("label", "placeholders", "uses"):
            secrets.add_column(column, justify="left" if column == "label" else "right")
        for row in data["secrets"]:
            secrets.add_row(row["label"], f"{row['placeholders']:,}", f"{row['uses']:,}")
        console.print(secrets)
    else:
        console.print("no redacted secrets")


# --------------------------------------------------------------------------- select


@click.command(name="select")
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option(
    "--out", required=True, metavar="PATH", help="The cassette to write (.jsonl: JSON lines)."
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="GLOB",
    help="Keep endpoints like 'GET /books/*' (repeatable).",
)
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="M",
    help="Keep these methods (repeatable, or GET,HEAD).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="CODE",
    help="Keep statuses: 404, 4xx (repeatable, or 200,201).",
)
@click.option(
    "--since", metavar="TIME", help="Keep exchanges recorded at or after this ISO-8601 time."
)
@click.option(
    "--until", metavar="TIME", help="Keep exchanges recorded at or before this ISO-8601 time."
)
@click.option(
    "--session",
    "sessions",
    multiple=True,
    metavar="GLOB",
    help="Keep sessions whose key (see --session-by) matches (repeatable).",
)
@click.option(
    "--match",
    metavar="REGEX",
    help="Keep exchanges whose URL or a body matches this regular expression.",
)
@click.option(
    "--minimize", is_flag=True, help="Keep the fewest whole sessions that cover every signature."
)
@click.option(
    "--per-signature",
    default=1,
    show_default=True,
    metavar="K",
    type=int,
    help="With --minimize: keep up to K examples of each signature.",
)
@click.option(
    "--widen",
    multiple=True,
    metavar="query:NAME|header:NAME",
    help="Add a query parameter's or header's value to the signature (repeatable).",
)
@_session_option
@_config_option
@errors_exit_2
def select(
    cassettes: tuple[str, ...],
    out: str,
    force: bool,
    endpoints: tuple[str, ...],
    methods: tuple[str, ...],
    statuses: tuple[str, ...],
    since: str | None,
    until: str | None,
    sessions: tuple[str, ...],
    match: str | None,
    minimize: bool,
    per_signature: int,
    widen: tuple[str, ...],
    session_by: str,
    config_path: str | None,
) -> None:
    """Write the exchanges the filters keep to --out; with --minimize, only the fewest whole
    sessions that still show every signature (endpoint, status, request shape, response
    shape) of the input, up to --per-signature K examples of each.

    Deterministic, streamed, either format in and out; prints the coverage kept (signatures
    before and after) and the reduction. See docs/curation.md.
    """
    from apitape.curate.select import Filters, select_exchanges

    def split(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(part.strip() for v in values for part in v.split(",") if part.strip())

    filters = Filters(endpoints, split(methods), split(statuses), since, until, sessions, match)
    result = select_exchanges(
        cassettes,
        out,
        filters=filters,
        minimize=minimize,
        per_signature=per_signature,
        session_by=session_by,
        signer=_signer(config_path, widen),
        force=force,
    )
    _warn(result.warnings)
    if result.exchanges_out == 0:
        hint = "; widen the filters" if filters.describe() else ""
        _warn([f"no exchange was kept: {result.out} holds none{hint}"])
    reduction = f"reduction {result.reduction:,.1f}x" if result.exchanges_out else "nothing kept"
    click.echo(
        f"apitape: kept {result.exchanges_out:,} of {result.exchanges_in:,} exchange(s) "
        f"({result.sessions_out:,} of {result.sessions_in:,} session(s)) in {result.out}; "
        f"{reduction}",
        err=True,
    )
    if result.minimized:
        verdict = "kept" if result.coverage_kept else "NOT KEPT"
        click.echo(
            f"apitape: coverage {verdict}: {result.signatures_out:,} of "
            f"{result.signatures_in:,} signature(s); {result.examples_kept:,} of "
            f"{result.examples_wanted:,} example(s) wanted at --per-signature {per_signature}",
            err=True,
        )
    else:
        click.echo(f"apitape: {result.signatures_out:,} signature(s) in the selection", err=True)


# --------------------------------------------------------------------------- merge


@click.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option(
    "--out", required=True, metavar="PATH", help="The cassette to write (.jsonl: JSON lines)."
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@errors_exit_2
def merge(cassettes: tuple[str, ...], out: str, force: bool) -> None:
    """Merge several proxies' or days' cassettes into one, in recorded order, ids renumbered.

    Sessions stay whole (a session spanning inputs is ordered by recorded_at). Cassettes
    redacted with different keys are refused: their placeholders would never match.
    """
    from apitape.curate.merge import merge_cassettes

    summary = merge_cassettes(cassettes, out, force=force)
    _warn(summary.warnings)
    key = f", redaction key {summary.redaction_key}" if summary.redaction_key else ""
    click.echo(
        f"apitape: merged {summary.exchanges:,} exchange(s) from {len(summary.inputs)} "
        f"cassette(s) into {summary.out}{key}",
        err=True,
    )
