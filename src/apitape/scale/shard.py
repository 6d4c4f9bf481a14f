"""`apitape shard`: sessions split into N JSON-lines cassettes by a stable hash of their key.

One streaming pass over the inputs: each exchange goes, in recorded order, to the shard its
session key hashes to (BLAKE2b, so every machine and Python agrees), and no session is ever
split. Each shard line carries, under `apitape.shard`, the exchange's place in the inputs,
which input it came from and its id there, so the merged report lists every exchange as one
process would. A session found in several inputs (proxies without client affinity) is put
back in order by `recorded_at` in a second pass over the shards that hold one.
`manifest.json` beside the shards records the inputs, the key, N, each shard's count and
SHA-256, and the path parameters learned from the traffic on the way, so that every worker
names endpoints as one process would without the whole capture being read again.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apitape.cassette import exchange_to_dict, iso_utc, iter_exchanges
from apitape.cassette.format_jsonl import dumps_line, entry_line
from apitape.cassette.shape import header_dict
from apitape.errors import UsageError
from apitape.http.path_parameters import PathParameterLearner, PathParameters
from apitape.http.sessions import session_key
from apitape.models import Exchange
from apitape.scale import storage

MANIFEST = "manifest.json"
SHARD_FIELD = "shard"
"""Each shard exchange's `apitape.shard`: [place in the inputs, input index, id there]."""

MANIFEST_VERSION = 1


def shard_of(key: str, shards: int) -> int:
    """The shard a session key goes to: stable across processes, machines and versions."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True)
class ShardFile:
    """One shard: its file name beside the manifest, its exchanges, sessions and SHA-256."""

    name: str
    exchanges: int
    sessions: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What `apitape shard` wrote: the inputs, the session key, the shards; where it is."""

    location: str  # the directory or prefix that holds the manifest and the shards
    inputs: tuple[str, ...]
    session_by: str
    shards: tuple[ShardFile, ...]
    created_at: str
    reordered_sessions: int = 0  # sessions found in several inputs, put in recorded_at order
    warnings: tuple[str, ...] = ()
    path_parameters: PathParameters | None = None  # None: a manifest from before they were kept

    @property
    def exchanges(self) -> int:
        """Every exchange of every shard."""
        return sum(shard.exchanges for shard in self.shards)

    def shard_location(self, index: int) -> str:
        """Where shard `index` is (a path or a URL)."""
        return storage.join(self.location, self.shards[index].name)

    def to_json(self) -> str:
        """The manifest file's text."""
        data = {
            "version": MANIFEST_VERSION,
            "created_at": self.created_at,
            "inputs": list(self.inputs),
            "session_by": self.session_by,
            "n": len(self.shards),
            "exchanges": self.exchanges,
            "reordered_sessions": self.reordered_sessions,
            "warnings": list(self.warnings),
            **(
                {"path_parameters": self.path_parameters.to_data()}
                if self.path_parameters is not None
                else {}
            ),
            "shards": [
                {
                    "name": s.name,
                    "exchanges": s.exchanges,
                    "sessions": s.sessions,
                    "sha256": s.sha256,
                }
                for s in self.shards
            ],
        }
        return json.dumps(data, indent=2) + "\n"


def manifest_location(location: str) -> str:
    """The manifest's path or URL for a directory, a prefix or the manifest itself."""
    return location if location.endswith(".json") else storage.join(location, MANIFEST)


def is_manifest(location: str) -> bool:
    """Whether `location` names a shard manifest (the file, or a directory or prefix holding
    one) rather than a cassette."""
    if location.endswith(MANIFEST):
        return True
    if storage.is_url(location):
        return not location.endswith((".yaml", ".yml", ".jsonl"))
    return Path(location, MANIFEST).is_file()


def read_manifest(location: str) -> Manifest:
    """The manifest at `location` (its file, or the directory or prefix that holds it)."""
    where = manifest_location(location)
    try:
        data = json.loads(storage.read_text(where))
        shards = tuple(
            ShardFile(s["name"], int(s["exchanges"]), int(s["sessions"]), s["sha256"])
            for s in data["shards"]
        )
        if data.get("version") != MANIFEST_VERSION:
            raise ValueError(f"version {data.get('version')!r}, this apitape reads version 1")
        return Manifest(
            where.rsplit("/", 1)[0] if storage.is_url(where) else str(Path(where).parent),
            tuple(data["inputs"]),
            data["session_by"],
            shards,
            data.get("created_at", ""),
            int(data.get("reordered_sessions", 0)),
            tuple(data.get("warnings", ())),
            PathParameters.from_data(data["path_parameters"])
            if "path_parameters" in data
            else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{where} is not a shard manifest written by `apitape shard` ({exc}); shard the "
            "cassettes again"
        ) from None


def shard_cassettes(
    paths: Sequence[str],
    into: str,
    shards: int,
    session_by: str = "client",
) -> Manifest:
    """Split the cassettes' exchanges into `shards` JSON-lines shards at `into` (a directory,
    or an `s3://bucket/prefix`), each session whole and in recorded order, learning the path
    parameters on the way; write and return the manifest."""
    if shards < 1:
        raise UsageError(f"must be 1 or more, not {shards}", "shards")
    if not paths:
        raise UsageError("give the cassettes to shard")
    key = session_key(session_by)
    with tempfile.TemporaryDirectory(prefix="apitape-shard-") as scratch:
        local = Path(scratch) if storage.is_url(into) else Path(into.removeprefix("file://"))
        local.mkdir(parents=True, exist_ok=True)
        names = [f"shard-{i:05d}-of-{shards:05d}.jsonl" for i in range(shards)]
        created_at = iso_utc()
        warnings: list[str] = []
        first_input: dict[str, int] = {}
        spanning: set[str] = set()
        counts = [0] * shards
        sessions: list[set[str]] = [set() for _ in range(shards)]
        learner = PathParameterLearner()
        files = [open(local / name, "wb") for name in names]  # noqa: SIM115 - closed below
        try:
            for handle in files:
                handle.write(dumps_line(header_dict(created_at, {"sharded_by": session_by})))
            for place, (source, exchange) in enumerate(_read(paths, warnings)):
                learner.observe(exchange)
                name = key(place, exchange)
                seen = first_input.setdefault(name, source)
                if seen != source:
                    spanning.add(name)
                index = shard_of(name, shards)
                counts[index] += 1
                sessions[index].add(name)
                files[index].write(_shard_line(exchange, place, source))
        finally:
            for handle in files:
                handle.close()
        if not any(counts):
            raise UsageError(f"nothing to shard: {', '.join(paths)} hold(s) no exchanges")
        for index in sorted({shard_of(name, shards) for name in spanning}):
            _reorder(local / names[index], spanning, key)
        files_info = []
        for index, name in enumerate(names):
            files_info.append(
                ShardFile(name, counts[index], len(sessions[index]), _sha256(local / name))
            )
            if storage.is_url(into):
                storage.upload(local / name, storage.join(into, name))
        manifest = Manifest(
            into if storage.is_url(into) else str(local),
            tuple(paths),
            session_by,
            tuple(files_info),
            created_at,
            len(spanning),
            tuple(warnings),
            learner.result(),
        )
        storage.write_text(storage.join(manifest.location, MANIFEST), manifest.to_json())
    return manifest


def _read(paths: Sequence[str], warnings: list[str]) -> Iterator[tuple[int, Exchange]]:
    for source, path in enumerate(paths):
        for exchange in iter_exchanges(path, warnings):
            yield source, exchange


def _shard_line(exchange: Exchange, place: int, source: int) -> bytes:
    # Ids must be unique within a cassette, and two inputs may share them: the shard numbers
    # its exchanges by place and keeps the input's id beside it.
    marked = replace(
        exchange,
        id=str(place + 1),
        extra={**exchange.extra, SHARD_FIELD: [place, source, exchange.id]},
    )
    return entry_line(exchange_to_dict(marked))


def origin_of(exchange: Exchange) -> tuple[int, int, Exchange]:
    """A shard exchange's place in the inputs, its input's index, and the exchange as it was
    in that input (its own id, without the shard's mark)."""
    mark = exchange.extra.get(SHARD_FIELD)
    if not (isinstance(mark, list) and len(mark) == 3):
        raise UsageError(
            f"exchange {exchange.id} has no apitape.shard mark: give a shard written by "
            "`apitape shard`, or the cassettes themselves"
        )
    place, source, original_id = mark
    extra = dict(exchange.extra)
    del extra[SHARD_FIELD]
    # Built directly, not by dataclasses.replace: once per exchange a worker replays, and
    # replace's look at the fields was 2% of a worker's time.
    original = Exchange(
        str(original_id),
        exchange.request,
        exchange.response,
        exchange.recorded_at,
        exchange.duration_ms,
        exchange.client,
        exchange.connection,
        extra,
    )
    return int(place), int(source), original


def _reorder(path: Path, spanning: set[str], key: Any) -> None:
    """Put the exchanges of sessions that span inputs in `recorded_at` order, each taking the
    next slot its session held in the shard (the other sessions stay where they are)."""
    found: dict[str, list[Exchange]] = {}
    for exchange in iter_exchanges(path):
        place, _, _ = origin_of(exchange)
        name = key(place, exchange)
        if name in spanning:
            found.setdefault(name, []).append(exchange)
    ordered = {
        name: iter(sorted(items, key=lambda e: e.recorded_at or ""))
        for name, items in found.items()
    }
    rewritten = path.with_suffix(".reordered")
    with open(path, "rb") as source, open(rewritten, "wb") as target:
        target.write(source.readline())  # the header
        for exchange in iter_exchanges(path):
            place, _, _ = origin_of(exchange)
            name = key(place, exchange)
            if name not in spanning:
                target.write(entry_line(exchange_to_dict(exchange)))
                continue
            moved = next(ordered[name])
            _, source_index, original = origin_of(moved)
            target.write(_shard_line(original, place, source_index))
    rewritten.replace(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, shard: ShardFile) -> None:
    """Fail clearly when a shard's bytes are not those the manifest recorded."""
    if _sha256(path) != shard.sha256:
        raise UsageError(
            f"shard {shard.name} does not match its manifest's SHA-256: it changed after "
            "`apitape shard` wrote it; shard the cassettes again"
        )
