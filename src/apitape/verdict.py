"""Turn replay results into verdicts: pass, regression or error for every exchange."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from apitape.compare import Comparer
from apitape.config import Config
from apitape.endpoints import endpoint_name
from apitape.groups import at_least, severity
from apitape.latency import LatencyPolicy, endpoint_latencies
from apitape.models import Difference, IgnoredField, InteractionReport, Outcome, RunReport
from apitape.noise import NoiseModel
from apitape.paths import generalize
from apitape.recording import omitted_body
from apitape.replay import ReplayResult


@dataclass(frozen=True)
class JudgeOptions:
    """How results are judged: the rules of apitape.yaml, what is slow, what is noise."""

    config: Config = field(default_factory=Config)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    noise: NoiseModel | None = None
    fail_on: str = "changed"  # the least severity that makes an exchange a regression


def origin(url: str) -> str:
    """`scheme://host:port` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def judge(
    results: Sequence[ReplayResult],
    cassette_names: Sequence[str],
    target: str,
    options: JudgeOptions | None = None,
    *,
    expected_from: str = "recording",
    expected_origin: str | None = None,
) -> RunReport:
    """The report of a replay; `cassette_names[i]` is the cassette `results[i]` came from.

    Each result's exchange holds the expected response: the recorded one, or in three-way
    mode the baseline's (then `expected_origin` is the baseline's address).
    """
    options = options or JudgeOptions()
    config = options.config
    comparer = Comparer(config)
    endpoints = [
        endpoint_name(r.exchange.request.method, r.exchange.request.url, config.templates)
        for r in results
    ]
    sides = (expected_from, "candidate" if expected_from == "baseline" else "replayed")
    found: list[list[Difference]] = []
    correlated: Counter[tuple[str, str]] = Counter()
    for result, endpoint in zip(results, endpoints, strict=True):
        exchange = result.exchange
        if result.response is None:
            found.append([])
            continue
        origins = (expected_origin or origin(exchange.request.url), origin(target))
        differences = comparer.compare(
            exchange.id,
            endpoint,
            exchange.response,
            result.response,
            origins,
            sides,
            omitted_body(exchange.extra, "response"),
        )
        if result.correlator is not None:
            # The new id in the create response, the new Location: the target's own values,
            # carried into later requests, not regressions.
            explained = [
                d for d in differences if result.correlator.explains(d, result.substitutions)
            ]
            for difference in explained:
                correlated[(endpoint, generalize(difference.path))] += 1
            differences = [d for d in differences if d not in explained]
        found.append(differences)
    ignored = [IgnoredField(*entry) for entry in comparer.mask_log.entries()]
    ignored += [IgnoredField(e, p, "correlated", n) for (e, p), n in sorted(correlated.items())]
    if options.noise is not None:
        ignored += _drop_noise(found, endpoints, results, options.noise)

    latency = endpoint_latencies(
        (
            (e, r.exchange.duration_ms, r.duration_ms)
            for e, r in zip(endpoints, results, strict=True)
        ),
        options.latency,
    )
    slower = {row.endpoint for row in latency if row.slower}
    interactions = []
    for result, endpoint, cassette, differences in zip(
        results, endpoints, cassette_names, found, strict=True
    ):
        exchange = result.exchange
        if result.response is not None and endpoint in slower:
            differences.append(
                Difference("latency", "latency_increased", exchange.duration_ms, result.duration_ms)
            )
        failing = [d for d in differences if at_least(severity(d), options.fail_on)]
        outcome = (
            Outcome.ERROR if result.error is not None
            else Outcome.REGRESSION if failing
            else Outcome.PASS
        )  # fmt: skip
        interactions.append(
            InteractionReport(
                id=exchange.id,
                cassette=cassette,
                method=exchange.request.method,
                url=exchange.request.url,
                endpoint=endpoint,
                outcome=outcome,
                differences=tuple(differences),
                expected_status=exchange.response.status,
                actual_status=result.response.status if result.response else None,
                recorded_ms=exchange.duration_ms,
                replayed_ms=result.duration_ms,
                error=result.error,
                substitutions=result.substitutions,
                credential_refreshed=result.credential_refreshed,
            )
        )
    return RunReport(
        target,
        tuple(dict.fromkeys(cassette_names)),
        tuple(interactions),
        tuple(latency),
        tuple(sorted(ignored, key=lambda i: (i.endpoint, i.path, i.rule))),
        expected_from,
        fail_on=options.fail_on,
    )


def _drop_noise(
    found: list[list[Difference]],
    endpoints: Sequence[str],
    results: Sequence[ReplayResult],
    noise: NoiseModel,
) -> list[IgnoredField]:
    """Remove, in place, the differences at fields that differ no more often than noise."""
    totals = Counter(e for e, r in zip(endpoints, results, strict=True) if r.response is not None)
    raw: defaultdict[tuple[str, str], int] = defaultdict(int)
    for endpoint, differences in zip(endpoints, found, strict=True):
        for path in {generalize(d.path) for d in differences}:
            raw[(endpoint, path)] += 1
    quiet = {
        key
        for key, count in raw.items()
        if not noise.is_signal(key[0], key[1], count, totals[key[0]])
    }
    for endpoint, differences in zip(endpoints, found, strict=True):
        differences[:] = [d for d in differences if (endpoint, generalize(d.path)) not in quiet]
    return [IgnoredField(e, p, f"noise ({noise.source})", raw[(e, p)]) for e, p in sorted(quiet)]


def exit_status(report: RunReport) -> int:
    """0 when every exchange passed, 1 when any regressed, 2 when any could not be replayed."""
    if report.count(Outcome.ERROR):
        return 2
    if report.count(Outcome.REGRESSION):
        return 1
    return 0
