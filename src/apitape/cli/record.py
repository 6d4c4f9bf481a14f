"""`apitape record`: a recording proxy in front of a service, or as a forward proxy."""

from __future__ import annotations

from typing import Any

import click

from apitape.capture.settings import mitmproxy_options
from apitape.cli.options import (
    add_configured_redaction,
    errors_exit_2,
    file_options,
    policy_options,
    setting_options,
)
from apitape.cli.output import announce_config
from apitape.errors import UsageError


@click.command()
@setting_options("cassette")
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
@setting_options("proxy")
@policy_options
@file_options
@errors_exit_2
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

    Every completed exchange is appended to the cassette before the client gets its answer;
    a stop first lets the exchanges in flight finish and reach the cassette.
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
    if not chosen["redact"]:
        click.echo(
            "apitape: warning: --no-redact: credentials and personal data will be written to "
            f"{cassette} exactly as sent; the cassette's header says so",
            err=True,
        )
    announce_config(config_path)
    add_configured_redaction(chosen, config_path)
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
        recorder_options=mitmproxy_options(chosen),
    )
    count = run_recording_proxy(settings)
    click.echo(f"apitape: {count} exchange(s) recorded into {_written(cassette, chosen)}", err=True)


def _written(cassette: str, chosen: dict[str, Any]) -> str:
    """The files a recording wrote: with rotation, the numbered ones, not the name given."""
    if not (chosen.get("max_exchanges") or chosen.get("max_bytes")):
        return cassette
    from apitape.cassette.rotation import existing_numbers, numbered_path

    numbers = existing_numbers(cassette)
    if not numbers:
        return cassette
    first, last = numbered_path(cassette, numbers[0]), numbered_path(cassette, numbers[-1])
    return first if first == last else f"{first} ... {last} ({len(numbers)} files)"
