"""Turn replay results into verdicts: pass, regression or error for every exchange."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from apitape.diff import DiffOptions, diff_responses
from apitape.endpoints import endpoint_name
from apitape.latency import LatencyPolicy, endpoint_latencies
from apitape.models import Difference, InteractionReport, Outcome, RunReport
from apitape.normalize import IdentityNormalizer, Normalizer
from apitape.replay import ReplayResult


@dataclass(frozen=True)
class JudgeOptions:
    """How results are judged: what is compared, how it is normalized, what is slow."""

    diff: DiffOptions = field(default_factory=DiffOptions)
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    normalizer: Normalizer = field(default_factory=IdentityNormalizer)


def judge(
    results: Sequence[ReplayResult],
    cassette_names: Sequence[str],
    target: str,
    options: JudgeOptions | None = None,
) -> RunReport:
    """The report of a replay; `cassette_names[i]` is the cassette `results[i]` came from."""
    options = options or JudgeOptions()
    endpoints = [endpoint_name(r.exchange.request.method, r.exchange.request.url) for r in results]
    latency = endpoint_latencies(
        (
            (e, r.exchange.duration_ms, r.duration_ms)
            for e, r in zip(endpoints, results, strict=True)
        ),
        options.latency,
    )
    slower = {row.endpoint for row in latency if row.slower}
    interactions = []
    for result, endpoint, cassette in zip(results, endpoints, cassette_names, strict=True):
        exchange = result.exchange
        differences: list[Difference] = []
        if result.response is not None:
            differences = diff_responses(
                exchange.response, result.response, endpoint, options.diff, options.normalizer
            )
            if endpoint in slower:
                differences.append(
                    Difference(
                        "latency", "latency_increased", exchange.duration_ms, result.duration_ms
                    )
                )
        outcome = (
            Outcome.ERROR
            if result.error is not None
            else Outcome.REGRESSION
            if differences
            else Outcome.PASS
        )
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
            )
        )
    return RunReport(
        target, tuple(dict.fromkeys(cassette_names)), tuple(interactions), tuple(latency)
    )


def exit_status(report: RunReport) -> int:
    """0 when every exchange passed, 1 when any regressed, 2 when any could not be replayed."""
    if report.count(Outcome.ERROR):
        return 2
    if report.count(Outcome.REGRESSION):
        return 1
    return 0
