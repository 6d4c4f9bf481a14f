"""Contract checks of traffic against an OpenAPI document, and what the traffic covers.

A `ContractChecker` validates exchanges one at a time (a recording, or what a replay's
target answered) and counts them into a `Coverage`: which documented operations were
exercised and with which statuses, which were not, and which undocumented endpoints the
traffic hit. A request the document forbids is a violation only when the service
accepted it (a 1xx-3xx answer); one it rejected with 4xx/5xx is the service enforcing its
contract, and is counted, not reported.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from apitape.cassette import iter_exchanges
from apitape.contract.openapi import OpenApiSpec, Operation
from apitape.http.endpoints import Template, endpoint_name
from apitape.models import Difference, Exchange, Request, Response, omitted_body


@dataclass(frozen=True)
class OperationCoverage:
    """How the traffic exercised one documented operation."""

    operation: str  # GET /books/{bookId}
    operation_id: str | None
    exchanges: int
    documented_statuses: tuple[str, ...]  # the keys of `responses`: 200, 4XX, default
    statuses_seen: tuple[tuple[int, int], ...]  # (status, exchanges), by status
    statuses_unseen: tuple[str, ...]  # documented keys no exchange answered with
    rejected_requests: int = 0  # requests the document forbids, which the service refused


@dataclass(frozen=True)
class CoverageReport:
    """The documented operations with what exercised them, and the undocumented endpoints."""

    operations: tuple[OperationCoverage, ...]
    undocumented: tuple[tuple[str, int], ...]  # (endpoint, exchanges), most hit first

    @property
    def unexercised(self) -> tuple[str, ...]:
        """Documented operations no exchange reached, in the document's order."""
        return tuple(o.operation for o in self.operations if o.exchanges == 0)


@dataclass(frozen=True)
class CoverageCounts:
    """A `Coverage`'s counts, which add up: exchanges per operation name and status, the
    rejected requests per operation, exchanges per undocumented endpoint."""

    statuses: dict[str, Counter[int]]
    rejected: Counter[str]
    undocumented: Counter[str]


class Coverage:
    """Counts exchanges per documented operation and status, and per undocumented endpoint."""

    def __init__(self, operations: Sequence[Operation]) -> None:
        self._operations = tuple(operations)
        self._statuses: defaultdict[str, Counter[int]] = defaultdict(Counter)
        self._rejected: Counter[str] = Counter()
        self._undocumented: Counter[str] = Counter()

    def add(
        self, operation: Operation | None, endpoint: str, status: int, rejected: bool = False
    ) -> None:
        """Count one answered exchange: of `operation`, or of the undocumented `endpoint`."""
        if operation is None:
            self._undocumented[endpoint] += 1
            return
        self._statuses[operation.name][status] += 1
        if rejected:
            self._rejected[operation.name] += 1

    def counts(self) -> CoverageCounts:
        """What has been counted so far, without the document: a shard of a scaled-out
        replay hands them to the driver, whose coverage `absorb`s every shard's."""
        return CoverageCounts(
            {name: Counter(statuses) for name, statuses in self._statuses.items()},
            Counter(self._rejected),
            Counter(self._undocumented),
        )

    def absorb(self, counts: CoverageCounts) -> None:
        """Add another coverage's counts (of the same document) to these."""
        for name, statuses in counts.statuses.items():
            self._statuses[name].update(statuses)
        self._rejected.update(counts.rejected)
        self._undocumented.update(counts.undocumented)

    def report(self) -> CoverageReport:
        """What has been counted so far."""
        rows = []
        for operation in self._operations:
            seen = self._statuses.get(operation.name, Counter())
            covered = {operation.documents(status) for status in seen}
            rows.append(
                OperationCoverage(
                    operation.name,
                    operation.operation_id,
                    sum(seen.values()),
                    operation.statuses,
                    tuple(sorted(seen.items())),
                    tuple(s for s in operation.statuses if s not in covered),
                    self._rejected[operation.name],
                )
            )
        undocumented = sorted(self._undocumented.items(), key=lambda item: (-item[1], item[0]))
        return CoverageReport(tuple(rows), tuple(undocumented))


@dataclass(frozen=True)
class Violation:
    """The contract violations of one exchange."""

    id: str
    cassette: str
    method: str
    url: str
    operation: str
    status: int
    differences: tuple[Difference, ...]


@dataclass(frozen=True)
class ContractSummary:
    """What a replay report says about the document: which one, and the coverage."""

    spec: str
    title: str
    version: str
    coverage: CoverageReport


@dataclass
class ContractChecker:
    """Checks exchanges against `spec` one by one and counts their coverage as it goes."""

    spec: OpenApiSpec
    coverage: Coverage = field(init=False)
    _templates: tuple[Template, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.coverage = Coverage(self.spec.operations)
        self._templates = self.spec.templates()

    def check(
        self, request: Request, response: Response, *, body_kept: bool = True
    ) -> tuple[Difference, ...]:
        """The violations of one exchange (none for an undocumented endpoint: it is counted)."""
        operation = self.spec.operation_for(request.method, request.url)
        if operation is None:
            endpoint = endpoint_name(request.method, request.url, self._templates)
            self.coverage.add(None, endpoint, response.status)
            return ()
        in_response, in_request = self.spec.check(request, response, body_kept=body_kept)
        accepted = response.status < 400
        rejected = bool(in_request) and not accepted
        self.coverage.add(operation, operation.name, response.status, rejected)
        return tuple(in_response) + (tuple(in_request) if accepted else ())

    def summary(self) -> ContractSummary:
        """The document and the coverage counted so far."""
        spec = self.spec
        return ContractSummary(spec.source, spec.title, spec.version, self.coverage.report())


@dataclass(frozen=True)
class ContractReport:
    """What `apitape contract` found: the violating exchanges and the coverage."""

    spec: str
    title: str
    version: str
    cassettes: tuple[str, ...]
    checked: int
    violations: tuple[Violation, ...]
    coverage: CoverageReport
    warnings: tuple[str, ...] = ()  # what reading the cassettes warned about

    @property
    def ok(self) -> bool:
        """Whether every exchange conforms to the document."""
        return not self.violations


def check_cassettes(
    spec: OpenApiSpec, paths: Sequence[str], warn: Callable[[str], None]
) -> ContractReport:
    """Check every exchange of the cassettes against `spec`, streaming where the cassette
    format allows; `warn` receives the cassettes' load warnings."""
    checker = ContractChecker(spec)
    violations = []
    checked = 0
    for path in paths:
        for exchange in _exchanges(path, warn):
            checked += 1
            request, response = exchange.request, exchange.response
            kept = omitted_body(exchange.extra, "response") is None
            differences = checker.check(request, response, body_kept=kept)
            if differences:
                operation = spec.operation_for(request.method, request.url)
                violations.append(
                    Violation(
                        exchange.id,
                        path,
                        request.method,
                        request.url,
                        operation.name if operation else "",
                        response.status,
                        differences,
                    )
                )
    return ContractReport(
        spec.source,
        spec.title,
        spec.version,
        tuple(paths),
        checked,
        tuple(violations),
        checker.coverage.report(),
    )


def _exchanges(path: str, warn: Callable[[str], None]) -> Iterator[Exchange]:
    """The cassette's exchanges one at a time: a big cassette is never held whole."""
    warnings: list[str] = []
    yield from iter_exchanges(path, warnings)
    for warning in warnings:
        warn(warning)
