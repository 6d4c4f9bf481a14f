"""Latency percentiles that merge across shards: DDSketch per endpoint (the one module that
imports ddsketch, part of `pip install 'apitape[ray]'`).

Percentiles cannot be averaged, so each shard hands back a sketch per endpoint and side; the
merged sketch answers p50 and p95 within `RELATIVE_ACCURACY` of the exact nearest-rank value
a single process reports, whatever the number of samples or shards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ddsketch import DDSketch

from apitape.verdict.latency import LatencySamples

RELATIVE_ACCURACY = 0.01
"""A sketch's quantile is within 1% of the true value (DDSketch's guarantee)."""

NOTE = (
    f"latency percentiles come from merged DDSketch sketches (relative error at most "
    f"{RELATIVE_ACCURACY:.0%}), not exact nearest-rank values"
)


def _sketch() -> DDSketch:
    return DDSketch(relative_accuracy=RELATIVE_ACCURACY)


class SketchLatency(LatencySamples):
    """`LatencySamples` whose samples are sketches: constant memory, and `merge` adds another."""

    def __init__(self) -> None:
        super().__init__()
        self._recorded_sketch: dict[str, DDSketch] = {}
        self._replayed_sketch: dict[str, DDSketch] = {}

    @classmethod
    def of(cls, samples: LatencySamples) -> SketchLatency:
        """The sketches of exact samples (a shard's, once it is replayed)."""
        sketched = cls()
        for endpoint, count in samples._counts.items():
            sketched._counts[endpoint] = count
            for table, sketches in (
                (samples._recorded, sketched._recorded_sketch),
                (samples._replayed, sketched._replayed_sketch),
            ):
                values = table.get(endpoint)
                if values:
                    sketch = sketches[endpoint] = _sketch()
                    for value in values:
                        sketch.add(value)
        return sketched

    def add(self, endpoint: str, recorded_ms: float | None, replayed_ms: float | None) -> None:
        """One exchange of `endpoint`; a missing time counts the exchange but no sample."""
        self._counts[endpoint] = self._counts.get(endpoint, 0) + 1
        for value, sketches in (
            (recorded_ms, self._recorded_sketch),
            (replayed_ms, self._replayed_sketch),
        ):
            if value is not None:
                sketch = sketches.get(endpoint)
                if sketch is None:
                    sketch = sketches[endpoint] = _sketch()
                sketch.add(value)

    def merge(self, other: SketchLatency) -> None:
        """Add another shard's counts and sketches to these."""
        for endpoint, count in other._counts.items():
            self._counts[endpoint] = self._counts.get(endpoint, 0) + count
        for mine, theirs in (
            (self._recorded_sketch, other._recorded_sketch),
            (self._replayed_sketch, other._replayed_sketch),
        ):
            for endpoint, sketch in theirs.items():
                if endpoint in mine:
                    mine[endpoint].merge(sketch)
                else:
                    mine[endpoint] = _copy(sketch)

    def quantile(self, side: str, endpoint: str, q: float) -> float | None:
        """As `LatencySamples.quantile`, from the sketch: the nearest rank a single process
        reports (rank ceil(q n), counting from 1), asked in DDSketch's terms (quantile
        x (n - 1), the first bucket whose count passes it)."""
        sketches = self._recorded_sketch if side == "recorded" else self._replayed_sketch
        sketch = sketches.get(endpoint)
        if sketch is None or sketch.count == 0:
            return None
        count = int(sketch.count)
        rank = max(1, math.ceil(q / 100.0 * count))
        value = sketch.get_quantile_value(min(1.0, (rank - 0.5) / (count - 1)) if count > 1 else 0)
        return None if value is None else float(value)

    def replayed_count(self, endpoint: str) -> int:
        sketch = self._replayed_sketch.get(endpoint)
        return 0 if sketch is None else int(sketch.count)

    def recorded_count(self, endpoint: str) -> int:
        sketch = self._recorded_sketch.get(endpoint)
        return 0 if sketch is None else int(sketch.count)


def _copy(sketch: DDSketch) -> DDSketch:
    copied = _sketch()
    copied.merge(sketch)
    return copied


def merged(parts: Iterable[SketchLatency]) -> SketchLatency:
    """One `SketchLatency` holding every part's counts and sketches."""
    total = SketchLatency()
    for part in parts:
        total.merge(part)
    return total
