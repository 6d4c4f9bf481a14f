"""Noise: fields that differ on their own, learned from the baseline, and the rule that uses it.

The rule follows Diffy's: per endpoint and field, let `raw` be how many replayed exchanges
differ at the field and `noise` how many would be expected to differ anyway (the learned rate
times the exchanges replayed). The field is reported only when

    raw > noise,
    (raw - noise) / total * 100      > absolute threshold (percent of exchanges), and
    (raw - noise) / (raw + noise) * 100 > relative threshold (percent).

So a field that differs in 12 of 12 replays but only 1 of 12 baseline comparisons is reported,
and a field that differs as often as the baseline's own is not.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apitape.errors import ConfigError
from apitape.files import write_atomically
from apitape.jsonpath import generalize
from apitape.models import Difference

DEFAULT_RELATIVE_THRESHOLD = 20.0
DEFAULT_ABSOLUTE_THRESHOLD = 0.03
NOISE_FILE_VERSION = 1


@dataclass(frozen=True)
class FieldNoise:
    """How often one field of one endpoint differed on its own."""

    between_runs: int = 0  # comparisons of two baseline answers to the same request
    from_recording: int = 0  # comparisons of a baseline answer with the recorded one


@dataclass(frozen=True)
class EndpointNoise:
    """The comparisons made for one endpoint, and the fields that differed in them.

    Two answers with different statuses are different kinds of answer: only their status is
    counted, so their bodies do not teach that every field is noise. Field rates are taken
    over the comparisons whose statuses agreed.
    """

    runs_compared: int = 0
    recording_compared: int = 0
    fields: Mapping[str, FieldNoise] = field(default_factory=dict)
    runs_same_status: int | None = None
    recording_same_status: int | None = None

    def comparisons(self, path: str) -> tuple[int, int]:
        """(between runs, from the recording): the comparisons that count for `path`.

        The status counts in every comparison; any other field only where statuses agreed.
        """
        if path == "status":
            return self.runs_compared, self.recording_compared
        return (
            _or(self.runs_same_status, self.runs_compared),
            _or(self.recording_same_status, self.recording_compared),
        )

    def evidence(self, path: str) -> tuple[int, int]:
        """(differed, comparisons) for `path`, taking the kind of comparison that differed most."""
        noise = self.fields.get(path, FieldNoise())
        runs, recording = self.comparisons(path)
        candidates = [(noise.between_runs, runs), (noise.from_recording, recording)]
        usable = [(d, n) for d, n in candidates if n]
        if not usable:
            return 0, 0
        return max(usable, key=lambda pair: pair[0] / pair[1])


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


@dataclass(frozen=True)
class NoiseModel:
    """Learned noise per endpoint, with the thresholds of the reporting rule."""

    endpoints: Mapping[str, EndpointNoise] = field(default_factory=dict)
    relative_threshold: float = DEFAULT_RELATIVE_THRESHOLD
    absolute_threshold: float = DEFAULT_ABSOLUTE_THRESHOLD
    source: str = "learned noise"

    def rate(self, endpoint: str, path: str) -> float:
        """How often `path` of `endpoint` differs on its own.

        Where the endpoint gives no evidence (never learned, or no comparison with equal
        statuses), the field's rate over all endpoints stands in: a field that changes on
        every call elsewhere is not assumed stable here.
        """
        learned = self.endpoints.get(endpoint)
        differed, compared = learned.evidence(path) if learned else (0, 0)
        if compared:
            return min(1.0, differed / compared)
        pooled = [e.evidence(path) for e in self.endpoints.values()]
        total = sum(n for _, n in pooled)
        return min(1.0, sum(d for d, _ in pooled) / total) if total else 0.0

    def is_signal(self, endpoint: str, path: str, raw: int, total: int) -> bool:
        """Whether `raw` of `total` exchanges differing at `path` is more than noise.

        A status change always is: an answer of another kind is never noise, whatever a noise
        file says (a baseline that answered 401 to unfilled credentials is not noisy)."""
        if path == "status":
            return raw > 0
        noise = self.rate(endpoint, path) * total
        if raw <= 0 or total <= 0 or raw <= noise:
            return False
        absolute = (raw - noise) / total * 100.0
        relative = (raw - noise) / (raw + noise) * 100.0
        return absolute > self.absolute_threshold and relative > self.relative_threshold

    def merged(self, other: NoiseModel) -> NoiseModel:
        """Both models' endpoints; where both know an endpoint, the counts add up."""
        endpoints = dict(self.endpoints)
        for name, more in other.endpoints.items():
            mine = endpoints.get(name)
            if mine is None:
                endpoints[name] = more
                continue
            fields = dict(mine.fields)
            for path, noise in more.fields.items():
                old = fields.get(path, FieldNoise())
                fields[path] = FieldNoise(
                    old.between_runs + noise.between_runs, old.from_recording + noise.from_recording
                )
            endpoints[name] = EndpointNoise(
                mine.runs_compared + more.runs_compared,
                mine.recording_compared + more.recording_compared,
                fields,
            )
        return NoiseModel(
            endpoints,
            self.relative_threshold,
            self.absolute_threshold,
            f"{self.source} + {other.source}",
        )


class NoiseCounter:
    """Counts, per endpoint and field, how often answers to the same request differ."""

    def __init__(self) -> None:
        # per endpoint: [runs compared, runs with equal status, recording compared, ... equal]
        self._compared: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        self._fields: defaultdict[str, defaultdict[str, list[int]]] = defaultdict(
            lambda: defaultdict(lambda: [0, 0])
        )

    def add(
        self, endpoint: str, differences: Iterable[Difference], *, from_recording: bool
    ) -> None:
        """Count one comparison: between two baseline runs, or a baseline run and the recording."""
        paths = {generalize(d.path) for d in differences}
        counts = self._compared[endpoint]
        slot = 2 if from_recording else 0
        counts[slot] += 1
        if "status" in paths:
            paths = {"status"}  # another kind of answer: its body says nothing about noise
        else:
            counts[slot + 1] += 1
        for path in paths:
            self._fields[endpoint][path][1 if from_recording else 0] += 1

    def model(self, source: str) -> NoiseModel:
        """The counts as a NoiseModel."""
        endpoints = {}
        for endpoint, (runs, runs_same, recording, recording_same) in sorted(
            self._compared.items()
        ):
            fields = {p: FieldNoise(c[0], c[1]) for p, c in sorted(self._fields[endpoint].items())}
            endpoints[endpoint] = EndpointNoise(runs, recording, fields, runs_same, recording_same)
        return NoiseModel(endpoints, source=source)


# --------------------------------------------------------------------------- the noise file


def noise_file_text(model: NoiseModel, header: Mapping[str, Any]) -> str:
    """The reviewable noise file: sorted, with counts and a comment saying why for each field."""
    lines = [
        "# apitape noise file: fields that differ on their own, learned by `apitape learn`.",
        "# `apitape replay` reports such a field only when the target differs there more often",
        "# than the baseline did on its own (docs/configuration.md, 'Learned noise'). Review it:",
        "# delete an entry to have every difference at that field reported again.",
        f"version: {NOISE_FILE_VERSION}",
    ]
    for key, value in header.items():
        lines.append(f"{key}: {json.dumps(value)}")
    lines.append(f"relative_threshold: {model.relative_threshold:g}")
    lines.append(f"absolute_threshold: {model.absolute_threshold:g}")
    lines.append("endpoints:" if model.endpoints else "endpoints: {}")
    for endpoint, learned in sorted(model.endpoints.items()):
        lines.append(f"  {json.dumps(endpoint)}:")
        lines.append(f"    runs_compared: {learned.runs_compared}")
        lines.append(
            f"    runs_same_status: {_or(learned.runs_same_status, learned.runs_compared)}"
        )
        lines.append(f"    recording_compared: {learned.recording_compared}")
        lines.append(
            "    recording_same_status: "
            f"{_or(learned.recording_same_status, learned.recording_compared)}"
        )
        if not learned.fields:
            lines.append("    fields: {}")
            continue
        lines.append("    fields:")
        for path, noise in sorted(learned.fields.items()):
            lines.append(f"      # {_why(path, noise, learned)}")
            lines.append(
                f"      {json.dumps(path)}: {{between_runs: {noise.between_runs}, "
                f"from_recording: {noise.from_recording}}}"
            )
    return "\n".join(lines) + "\n"


def _why(path: str, noise: FieldNoise, learned: EndpointNoise) -> str:
    runs, recording = learned.comparisons(path)
    parts = []
    if runs:
        parts.append(f"differed between baseline runs in {noise.between_runs} of {runs}")
    if recording:
        parts.append(f"from the recording in {noise.from_recording} of {recording}")
    same = "" if path == "status" else " with the same status"
    return "; ".join(parts) + f" comparisons{same}"


def write_noise_file(
    path: str | os.PathLike[str], model: NoiseModel, header: Mapping[str, Any]
) -> None:
    """Write the noise file atomically."""
    write_atomically(path, noise_file_text(model, header), "the noise file")


def load_noise_file(path: str | os.PathLike[str]) -> NoiseModel:
    """Read a noise file; errors name the file, the line and the key."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            name, None, "no such noise file; create it with `apitape learn`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, None, f"cannot be read ({exc})") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(name, line, f"is not valid YAML ({exc.problem})") from None

    def fail(message: str, needle: str | None = None) -> ConfigError:
        line = next(
            (i + 1 for i, row in enumerate(text.splitlines()) if needle and needle in row), None
        )
        return ConfigError(name, line, f"{message}; re-create the file with `apitape learn`")

    if not isinstance(data, dict) or data.get("version") != NOISE_FILE_VERSION:
        raise fail(
            f"is not an apitape noise file (expected version: {NOISE_FILE_VERSION})", "version"
        )
    endpoints: dict[str, EndpointNoise] = {}
    for endpoint, learned in (data.get("endpoints") or {}).items():
        if not isinstance(learned, dict):
            raise fail(f"endpoint {endpoint!r} must be a mapping", json.dumps(endpoint))
        fields = {}
        for path, counts in (learned.get("fields") or {}).items():
            if not isinstance(counts, dict) or not all(
                isinstance(counts.get(k, 0), int) for k in ("between_runs", "from_recording")
            ):
                raise fail(f"{endpoint} {path}: counts must be whole numbers", json.dumps(path))
            fields[str(path)] = FieldNoise(
                counts.get("between_runs", 0), counts.get("from_recording", 0)
            )
        counts = [learned.get(k, 0) for k in ("runs_compared", "recording_compared")]
        same = [learned.get(k) for k in ("runs_same_status", "recording_same_status")]
        if not all(isinstance(c, int) for c in counts) or not all(
            isinstance(c, int | None) for c in same
        ):
            raise fail(
                f"endpoint {endpoint!r}: the *_compared and *_same_status counts must be "
                "whole numbers",
                json.dumps(endpoint),
            )
        endpoints[str(endpoint)] = EndpointNoise(counts[0], counts[1], fields, same[0], same[1])
    thresholds = [
        data.get(k, d)
        for k, d in (
            ("relative_threshold", DEFAULT_RELATIVE_THRESHOLD),
            ("absolute_threshold", DEFAULT_ABSOLUTE_THRESHOLD),
        )
    ]
    if not all(isinstance(t, int | float) and t >= 0 for t in thresholds):
        raise fail(
            "relative_threshold and absolute_threshold must be numbers of 0 or more", "threshold"
        )
    return NoiseModel(endpoints, float(thresholds[0]), float(thresholds[1]), source=name)
