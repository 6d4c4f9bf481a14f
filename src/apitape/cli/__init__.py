"""The `apitape` command line: each command parses, calls the library, renders, exits.

Exit status: 0 no regression, 1 regressions found, 2 errors (bad input, unreachable target).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from apitape._version import __version__
from apitape.errors import ApitapeError, UsageError

if TYPE_CHECKING:
    from apitape.runs.workflows import RunSettings

F = TypeVar("F", bound=Callable[..., Any])


def _errors_exit_2(command: F) -> F:
    """Print an ApitapeError as one paragraph on stderr and exit 2, without a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ApitapeError as exc:
            click.echo(f"apitape: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # Ctrl-C before a command installed its own handler (mitmproxy takes a second
            # to load): stop quietly, as a shell expects.
            click.echo("apitape: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="apitape")
def main() -> None:
    """Record real HTTP traffic into cassettes and replay it against a new build.

    Exit status: 0 no regression, 1 regressions found, 2 errors.
    """


def _policy_options(command: F) -> F:
    """The options that choose what is kept: redaction, filters, sampling, body limits."""
    repeatable = [
        ("--host", "Record only these hosts (glob; repeat the option for more)."),
        ("--exclude-host", "Never record these hosts (glob)."),
        ("--path", "Record only these paths (glob, e.g. '/api/*')."),
        ("--exclude-path", "Never record these paths (glob, e.g. /health)."),
        ("--method", "Record only these methods."),
        ("--exclude-method", "Never record these methods (e.g. OPTIONS)."),
        ("--content-type", "Record only responses of these types (glob, 'application/*json')."),
        ("--exclude-content-type", "Never record responses of these types (glob, 'image/*')."),
        ("--redact-header", "Another header whose value is a secret."),
        ("--redact-field", "Another secret field name: a regex on the snake_case name."),
        ("--redact-value", "A regex of secret values, redacted wherever they appear."),
    ]
    options = [
        click.option(flag, multiple=True, metavar="PATTERN", help=text) for flag, text in repeatable
    ] + [
        click.option(
            "--no-redact",
            is_flag=True,
            help="Write credentials and personal data as they were sent (test traffic only).",
        ),
        click.option(
            "--redact-key-file",
            metavar="PATH",
            help="Redaction key file (made if missing; keep it out of the repo) so recordings "
            "share placeholders. Default: $APITAPE_REDACT_KEY, else a key per recording.",
        ),
        click.option(
            "--sample",
            type=click.FloatRange(0, 1, min_open=True),
            default=1.0,
            help="Fraction of sessions to record; each session is kept or left out whole.",
        ),
        click.option(
            "--session-by",
            default="client",
            show_default=True,
            metavar="KEY",
            help="What a session is, for --sample: client, connection, header:NAME, cookie:NAME.",
        ),
        click.option(
            "--max-body-size",
            type=click.IntRange(min=0),
            metavar="BYTES",
            help="Store bodies larger than this as their size and SHA-256 only.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _file_options(command: F) -> F:
    """The options of the recorder's cassette files: rotation, fsync, the writer's patience."""
    options = [
        click.option(
            "--max-exchanges",
            type=click.IntRange(min=1),
            metavar="N",
            help="Rotate: start NAME-0002.yaml... after N exchanges per file.",
        ),
        click.option(
            "--max-bytes",
            type=click.IntRange(min=1),
            metavar="N",
            help="Rotate: start a new numbered cassette once a file reaches N bytes.",
        ),
        click.option("--fsync", is_flag=True, help="fsync after every exchange (slower)."),
        click.option(
            "--writer-timeout",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            metavar="SECONDS",
            help="Stop the proxy when the cassette writer is stuck this long (a dead disk).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _recorder_options(chosen: dict[str, Any]) -> dict[str, Any]:
    """The Recorder's apitape_* mitmproxy options for the record command's options."""
    names = {
        "host": "hosts",
        "exclude_host": "exclude_hosts",
        "path": "paths",
        "exclude_path": "exclude_paths",
        "method": "methods",
        "exclude_method": "exclude_methods",
        "content_type": "content_types",
        "exclude_content_type": "exclude_content_types",
        "redact_header": "redact_headers",
        "redact_field": "redact_fields",
        "redact_value": "redact_values",
        "redact_key_file": "redact_key_file",
        "session_by": "session_by",
        "max_body_size": "max_body_size",
        "max_exchanges": "max_exchanges",
        "max_bytes": "max_bytes",
        "fsync": "fsync",
        "writer_timeout": "writer_timeout",
    }
    options: dict[str, Any] = {
        f"apitape_{option}": list(chosen[name]) if isinstance(chosen[name], tuple) else chosen[name]
        for name, option in names.items()
        if chosen.get(name) not in (None, ())
    }
    options["apitape_redact"] = not chosen["no_redact"]
    options["apitape_sample"] = repr(chosen["sample"])
    return options


@main.command()
@click.option(
    "--cassette",
    metavar="PATH",
    help="Cassette to append every exchange to: YAML, or JSON lines for a .jsonl path.",
)
@click.option(
    "--mode",
    type=click.Choice(["reverse", "forward"]),
    default="reverse",
    show_default=True,
    help="reverse: listen in front of --upstream. forward: clients set HTTP_PROXY/HTTPS_PROXY.",
)
@click.option(
    "--upstream",
    metavar="URL",
    help="The service to record (reverse mode), e.g. http://127.0.0.1:8000.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on.",
)
@click.option("--listen-host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--confdir",
    metavar="DIR",
    help="mitmproxy's configuration directory, where its CA lives (default ~/.mitmproxy).",
)
@click.option(
    "--upstream-ca",
    metavar="PEM",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA for HTTPS services (a staging service with an internal CA).",
)
@click.option(
    "--print-ca",
    is_flag=True,
    help="Print the path of the CA certificate HTTPS clients must trust (made if missing), "
    "then exit.",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="apitape.yaml whose `redact:` section adds secrets (default ./apitape.yaml if present).",
)
@click.option("--quiet", is_flag=True, help="Log only warnings and errors.")
@_policy_options
@_file_options
@_errors_exit_2
def record(
    cassette: str | None,
    mode: str,
    upstream: str | None,
    port: int,
    listen_host: str,
    confdir: str | None,
    upstream_ca: str | None,
    print_ca: bool,
    config_path: str | None,
    quiet: bool,
    **chosen: Any,
) -> None:
    """Run a recording proxy until Ctrl-C or SIGTERM.

    Every completed exchange is appended to the cassette before the client gets its answer.
    Secrets (credential headers, cookies, password/token/key fields, JWTs, private keys)
    become placeholders first; replay fills them from --header, --secret or a login step.
    HTTPS clients must trust mitmproxy's CA: see --print-ca and docs/capture.md.
    """
    from apitape.replay.replayer import validate_target

    if print_ca:
        from apitape.capture.certs import ca_certificate

        click.echo(ca_certificate(confdir))
        return
    if not cassette:
        raise UsageError("record needs --cassette PATH (where to write the exchanges)")
    if mode == "reverse":
        if not upstream:
            raise UsageError("reverse mode needs --upstream URL (or use --mode forward)")
        proxy_mode = f"reverse:{validate_target(upstream)}"
    else:
        if upstream:
            raise UsageError(
                "--upstream is for reverse mode; in forward mode clients choose the host"
            )
        proxy_mode = "regular"
    if chosen["no_redact"]:
        click.echo(
            "apitape: warning: --no-redact: credentials and personal data will be written to "
            f"{cassette} exactly as sent; the cassette's header says so",
            err=True,
        )
    from apitape.config import load_config
    from apitape.redaction.redact import RedactionPolicy

    # apitape.yaml's extra secrets, so recording and replay's comparison agree on them.
    configured, default = (
        load_config(config_path, required=bool(config_path)).redaction,
        (RedactionPolicy()),
    )
    for option, name in (
        ("redact_header", "headers"),
        ("redact_field", "fields"),
        ("redact_value", "values"),
    ):
        extra = getattr(configured, name)[len(getattr(default, name)) :]
        chosen[option] = (*extra, *chosen[option])
    # mitmproxy loads in about a second: only once the arguments are known to be good.
    from apitape.capture.proxy import ProxySettings, run_recording_proxy

    settings = ProxySettings(
        cassette,
        proxy_mode,
        listen_host,
        port,
        confdir,
        upstream_ca,
        quiet,
        recorder_options=_recorder_options(chosen),
    )
    count = run_recording_proxy(settings)
    click.echo(f"apitape: {count} exchange(s) recorded into {cassette}", err=True)


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _run_settings(shared: dict[str, Any], **more: Any) -> RunSettings:
    """RunSettings from the options the commands share, plus their own."""
    from apitape.runs.workflows import RunSettings
    from apitape.verdict.latency import LatencyPolicy

    options = dict(shared)
    for name in ("methods", "skip_methods"):
        if name in options:
            options[name] = _split(options[name])
    if "latency_factor" in options:
        factor, min_ms = options.pop("latency_factor"), options.pop("latency_min_ms")
        options["latency"] = LatencyPolicy(factor, min_ms)
    return RunSettings(**options, **more)


def _shared_options(command: F) -> F:
    """Options every command that sends requests takes."""
    decorators = [
        click.option(
            "--concurrency",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help="Requests in flight; above 1 only for traffic whose requests do not depend "
            "on each other.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=30.0,
            show_default=True,
            help="Seconds to wait for each response.",
        ),
        click.option(
            "--http2",
            is_flag=True,
            help="Speak HTTP/2 where the target offers it (over TLS), through httpx's own "
            "transport; slower than the default HTTP/1.1 one.",
        ),
        click.option(
            "--config",
            "config_path",
            metavar="PATH",
            help="Comparison rules (default: ./apitape.yaml when it exists).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(min=0),
            default=2,
            show_default=True,
            help="Retries, with backoff, of a request whose connection failed "
            "(never of a response).",
        ),
        click.option(
            "--session-by",
            metavar="KEY",
            help="What groups exchanges into sessions that replay in order: client (default), "
            "connection, exchange (none), header:NAME or cookie:NAME.",
        ),
        click.option(
            "--correlate/--no-correlate",
            default=None,
            help="Carry ids and tokens the target hands out into later requests (default: on).",
        ),
        click.option(
            "--header",
            "headers",
            multiple=True,
            metavar="'NAME: VALUE'",
            help="Send this header with every request instead of the recorded one; $VARS are "
            "taken from the environment. Repeatable.",
        ),
        click.option(
            "--secret",
            "secrets",
            multiple=True,
            metavar="LABEL=VALUE",
            help="Fill redacted placeholders labelled LABEL (redacted-LABEL-...) with VALUE; "
            "$VARS are taken from the environment. Repeatable.",
        ),
        click.option(
            "--redact-key-file",
            metavar="PATH",
            help="The key file the cassettes were recorded with (default $APITAPE_REDACT_KEY): "
            "then a --secret fills only the placeholders made from that very value.",
        ),
        click.option(
            "--methods",
            metavar="LIST",
            default="",
            help="Send only these methods, e.g. GET,HEAD; the others are reported as skipped.",
        ),
        click.option(
            "--skip-methods",
            metavar="LIST",
            default="",
            help="Do not send these methods, e.g. POST,PUT,PATCH,DELETE.",
        ),
        click.option(
            "--quiet", is_flag=True, help="No progress bar (it only shows on a terminal anyway)."
        ),
        click.option(
            "--rate",
            type=click.FloatRange(min=0, min_open=True),
            metavar="N",
            help="At most N requests per second overall.",
        ),
        click.option(
            "--speed",
            type=click.FloatRange(min=0),
            default=0.0,
            show_default=True,
            help="Keep the recorded pacing, its gaps divided by this (2: twice as fast); "
            "0 sends as fast as the target answers.",
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


def _report_options(command: F) -> F:
    """Options of every command that judges and reports: rules, noise, outputs, thresholds."""
    decorators = [
        click.option(
            "--noise",
            "noise_path",
            metavar="PATH",
            help="Learned noise file (default: ./apitape-noise.yaml when it exists).",
        ),
        click.option("--report-json", metavar="PATH", help="Write the JSON report here."),
        click.option(
            "--openapi",
            metavar="SPEC",
            help="Also check every answer against this OpenAPI 3.0/3.1 document (YAML or "
            "JSON); its path templates name the endpoints. See `apitape contract`.",
        ),
        click.option(
            "--report-md",
            metavar="PATH",
            help="Write a Markdown summary here (for a pull request).",
        ),
        click.option(
            "--report-html", metavar="PATH", help="Write one self-contained HTML report here."
        ),
        click.option(
            "--junit", metavar="PATH", help="Write JUnit XML here: a test case per endpoint."
        ),
        click.option(
            "--junit-per-exchange", is_flag=True, help="In the JUnit XML, a test case per exchange."
        ),
        click.option(
            "--fail-on",
            type=click.Choice(["breaking", "changed", "additive"]),
            default="changed",
            show_default=True,
            help="The least severity that makes an exchange a regression (exit status 1).",
        ),
        click.option(
            "--latency-factor",
            type=click.FloatRange(min=0),
            default=2.0,
            show_default=True,
            help="An endpoint whose replayed p95 latency is this many times the recorded one "
            "(and --latency-min-ms more) is a regression; 0 turns the check off.",
        ),
        click.option(
            "--latency-min-ms",
            type=click.FloatRange(min=0),
            default=200.0,
            show_default=True,
            help="Smallest slowdown, in ms, that counts.",
        ),
        click.option(
            "--show-noise",
            is_flag=True,
            help="List what masks, rules and learned noise kept out of the report.",
        ),
        click.option(
            "-v", "--verbose", is_flag=True, help="List every exchange with its differences."
        ),
    ]
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


@main.command()
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
@_shared_options
@_report_options
@click.option("--dry-run", is_flag=True, help="Print what would be sent, and send nothing.")
@click.option(
    "--before",
    metavar="COMMAND",
    help="Run this shell command first (say, to reset the target's database); stop if it fails.",
)
@click.option(
    "--save-responses",
    metavar="PATH",
    help="Also save what the target answered as a cassette, for `apitape diff` later.",
)
@_errors_exit_2
def replay(
    cassettes: tuple[str, ...],
    target: str | None,
    baseline: str | None,
    candidate: str | None,
    noise_runs: int,
    dry_run: bool,
    before: str | None,
    save_responses: str | None,
    **shared: Any,
) -> None:
    """Replay recorded requests against --target and report every difference.

    Or, with --baseline and --candidate, send them to both live builds and report what the
    candidate answers differently beyond the baseline's own noise. Redirects are never
    followed; requests go to the named targets only.
    """
    from apitape.runs.workflows import compare_live, replay_cassettes

    settings = _run_settings(shared, dry_run=dry_run, before=before, save_responses=save_responses)
    if baseline or candidate:
        if not (baseline and candidate) or target:
            raise UsageError(
                "three-way mode takes --baseline URL and --candidate URL, without --target"
            )
        sys.exit(compare_live(cassettes, baseline, candidate, noise_runs, settings))
    if not target:
        raise UsageError("give --target URL (or --baseline URL and --candidate URL)")
    sys.exit(replay_cassettes(cassettes, target, settings))


@main.command()
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Comparison rules (default: ./apitape.yaml when it exists).",
)
@_report_options
@_errors_exit_2
def diff(first: str, second: str, **reporting: Any) -> None:
    """Compare two cassettes exchange by exchange: what B answers differently from A.

    Exchanges are matched by id where it is the same request, else by method, path, query and
    order. Use it on a recording and `apitape replay --save-responses`, or two recordings.
    """
    from apitape.runs.workflows import diff_cassettes

    sys.exit(diff_cassettes(first, second, _run_settings(reporting)))


@main.command()
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
@_shared_options
@_errors_exit_2
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
    from apitape.runs.workflows import learn_noise

    settings = _run_settings(shared)
    model = learn_noise(cassettes, target, runs, output, settings)
    fields = sum(len(e.fields) for e in model.endpoints.values())
    click.echo(
        f"apitape: learned {fields} noisy field(s) on {len(model.endpoints)} endpoint(s); "
        f"review {output}, then `apitape replay` applies it",
        err=True,
    )


@main.command()
@click.option(
    "--dir",
    "workdir",
    metavar="DIR",
    help="Keep the cassette and reports here (default: a temporary directory).",
)
@click.option("--show-noise", is_flag=True, help="Also list what was masked, and by which rule.")
@_errors_exit_2
def demo(workdir: str | None, show_noise: bool) -> None:
    """Record the bundled bookstore v1, replay against v2, and report what changed.

    Exits like `apitape replay`: 1, because v2 carries planted regressions.
    """
    from apitape.demo import run_demo

    sys.exit(run_demo(workdir, show_noise=show_noise))


@main.command(name="import")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--cassette",
    required=True,
    metavar="PATH",
    help="The cassette to write: YAML, or JSON lines for a .jsonl path.",
)
@click.option("--force", is_flag=True, help="Replace the cassette if it exists.")
@_policy_options
@_errors_exit_2
def import_(source: str, cassette: str, force: bool, **chosen: Any) -> None:
    """Turn a HAR file or a mitmproxy flow file into a cassette to replay.

    SOURCE is a HAR file (.har, .zhar: browsers' developer tools, mitmproxy's hardump) or a
    flow file written by `mitmdump -w`. Exchanges without a response are skipped. Secrets
    are redacted, and filters, sampling and body limits applied, as `apitape record` does.
    """
    import os

    from apitape.capture.policy import build_policy
    from apitape.interop.importing import import_traffic

    if chosen["no_redact"]:
        click.echo(f"apitape: warning: --no-redact: {cassette} keeps every secret", err=True)
    settings = {k.removeprefix("apitape_"): v for k, v in _recorder_options(chosen).items()}
    policy = build_policy(settings, os.environ)
    summary = import_traffic(source, cassette, force=force, policy=policy)
    dropped = f", {summary.dropped} left out by filters or sampling" if summary.dropped else ""
    click.echo(
        f"apitape: imported {summary.imported} exchange(s) from {source} into {cassette} "
        f"({summary.skipped} skipped: no response{dropped})",
        err=True,
    )


@main.command(name="export")
@click.argument("cassette", metavar="CASSETTE")
@click.option("--har", "har_path", required=True, metavar="PATH", help="The HAR file to write.")
@_errors_exit_2
def export(cassette: str, har_path: str) -> None:
    """Write a cassette's exchanges as a HAR 1.2 file (for browsers, mitmproxy, HAR viewers)."""
    from apitape.cassette import load_cassette
    from apitape.interop.har import write_har

    loaded = load_cassette(cassette)
    for warning in loaded.warnings:
        click.echo(f"apitape: warning: {warning}", err=True)
    write_har(har_path, loaded.exchanges, __version__)
    click.echo(
        f"apitape: exported {len(loaded.exchanges)} exchange(s) from {cassette} to {har_path}",
        err=True,
    )


@main.command()
@click.argument("cassettes", nargs=-1, required=True, metavar="CASSETTE...")
@click.option(
    "--openapi", "spec_path", required=True, metavar="SPEC", help="OpenAPI 3.0/3.1 (YAML/JSON)."
)
@click.option("--report-json", metavar="PATH", help="Write the JSON report here.")
@click.option("--report-html", metavar="PATH", help="Write one self-contained HTML page here.")
@_errors_exit_2
def contract(
    cassettes: tuple[str, ...], spec_path: str, report_json: str | None, report_html: str | None
) -> None:
    """Check recorded traffic against an OpenAPI document, and show what it covers.

    Each exchange is matched to its documented operation; its status, response body,
    required headers and (when the service accepted it) its request are validated.
    Exit status: 0 all traffic conforms, 1 violations found, 2 bad input.
    """
    from apitape.contract.checker import check_cassettes
    from apitape.contract.openapi import load_openapi
    from apitape.report.contract import ContractTerminalReport, write_contract_html
    from apitape.report.json_report import write_contract_json

    spec = load_openapi(spec_path)
    report = check_cassettes(
        spec, cassettes, lambda w: click.echo(f"apitape: warning: {w}", err=True)
    )
    ContractTerminalReport().render(report)
    if report_json:
        write_contract_json(report, report_json)
        click.echo(f"apitape: JSON report written to {report_json}", err=True)
    if report_html:
        write_contract_html(report, report_html)
        click.echo(f"apitape: HTML report written to {report_html}", err=True)
    sys.exit(1 if report.violations else 0)


@main.command()
@click.argument("source", metavar="SRC")
@click.argument("target", metavar="DST")
@click.option("--force", is_flag=True, help="Replace DST if it exists.")
@_errors_exit_2
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
