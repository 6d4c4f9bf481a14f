"""The mitmproxy addon that appends every completed exchange to a cassette."""

from __future__ import annotations

import logging
from typing import Any

from mitmproxy import ctx, exceptions, http

from apitape.capture.exchange import SeenExchange, build_exchange
from apitape.cassette import CassetteWriter, iso_utc
from apitape.errors import ApitapeError, CassetteWriteError

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


class Recorder:
    """Records each completed exchange into the cassette named by `apitape_cassette`.

    The exchange is written to the file (and flushed) before its response goes back to the
    client. If it cannot be written, the client gets no response and the proxy shuts down:
    traffic never passes unrecorded.
    """

    def __init__(self) -> None:
        self.writer: CassetteWriter | None = None
        self.failure: str | None = None
        self.recorded = 0

    def load(self, loader: Any) -> None:
        loader.add_option(
            "apitape_cassette",
            str,
            "",
            "Path of the apitape cassette (YAML) to append every completed exchange to. "
            "A new file is created with its directory; an existing apitape cassette is "
            "continued. Required: the proxy refuses to start without it.",
        )

    def configure(self, updated: set[str]) -> None:
        if "apitape_cassette" not in updated:
            return
        self.close()
        path = ctx.options.apitape_cassette
        if not path:
            return  # `running` refuses to proxy; raising here would also fire on a rollback
        writer = CassetteWriter(path, iso_utc())
        try:
            writer.open()
        except ApitapeError as exc:
            raise exceptions.OptionsError(str(exc)) from None
        self.writer = writer
        log.info(f"apitape: recording into {path}")

    def running(self) -> None:
        if self.writer is None:
            # An error logged during start-up makes mitmproxy exit instead of serving.
            log.error(
                "apitape_cassette is not set: add --set apitape_cassette=cassettes/NAME.yaml; "
                "refusing to proxy traffic that would not be recorded"
            )

    def response(self, flow: http.HTTPFlow) -> None:
        if self.failure is not None:
            flow.kill()  # the proxy is shutting down after a failed write: answer nothing more
            return
        if self.writer is None or flow.response is None:
            return
        try:
            self.writer.append(build_exchange(seen_from_flow(flow)))
        except CassetteWriteError as exc:
            self.failure = str(exc)
            log.error(f"apitape: {exc}. Stopping the proxy so no traffic passes unrecorded.")
            flow.kill()
            ctx.master.shutdown()
            return
        self.recorded += 1

    def error(self, flow: http.HTTPFlow) -> None:
        # No response came back (upstream refused, reset, timed out): nothing to replay.
        log.warning(
            f"apitape: not recorded, {flow.request.method} {flow.request.url}: {flow.error}"
        )

    def done(self) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close the cassette (an unused new cassette is removed)."""
        if self.writer is not None:
            path, written = self.writer.path, self.writer.written
            self.writer.close()
            self.writer = None
            log.info(f"apitape: {written} exchange(s) recorded into {path}")
