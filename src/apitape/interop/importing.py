"""Import traffic recorded elsewhere (a HAR file, a mitmproxy flow file) into a cassette."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from apitape.capture.policy import RecordingPolicy, build_policy
from apitape.cassette import iso_utc, write_cassette
from apitape.errors import ImportFileError, UsageError
from apitape.interop.har import exchanges_from_har
from apitape.models import Exchange

HAR_SUFFIXES = (".har", ".zhar")


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote: how many exchanges, and how many entries had no response."""

    source: str
    cassette: str
    imported: int
    skipped: int
    dropped: int = 0  # by the policy's filters or sampling


def import_traffic(
    source: str | os.PathLike[str],
    cassette: str | os.PathLike[str],
    *,
    force: bool = False,
    policy: RecordingPolicy | None = None,
) -> ImportSummary:
    """Read `source` (HAR or flow file) and write its exchanges as a new cassette.

    `policy` redacts and filters as the recorder does (default: redaction with a key for
    this import only). An existing cassette is replaced only with `force`. A source with no
    exchange to replay writes nothing and raises ImportFileError.
    """
    if Path(cassette).exists() and not force:
        raise UsageError(
            f"is needed to replace {cassette}, which exists (or import into a new path)", "force"
        )
    exchanges, skipped = read_traffic(source)
    if not exchanges:
        raise ImportFileError(
            str(source),
            f"holds no HTTP exchange with a response ({skipped} skipped); nothing was written",
        )
    policy = policy or build_policy({}, os.environ)
    stored = store_imported(exchanges, cassette, policy)
    dropped = len(exchanges) - len(stored)
    return ImportSummary(str(source), str(cassette), len(stored), skipped, dropped)


def read_traffic(source: str | os.PathLike[str]) -> tuple[list[Exchange], int]:
    """The exchanges of a HAR or mitmproxy flow file, and how many were skipped.

    A file named .har/.zhar, or whose content is JSON, is read as HAR; anything else as a
    flow file (`mitmdump -w`), which needs mitmproxy and is only loaded then.
    """
    if is_har(source):
        return exchanges_from_har(source)
    from apitape.capture.flowfile import exchanges_from_flow_file

    return exchanges_from_flow_file(source)


def is_har(source: str | os.PathLike[str]) -> bool:
    """Whether `source` is to be read as HAR: by its name, else by a JSON first character."""
    if str(source).lower().endswith(HAR_SUFFIXES):
        return True
    try:
        with open(source, "rb") as handle:
            start = handle.read(64)
    except OSError:
        return False  # the flow file reader says what is wrong with the path
    return start.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


def store_imported(
    exchanges: list[Exchange], path: str | os.PathLike[str], policy: RecordingPolicy
) -> list[Exchange]:
    """Write imported exchanges as the cassette at `path`, atomically; return what was written.

    The one place imported traffic becomes a cassette: `policy` redacts and filters first,
    as the recorder does. Ids a HAR exported by apitape carries are kept when every exchange
    has one and none repeats; otherwise the exchanges are numbered 1, 2, 3... in order.
    """
    exchanges = [kept for e in exchanges if (kept := policy.prepare(e)) is not None]
    ids = [exchange.id for exchange in exchanges]
    if all(ids) and len(set(ids)) == len(ids):
        stored = list(exchanges)
    else:
        stored = [exchange.with_id(str(number)) for number, exchange in enumerate(exchanges, 1)]
    write_cassette(path, stored, iso_utc(), policy.metadata())
    return stored
