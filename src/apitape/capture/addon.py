"""The mitmproxy addon that appends every completed exchange to a cassette."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from mitmproxy import ctx, exceptions, http

from apitape.capture.exchange import SeenExchange
from apitape.capture.sink import CassetteSink
from apitape.cassette import iso_utc
from apitape.errors import ApitapeError
from apitape.recording import FILTER_FIELDS, POLICY_SETTINGS, RecordingPolicy, build_policy
from apitape.rotation import RotatingCassetteWriter

log = logging.getLogger(__name__)


def _pairs(headers: http.Headers) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in headers.fields
    )


def seen_from_flow(flow: http.HTTPFlow) -> SeenExchange:
    """The plain facts of a completed flow."""
    request, response = flow.request, flow.response
    assert response is not None
    peer = flow.client_conn.peername
    return SeenExchange(
        method=request.method,
        url=request.url,
        request_headers=_pairs(request.headers),
        request_body=request.raw_content or b"",
        status=response.status_code,
        reason=response.reason,
        response_headers=_pairs(response.headers),
        response_body=response.raw_content or b"",
        request_started=request.timestamp_start,
        request_ended=request.timestamp_end or request.timestamp_start,
        response_ended=response.timestamp_end or response.timestamp_start,
        client_address=f"{peer[0]}:{peer[1]}" if peer else None,
        connection_id=flow.client_conn.id,
    )


_FILTER_OPTIONS = {
    "apitape_hosts": "Record only these hosts (glob, e.g. *.staging.example).",
    "apitape_exclude_hosts": "Never record these hosts (glob).",
    "apitape_paths": "Record only these paths (glob, e.g. /api/*).",
    "apitape_exclude_paths": "Never record these paths (glob, e.g. /health).",
    "apitape_methods": "Record only these methods (GET, POST, ...).",
    "apitape_exclude_methods": "Never record these methods.",
    "apitape_content_types": "Record only responses of these content types (glob).",
    "apitape_exclude_content_types": "Never record responses of these content types (glob).",
}
_REDACT_OPTIONS = {
    "apitape_redact_headers": "More header names whose values are secrets.",
    "apitape_redact_fields": (
        "More query/form/JSON field names (regex on the snake_case name) that are secret."
    ),
    "apitape_redact_values": "More regexes of secret values, redacted wherever they appear.",
}


def policy_from_options(options: Any, environ: Mapping[str, str]) -> RecordingPolicy:
    """The recording policy the apitape_* options describe; UsageError when one is wrong."""
    names = [*POLICY_SETTINGS, *FILTER_FIELDS]
    return build_policy({name: getattr(options, f"apitape_{name}") for name in names}, environ)


class Recorder:
    """Records each completed exchange into the cassette named by `apitape_cassette`.

    The exchange is written to the file (and flushed) by a writer thread before its response
    goes back to the client; the event loop keeps serving other flows meanwhile. If it
    cannot be written, the client gets no response and the proxy shuts down: traffic never
    passes unrecorded. Secrets are redacted unless `apitape_redact` is off.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.sink: CassetteSink | None = None
        self.failure: str | None = None
        self._environ = os.environ if environ is None else environ
        self._behind_since: float | None = None
        self._recorded_before = 0

    @property
    def recorded(self) -> int:
        """Exchanges written so far."""
        return self.sink.recorded if self.sink else self._recorded_before

    def load(self, loader: Any) -> None:
        loader.add_option(
            "apitape_cassette",
            str,
            "",
            "Path of the apitape cassette (YAML) to append every completed exchange to. "
            "A new file is created with its directory; an existing apitape cassette is "
            "continued. Required: the proxy refuses to start without it.",
        )
        loader.add_option(
            "apitape_redact",
            bool,
            True,
            "Replace secrets (credential headers, cookies, password/token/key fields, JWTs, "
            "private keys) by keyed-hash placeholders before writing. Off only for test "
            "traffic: the cassette then holds every credential as it was sent.",
        )
        loader.add_option(
            "apitape_redact_key_file",
            str,
            "",
            "File holding the redaction key (created if missing), so separate recordings "
            "share placeholders. Default: $APITAPE_REDACT_KEY, else a random key per recording.",
        )
        for name, help_text in _REDACT_OPTIONS.items():
            loader.add_option(name, Sequence[str], [], help_text)
        for name, help_text in _FILTER_OPTIONS.items():
            loader.add_option(name, Sequence[str], [], help_text)
        loader.add_option(
            "apitape_sample",
            str,
            "1",
            "Fraction of sessions to record (0-1]; a session is kept or left out whole.",
        )
        loader.add_option(
            "apitape_session_by",
            str,
            "client",
            "What makes a session for sampling: client, connection, header:NAME, cookie:NAME.",
        )
        loader.add_option(
            "apitape_max_body_size",
            int | None,
            None,
            "Bodies larger than this many bytes are stored as their size and SHA-256 only.",
        )
        loader.add_option(
            "apitape_max_exchanges",
            int | None,
            None,
            "Start a new numbered cassette (NAME-0002.yaml...) after this many exchanges.",
        )
        loader.add_option(
            "apitape_max_bytes",
            int | None,
            None,
            "Start a new numbered cassette once the current one reaches this many bytes.",
        )
        loader.add_option(
            "apitape_fsync", bool, False, "fsync the cassette after every exchange (slower)."
        )
        loader.add_option(
            "apitape_writer_timeout",
            int,
            30,
            "Seconds the writer may stay too far behind before the proxy stops.",
        )

    def configure(self, updated: set[str]) -> None:
        if not any(name.startswith("apitape_") for name in updated):
            return
        self.close()
        options = ctx.options
        path = options.apitape_cassette
        if not path:
            return  # `running` refuses to proxy; raising here would also fire on a rollback
        try:
            policy = policy_from_options(options, self._environ)
            writer = RotatingCassetteWriter(
                path,
                iso_utc,
                policy.metadata(),
                max_exchanges=options.apitape_max_exchanges,
                max_bytes=options.apitape_max_bytes,
                fsync=options.apitape_fsync,
            )
            sink = CassetteSink(writer, policy)
            sink.start()
        except ApitapeError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        self.sink = sink
        if policy.redactor is None:
            log.warning(
                "apitape: redaction is OFF: credentials and personal data are written to "
                f"{path} exactly as sent"
            )
        log.info(f"apitape: recording into {writer.current_path}")

    def running(self) -> None:
        if self.sink is None:
            # An error logged during start-up makes mitmproxy exit instead of serving.
            log.error(
                "apitape_cassette is not set: add --set apitape_cassette=cassettes/NAME.yaml; "
                "refusing to proxy traffic that would not be recorded"
            )

    async def response(self, flow: http.HTTPFlow) -> None:
        if self.failure is not None:
            flow.kill()  # the proxy is shutting down after a failed write: answer nothing more
            return
        sink = self.sink
        if sink is None or flow.response is None:
            return
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[str | None] = loop.create_future()

        def done(failure: str | None) -> None:
            loop.call_soon_threadsafe(_settle, stored, failure)

        seen = seen_from_flow(flow)
        waited_since = None
        while not sink.submit(seen, done):
            # The writer is behind: hold this response back (clients slow down) until it
            # catches up, and stop if it does not within apitape_writer_timeout.
            now = loop.time()
            waited_since = waited_since or now
            if self._behind_since is None:
                self._behind_since = now
                log.warning(
                    f"apitape: the cassette writer is {sink.backlog} exchanges behind "
                    "(slow disk?); holding responses back until it catches up"
                )
            if now - waited_since > ctx.options.apitape_writer_timeout:
                self._fail(
                    f"the cassette writer stayed {sink.backlog} exchanges behind for "
                    f"{ctx.options.apitape_writer_timeout} s; the disk is too slow for this "
                    "traffic (record less with --sample or filters, or use a faster disk)",
                    flow,
                )
                return
            await asyncio.sleep(0.01)
        self._behind_since = None
        timeout = ctx.options.apitape_writer_timeout
        try:
            failure = await asyncio.wait_for(asyncio.shield(stored), timeout)
        except TimeoutError:
            failure = (
                f"the cassette writer has not finished an exchange for {timeout} s (a stuck or "
                "full disk, a network share that stopped answering?)"
            )
        if failure is not None:
            self._fail(failure, flow)

    def _fail(self, failure: str, flow: http.HTTPFlow) -> None:
        flow.kill()
        if self.failure is None:
            self.failure = failure
            log.error(f"apitape: {failure}. Stopping the proxy so no traffic passes unrecorded.")
            ctx.master.shutdown()

    def error(self, flow: http.HTTPFlow) -> None:
        # No response came back (upstream refused, reset, timed out): nothing to replay.
        log.warning(
            f"apitape: not recorded, {flow.request.method} {flow.request.url}: {flow.error}"
        )

    def done(self) -> None:
        self.close()

    def close(self) -> None:
        """Write what is queued, flush and close (an unused new cassette is removed)."""
        sink = self.sink
        if sink is None:
            return
        self.sink = None
        sink.stop(timeout=2.0 if self.failure else 30.0)
        self._recorded_before = sink.recorded
        paths = ", ".join(sink.writer.paths) or sink.writer.path
        dropped = (
            f", {sink.dropped_by_policy} left out by filters or sampling"
            if sink.dropped_by_policy
            else ""
        )
        log.info(f"apitape: {sink.recorded} exchange(s) recorded into {paths}{dropped}")


def _settle(future: asyncio.Future[str | None], failure: str | None) -> None:
    if not future.done():
        future.set_result(failure)
