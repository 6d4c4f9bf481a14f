"""Run mitmproxy in this process with the Recorder: what `apitape record` starts."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import exceptions, options
from mitmproxy.tools.dump import DumpMaster

from apitape.capture.addon import Recorder
from apitape.errors import ApitapeError, ProxyStartError


@dataclass(frozen=True)
class ProxySettings:
    """Where the recording proxy listens, in which mode, and where it records.

    `mode` is mitmproxy's: `reverse:http://host:port` in front of one service, or
    `regular` for a forward proxy that clients reach through HTTP(S)_PROXY.
    """

    cassette: str
    mode: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    confdir: str | None = None
    upstream_ca: str | None = None
    quiet: bool = False
    recorder_options: Mapping[str, Any] = field(default_factory=dict)
    """More of the Recorder's apitape_* options (redaction, filters, rotation...)."""


def run_recording_proxy(settings: ProxySettings) -> int:
    """Proxy and record until SIGINT or SIGTERM; return how many exchanges were recorded.

    The first signal stops gracefully (see Recorder); a second stops without waiting for
    the exchanges still in flight.

    Raises ProxyStartError if it cannot start and ApitapeError if a write failed mid-way
    (the exchanges before the failure are in the cassette).
    """
    return asyncio.run(_run(settings))


async def _run(settings: ProxySettings) -> int:
    logging.getLogger().setLevel(logging.INFO)  # mitmproxy's termlog filters by its own verbosity
    opts = options.Options(
        mode=[settings.mode],
        listen_host=settings.listen_host,
        listen_port=settings.listen_port,
    )
    if settings.confdir:
        opts.update(confdir=settings.confdir)
    if settings.upstream_ca:
        opts.update(ssl_verify_upstream_trusted_ca=settings.upstream_ca)
    master = DumpMaster(opts, with_termlog=True, with_dumper=False)
    recorder = Recorder()
    master.addons.add(recorder)
    if settings.quiet:
        opts.update(termlog_verbosity="warn")
    try:
        opts.update(apitape_cassette=settings.cassette, **settings.recorder_options)
    except exceptions.OptionsError as exc:
        raise ProxyStartError(str(exc)) from None

    loop = asyncio.get_running_loop()
    signalled: list[bool] = []

    def stop() -> None:
        # The first signal stops gracefully (the exchanges in flight are recorded); a second
        # one stops waiting for them.
        if signalled:
            recorder.hurry()
        signalled.append(True)
        master.shutdown()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    loop.set_exception_handler(_quiet_cancellation)
    try:
        await master.run()
    except SystemExit:
        # mitmproxy's error check exits when a server could not be brought up; it has
        # already logged why (for example the port is in use).
        raise ProxyStartError(
            f"the proxy could not start on {settings.listen_host}:{settings.listen_port} "
            "(see the error above); pick another port or stop what is using it"
        ) from None
    finally:
        recorder.close()  # mitmproxy skips the done hook when start-up fails
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    if recorder.failure:
        raise ApitapeError(recorder.failure)
    return recorder.recorded


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's exception handler, minus the cancellation of connections left open.

    mitmproxy's shutdown does not wait for open client connections; asyncio then cancels
    their tasks, and asyncio's stream callback reports each cancellation as an error with a
    traceback. That is the expected end of a connection, not an error.
    """
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)
