"""The HTTP exchanges apitape records, replays and compares, as frozen values."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

Headers = tuple[tuple[str, str], ...]
"""Header pairs in the order they were sent; HTTP allows a name to repeat."""


def header_values(headers: Headers, name: str) -> list[str]:
    """All values of header `name` (case-insensitive), in order."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


def first_header(headers: Headers, name: str) -> str | None:
    """The first value of header `name` (case-insensitive), or None."""
    values = header_values(headers, name)
    return values[0] if values else None


def without_headers(headers: Headers, names: Iterable[str]) -> Headers:
    """`headers` minus every header whose name is in `names` (case-insensitive)."""
    dropped = {name.lower() for name in names}
    return tuple((key, value) for key, value in headers if key.lower() not in dropped)


@dataclass(frozen=True)
class Request:
    """An HTTP request as the client sent it; `url` is absolute."""

    method: str
    url: str
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    """An HTTP response with its body decoded (no Content-Encoding left)."""

    status: int
    reason: str = ""
    headers: Headers = ()
    body: bytes = b""


@dataclass(frozen=True)
class Exchange:
    """One recorded request/response pair with what apitape knows about when and from whom.

    `recorded_at` is an ISO-8601 UTC string, `duration_ms` how long the service took,
    `client` the address the request came from and `connection` the client connection's id.
    Cassettes recorded by vcrpy have none of these.
    """

    id: str
    request: Request
    response: Response
    recorded_at: str | None = None
    duration_ms: float | None = None
    client: str | None = None
    connection: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def with_id(self, new_id: str) -> Exchange:
        """This exchange under another id."""
        return replace(self, id=new_id)


class Outcome(StrEnum):
    """What a replayed exchange amounts to."""

    PASS = "pass"
    REGRESSION = "regression"
    ERROR = "error"


@dataclass(frozen=True)
class Difference:
    """One way a replayed response differs from the recorded one.

    `path` is `status`, `headers.<name>`, `body`, `latency` or a JSON path such as
    `$.items[0].price`; `kind` says what changed (`value_changed`, `type_changed`,
    `field_removed`, ...); `expected` is the recorded value, `actual` the replayed one.
    A side that has no value (the field, item or header is not there) is not present: its
    value is None and `expected_present` or `actual_present` is False. A JSON null is a
    present None. The added and removed kinds mark their missing side themselves.
    """

    path: str
    kind: str
    expected: Any
    actual: Any
    expected_present: bool = True
    actual_present: bool = True

    def __post_init__(self) -> None:
        if self.kind in _NOTHING_BEFORE:
            object.__setattr__(self, "expected_present", False)
        elif self.kind in _NOTHING_AFTER:
            object.__setattr__(self, "actual_present", False)


_NOTHING_BEFORE = frozenset({"field_added", "item_added", "header_added"})
_NOTHING_AFTER = frozenset({"field_removed", "item_removed", "header_removed"})


@dataclass(frozen=True)
class Substitution:
    """A recorded value sent as the replayed one, and why."""

    exchange_id: str
    recorded: Any
    replayed: Any
    learned_from: str
    used_in: str


@dataclass(frozen=True)
class InteractionReport:
    """The verdict on one replayed exchange, as the reports show it."""

    id: str
    cassette: str
    method: str
    url: str
    endpoint: str
    outcome: Outcome
    differences: tuple[Difference, ...]
    expected_status: int
    actual_status: int | None
    recorded_ms: float | None
    replayed_ms: float | None
    error: str | None = None
    substitutions: tuple[Substitution, ...] = ()  # values the session learned, sent instead
    credential_refreshed: bool = False  # the target answered 401 and the login step ran again


@dataclass(frozen=True)
class EndpointLatency:
    """Latency of one endpoint in the recording and in the replay, in milliseconds."""

    endpoint: str
    count: int
    recorded_p50: float | None
    recorded_p95: float | None
    replayed_p50: float | None
    replayed_p95: float | None
    slower: bool
    held_back: bool = False
    """Slower by the usual factor, but with too few answers a side to show the endpoint's own
    spread (`LatencyPolicy.few_answers`): not a regression, and the report says so."""


@dataclass(frozen=True)
class IgnoredField:
    """A field that a mask, a rule or learned noise kept out of the differences."""

    endpoint: str
    path: str
    rule: str
    exchanges: int


@dataclass(frozen=True)
class SkippedExchange:
    """An exchange deliberately not sent (method filter, `skip` rule)."""

    id: str
    cassette: str
    method: str
    url: str
    endpoint: str
    reason: str


@dataclass(frozen=True)
class Example:
    """One exchange of a group, with its values (a side not present has no value: None)."""

    id: str
    expected: Any
    actual: Any
    expected_present: bool = True
    actual_present: bool = True


@dataclass(frozen=True)
class Group:
    """The same difference at the same place of one endpoint, across exchanges."""

    endpoint: str
    path: str
    kind: str
    severity: str
    count: int  # exchanges of the endpoint with this difference
    total: int  # exchanges of the endpoint that got an answer
    examples: tuple[Example, ...]
    detail: str = ""  # "float -> str", "201 -> 200"
    # Differences this one caused, folded under it: a status change's body and header
    # differences, a content-type change's body differences (verdict/groups.py).
    consequences: tuple[Group, ...] = ()

    @property
    def summary(self) -> str:
        """`GET /books/{id}: $.price type changed float -> str in 5 of 7 responses`."""
        what = self.kind.replace("_", " ")
        if self.detail:
            what = f"{what} {self.detail}"
        # "status status changed" and "latency latency increased" say it twice
        where = "" if what.startswith(self.path) else f"{self.path} "
        return f"{self.endpoint}: {where}{what} in {self.count} of {self.total} responses"

    def folded(self, indent: str = "  ", most: int = 10) -> list[str]:
        """The lines that name what this group folds, to print under its summary: `folds
        [breaking] $.data field removed in 5 of 7 responses`, at most `most`, then how many
        more."""
        lines = [
            f"{indent}folds [{c.severity}] {c.summary[len(c.endpoint) + 2 :]}"
            for c in self.consequences[:most]
        ]
        if len(self.consequences) > most:
            lines.append(f"{indent}folds {len(self.consequences) - most} more difference(s)")
        return lines


@dataclass(frozen=True)
class AppliedFile:
    """A file a run applied: apitape.yaml, a noise file or an OpenAPI document, and whether it
    was found implicitly (in the working directory) rather than named."""

    kind: str  # "config", "noise", "openapi"
    path: str
    sha256: str
    implicit: bool = False


@dataclass(frozen=True)
class RunReport:
    """Everything one replay found, in recorded order.

    `expected_from` says what the target was compared with: the `recording`, or a live
    `baseline` (three-way mode). `interactions` may be read from disk on every pass (a
    million-exchange replay), so what several reports need is counted once: `groups` and
    `counts` (outcome value -> exchanges, and `credential_refreshed`); None when the
    report was put together by hand, then they are counted from `interactions`.
    `examples` holds, per exchange id, the recorded exchange and the replayed response of
    the exchanges the reports show as examples (the HTML report draws them).
    """

    target: str
    cassettes: tuple[str, ...]
    interactions: Sequence[InteractionReport]
    latency: tuple[EndpointLatency, ...]
    ignored: tuple[IgnoredField, ...] = ()
    expected_from: str = "recording"
    skipped: tuple[SkippedExchange, ...] = ()
    fail_on: str = "changed"
    groups: tuple[Group, ...] | None = None
    counts: Mapping[str, int] | None = None
    contract: Any = None  # contract.ContractSummary, when replayed with an OpenAPI document
    inputs: tuple[AppliedFile, ...] = ()
    warnings: tuple[str, ...] = ()  # what the reader should act on: unfilled secrets, torn files
    notes: tuple[str, ...] = ()  # what the run did besides comparing: responses saved, ...
    unfilled_secrets: Mapping[str, int] = field(default_factory=dict)  # label -> requests
    input_error: str | None = None  # a cassette broke off mid-way: what came before is reported
    confirmations: int = 0  # safe requests sent twice because the first answer differed
    run: str = "replay"  # "replay" (a target, or a baseline and a candidate) or "diff"
    tls_verified: bool = True  # False: replayed with --insecure, no certificate verified
    baseline: str | None = None  # three-way mode: the baseline's address; target: the candidate
    examples: Mapping[str, tuple[Exchange, Response | None]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def count(self, outcome: Outcome | str) -> int:
        """How many interactions ended with `outcome` (or were `credential_refreshed`)."""
        if self.counts is not None:
            return self.counts.get(str(outcome), 0)
        if outcome == "credential_refreshed":
            return sum(1 for i in self.interactions if i.credential_refreshed)
        return sum(1 for i in self.interactions if i.outcome is outcome)

    @property
    def regressions(self) -> int:
        """Exchanges the target answered differently, at or above `fail_on`."""
        return self.count(Outcome.REGRESSION)

    @property
    def errors(self) -> int:
        """Exchanges that could not be replayed (refused, timed out, no baseline answer)."""
        return self.count(Outcome.ERROR)

    @property
    def exit_status(self) -> int:
        """0 when every exchange passed, 1 when any regressed, 2 when any could not be
        replayed or an input broke off."""
        if self.errors or self.input_error:
            return 2
        return 1 if self.regressions else 0

    @property
    def ok(self) -> bool:
        """Whether the run would pass a release gate: no regression, no error."""
        return self.exit_status == 0

    def summary(self) -> str:
        """A few lines to read when `ok` is false: the counts, then each group of differences
        (worst first) and each error, the way the pytest plugin shows a failure."""
        total = self.count(Outcome.PASS) + self.regressions + self.errors
        lines = [
            f"{total} exchange(s) replayed against {self.target}: {self.count(Outcome.PASS)} "
            f"passed, {self.regressions} regression(s), {self.errors} error(s)"
        ]
        for group in self.groups or ():
            lines += [f"[{group.severity}] {group.summary}", *group.folded()]
        lines += [
            f"#{i.id} {i.method} {i.url}: {i.error}"
            for i in self.interactions
            if i.outcome is Outcome.ERROR
        ][:20]
        if self.input_error:
            lines.append(f"stopped early: {self.input_error}")
        return "\n".join(lines)


OMITTED_KEYS = {"request": "request_body_omitted", "response": "response_body_omitted"}
"""apitape keys that mark a body left out for its size: `{size, sha256}` of the real body."""


def omitted_body(extra: Mapping[str, Any], side: str) -> tuple[int, str] | None:
    """(size, sha256) of a body the recorder left out, or None when it was kept."""
    mark = extra.get(OMITTED_KEYS[side])
    if isinstance(mark, dict) and isinstance(mark.get("size"), int):
        return mark["size"], str(mark.get("sha256", ""))
    return None


def body_fingerprint(body: bytes) -> tuple[int, str]:
    """(size, sha256) of a body, to set against an omitted one."""
    return len(body), hashlib.sha256(body).hexdigest()
