"""Masks by shape: volatile values become placeholders that name their shape.

A new UUID where a UUID was compares equal (`<uuid>` == `<uuid>`), but a UUID that became an
integer, or a timestamp that became null, is still a difference: the placeholder keeps the
shape and a `Masked` value keeps the original for the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from apitape.config import BUILTIN_MASKS

_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"

# Each pattern matches the volatile value itself; the search form adds boundaries so a mask
# applied inside text does not cut a longer word in two.
_PATTERNS: dict[str, tuple[str, str]] = {
    # First: a redaction placeholder stands for a secret, whatever the secret looked like.
    "redacted": ("<redacted>", r"redacted-[a-z0-9_]{1,40}-[0-9a-f]{16}"),
    "uuid": (
        "<uuid>",
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    ),
    "jwt": ("<jwt>", r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    "timestamp": (
        "<timestamp:iso8601>",
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?",
    ),
    "timestamp-rfc1123": (
        "<timestamp:rfc1123>",
        rf"{_DAY}, \d{{2}} {_MONTH} \d{{4}} \d{{2}}:\d{{2}}:\d{{2}} (?:GMT|UTC|[+-]\d{{4}})",
    ),
    # Milliseconds since 1970 (2001 to 2100) inside a text: a log line, an error message.
    "epoch-ms": ("<timestamp:epoch-ms>", r"(?:1\d{12}|[23]\d{12}|40\d{11})"),
    # Long random-looking tokens: hex, or base64 / base64url mixing cases and digits.
    "token": (
        "<token>",
        r"(?:[0-9a-fA-F]{32,}|(?=[A-Za-z0-9+/_-]*[0-9])(?=[A-Za-z0-9+/_-]*[a-z])"
        r"(?=[A-Za-z0-9+/_-]*[A-Z])[A-Za-z0-9+/_-]{32,}={0,2})",
    ),
}

"""The built-in masks, all on by default; `masks:` in apitape.yaml turns each off."""

# Seconds and milliseconds since 1970 between 2001-09-09 and 2100-01-01: numbers in these
# ranges under a time-like key are timestamps. The key matters: an id of 1700000000 is not.
_EPOCH_SECONDS = (1_000_000_000, 4_102_444_800)
_EPOCH_MILLIS = (1_000_000_000_000, 4_102_444_800_000)
_TIME_KEY = re.compile(
    r"(?:^|_|-)(?:at|time|ts|timestamp|date|expires?|expiry|iat|exp|nbf|since|until|when"
    r"|created|updated|modified|deleted|started|finished|ended|seen|login)$"
    r"|(?:At|Time|Timestamp|Date|Expires|Expiry|Created|Updated|Modified|Started|Ended)$"
    r"|^(?:created|updated|modified|expires|time|last)",
)


class Masked(str):
    """A placeholder such as `<uuid>` that remembers the value it replaced."""

    original: Any
    rule: str

    def __new__(cls, placeholder: str, original: Any, rule: str) -> Masked:
        masked = super().__new__(cls, placeholder)
        masked.original = original
        masked.rule = rule
        return masked


def unmasked(value: Any) -> Any:
    """The original of a Masked placeholder; any other value as it is."""
    return value.original if isinstance(value, Masked) else value


class ShapeMasks:
    """The enabled built-in masks plus regex masks from apitape.yaml, ready to apply."""

    def __init__(
        self,
        enabled: frozenset[str] = frozenset(BUILTIN_MASKS),
        text_masks: Iterable[re.Pattern[str]] = (),
    ) -> None:
        self.enabled = enabled
        self.text_masks = tuple(text_masks)
        active = [
            (name, placeholder, pattern)
            for name, (placeholder, pattern) in _PATTERNS.items()
            if name.split("-")[0] in enabled
        ]
        self._full = [
            (name, placeholder, re.compile(pattern)) for name, placeholder, pattern in active
        ]
        self._placeholders = {
            name.replace("-", "_"): placeholder for name, placeholder, _ in active
        }
        alternatives = [
            rf"(?P<{name.replace('-', '_')}>(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9]))"
            for name, _, pattern in active
        ]
        self._search = re.compile("|".join(alternatives)) if alternatives else None

    def string(self, value: str) -> str | Masked:
        """A JSON string value: masked when the whole value has a volatile shape."""
        for name, placeholder, pattern in self._full:
            if pattern.fullmatch(value):
                return Masked(placeholder, value, name.split("-")[0])
        return value

    def number(self, key: Any, value: int | float) -> int | float | Masked:
        """A JSON number: masked when it is an epoch time under a time-like key."""
        if "epoch" not in self.enabled or isinstance(value, bool) or not isinstance(key, str):
            return value
        if not _TIME_KEY.search(key):
            return value
        if _EPOCH_SECONDS[0] <= value < _EPOCH_SECONDS[1]:
            return Masked("<timestamp:epoch-s>", value, "epoch")
        if _EPOCH_MILLIS[0] <= value < _EPOCH_MILLIS[1]:
            return Masked("<timestamp:epoch-ms>", value, "epoch")
        return value

    def text(self, text: str, on_mask: Callable[[str], None] | None = None) -> str:
        """Text (a body or a header value) with every volatile-shaped part replaced."""
        search, placeholders = self._search, self._placeholders
        if search is not None:

            def replace(match: re.Match[str]) -> str:
                name = match.lastgroup or ""
                if on_mask:
                    on_mask(name.split("_")[0])
                return str(placeholders[name])

            text = search.sub(replace, text)
        for pattern in self.text_masks:
            if on_mask and pattern.search(text):
                on_mask(f"text_mask:{pattern.pattern}")
            text = pattern.sub("<masked>", text)
        return text


def replace_origins(text: str, origins: Iterable[str]) -> str:
    """`text` with each of the given origins (scheme://host:port) replaced by `<origin>`."""
    for origin in origins:
        if origin and origin in text:
            text = text.replace(origin, "<origin>")
    return text


def masks_from_settings(settings: Mapping[str, bool], text_masks: Iterable[str] = ()) -> ShapeMasks:
    """ShapeMasks with the built-ins that `settings` does not turn off."""
    enabled = frozenset(name for name in BUILTIN_MASKS if settings.get(name, True))
    return ShapeMasks(enabled, tuple(re.compile(p) for p in text_masks))
