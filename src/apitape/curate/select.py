"""Cut a capture to a suite: filters, and the fewest whole sessions that keep its coverage.

`select_exchanges` streams its inputs twice when minimizing: the first pass gives each
session the multiset of signatures it covers (interned: sessions alike share one state, so
memory grows with what is distinct, not with the traffic), a greedy set cover picks the
sessions, and the second pass writes their exchanges in recorded order. Without
`minimize`, one pass writes what the filters keep. Deterministic: ties go to the session
with fewer exchanges, then to the one that started first.

Endpoints are named as a replay's report names them: the path parameters learned as the
first pass streams join, at its end, the signatures the guess alone kept apart. An
`--endpoint` filter needs those names before it judges anything, so it costs a pass more.
"""

from __future__ import annotations

import fnmatch
import heapq
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from apitape.cassette.store import write_cassette
from apitape.curate.signature import Signature, Signer
from apitape.curate.sources import Source, exchanges, merged_metadata, open_sources
from apitape.errors import UsageError
from apitape.http.path_parameters import PathParameterLearner, PathParameters
from apitape.http.sessions import session_key
from apitape.models import Exchange

# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """Which exchanges to keep; every filter given must match (each list: any of it).

    `endpoints` are globs on the endpoint name (`GET /books/*`), `statuses` codes or classes
    (`404`, `4xx`), `since`/`until` ISO-8601 moments on `recorded_at`, `sessions` globs on
    the session key's value, `match` a regular expression searched in the URL and bodies.
    """

    endpoints: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    sessions: tuple[str, ...] = ()
    match: str | None = None

    def __post_init__(self) -> None:
        for status in self.statuses:
            if not re.fullmatch(r"[1-5](?:\d\d|xx)", status.lower()):
                raise UsageError(f"{status!r} is not a status code or class (404, 4xx)", "status")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and _moment(value) is None:
                raise UsageError(f"{value!r} is not an ISO-8601 time", name)
        if self.match is not None:
            try:
                re.compile(self.match)
            except re.error as exc:
                message = f"{self.match!r} is not a regular expression: {exc}"
                raise UsageError(message, "match") from None

    def describe(self) -> dict[str, object]:
        """The filters given, for the output's header."""
        return {k: v for k, v in self.__dict__.items() if v not in ((), None)}

    def predicate(self, endpoint_of: Callable[[Exchange], str]) -> Callable[[Exchange, str], bool]:
        """A test of (exchange, its session key's value)."""
        methods = {m.upper() for m in self.methods}
        statuses = [s.lower() for s in self.statuses]
        since = _moment(self.since) if self.since else None
        until = _moment(self.until) if self.until else None
        pattern = re.compile(self.match) if self.match is not None else None

        def keep(exchange: Exchange, session: str) -> bool:
            if methods and exchange.request.method.upper() not in methods:
                return False
            if statuses and not any(_status_fits(exchange.response.status, s) for s in statuses):
                return False
            if self.endpoints and not any(
                fnmatch.fnmatchcase(endpoint_of(exchange), glob) for glob in self.endpoints
            ):
                return False
            if since is not None or until is not None:
                moment = _moment(exchange.recorded_at or "")
                if moment is None or (since is not None and moment < since):
                    return False
                if until is not None and moment > until:
                    return False
            if self.sessions and not any(fnmatch.fnmatchcase(session, g) for g in self.sessions):
                return False
            return pattern is None or _contains(exchange, pattern)

        return keep


def _status_fits(status: int, spec: str) -> bool:
    return str(status) == spec or (spec.endswith("xx") and str(status)[0] == spec[0])


def _moment(text: str) -> float | None:
    """Seconds since the epoch; a time without a zone is UTC, as `recorded_at` is (not the
    machine's local time, which would move a window by hours)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _contains(exchange: Exchange, pattern: re.Pattern[str]) -> bool:
    if pattern.search(exchange.request.url):
        return True
    for body in (exchange.request.body, exchange.response.body):
        if body and pattern.search(body.decode("utf-8", "replace")):
            return True
    return False


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Selection:
    """What `select_exchanges` kept: counts before and after, and the coverage check."""

    out: str
    exchanges_in: int
    exchanges_out: int
    sessions_in: int
    sessions_out: int
    signatures_in: int  # distinct signatures among the exchanges the filters kept
    signatures_out: int
    minimized: bool
    per_signature: int
    examples_wanted: int = 0  # sum over signatures of min(K, its exchanges)
    examples_kept: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def coverage_kept(self) -> bool:
        return self.signatures_out == self.signatures_in

    @property
    def reduction(self) -> float:
        """The input's exchanges per exchange kept (10.0: a tenth kept)."""
        return self.exchanges_in / self.exchanges_out if self.exchanges_out else 0.0


# --------------------------------------------------------------------------- minimizing


class _States:
    """Interned multisets of signature ids, counts capped at K: sessions alike share one."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.members: list[tuple[tuple[int, int], ...]] = [()]
        self._ids: dict[tuple[tuple[int, int], ...], int] = {(): 0}
        self._next: dict[tuple[int, int], int] = {}

    def add(self, state: int, signature: int) -> int:
        step = (state, signature)
        known = self._next.get(step)
        if known is not None:
            return known
        counts = dict(self.members[state])
        counts[signature] = min(self.cap, counts.get(signature, 0) + 1)
        found = self._next[step] = self._intern(tuple(sorted(counts.items())))
        return found

    def _intern(self, member: tuple[tuple[int, int], ...]) -> int:
        found = self._ids.get(member)
        if found is None:
            found = self._ids[member] = len(self.members)
            self.members.append(member)
        return found

    def merged(self, moved: Sequence[int]) -> tuple[_States, list[int]]:
        """The states with signature `i` counted as `moved[i]` (names learned at the end
        join signatures); and each old state's new id."""
        new = _States(self.cap)
        renumbered: list[int] = []
        for member in self.members:
            counts: dict[int, int] = {}
            for sig, n in member:
                counts[moved[sig]] = min(self.cap, counts.get(moved[sig], 0) + n)
            renumbered.append(new._intern(tuple(sorted(counts.items()))))
        return new, renumbered


@dataclass
class _Session:
    state: int = 0
    exchanges: int = 0
    first: int = 0


def _cover(sessions: dict[str, _Session], states: _States, need: dict[int, int]) -> list[str]:
    """Greedy multicover (lazy evaluation), then drop sessions the others make redundant."""
    groups: dict[int, list[tuple[int, int, str]]] = {}
    for key, session in sessions.items():
        groups.setdefault(session.state, []).append((session.exchanges, session.first, key))
    for members in groups.values():
        members.sort(reverse=True)  # pop() gives the fewest exchanges, then the earliest
    left = dict(need)

    def gain(state: int) -> int:
        return sum(min(n, left.get(sig, 0)) for sig, n in states.members[state])

    heap: list[tuple[int, int, int, int]] = []
    for state, members in groups.items():
        size, first, _ = members[-1]
        heapq.heappush(heap, (-gain(state), size, first, state))
    chosen: list[tuple[str, int]] = []
    while heap and any(left.values()):
        stale, size, first, state = heapq.heappop(heap)
        now = gain(state)
        if now == 0:
            continue
        if -stale != now:  # gains only shrink: re-queue with the true one
            heapq.heappush(heap, (-now, size, first, state))
            continue
        members = groups[state]
        _, _, key = members.pop()
        chosen.append((key, state))
        for sig, n in states.members[state]:
            if sig in left:
                left[sig] = max(0, left[sig] - n)
        if members:
            size, first, _ = members[-1]
            heapq.heappush(heap, (-gain(state), size, first, state))
    # Drop, last picked first, any session whose signatures the rest still cover enough.
    have: dict[int, int] = {}
    for _, state in chosen:
        for sig, n in states.members[state]:
            have[sig] = have.get(sig, 0) + n
    kept: list[str] = []
    for key, state in reversed(chosen):
        covers = states.members[state]
        if all(have[sig] - n >= need.get(sig, 0) for sig, n in covers):
            for sig, n in covers:
                have[sig] -= n
        else:
            kept.append(key)
    return kept


# --------------------------------------------------------------------------- selecting


def select_exchanges(
    cassettes: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    filters: Filters | None = None,
    minimize: bool = False,
    per_signature: int = 1,
    session_by: str = "client",
    signer: Signer | None = None,
    force: bool = False,
) -> Selection:
    """Write to `out` the exchanges of `cassettes` that the filters keep; with `minimize`,
    only the fewest whole sessions that show every signature at least `per_signature`
    times (or as often as the input does). Streams; `out` is written atomically."""
    paths = [cassettes] if isinstance(cassettes, str | os.PathLike) else list(cassettes)
    if per_signature < 1:
        raise UsageError("must be at least 1", "per_signature")
    if per_signature != 1 and not minimize:
        raise UsageError(
            "counts the examples kept when minimizing: minimize too, or leave it at 1",
            "per_signature",
        )
    sources = open_sources(paths)
    check_out(sources, out, force)
    sign = signer or Signer()
    learner: PathParameterLearner | None = PathParameterLearner()
    if filters is not None and filters.endpoints:
        # Endpoint globs need the final names before the first exchange is judged.
        sign = sign.learned(_learned(sources))
        learner = None
    keep = (filters or Filters()).predicate(sign.endpoint)
    key = session_key(session_by)
    created_at, metadata = merged_metadata(sources, "select")
    curated = metadata["curated"]
    if filters is not None and filters.describe():
        curated["filters"] = filters.describe()
    if minimize:
        curated["minimize"] = {"per_signature": per_signature, "session_by": session_by}
    warnings: list[str] = []

    if not minimize:
        counts = _Counts()
        judged = _judged(sources, keep, key, warnings, learner)
        write_cassette(
            out, _renumbered(counts.through(judged, sign), len(sources)), created_at, metadata
        )
        signatures = counts.signatures
        if learner is not None:
            rename = sign.renamer(learner.result())
            signatures = {replace(s, endpoint=rename(s.endpoint)) for s in signatures}
        return Selection(
            str(out), counts.seen, counts.kept, counts.sessions_in, len(counts.sessions),
            len(signatures), len(signatures), False, per_signature,
            warnings=tuple(warnings),
        )  # fmt: skip

    # First pass: each session's signatures, interned.
    states = _States(per_signature)
    signature_ids: dict[Signature, int] = {}
    totals: dict[int, int] = {}
    sessions: dict[str, _Session] = {}
    seen = 0
    kept_in = 0
    all_sessions: set[str] = set()
    judged = _judged(sources, keep, key, warnings, learner)
    for index, (exchange, session, passed) in enumerate(judged):
        seen += 1
        all_sessions.add(session)
        if not passed:
            continue
        kept_in += 1
        sig = signature_ids.setdefault(sign(exchange), len(signature_ids))
        totals[sig] = totals.get(sig, 0) + 1
        record = sessions.get(session)
        if record is None:
            record = sessions[session] = _Session(first=index)
        record.state = states.add(record.state, sig)
        record.exchanges += 1
    if learner is not None:  # join the signatures whose endpoints are one learned name
        rename = sign.renamer(learner.result())
        final: dict[Signature, int] = {}
        moved = [0] * len(signature_ids)
        for signature, old in signature_ids.items():
            named = replace(signature, endpoint=rename(signature.endpoint))
            moved[old] = final.setdefault(named, len(final))
        joined: dict[int, int] = {}
        for old, n in totals.items():
            joined[moved[old]] = joined.get(moved[old], 0) + n
        totals = joined
        states, renumbered = states.merged(moved)
        for record in sessions.values():
            record.state = renumbered[record.state]
        signature_ids = {signature: moved[old] for signature, old in signature_ids.items()}
    need = {sig: min(per_signature, n) for sig, n in totals.items()}
    chosen = set(_cover(sessions, states, need))
    del sessions

    # Second pass: the chosen sessions' exchanges, in recorded order.
    counts = _Counts()
    second: list[str] = []

    def picked() -> Iterator[Exchange]:
        for exchange, session, passed in _judged(sources, keep, key, second):
            counts.seen += 1
            if passed and session in chosen:
                counts.kept += 1
                counts.sessions.add(session)
                sig = signature_ids.get(sign(exchange))
                if sig is not None:
                    counts.found[sig] = counts.found.get(sig, 0) + 1
                yield exchange

    write_cassette(out, _renumbered(picked(), len(sources)), created_at, metadata)
    return Selection(
        str(out), seen, counts.kept, len(all_sessions), len(counts.sessions),
        len(totals), len(counts.found), True, per_signature,
        sum(need.values()), sum(min(n, need[s]) for s, n in counts.found.items()),
        tuple(warnings),
    )  # fmt: skip


@dataclass
class _Counts:
    seen: int = 0
    kept: int = 0
    sessions_in: int = 0
    sessions: set[str] = field(default_factory=set)
    signatures: set[Signature] = field(default_factory=set)
    found: dict[int, int] = field(default_factory=dict)
    _all: set[str] = field(default_factory=set)

    def through(
        self, judged: Iterator[tuple[Exchange, str, bool]], sign: Signer
    ) -> Iterator[Exchange]:
        for exchange, session, passed in judged:
            self.seen += 1
            self._all.add(session)
            self.sessions_in = len(self._all)
            if passed:
                self.kept += 1
                self.sessions.add(session)
                self.signatures.add(sign(exchange))
                yield exchange


def _judged(
    sources: Sequence[Source],
    keep: Callable[[Exchange, str], bool],
    key: Callable[[int, Exchange], str],
    warnings: list[str],
    learner: PathParameterLearner | None = None,
) -> Iterator[tuple[Exchange, str, bool]]:
    for index, exchange in enumerate(exchanges(sources, warnings)):
        if learner is not None:
            learner.observe(exchange)
        session = key(index, exchange)
        yield exchange, session, keep(exchange, session)


def _learned(sources: Sequence[Source]) -> PathParameters:
    """The path parameters of the whole capture: a pass of its own."""
    learner = PathParameterLearner()
    for exchange in exchanges(sources, []):
        learner.observe(exchange)
    return learner.result()


def _renumbered(stream: Iterator[Exchange], inputs: int) -> Iterator[Exchange]:
    """One input keeps its ids (they point back to it); several are numbered 1, 2, 3..."""
    if inputs == 1:
        yield from stream
        return
    for number, exchange in enumerate(stream, 1):
        yield exchange.with_id(str(number))


def check_out(sources: Sequence[Source], out: str | os.PathLike[str], force: bool) -> None:
    """Refuse an output that is an input, exists (without `force`), is a folder, or lies
    under a file: before any input is read, and with a message naming it."""
    target = os.path.realpath(out)
    for source in sources:
        if os.path.realpath(source.path) == target:
            raise UsageError(f"{out}: is one of the inputs; write another path")
    if os.path.isdir(out):
        raise UsageError(f"{out} is a folder: give the path of a cassette file", "out")
    if os.path.exists(out) and not force:
        raise UsageError(f"is needed to replace {out}, which exists", "force")
    parent = Path(out).absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(
            f"{out} lies under {parent}, which is a file, not a folder: give a path in a folder",
            "out",
        )
