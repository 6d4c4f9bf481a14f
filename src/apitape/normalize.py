"""Normalization: the step between parsing a body and diffing it.

Today it passes values through unchanged; masking volatile values by shape, per-endpoint
rules and learned noise plug in here, so the diff never needs to know about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from apitape.bodies import ParsedBody
from apitape.models import Headers


@dataclass(frozen=True)
class NormalizeContext:
    """Where a value comes from: the exchange's endpoint and which side of the comparison."""

    endpoint: str
    side: str  # "recorded" or "replayed"


class Normalizer(Protocol):
    """Turns a parsed body and headers into the form that is compared."""

    def body(self, parsed: ParsedBody, context: NormalizeContext) -> ParsedBody: ...

    def headers(self, headers: Headers, context: NormalizeContext) -> Headers: ...


class IdentityNormalizer:
    """Compares values exactly as they are."""

    def body(self, parsed: ParsedBody, context: NormalizeContext) -> ParsedBody:
        return parsed

    def headers(self, headers: Headers, context: NormalizeContext) -> Headers:
        return headers
