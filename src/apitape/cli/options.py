"""Options several commands share, declared once, and the error handling every command has."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from apitape.capture.settings import BY_NAME, Setting, settings_of
from apitape.errors import ApitapeError, UsageError
from apitape.runs.settings import expand_headers, expand_secrets

if TYPE_CHECKING:
    from apitape.runs.settings import RunSettings


F = TypeVar("F", bound=Callable[..., Any])


def errors_exit_2(command: F) -> F:
    """Print an ApitapeError as one paragraph on stderr and exit 2, without a traceback.

    Any other exception is a bug or an input apitape did not foresee: it also exits 2 (1
    would read as "regressions found" in CI), with one line naming its type and where it
    was raised; the traceback follows only with `apitape --debug` or APITAPE_DEBUG=1.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UsageError as exc:  # the setting by its flag: `--sample`, not `sample`
            flag = flag_of(exc.setting) if exc.setting else ""
            click.echo(f"apitape: error: {exc.worded(flag)}", err=True)
            sys.exit(2)
        except ApitapeError as exc:
            click.echo(f"apitape: error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            # Ctrl-C before a command installed its own handler (mitmproxy takes a second
            # to load): stop quietly, as a shell expects.
            click.echo("apitape: interrupted", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own ways of ending a command
        except Exception as exc:  # the net under every command
            if debugging():
                traceback.print_exc(file=sys.stderr)
            click.echo(unexpected_error_line(exc, command.__name__), err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def flag_of(setting: str) -> str:
    """The flag that sets a setting: the running command's option of that name (`--cert` for
    client_cert, `--secret` for secrets), else a recording setting's own (`--host` for
    hosts), else `--session-by` for session_by."""
    context = click.get_current_context(silent=True)
    for param in context.command.params if context is not None else ():
        if isinstance(param, click.Option) and param.name == setting:
            flags = [o for o in param.opts if o.startswith("--")]
            if flags:
                return flags[0]
    known = BY_NAME.get(setting)
    return known.flag if known is not None else f"--{setting.replace('_', '-')}"


def debugging() -> bool:
    """Whether tracebacks were asked for: `apitape --debug` or APITAPE_DEBUG=1."""
    if os.environ.get("APITAPE_DEBUG", "") not in ("", "0"):
        return True
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.find_root().params.get("debug"))


def unexpected_error_line(exc: BaseException, command: str) -> str:
    """`apitape: error: unexpected <Type> in <where>: <message>; rerun with --debug ...`,
    on one line; <where> is the command and the innermost apitape frame."""
    where = f"apitape {command.rstrip('_').replace('_', '-')}"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}apitape{os.sep}" in f.filename]
    if ours:
        frame = ours[-1]
        module = frame.filename.rsplit(f"{os.sep}apitape{os.sep}", 1)[1]
        where += f" (apitape/{module.replace(os.sep, '/')}:{frame.lineno}, {frame.name})"
    message = " ".join(str(exc).split()) or "no message"
    if len(message) > 300:
        message = message[:297] + "..."
    return (
        f"apitape: error: unexpected {type(exc).__name__} in {where}: {message}; "
        "rerun with --debug for the traceback"
    )


def setting_option(setting: Setting) -> Callable[[F], F]:
    """The click option of one recording setting, made from its row in capture.settings."""
    kwargs: dict[str, Any] = {"help": setting.help, "metavar": setting.metavar}
    declaration = setting.flag
    if setting.type is bool:
        kwargs["is_flag"] = True
        if setting.default:  # on by default: --redact/--no-redact
            declaration = f"{setting.flag}/--no-{setting.flag.removeprefix('--')}"
        kwargs["default"] = setting.default
    elif setting.type is tuple:
        kwargs["multiple"] = True
    else:
        kwargs["type"] = _click_type(setting)
        kwargs["default"] = setting.default
        kwargs["show_default"] = setting.default not in (None, "")
    return click.option(declaration, setting.name, **kwargs)


def _click_type(setting: Setting) -> click.ParamType[Any] | None:
    low, high = setting.minimum, setting.maximum
    if setting.type is int:
        return click.IntRange(_whole(low), _whole(high))
    if setting.type is float:
        return click.FloatRange(low, high, min_open=setting.above_minimum)
    return None


def _whole(bound: float | None) -> int | None:
    return None if bound is None else int(bound)


def setting_options(group: str) -> Callable[[F], F]:
    """The click options of a group of recording settings (policy, files, proxy, cassette)."""

    def decorate(command: F) -> F:
        for setting in reversed(settings_of(group)):
            command = setting_option(setting)(command)
        return command

    return decorate


policy_options = setting_options("policy")
"""The options that choose what is kept: redaction, filters, sampling, body limits."""

file_options = setting_options("files")
"""The options of the recorder's cassette files: rotation, fsync, the writer's patience."""


def add_configured_redaction(chosen: dict[str, Any], config_path: str | None) -> None:
    """Put apitape.yaml's extra `redact:` headers, fields and values before the --redact-*
    options chosen, so recording, importing and replay's comparison agree on the secrets."""
    from apitape.config import load_config

    extras = load_config(config_path, required=bool(config_path)).redaction.extras
    for name, extra in zip(
        ("redact_headers", "redact_fields", "redact_values"), extras, strict=True
    ):
        chosen[name] = (*extra, *chosen[name])


def split_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


OUTPUT_OPTIONS = (
    "report_json",
    "report_md",
    "report_html",
    "junit",
    "junit_per_exchange",
    "show_noise",
    "verbose",
    "quiet",
)
"""Options that choose how a run is shown and written, not how it runs (see cli.output)."""


def run_settings(chosen: dict[str, Any], **more: Any) -> RunSettings:
    """RunSettings from the options a command was given (those of OUTPUT_OPTIONS left out),
    with --header and --secret parsed and their $VARS expanded."""
    from apitape.cli.progress import progress_bar
    from apitape.runs.settings import RunSettings
    from apitape.verdict.latency import LatencyPolicy

    options = {k: v for k, v in chosen.items() if k not in OUTPUT_OPTIONS}
    for name in ("methods", "skip_methods"):
        if name in options:
            options[name] = split_list(options[name])
    if "latency_factor" in options:
        factor, min_ms = options.pop("latency_factor"), options.pop("latency_min_ms")
        options["latency"] = LatencyPolicy(factor, min_ms)
    if "headers" in options:
        options["headers"] = expand_headers(options["headers"])
    if "secrets" in options:
        options["secrets"] = tuple(expand_secrets(options["secrets"]))
    if not chosen.get("quiet"):
        options["progress"] = lambda total, label: progress_bar(total, sys.stderr, label)
    options["notify"] = _once_each()
    return RunSettings(**options, **more)


def _once_each() -> Callable[[str], None]:
    """What a run tells a person watching, on stderr, each line once: a replay whose
    apitape.yaml names endpoints reads its rules twice, and says which files it applies once."""
    said: set[str] = set()

    def notify(note: str) -> None:
        if note not in said:
            said.add(note)
            click.echo(f"apitape: {note}", err=True)

    return notify


def shared_options(command: F) -> F:
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
            "--ca",
            metavar="PEM",
            help="Verify HTTPS targets with the CA certificates in this PEM file (or directory) "
            "instead of the default ones (SSL_CERT_FILE or SSL_CERT_DIR when set).",
        ),
        click.option(
            "--cert",
            "client_cert",
            metavar="PEM",
            help="Mutual TLS: present this client certificate (PEM; may hold the key too).",
        ),
        click.option(
            "--key",
            "client_key",
            metavar="PEM",
            help="Mutual TLS: the private key of --cert (PEM, not encrypted).",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="Verify no certificate (test targets only); the report records it.",
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


def report_options(command: F) -> F:
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
