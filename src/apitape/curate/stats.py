"""What a capture holds: exchanges, sessions, time span, and per endpoint its statuses,
content types, body sizes, latency and distinct shapes; computed in one streamed pass.

Percentiles come from log-spaced buckets (1 % wide), so memory does not grow with the
number of exchanges; sets grow only with what is distinct (shapes, sessions, secrets).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apitape.curate.signature import Signer
from apitape.curate.sources import exchanges, open_sources
from apitape.http.bodies import media_type
from apitape.http.path_parameters import PathParameterLearner
from apitape.http.sessions import session_key
from apitape.models import Exchange
from apitape.redaction.redact import PLACEHOLDER

_STEP = math.log(1.01)


class Quantiles:
    """Percentiles of non-negative numbers in constant memory, to within 1 %."""

    def __init__(self) -> None:
        self._buckets: Counter[int] = Counter()
        self.count = 0

    def add(self, value: float) -> None:
        self.count += 1
        self._buckets[-1 if value <= 0 else math.floor(math.log(value) / _STEP)] += 1

    def merge(self, other: Quantiles) -> None:
        """Count `other`'s numbers too."""
        self._buckets.update(other._buckets)
        self.count += other.count

    def quantile(self, q: float) -> float | None:
        """The q-quantile (0..1), or None when nothing was added."""
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if seen >= rank:
                return 0.0 if bucket < 0 else math.exp((bucket + 0.5) * _STEP)
        return None  # pragma: no cover - the loop always reaches the rank

    def summary(self, digits: int = 1) -> dict[str, float | None]:
        """{p50, p95}, rounded."""
        return {
            name: None if (v := self.quantile(q)) is None else round(v, digits)
            for name, q in (("p50", 0.5), ("p95", 0.95))
        }


@dataclass
class EndpointStats:
    """What one endpoint's exchanges showed."""

    endpoint: str
    count: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    content_types: Counter[str] = field(default_factory=Counter)
    request_bytes: Quantiles = field(default_factory=Quantiles)
    response_bytes: Quantiles = field(default_factory=Quantiles)
    latency_ms: Quantiles = field(default_factory=Quantiles)
    request_shapes: set[str] = field(default_factory=set)
    response_shapes: set[str] = field(default_factory=set)

    def merge(self, other: EndpointStats) -> None:
        """Count `other`'s exchanges too (two guessed names that are one learned endpoint)."""
        self.count += other.count
        self.statuses.update(other.statuses)
        self.content_types.update(other.content_types)
        for mine, theirs in (
            (self.request_bytes, other.request_bytes),
            (self.response_bytes, other.response_bytes),
            (self.latency_ms, other.latency_ms),
        ):
            mine.merge(theirs)
        self.request_shapes |= other.request_shapes
        self.response_shapes |= other.response_shapes

    def as_dict(self) -> dict[str, Any]:
        method, _, path = self.endpoint.partition(" ")
        return {
            "endpoint": self.endpoint,
            "method": method,
            "path": path,
            "count": self.count,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "content_types": dict(self.content_types.most_common()),
            "request_bytes": self.request_bytes.summary(0),
            "response_bytes": self.response_bytes.summary(0),
            "latency_ms": self.latency_ms.summary(1),
            "request_shapes": len(self.request_shapes),
            "response_shapes": len(self.response_shapes),
        }


@dataclass
class CaptureStats:
    """A capture at a glance; `as_dict()` is what `apitape stats --json` prints."""

    cassettes: tuple[str, ...]
    metadata: tuple[Mapping[str, Any], ...]
    bytes: int
    session_by: str
    exchanges: int = 0
    sessions: int = 0
    first: str | None = None
    last: str | None = None
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    secrets: dict[str, Counter[str]] = field(default_factory=dict)  # label -> hash -> uses
    warnings: list[str] = field(default_factory=list)

    @property
    def span_seconds(self) -> float | None:
        if not self.first or not self.last:
            return None
        try:
            start = datetime.fromisoformat(self.first)
            end = datetime.fromisoformat(self.last)
        except ValueError:
            return None
        return round((end - start).total_seconds(), 3)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cassettes": [
                {
                    "path": path,
                    "recorder": meta.get("recorder"),
                    "created_at": meta.get("created_at"),
                    "redaction": meta.get("redaction"),
                }
                for path, meta in zip(self.cassettes, self.metadata, strict=True)
            ],
            "exchanges": self.exchanges,
            "sessions": self.sessions,
            "session_by": self.session_by,
            "first": self.first,
            "last": self.last,
            "span_seconds": self.span_seconds,
            "bytes": self.bytes,
            "endpoints": [
                e.as_dict()
                for e in sorted(self.endpoints.values(), key=lambda e: (-e.count, e.endpoint))
            ],
            "secrets": [
                {"label": label, "placeholders": len(uses), "uses": sum(uses.values())}
                for label, uses in sorted(self.secrets.items())
            ],
            "warnings": list(self.warnings),
        }


def capture_stats(
    cassettes: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    session_by: str = "client",
    signer: Signer | None = None,
) -> CaptureStats:
    """Read cassettes once, streamed, and say what they hold. Endpoints are named as a
    replay's report names them: path parameters are learned as the capture streams, and
    the rows of names the guess alone kept apart are joined at the end."""
    paths = [cassettes] if isinstance(cassettes, str | os.PathLike) else list(cassettes)
    sources = open_sources(paths)
    sign = signer or Signer()
    key = session_key(session_by)
    stats = CaptureStats(
        tuple(s.path for s in sources),
        tuple(s.metadata for s in sources),
        sum(s.size for s in sources),
        session_by,
    )
    sessions: set[str] = set()
    learner = PathParameterLearner()
    for index, exchange in enumerate(exchanges(sources, stats.warnings)):
        learner.observe(exchange)
        stats.exchanges += 1
        if session_by != "exchange":
            sessions.add(key(index, exchange))
        stamp = exchange.recorded_at
        if stamp:
            if stats.first is None or stamp < stats.first:
                stats.first = stamp
            if stats.last is None or stamp > stats.last:
                stats.last = stamp
        endpoint = sign.endpoint(exchange)
        row = stats.endpoints.get(endpoint)
        if row is None:
            row = stats.endpoints[endpoint] = EndpointStats(endpoint)
        _count(row, exchange, sign)
        _secrets(stats.secrets, exchange)
    stats.sessions = stats.exchanges if session_by == "exchange" else len(sessions)
    rename = sign.renamer(learner.result())
    joined: dict[str, EndpointStats] = {}
    for name, row in stats.endpoints.items():
        new = rename(name)
        if new not in joined:
            row.endpoint = new
            joined[new] = row
        else:
            joined[new].merge(row)
    stats.endpoints = joined
    return stats


def _count(row: EndpointStats, exchange: Exchange, sign: Signer) -> None:
    row.count += 1
    response = exchange.response
    row.statuses[response.status] += 1
    row.content_types[media_type(response.headers) or "-"] += 1
    row.request_bytes.add(len(exchange.request.body))
    row.response_bytes.add(len(response.body))
    if exchange.duration_ms is not None:
        row.latency_ms.add(exchange.duration_ms)
    row.request_shapes.add(sign.request_shape(exchange))
    row.response_shapes.add(sign.response_shape(exchange))


def _secrets(found: dict[str, Counter[str]], exchange: Exchange) -> None:
    request = exchange.request
    texts = [request.url, *(value for _, value in request.headers)]
    texts += [value for _, value in exchange.response.headers]
    for body in (request.body, exchange.response.body):
        if b"redacted-" in body:
            texts.append(body.decode("utf-8", "replace"))
    for text in texts:
        if "redacted-" in text:
            for match in PLACEHOLDER.finditer(text):
                found.setdefault(match.group(1), Counter())[match.group(2)] += 1
