"""Compare one expected response with one actual response under apitape.yaml's rules."""

from __future__ import annotations

import secrets

from apitape.compare.diff import DEFAULT_COMPARED_HEADERS, diff_bodies, diff_headers, diff_status
from apitape.compare.normalize import MaskLog, NormalizeContext, RuleNormalizer
from apitape.config import Config, Rules
from apitape.http.bodies import parse_body
from apitape.jsonpath import path_keys
from apitape.models import Difference, Headers, Response, body_fingerprint
from apitape.redaction.redact import Redactor


class Comparer:
    """Normalizes both sides (masks, origin, rules) and lists what differs, status first.

    Everything a mask or rule made equal is logged in `mask_log`, for the report.
    """

    def __init__(
        self,
        config: Config | None = None,
        mask_log: MaskLog | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config or Config()
        self.mask_log = mask_log or MaskLog()
        self.normalizer = RuleNormalizer(self.config, self.mask_log)
        # Both sides are redacted alike, so a secret the new build hands out compares equal
        # to the placeholder in the cassette and never shows up in a report.
        self.redactor = redactor or Redactor(secrets.token_bytes(32), self.config.redaction)
        self._compared_headers: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
        self._lowered: dict[str, str] = {}  # header name as sent -> lower case

    def compared_headers(self, endpoint: str) -> tuple[str, ...]:
        """The default headers plus `compare_headers`, minus `ignore_headers`."""
        rules = self.config.rules_for(endpoint)
        listed = dict.fromkeys((*DEFAULT_COMPARED_HEADERS, *rules.compare_headers))
        return tuple(name for name in listed if name not in rules.ignore_headers)

    def compare(
        self,
        exchange_id: str,
        endpoint: str,
        expected: Response,
        actual: Response,
        origins: tuple[str | None, str | None] = (None, None),
        sides: tuple[str, str] = ("recorded", "replayed"),
        omitted: tuple[int, str] | None = None,
    ) -> list[Difference]:
        """Every difference between `expected` and `actual`; `origins` are each side's own.

        `omitted` is the (size, sha256) of an expected body the recorder left out for its
        size: the actual body is then compared by its size and hash.
        """
        differences = diff_status(expected.status, actual.status)
        names, wanted = self._compared(endpoint)
        before, after = (
            self._values_of(expected.headers, wanted),
            self._values_of(actual.headers, wanted),
        )
        if omitted is None and before == after and expected.body == actual.body:
            return differences  # the common case: nothing to normalize on either side
        contexts = (
            NormalizeContext(endpoint, sides[0], origins[0], exchange_id),
            NormalizeContext(endpoint, sides[1], origins[1], exchange_id),
        )
        normalize = self.normalizer
        redact = self.redactor
        if before != after:
            differing = [name for name in names if before.get(name) != after.get(name)]
            differences += self._diff_headers(expected.headers, actual.headers, differing, contexts)
        if omitted is not None:
            return differences + _compare_omitted(omitted, actual.body)
        if expected.body == actual.body:
            return differences  # byte-equal bodies are equal whatever the rules say
        # Equal once normalized (a new timestamp, a new id) is the common case of a replay:
        # settle it without redacting, normalizing and diffing both bodies whole.
        expected_parsed = parse_body(expected.headers, expected.body)
        actual_parsed = parse_body(actual.headers, actual.body)
        if (
            expected_parsed.kind == actual_parsed.kind
            and expected_parsed.kind in ("json", "form")
            and normalize.same(expected_parsed, actual_parsed, contexts, redact.json_value)
        ):
            return differences
        expected_body = redact.body(expected.headers, expected.body)
        actual_body = redact.body(actual.headers, actual.body)
        body_differences = diff_bodies(
            normalize.body(parse_body(expected.headers, expected_body), contexts[0]),
            normalize.body(parse_body(actual.headers, actual_body), contexts[1]),
        )
        rules = self.config.rules_for(endpoint)
        kept = [d for d in body_differences if not self._within_tolerance(d, rules, contexts[0])]
        return differences + kept

    def _compared(self, endpoint: str) -> tuple[tuple[str, ...], frozenset[str]]:
        found = self._compared_headers.get(endpoint)
        if found is None:
            names = self.compared_headers(endpoint)
            found = self._compared_headers[endpoint] = (names, frozenset(names))
        return found

    def _values_of(self, headers: Headers, names: frozenset[str]) -> dict[str, list[str]]:
        """The values of the named headers (lower-case names), in one pass over the headers."""
        lowered_names = self._lowered
        found: dict[str, list[str]] = {}
        for name, value in headers:
            lowered = lowered_names.get(name)
            if lowered is None:
                lowered = name.lower()
                if len(lowered_names) < 4096:  # header names are few; a flood is not cached
                    lowered_names[name] = lowered
            if lowered in names:
                found.setdefault(lowered, []).append(value)
        return found

    def _diff_headers(
        self,
        expected: Headers,
        actual: Headers,
        differing: list[str],
        contexts: tuple[NormalizeContext, NormalizeContext],
    ) -> list[Difference]:
        """Differences in the `differing` headers, redacted and normalized (and so logged when
        a mask made them equal)."""
        redact, normalize = self.redactor, self.normalizer

        def compared(headers: Headers) -> Headers:
            return redact.headers(tuple((n, v) for n, v in headers if n.lower() in differing))

        return diff_headers(
            normalize.headers(compared(expected), contexts[0]),
            normalize.headers(compared(actual), contexts[1]),
            differing,
            expected,
            actual,
        )

    def _within_tolerance(
        self, difference: Difference, rules: Rules, context: NormalizeContext
    ) -> bool:
        if not rules.tolerance or difference.kind != "value_changed":
            return False
        before, after = difference.expected, difference.actual
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (before, after)
        )
        keys = path_keys(difference.path)
        if not numbers or keys is None:
            return False
        for pattern, tolerance in rules.tolerance:
            if pattern.matches(keys) and abs(before - after) <= tolerance:
                self.mask_log.add(context, difference.path, f"tolerance {tolerance:g}")
                return True
        return False


def _compare_omitted(omitted: tuple[int, str], body: bytes) -> list[Difference]:
    """A body recorded only as its size and hash against the whole actual body."""
    actual = body_fingerprint(body)
    if actual == omitted:
        return []

    def describe(size: int, digest: str) -> str:
        return f"{size} bytes, sha256 {digest[:16]} (too large to record whole)"

    return [Difference("body", "body_changed", describe(*omitted), describe(*actual))]
