"""The cassette file format: vcrpy-compatible YAML, read safely and written append-only.

A cassette is vcrpy's `{version: 1, interactions: [{request, response}]}` plus apitape's own
keys beside them (vcrpy ignores those). apitape writes a header, then appends one exchange at
a time, each followed by an end marker line, so a file cut off at any byte still loads every
exchange before the cut. The format is specified in docs/cassette-format.md.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

from apitape import __version__
from apitape.encoding import decoded
from apitape.errors import CassetteError, CassetteNotFoundError, CassetteWriteError
from apitape.models import Exchange, Headers, Request, Response

FORMAT_VERSION = 1
HEADER_COMMENT = "# apitape cassette, format 1: vcrpy-compatible YAML, see docs/cassette-format.md"
END_MARKER = "# end of exchange "
# An exchange is complete once its end marker line, newline included, is in the file.
_END_MARKER_LINE = re.compile(r"^# end of exchange [^\n]*\n", re.MULTILINE)

_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: type = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """libyaml's safe loader, plus the harmless string tags old vcrpy cassettes carry."""


for _tag in ("tag:yaml.org,2002:python/unicode", "tag:yaml.org,2002:python/str"):
    _Loader.add_constructor(_tag, yaml.SafeLoader.construct_yaml_str)


class _FlowList(list[str]):
    """A list written on one line, like vcrpy's header values: `accept: ['*/*']`."""


class _FlowDict(dict[str, Any]):
    """A mapping written on one line: `status: {code: 200, message: OK}`."""


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """libyaml's safe dumper with readable text bodies and one-line header value lists."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text (pretty JSON, HTML) reads best as a literal block; the emitter falls
    # back to a quoted style by itself when the text holds characters a block cannot keep.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _represent_flow_list(dumper: yaml.SafeDumper, values: _FlowList) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", values, flow_style=True)


_Dumper.add_representer(str, _represent_str)


def _represent_flow_dict(dumper: yaml.SafeDumper, values: _FlowDict) -> yaml.MappingNode:
    node = dumper.represent_mapping("tag:yaml.org,2002:map", values.items(), flow_style=True)
    return node


_Dumper.add_representer(_FlowList, _represent_flow_list)
_Dumper.add_representer(_FlowDict, _represent_flow_dict)


@dataclass(frozen=True)
class Cassette:
    """A loaded cassette: its exchanges in recorded order, apitape's header, load warnings."""

    path: str
    exchanges: tuple[Exchange, ...]
    metadata: Mapping[str, Any]
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- reading


def load_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a cassette written by apitape or by vcrpy; raise CassetteError naming the line."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CassetteNotFoundError(name) from None
    except IsADirectoryError:
        raise CassetteError(name, "is a directory; give the path of a cassette file") from None
    except OSError as exc:
        raise CassetteError(name, f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CassetteError(
            name, "is not UTF-8 text; a cassette is a YAML file (is this a binary file?)", line
        ) from None
    return parse_cassette(text, name)


def parse_cassette(text: str, path: str = "<cassette>") -> Cassette:
    """Parse cassette text; `path` only names the source in errors and warnings."""
    warnings: list[str] = []
    if text.startswith(HEADER_COMMENT):
        text, torn_warning = _drop_torn_tail(text, path)
        if torn_warning:
            warnings.append(torn_warning)
    data = _safe_load(text, path)
    if not isinstance(data, dict):
        raise CassetteError(
            path, "is not a cassette: expected a mapping with an 'interactions' list at the top"
        )
    interactions = data.get("interactions")
    if interactions is None:
        if "interactions" not in data:
            raise CassetteError(
                path, "has no 'interactions' key; is this a vcrpy/apitape cassette?"
            )
        interactions = []  # a cassette whose recorder stopped before the first exchange
    if not isinstance(interactions, list):
        raise CassetteError(path, "'interactions' must be a list of {request, response} entries")
    exchanges = []
    seen_ids: set[str] = set()
    for index, entry in enumerate(interactions):
        try:
            exchange = exchange_from_dict(entry, index)
        except _EntryError as exc:
            line = _line_of_interaction(text, index)
            raise CassetteError(path, f"interaction {index + 1}: {exc}", line) from None
        if exchange.id in seen_ids:
            line = _line_of_interaction(text, index)
            raise CassetteError(
                path,
                f"interaction {index + 1}: id {exchange.id!r} is used twice; ids must be unique",
                line,
            )
        seen_ids.add(exchange.id)
        exchanges.append(exchange)
    metadata = data.get("apitape") if isinstance(data.get("apitape"), dict) else {}
    return Cassette(path, tuple(exchanges), metadata or {}, tuple(warnings))


def _drop_torn_tail(text: str, path: str) -> tuple[str, str | None]:
    """Cut off whatever follows the last complete exchange of an apitape-written file."""
    markers = list(_END_MARKER_LINE.finditer(text))
    last_marker = markers[-1] if markers else None
    if last_marker is not None:
        complete_end = last_marker.end()
    else:
        header_end = text.find("\ninteractions:")
        if header_end < 0:
            return text, None  # not even a complete header: let the YAML parser explain
        complete_end = text.find("\n", header_end + 1) + 1 or len(text)
    tail = text[complete_end:]
    if not tail.strip():
        return text, None
    line = text.count("\n", 0, complete_end) + 1
    return text[:complete_end], (
        f"{path}, line {line}: the last exchange was cut off mid-write (the recorder was "
        "stopped or the disk filled); it was skipped and every exchange before it was loaded"
    )


def _safe_load(text: str, path: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise CassetteError(
            path,
            f"{exc.problem}; apitape loads cassettes safely and never runs a YAML tag, "
            "so remove the tag or re-record the cassette",
            line,
        ) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise CassetteError(
            path, f"is not valid YAML ({exc.problem}); fix the file or re-record it", line
        ) from None
    except yaml.YAMLError as exc:
        raise CassetteError(
            path, f"is not valid YAML ({exc}); fix the file or re-record it"
        ) from None


def _line_of_interaction(text: str, index: int) -> int | None:
    """The 1-based line where interaction `index` starts (only computed on the error path)."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    for key, value in root.value:
        is_list = key.value == "interactions" and isinstance(value, yaml.SequenceNode)
        if is_list and index < len(value.value):
            return int(value.value[index].start_mark.line) + 1
    return None


class _EntryError(Exception):
    """One interaction entry is not in the cassette format (wrapped into CassetteError)."""


def exchange_from_dict(entry: Any, index: int = 0) -> Exchange:
    """Build an Exchange from one `interactions` entry; bodies come back decoded."""
    if not isinstance(entry, dict):
        raise _EntryError("each entry must be a mapping with 'request' and 'response'")
    for key in ("request", "response"):
        if not isinstance(entry.get(key), dict):
            raise _EntryError(f"has no '{key}' mapping")
    request = _request_from_dict(entry["request"])
    response = _response_from_dict(entry["response"])
    meta = entry.get("apitape") or {}
    if not isinstance(meta, dict):
        raise _EntryError("'apitape' must be a mapping")
    known = {"id", "recorded_at", "duration_ms", "client", "connection"}
    exchange_id = meta.get("id", index + 1)
    duration = meta.get("duration_ms")
    if duration is not None and not isinstance(duration, int | float):
        raise _EntryError(f"apitape.duration_ms must be a number, not {duration!r}")
    return Exchange(
        id=str(exchange_id),
        request=request,
        response=response,
        recorded_at=_optional_str(meta.get("recorded_at")),
        duration_ms=float(duration) if duration is not None else None,
        client=_optional_str(meta.get("client")),
        connection=_optional_str(meta.get("connection")),
        extra={k: v for k, v in meta.items() if k not in known},
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _request_from_dict(data: dict[str, Any]) -> Request:
    method, uri = data.get("method"), data.get("uri")
    if not isinstance(method, str) or not method:
        raise _EntryError("request.method is missing")
    if not isinstance(uri, str) or "://" not in uri:
        raise _EntryError(f"request.uri must be an absolute URL, not {uri!r}")
    headers = _headers_from_dict(data.get("headers"), "request.headers")
    body = _body_bytes(data.get("body"), "request.body")
    headers, body, _ = decoded(headers, body)
    return Request(method=method.upper(), url=uri, headers=headers, body=body)


def _response_from_dict(data: dict[str, Any]) -> Response:
    status = data.get("status")
    if isinstance(status, dict):
        code, reason = status.get("code"), status.get("message") or ""
    else:
        code, reason = status, ""
    if not isinstance(code, int) or not 100 <= code <= 999:
        raise _EntryError(f"response.status.code must be an HTTP status number, not {code!r}")
    headers = _headers_from_dict(data.get("headers"), "response.headers")
    body_field = data.get("body")
    if isinstance(body_field, dict):
        body_field = body_field.get("string")
    body = _body_bytes(body_field, "response.body.string")
    headers, body, _ = decoded(headers, body)
    return Response(status=code, reason=str(reason), headers=headers, body=body)


def _headers_from_dict(data: Any, where: str) -> Headers:
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise _EntryError(f"{where} must map header names to lists of values")
    pairs: list[tuple[str, str]] = []
    for name, values in data.items():
        for value in values if isinstance(values, list) else [values]:
            pairs.append((str(name), str(value)))
    return tuple(pairs)


def _body_bytes(value: Any, where: str) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _EntryError(f"{where} must be text or !!binary, not {type(value).__name__}")


# --------------------------------------------------------------------------- writing


def iso_utc(epoch_seconds: float | None = None, timespec: str = "microseconds") -> str:
    """A moment (default: now) as ISO-8601 UTC, the cassette's time format."""
    stamp = (
        datetime.now(UTC)
        if epoch_seconds is None
        else datetime.fromtimestamp(epoch_seconds, tz=UTC)
    )
    return stamp.isoformat(timespec=timespec).replace("+00:00", "Z")


def exchange_to_dict(exchange: Exchange) -> dict[str, Any]:
    """The `interactions` entry for an exchange, keys in their documented order."""
    request, response = exchange.request, exchange.response
    meta: dict[str, Any] = {"id": _id_value(exchange.id)}
    for key in ("recorded_at", "duration_ms", "client", "connection"):
        value = getattr(exchange, key)
        if value is not None:
            meta[key] = round(value, 3) if key == "duration_ms" else value
    meta.update(exchange.extra)
    return {
        "request": {
            "method": request.method,
            "uri": request.url,
            "headers": _headers_to_dict(request.headers),
            "body": _body_value(request.body),
        },
        "response": {
            "status": _FlowDict(code=response.status, message=response.reason),
            "headers": _headers_to_dict(response.headers),
            "body": {"string": _body_value(response.body)},
        },
        "apitape": meta,
    }


def _id_value(exchange_id: str) -> int | str:
    return (
        int(exchange_id)
        if exchange_id.isdigit() and not exchange_id.startswith("0")
        else exchange_id
    )


def _headers_to_dict(headers: Headers) -> dict[str, _FlowList]:
    # vcrpy keys headers by name; repeats of a name (in any case) share one list, in order.
    by_name: dict[str, _FlowList] = {}
    canonical: dict[str, str] = {}
    for name, value in headers:
        key = canonical.setdefault(name.lower(), name)
        by_name.setdefault(key, _FlowList()).append(value)
    return by_name


def _body_value(body: bytes) -> str | bytes:
    """Text when the body is UTF-8 (readable in the file), else bytes (written as !!binary)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def dump_yaml(data: Any) -> str:
    """YAML text in the cassette's style: block layout, keys in insertion order, UTF-8 kept."""
    return str(
        yaml.dump(
            data,
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=1_000_000,  # fold nothing: a folded body is hard to read and to grep
        )
    )


def dump_entry(exchange: Exchange) -> str:
    """The text appended to a cassette for one exchange: a list item and its end marker."""
    text = dump_yaml([exchange_to_dict(exchange)])
    # A body ending in blank lines is written as a `|+` block, after which the emitter closes
    # the document with `...`: another entry appended after that would make the file invalid.
    text = text.removesuffix("...\n")
    return text + f"{END_MARKER}{exchange.id}\n"


def header_text(created_at: str, extra: Mapping[str, Any] | None = None) -> str:
    """The text a new cassette starts with, up to the `interactions:` key."""
    metadata: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "recorder": f"apitape {__version__}",
        "created_at": created_at,
    }
    metadata.update(extra or {})
    return (
        f"{HEADER_COMMENT}\n" + dump_yaml({"version": 1, "apitape": metadata}) + "interactions:\n"
    )


class CassetteWriter:
    """Appends exchanges to a cassette file, each written whole and flushed at once.

    A new file gets the header; an existing apitape cassette is continued, its ids carried on.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        created_at: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        fsync: bool = False,
    ) -> None:
        self.path = str(path)
        self._created_at = created_at
        self._metadata = metadata
        self._fsync = fsync
        self._file: IO[bytes] | None = None
        self._next_id = 1
        self.written = 0  # by this writer
        self.exchanges = 0  # in the file, including those there before
        self.size = 0  # bytes in the file
        self._created_file = False

    def open(self) -> None:
        """Create the file (and its directory) or check that an existing one can be continued."""
        target = Path(self.path)
        try:
            if target.exists() and target.stat().st_size > 0:
                self._next_id = self._continue_existing()
                self._file = open(target, "ab")  # noqa: SIM115 - held open for the session
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(target, "ab")  # noqa: SIM115
                self._created_file = True
                header = header_text(self._created_at, self._metadata).encode("utf-8")
                self._file.write(header)
                self._file.flush()
                self.size = len(header)
        except CassetteWriteError:
            raise
        except OSError as exc:
            raise CassetteWriteError(
                f"{self.path}: cannot open the cassette for writing ({exc.strerror}); "
                "pick a writable path"
            ) from None

    def _continue_existing(self) -> int:
        existing = load_cassette(self.path)
        with open(self.path, "rb") as handle:
            starts_as_ours = handle.read(len(HEADER_COMMENT)).decode("utf-8", "replace")
        if starts_as_ours != HEADER_COMMENT:
            raise CassetteWriteError(
                f"{self.path}: exists and was not written by apitape; record into a new path "
                "so the existing cassette is left as it is"
            )
        if existing.warnings:
            raise CassetteWriteError(
                f"{self.path}: ends in an exchange that was cut off mid-write; appending after "
                "it would hide later exchanges. Record into a new path"
            )
        numeric = [int(e.id) for e in existing.exchanges if e.id.isdigit()]
        self.written = 0
        self.exchanges = len(existing.exchanges)
        self.size = os.path.getsize(self.path)
        return max(numeric, default=0) + 1

    def append(self, exchange: Exchange) -> Exchange:
        """Give the exchange the next id, write it whole and flush; return it with its id."""
        if self._file is None:
            raise CassetteWriteError(f"{self.path}: the cassette writer is not open")
        numbered = exchange.with_id(str(self._next_id))
        data = dump_entry(numbered).encode("utf-8")
        try:
            self._file.write(data)
            self._file.flush()
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise CassetteWriteError(
                f"{self.path}: could not append exchange {numbered.id} ({exc.strerror}); "
                "the exchanges before it are safe in the file"
            ) from None
        self._next_id += 1
        self.written += 1
        self.exchanges += 1
        self.size += len(data)
        return numbered

    def close(self) -> None:
        """Close the file; a cassette this writer created and never wrote to is removed."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        if self._created_file and self.written == 0:
            Path(self.path).unlink(missing_ok=True)


def write_cassette(
    path: str | os.PathLike[str],
    exchanges: list[Exchange],
    created_at: str,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write a whole cassette at once, atomically (a reader never sees half a file)."""
    tmp = Path(f"{path}.tmp-{os.getpid()}")
    parts = [header_text(created_at, metadata)] + [dump_entry(e) for e in exchanges]
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(parts), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CassetteWriteError(f"{path}: cannot write the cassette ({exc.strerror})") from None
