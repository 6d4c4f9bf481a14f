"""The mitmproxy addon that appends every completed exchange to a cassette."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Any

# Imported for the hooks they define: mitmproxy registers a hook's name when its module loads.
import mitmproxy.addonmanager
import mitmproxy.log
import mitmproxy.proxy.layers
import mitmproxy.proxy.server_hooks  # noqa: F401
from mitmproxy import ctx, exceptions, hooks, http
from mitmproxy.proxy.mode_specs import ReverseMode

from apitape.capture.exchange import Facts, exchange_from_facts
from apitape.capture.rewrite import authority, origin_pattern, rewrite_fields
from apitape.capture.settings import POLICY, SETTINGS, from_mitmproxy
from apitape.capture.sink import WriterProcess
from apitape.capture.writer import WriterSettings
from apitape.errors import ApitapeError, UsageError
from apitape.models import Exchange
from apitape.redaction.keys import KEY_ENV

log = logging.getLogger(__name__)


def flow_facts(flow: http.HTTPFlow) -> tuple[Any, ...]:
    """What the recorder takes from a completed flow: cheap to take and to frame.

    Facts' fields, in their order, as a plain tuple (marshal frames no NamedTuple; see
    Facts): mitmproxy's raw fields as it keeps them (method, scheme, path and reason as
    bytes, headers as bytes pairs), read straight off the request's and response's data, not
    through the properties that decode them and build the URL: that decoding happens in the
    writer process (`exchange_from_facts`), not on the proxy's thread. Taking and framing one
    exchange, measured in a recording mitmdump under load (thread CPU time): 20 us through
    the properties, 6 us this way, most of it cold caches rather than instructions.
    """
    request = flow.request.data
    response = flow.response.data  # type: ignore[union-attr]
    client = flow.client_conn
    return (
        request.method,
        request.scheme,
        request.host,
        request.port,
        request.path,
        request.headers.fields,
        request.content,
        response.status_code,
        response.reason,
        response.headers.fields,
        response.content,
        request.timestamp_start,
        request.timestamp_end,
        response.timestamp_start,
        response.timestamp_end,
        client.peername,
        client.id,
    )


def exchange_from_flow(flow: http.HTTPFlow) -> Exchange:
    """The Exchange a completed flow is stored as, built as the writer process builds it."""
    return exchange_from_facts(Facts._make(flow_facts(flow)))


def writer_settings(values: Mapping[str, Any], environ: Mapping[str, str]) -> WriterSettings:
    """What the writer process needs to know of the settings (see capture.settings)."""
    return WriterSettings(
        cassette=values["cassette"],
        policy={setting.name: values[setting.name] for setting in POLICY},
        environ={k: v for k, v in environ.items() if k == KEY_ENV},
        max_exchanges=values["max_exchanges"],
        max_bytes=values["max_bytes"],
        fsync=values["fsync"],
        durable=values["durable"],
    )


DEPRECATED_HOOKS = frozenset({"add_log"})
"""Hook names mitmproxy warns about when an addon merely has them (`hasattr`, at load):
`add_log` prints "The add_log event has been deprecated..." on every start. It is an event
per log line, not per flow, so leaving it out of the placeholders costs nothing that counts."""


def hook_placeholders(handled: Container[str]) -> dict[str, None]:
    """None for every mitmproxy hook name not in `handled`, to set on an addon or script.

    For every event of every flow, mitmproxy looks the hook up on each addon and script
    module with `getattr(addon, name, None)`; a name that is missing raises, and formats, an
    AttributeError each time, while a name that is None is skipped at once. Measured with
    callgrind (instructions, so repeatable) over mitmproxy's own dispatch of a request's
    hooks: the recorder script added 200k instructions per request before, 131k with these.
    The deprecated names (DEPRECATED_HOOKS) are left out: having them makes mitmproxy warn.
    """
    return {
        name: None
        for name in hooks.all_hooks
        if name not in handled and name not in DEPRECATED_HOOKS
    }


def script_namespace(recorder: Recorder) -> dict[str, Any]:
    """What a mitmdump script module holds to be `recorder` itself: its hooks, bound.

    mitmproxy walks ScriptLoader -> Script -> the script module -> the module's `addons`
    for every event of every flow. A module whose own names are the recorder's bound hooks
    (and `addons = ()`, so the walk stops there) is one level shallower than a module whose
    `addons` holds the recorder; every other hook name is None (see hook_placeholders).
    Measured with callgrind over mitmproxy's dispatch of a request's hooks: 144k
    instructions per request with the recorder one level down, 98k this way (an empty
    script function alone costs 94k).
    """
    hooks_of_recorder = {
        name: getattr(recorder, name)
        for name in hooks.all_hooks
        if callable(getattr(recorder, name, None))
    }
    return {**hook_placeholders(hooks_of_recorder), **hooks_of_recorder, "addons": ()}


class Recorder:
    """Records each completed exchange into the cassette named by `apitape_cassette`.

    The proxy puts the plain facts of each exchange into a pipe to a writer process, which
    builds, filters, redacts and appends it on another core; the response goes back to the
    client once the exchange is in the pipe, where it outlives a killed proxy (with
    `apitape_durable`, once the writer has written and fsynced it). When the
    writer falls behind, responses wait; when it fails or stays stuck, the proxy shuts down
    and says how many answered exchanges the cassette may lack. A graceful stop (Ctrl-C,
    SIGTERM) stops listening, refuses new requests, lets the exchanges in flight reach the
    writer, and only then lets the writer drain. Secrets are redacted unless `apitape_redact`
    is off.
    """

    addons = ()  # no sub-addons: answers mitmproxy's traversal without an AttributeError

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.writer: WriterProcess | None = None
        self.failure: str | None = None
        self._environ = os.environ if environ is None else environ
        self._recorded = 0
        self._in_flight: set[str] = set()  # ids of flows between their request and the
        # moment their response goes on (handed over) or they end without one
        self._stopping = False  # a graceful stop began: new requests are refused
        self._rewrite_urls = True
        self._keep_host_header = False  # mitmproxy's option, read once (per response is slow)
        self._hurried = False  # a second signal: stop waiting for the exchanges in flight

    @property
    def recorded(self) -> int:
        """Exchanges written by the writers that have finished."""
        return self._recorded

    def load(self, loader: Any) -> None:
        """Declare the apitape_* options: one per recording setting (capture.settings)."""
        for setting in SETTINGS:
            loader.add_option(
                setting.option,
                setting.option_type,
                setting.to_option(setting.default),
                setting.help,
            )

    def configure(self, updated: set[str]) -> None:
        if "keep_host_header" in updated:
            self._keep_host_header = ctx.options.keep_host_header
        if not any(name.startswith("apitape_") for name in updated):
            return
        self._rewrite_urls = ctx.options.apitape_rewrite_urls
        if updated == {"apitape_rewrite_urls"}:
            return  # nothing the writer needs
        self.close()
        path = ctx.options.apitape_cassette
        if not path:
            return  # `running` refuses to proxy; raising here would also fire on a rollback
        try:
            values = from_mitmproxy(ctx.options)
            writer = WriterProcess(
                writer_settings(values, self._environ), values["writer_timeout"], self._stop
            )
            writer.start()
        except UsageError as exc:  # named as mitmdump's --set knows it
            name = f"apitape_{exc.setting}" if exc.setting else ""
            raise exceptions.OptionsError(exc.worded(name)) from None
        except ApitapeError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        self.writer = writer
        if not values["redact"]:
            log.warning(
                "apitape: redaction is OFF: credentials and personal data are written to "
                f"{path} exactly as sent"
            )
        log.info(f"apitape: recording into {writer.current_path}")

    def running(self) -> None:
        if self.writer is None:
            # An error logged during start-up makes mitmproxy exit instead of serving.
            log.error(
                "apitape_cassette is not set: add --set apitape_cassette=cassettes/NAME.yaml; "
                "refusing to proxy traffic that would not be recorded"
            )

    def request(self, flow: http.HTTPFlow) -> None:
        if self._stopping:
            # Arrived (on a kept-alive connection) after a graceful stop began: it gets no
            # answer, so there is nothing to record and nothing lost.
            flow.kill()
            return
        self._in_flight.add(flow.id)

    def response(self, flow: http.HTTPFlow) -> None:
        # A plain method, not a coroutine: in the common case the exchange is handed over and
        # the response goes on at once. Only when the writer is behind does the response
        # wait, intercepted (mitmproxy holds an intercepted flow until it is resumed).
        writer = self.writer
        if self.failure is not None or (writer is None and self._stopping):
            # Shutting down after a failed write, or a stop that could wait no longer:
            # answer nothing more, since it could not be recorded.
            self._in_flight.discard(flow.id)
            flow.kill()
            return
        if writer is None or flow.response is None:
            self._in_flight.discard(flow.id)
            return
        if writer.full:
            self._hold(flow, writer.room(), lambda: self._hand_over(flow, writer))
            return
        if not self._hand_over(flow, writer):
            self._in_flight.discard(flow.id)

    def _hand_over(self, flow: http.HTTPFlow, writer: WriterProcess) -> bool:
        """Hand the exchange over; True when its response has to wait for the pipe."""
        written = writer.submit(flow_facts(flow))
        if self._rewrite_urls:
            # After the hand-over: the cassette keeps what the service said.
            point_at_proxy(flow, self._keep_host_header)
        if written is None:
            return False
        self._hold(flow, written, lambda: False)
        return True

    def _hold(
        self,
        flow: http.HTTPFlow,
        waiting: asyncio.Future[str | None],
        then: Callable[[], bool],
    ) -> None:
        """Hold the response until `waiting` resolves. With None, run `then` and let the
        response go, unless `then` says it holds it again; with a failure (which the writer
        has reported), answer nothing."""
        flow.intercept()

        def resolved(future: asyncio.Future[str | None]) -> None:
            failure = future.result()
            if failure is None:
                if not then():
                    self._in_flight.discard(flow.id)
                    flow.resume()
                return
            self._in_flight.discard(flow.id)
            flow.resume()
            if flow.killable:
                flow.kill()  # after resume: a killed flow is no longer resumed

        waiting.add_done_callback(resolved)

    def _stop(self, failure: str) -> None:
        if self.failure is None:
            self.failure = failure
            log.error(
                f"apitape: {failure}. Stopping the proxy so no more traffic passes unrecorded."
            )
            ctx.master.shutdown()

    def error(self, flow: http.HTTPFlow) -> None:
        # No response came back (upstream refused, reset, timed out): nothing to replay.
        was_in_flight = flow.id in self._in_flight
        self._in_flight.discard(flow.id)
        if self._stopping and not was_in_flight:
            return  # refused by the stop (see request), or cut off by it: already counted
        log.warning(
            f"apitape: not recorded, {flow.request.method} {flow.request.url}: {flow.error}"
        )

    def done(self) -> Awaitable[None] | None:
        """When the proxy stops, a graceful stop (awaited by mitmproxy); when only this addon
        is removed (a script reloaded), just the writer's close."""
        should_exit = getattr(ctx.master, "should_exit", None)
        if self.writer is not None and should_exit is not None and should_exit.is_set():
            return self._stop_gracefully()
        self.close()
        return None

    def hurry(self) -> None:
        """Stop waiting for the exchanges in flight (a second Ctrl-C): they are cut off."""
        self._hurried = True

    async def _stop_gracefully(self) -> None:
        """Stop listening and refuse new requests; wait (up to apitape_stop_timeout) until
        every exchange in flight is answered and handed to the writer; close the clients'
        connections; then let the writer store the rest and end.

        A response only goes to its client once its exchange is in the writer's pipe, and
        the writer stores everything in the pipe before it ends, so nothing a client got an
        answer for is lost; what is cut off after the timeout gets no answer.
        """
        self._stopping = True
        loop = asyncio.get_running_loop()
        proxyserver = ctx.master.addons.get("proxyserver")
        await _stop_listening(proxyserver)
        waiting = len(self._in_flight)
        timeout = 0 if self.failure else ctx.options.apitape_stop_timeout
        if waiting:
            log.info(
                f"apitape: stopping: waiting up to {timeout} s for {waiting} exchange(s) in "
                "flight (Ctrl-C again to stop waiting)"
            )
        deadline = loop.time() + timeout
        while self._in_flight and loop.time() < deadline:
            if self._hurried or self.failure is not None:
                break
            await asyncio.sleep(0.005)
        cut_off = len(self._in_flight)
        self._in_flight.clear()
        await _close_connections(proxyserver, loop.time() + 2.0)
        if cut_off:
            log.warning(
                f"apitape: stopped with {cut_off} of {waiting} exchange(s) in flight still "
                "unanswered; they were cut off (their clients got no answer, so the cassette "
                "lacks nothing that was answered)"
            )
        elif waiting:
            log.info(
                f"apitape: stopped: {waiting} exchange(s) in flight were answered and handed "
                "to the writer"
            )
        else:
            log.info("apitape: stopped: no exchange was in flight")
        self.close()

    def close(self) -> None:
        """Let the writer store what it was handed and end (an unused new cassette is removed)."""
        writer = self.writer
        if writer is None:
            return
        self.writer = None
        writer.close(timeout=2.0 if self.failure else 30.0)
        if writer.failure is not None and self.failure is None:
            self.failure = writer.failure
            log.error(f"apitape: {writer.failure}")
        self._recorded += writer.recorded
        paths = ", ".join(writer.paths) or writer.current_path
        dropped = (
            f", {writer.dropped_by_policy} left out by filters or sampling"
            if writer.dropped_by_policy
            else ""
        )
        log.info(f"apitape: {writer.recorded} exchange(s) recorded into {paths}{dropped}")


def point_at_proxy(flow: http.HTTPFlow, keep_host_header: bool = False) -> None:
    """In reverse mode, the upstream's own URLs in the response headers become the proxy's.

    The proxy's address is the one the client used: its Host header when mitmproxy passes
    it on as sent (keep_host_header), else the name it asked for over TLS, else the address
    and port it connected to (mitmproxy has replaced the Host header by the upstream's).
    """
    client = flow.client_conn
    mode = client.proxy_mode
    response = flow.response
    if not isinstance(mode, ReverseMode) or response is None:
        return
    upstream_host, upstream_port = mode.address
    pattern = origin_pattern(mode.scheme, upstream_host, upstream_port)
    scheme = "https" if client.tls else "http"
    host_header = flow.request.host_header if keep_host_header else None
    if host_header:
        proxy_authority = host_header
    elif client.sockname and client.sockname[1]:
        proxy_authority = authority(scheme, client.sni or client.sockname[0], client.sockname[1])
    else:
        return
    fields = response.headers.fields
    rewritten = rewrite_fields(fields, pattern, f"{scheme}://{proxy_authority}".encode())
    if rewritten is not fields:
        response.headers.fields = rewritten


async def _stop_listening(proxyserver: Any) -> None:
    """Close the proxy's listening sockets, so no new client connects while it stops."""
    servers = getattr(proxyserver, "servers", None)
    if servers is None:
        return
    try:
        await servers.update([])
    except Exception as exc:  # mitmproxy's internals: a stop must go on whatever they do
        log.debug(f"apitape: could not stop listening: {exc!r}")


async def _close_connections(proxyserver: Any, deadline: float) -> None:
    """Close every client connection still open (idle kept-alive ones, those cut off) the
    way mitmproxy closes an idle one, and wait (until `deadline`) for them to end, so the
    proxy exits without cancelling them mid-way."""
    connections = getattr(proxyserver, "connections", None)
    if not isinstance(connections, dict):
        return
    for handler in list(connections.values()):
        try:
            task = handler.transports[handler.client].handler
        except (AttributeError, KeyError):
            continue
        if task is not None:
            task.cancel("apitape: the recorder is stopping")
    loop = asyncio.get_running_loop()
    while connections and loop.time() < deadline:
        await asyncio.sleep(0.005)


for _name, _placeholder in hook_placeholders(dir(Recorder)).items():
    setattr(Recorder, _name, _placeholder)
