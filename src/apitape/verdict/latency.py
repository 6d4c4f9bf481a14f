"""Latency per endpoint, recorded against replayed, and when a slowdown counts as a regression."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from apitape.models import EndpointLatency


@dataclass(frozen=True)
class LatencyPolicy:
    """An endpoint is slower when its replayed p95 is `factor` times the recorded p95 and at
    least `min_ms` more; both together keep loopback jitter from counting. A factor of 0 turns
    the check off. At least `min_samples` replayed answers must be that slow: below 20
    answers the p95 is the slowest one, and one slow answer is an anecdote.

    With fewer than `few_answers` answers on either side, the capture cannot show how much
    the endpoint varies on its own, so the slowdown must reach `few_answers_factor` instead:
    on an unchanged MLflow, `POST /experiments/create` answered in 490 ms to 2.8 s from one
    run to the next (a 5.7x spread), and two answers each side were read as 3.4x slower."""

    factor: float = 2.0
    min_ms: float = 200.0
    min_samples: int = 2  # one slow answer is an anecdote: a GC pause, a cold cache
    few_answers: int = 5
    few_answers_factor: float = 10.0

    def tested_rank(self, answers: int) -> int:
        """The rank (from 1, fastest first) of the replayed answer compared with the recorded
        p95: the p95's, or lower where the p95 would leave fewer than `min_samples` answers
        at or above it (with 2 answers, the faster of the two)."""
        return max(1, min(math.ceil(0.95 * answers), answers - self.min_samples + 1))

    def factor_for(self, recorded: int, replayed: int) -> float:
        """The factor an endpoint with `recorded` and `replayed` answers must be slower by."""
        if min(recorded, replayed) < self.few_answers:
            return max(self.factor, self.few_answers_factor)
        return self.factor

    def is_slower(
        self,
        recorded_p95: float | None,
        replayed_p95: float | None,
        drift: float,
        factor: float,
    ) -> bool:
        """Whether a replayed p95 is `factor` times (`factor_for`'s) the recorded one and
        `min_ms` more, once the whole run's slowdown (`drift`: the median ratio over the
        endpoints) is set aside."""
        if self.factor <= 0 or recorded_p95 is None or replayed_p95 is None:
            return False
        expected = drift * recorded_p95
        return replayed_p95 >= factor * expected and replayed_p95 - expected >= self.min_ms


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def endpoint_latencies(
    samples: Iterable[tuple[str, float | None, float | None]], policy: LatencyPolicy
) -> list[EndpointLatency]:
    """Per endpoint p50/p95 of (endpoint, recorded_ms, replayed_ms) samples, sorted by name."""
    collected = LatencySamples()
    for endpoint, recorded_ms, replayed_ms in samples:
        collected.add(endpoint, recorded_ms, replayed_ms)
    return collected.rows(policy)


def _samples(table: dict[str, array[float]], endpoint: str) -> array[float]:
    samples = table.get(endpoint)
    if samples is None:
        samples = table[endpoint] = array("d")
    return samples


class LatencySamples:
    """Recorded and replayed milliseconds per endpoint, 8 bytes a sample (a million
    exchanges take 16 MB)."""

    def __init__(self) -> None:
        self._recorded: dict[str, array[float]] = {}
        self._replayed: dict[str, array[float]] = {}
        self._counts: dict[str, int] = {}

    def add(self, endpoint: str, recorded_ms: float | None, replayed_ms: float | None) -> None:
        """One exchange of `endpoint`; a missing time counts the exchange but no sample."""
        self._counts[endpoint] = self._counts.get(endpoint, 0) + 1
        if recorded_ms is not None:
            _samples(self._recorded, endpoint).append(recorded_ms)
        if replayed_ms is not None:
            _samples(self._replayed, endpoint).append(replayed_ms)

    def rename(self, names: Mapping[str, str]) -> None:
        """Give endpoints other names (`names`: old -> new); samples of endpoints that get
        the same name are put together."""
        for old, new in names.items():
            if old not in self._counts or old == new:
                continue
            self._counts[new] = self._counts.get(new, 0) + self._counts.pop(old)
            for table in (self._recorded, self._replayed):
                samples = table.pop(old, None)
                if samples is not None:
                    _samples(table, new).extend(samples)

    def endpoints(self) -> list[str]:
        """The endpoints seen, in the order first seen."""
        return list(self._counts)

    def quantile(self, side: str, endpoint: str, q: float) -> float | None:
        """The nearest-rank q-th percentile of `side` ("recorded" or "replayed") at
        `endpoint`; None without samples."""
        table = self._recorded if side == "recorded" else self._replayed
        return percentile(table.get(endpoint, array("d")), q)

    def replayed_count(self, endpoint: str) -> int:
        """How many replayed durations `endpoint` has."""
        return len(self._replayed.get(endpoint, ()))

    def recorded_count(self, endpoint: str) -> int:
        """How many recorded durations `endpoint` has."""
        return len(self._recorded.get(endpoint, ()))

    def drift(self) -> float:
        """How much slower the whole run answered than the recording: the median over the
        endpoints of replayed p50 / recorded p50 (at least 3 endpoints, else 1), never below 1.

        A replay on a busier machine, or against a build that is slower everywhere, is slower
        on every endpoint alike; an endpoint counts as slower only beyond that. The report
        says how large the drift was."""
        ratios = []
        for endpoint in self._counts:
            rec = self.quantile("recorded", endpoint, 50)
            rep = self.quantile("replayed", endpoint, 50)
            if rec and rep:
                ratios.append(rep / rec)
        if len(ratios) < 3:
            return 1.0
        return max(1.0, percentile(ratios, 50) or 1.0)

    def rows(self, policy: LatencyPolicy) -> list[EndpointLatency]:
        """Per endpoint p50/p95 on both sides, sorted by name; `slower` by `policy`, and
        `held_back` where only having few answers kept it from being slower."""
        rows = []
        drift = self.drift()
        for endpoint in sorted(self._counts):
            rec_p95 = self.quantile("recorded", endpoint, 95)
            answers = self.replayed_count(endpoint)
            # The nearest rank of q is ceil(q n / 100): half a rank below it is that rank.
            tested = (policy.tested_rank(answers) - 0.5) / answers * 100 if answers else 95
            compared = self.quantile("replayed", endpoint, tested)
            by_factor = answers >= policy.min_samples and policy.is_slower(
                rec_p95, compared, drift, policy.factor
            )
            factor = policy.factor_for(self.recorded_count(endpoint), answers)
            slower = by_factor and policy.is_slower(rec_p95, compared, drift, factor)
            rows.append(
                EndpointLatency(
                    endpoint=endpoint,
                    count=self._counts[endpoint],
                    recorded_p50=self.quantile("recorded", endpoint, 50),
                    recorded_p95=rec_p95,
                    replayed_p50=self.quantile("replayed", endpoint, 50),
                    replayed_p95=self.quantile("replayed", endpoint, 95),
                    slower=slower,
                    held_back=by_factor and not slower,
                )
            )
        return rows
