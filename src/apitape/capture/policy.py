"""What a recorder keeps of each exchange: filters, sampling by session, body limits, redaction.

The same policy applies to traffic from the proxy and to imported HAR and flow files, so a
cassette never holds what the user asked to leave out, whichever way it was made.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from apitape.capture.settings import POLICY, defaults
from apitape.errors import UsageError
from apitape.http.bodies import media_type
from apitape.http.sessions import SessionKey, session_key
from apitape.models import OMITTED_KEYS, Exchange, body_fingerprint
from apitape.redaction.keys import redaction_key
from apitape.redaction.redact import RedactionPolicy, Redactor, key_id


@dataclass(frozen=True)
class CaptureFilter:
    """Which exchanges to keep: by host, path glob, method and response content type.

    An include list keeps only what matches one of its entries; an exclude list drops what
    matches any. Empty lists keep everything.
    """

    hosts: tuple[str, ...] = ()
    exclude_hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    exclude_methods: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()
    exclude_content_types: tuple[str, ...] = ()

    def keeps(self, exchange: Exchange) -> bool:
        """Whether the exchange passes every include and no exclude."""
        parts = urlsplit(exchange.request.url)
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        method = exchange.request.method.upper()
        mime = media_type(exchange.response.headers)
        checks = (
            (host, self.hosts, self.exclude_hosts, _glob_lower),
            (path, self.paths, self.exclude_paths, fnmatch.fnmatchcase),
            (method, self.methods, self.exclude_methods, _same_method),
            (mime, self.content_types, self.exclude_content_types, _glob_lower),
        )
        for value, include, exclude, match in checks:
            if include and not any(match(value, p) for p in include):
                return False
            if any(match(value, p) for p in exclude):
                return False
        return True

    def describe(self) -> dict[str, list[str]]:
        """The non-empty lists, for the cassette header."""
        return {k: list(v) for k, v in self.__dict__.items() if v}


def _glob_lower(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern.lower())


def _same_method(value: str, pattern: str) -> bool:
    return value == pattern.upper()


@dataclass(frozen=True)
class Sampler:
    """Keeps a fraction of sessions, whole: a session is in or out by the hash of its key."""

    rate: float = 1.0
    session_by: str = "client"
    seed: str = ""
    _key: SessionKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.rate <= 1.0:
            raise UsageError(f"must be more than 0 and at most 1, not {self.rate}", "sample")
        # Built once (an unknown key is a usage error now, not mid-capture), used per exchange.
        object.__setattr__(self, "_key", session_key(self.session_by))

    def keeps(self, exchange: Exchange) -> bool:
        """Whether the exchange's session is in the sample (always the same answer for it)."""
        if self.rate >= 1.0:
            return True
        key = self._key(0, exchange)
        digest = hashlib.sha256(f"{self.seed}\0{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.rate


def omit_large_bodies(exchange: Exchange, limit: int | None) -> Exchange:
    """Bodies over `limit` bytes replaced by nothing plus their size and SHA-256 in `extra`."""
    if limit is None:
        return exchange
    extra = dict(exchange.extra)
    request, response = exchange.request, exchange.response
    if len(request.body) > limit:
        extra[OMITTED_KEYS["request"]] = _fingerprint(request.body)
        request = replace(request, body=b"")
    if len(response.body) > limit:
        extra[OMITTED_KEYS["response"]] = _fingerprint(response.body)
        response = replace(response, body=b"")
    if extra == exchange.extra:
        return exchange
    return replace(exchange, request=request, response=response, extra=extra)


def _fingerprint(body: bytes) -> dict[str, Any]:
    size, digest = body_fingerprint(body)
    return {"size": size, "sha256": digest}


@dataclass
class RecordingPolicy:
    """Everything between an exchange the proxy saw and the one written to the cassette."""

    redactor: Redactor | None
    capture_filter: CaptureFilter = field(default_factory=CaptureFilter)
    sampler: Sampler = field(default_factory=Sampler)
    max_body_bytes: int | None = None
    key_source: str = ""

    def prepare(self, exchange: Exchange) -> Exchange | None:
        """The exchange as it is to be stored, or None when filters or sampling drop it."""
        if not self.capture_filter.keeps(exchange) or not self.sampler.keeps(exchange):
            return None
        # Size first: a body left out is never scanned, and its hash is of the real bytes.
        exchange = omit_large_bodies(exchange, self.max_body_bytes)
        if self.redactor is not None:
            exchange = self.redactor.exchange(exchange)
        return exchange

    def metadata(self) -> dict[str, Any]:
        """What the cassette's header says about how it was recorded."""
        redaction: dict[str, Any]
        if self.redactor is None or not self.redactor.policy.enabled:
            redaction = {"enabled": False}
        else:
            redaction = {
                "enabled": True,
                "key": self.key_source,
                "key_id": key_id(self.redactor.key),
            }
        data: dict[str, Any] = {"redaction": redaction}
        filters = self.capture_filter.describe()
        if filters:
            data["filters"] = filters
        if self.sampler.rate < 1.0:
            data["sample"] = {"rate": self.sampler.rate, "by": self.sampler.session_by}
        if self.max_body_bytes is not None:
            data["max_body_bytes"] = self.max_body_bytes
        return data


FILTER_FIELDS = tuple(CaptureFilter.__dataclass_fields__)
"""The filter settings: hosts, exclude_hosts, paths, ... (each a list of globs)."""


def build_policy(settings: Mapping[str, Any], environ: Mapping[str, str]) -> RecordingPolicy:
    """A RecordingPolicy from settings named as in `capture.settings.POLICY` (redact,
    hosts, sample...; a missing or None one takes its default there).

    The recorder's apitape_* options and `apitape import`'s options both come through
    here, already typed (see capture.settings); a wrong value raises UsageError naming it.
    """
    values = {**defaults(POLICY), **{k: v for k, v in settings.items() if v is not None}}
    redactor = None
    key_source = ""
    if values["redact"]:
        for pattern in (*values["redact_fields"], *values["redact_values"]):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise UsageError(
                    f"redaction pattern {pattern!r} is not a valid regex: {exc}"
                ) from None
        key, key_source = redaction_key(values["redact_key_file"] or None, environ)
        policy = RedactionPolicy().extended(
            values["redact_headers"], values["redact_fields"], values["redact_values"]
        )
        redactor = Redactor(key, policy)
    max_body = values["max_body_size"]
    if max_body is not None and max_body < 0:
        raise UsageError(f"must be 0 or more bytes, not {max_body}", "max_body_size")
    capture_filter = CaptureFilter(**{name: tuple(values[name]) for name in FILTER_FIELDS})
    sampler = Sampler(values["sample"], values["session_by"])
    return RecordingPolicy(redactor, capture_filter, sampler, max_body, key_source)
