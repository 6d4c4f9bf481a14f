"""What a run is told: limits, rules, credentials and where its inputs are, as Python values."""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apitape.compare.comparer import Comparer
from apitape.config import Config
from apitape.errors import UsageError
from apitape.http.endpoints import EndpointNamer, origin
from apitape.http.path_parameters import PathParameters
from apitape.models import Exchange, Response
from apitape.redaction.keys import KEY_ENV
from apitape.redaction.redact import Redactor, SecretFiller
from apitape.replay.replayer import Replayer, ReplayResult, TransportFactory
from apitape.replay.tls import TlsOptions
from apitape.verdict.latency import LatencyPolicy

Progress = Callable[
    [int | None, str], AbstractContextManager[Callable[[ReplayResult], None] | None]
]
"""A progress display: given the expected count (None: unknown) and a label, a context that
yields a callback for each result, or None. The CLI passes a rich bar; the library shows none."""


@dataclass(frozen=True)
class RunSettings:
    """What every kind of run shares: limits, rules, credentials and its input files.

    Nothing here prints or writes a report; `apitape.cli` renders what a run returns.
    """

    concurrency: int = 1
    timeout: float = 30.0
    http2: bool = False  # httpx's own transport with HTTP/2 instead of the HTTP/1.1 default
    latency: LatencyPolicy = field(default_factory=LatencyPolicy)
    config_path: str | None = None  # None: ./apitape.yaml when it exists (the report says so)
    noise_path: str | None = None  # None: apitape.yaml's, else ./apitape-noise.yaml if present
    fail_on: str = "changed"
    retries: int = 2
    session_by: str | None = None  # None: apitape.yaml's, else "client"
    correlate: bool | None = None  # None: apitape.yaml's, else on
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request, replacing recorded ones
    secrets: tuple[tuple[str, str], ...] = ()  # (label, value): fill redacted placeholders
    redact_key_file: str | None = None  # the recording's key: secrets fill exact placeholders
    methods: tuple[str, ...] = ()
    skip_methods: tuple[str, ...] = ()
    before: str | None = None  # a shell command run first (a database reset, say)
    rate: float | None = None
    speed: float = 0.0
    save_responses: str | None = None  # also save what the target answered as a cassette
    transport_factory: TransportFactory | None = None
    openapi: str | None = None  # check each answer against this OpenAPI document
    # Path parameters learned from the cassettes; None: learned when the rules are loaded
    # (a Ray shard gets the driver's, learned from the whole capture).
    path_parameters: PathParameters | None = None
    confirm: bool = True  # send a safe request again when its answer differs (replay only)
    progress: Progress | None = None
    # What a person watching should know at once (the CLI prints it on stderr); the report's
    # warnings say it again at the end.
    notify: Callable[[str], None] | None = None
    ca: str | None = None  # PEM file (or directory) of the CAs HTTPS targets are verified with
    client_cert: str | None = None  # PEM client certificate for mutual TLS...
    client_key: str | None = None  # ...and its key, when not in the same file
    insecure: bool = False  # verify no certificate (the report's tls_verified says so)

    def replayer(
        self, target: str, config: Config, namer: EndpointNamer, *, confirm: bool = False
    ) -> Replayer:
        """A replayer for `target` with these limits and apitape.yaml's session rules; with
        `confirm`, a safe request whose answer differs from the recording is sent again."""
        check_not_protected(target, config)
        return Replayer(
            target,
            concurrency=self.concurrency,
            timeout=self.timeout,
            retries=self.retries,
            session_by=self.session_by or config.session_by or "client",
            correlate=config.correlation if self.correlate is None else self.correlate,
            extract=config.extract,
            extra_headers=self.headers,
            endpoint_of=lambda e: namer(e.request.method, e.request.url),
            login=config.login,
            rate=self.rate,
            speed=self.speed,
            secrets=SecretFiller(list(self.secrets), self.recording_key()),
            redactor=Redactor(secrets.token_bytes(32), config.redaction),
            transport_factory=self.transport_factory,
            http2=self.http2,
            tls=TlsOptions(self.ca, self.client_cert, self.client_key, self.insecure),
            confirm=differs_from_recording(target, config, namer) if confirm else None,
        )

    def recording_key(self) -> bytes | None:
        """The redaction key the cassettes were recorded with, when the user gave it."""
        if self.redact_key_file:
            try:
                key = Path(self.redact_key_file).read_text(encoding="utf-8").strip().encode()
            except OSError as exc:
                raise UsageError(
                    f"redaction key file {self.redact_key_file}: cannot be read "
                    f"({exc.strerror}); give the key file the cassettes were recorded with"
                ) from None
            return key or None
        return os.environ.get(KEY_ENV, "").encode() or None

    def progress_of(self, total: int | None, label: str) -> AbstractContextManager[Any]:
        """The progress display for one phase of the run, or one that shows nothing."""
        if self.progress is None:
            return _NoProgress()
        return self.progress(total, label)


def differs_from_recording(
    target: str, config: Config, namer: EndpointNamer
) -> Callable[[Exchange, Response], bool]:
    """Whether an answer differs from the recording the way the judge will see it: after
    masks and rules, so an answer that differs only in masked values is not asked again."""
    comparer = Comparer(config)
    target_origin = origin(target)

    def differs(exchange: Exchange, answer: Response) -> bool:
        recorded = exchange.response
        if recorded.status == answer.status and recorded.body == answer.body:
            return False  # headers alone: not worth a second request
        request = exchange.request
        found = comparer.compare(
            exchange.id,
            namer(request.method, request.url),
            recorded,
            answer,
            (origin(request.url), target_origin),
        )
        return any(d.kind != "status_changed" for d in found)

    return differs


class _NoProgress(AbstractContextManager[None]):
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def check_not_protected(target: str, config: Config) -> None:
    """Refuse a target whose host apitape.yaml's `protected_hosts` lists (globs allowed)."""
    host = (urlsplit(target).hostname or "").lower()
    for pattern in config.protected_hosts:
        if fnmatch.fnmatch(host, pattern):
            raise UsageError(
                f"{target} is a protected host ({pattern!r} in protected_hosts of "
                f"{config.source}); apitape never replays to it"
            )


def expand_env(value: str, where: str, setting: str | None = None) -> str:
    """`value` with $VARS from the environment; for a missing one, a UsageError whose message
    starts with `where` (and carries `setting`, for the face to word)."""
    for name in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", value):
        if name not in os.environ:
            raise UsageError(
                f"{where}: ${name} is not set in the environment; "
                "export it or write the value itself",
                setting,
            )
    return os.path.expandvars(value)


def _named(detail: str, setting: str, option: str | None) -> UsageError:
    """A UsageError worded with `option` when the caller names it, else carrying `setting`."""
    return UsageError(f"{option} {detail}") if option else UsageError(detail, setting)


def expand_headers(specs: Sequence[str], option: str | None = None) -> tuple[tuple[str, str], ...]:
    """`'Authorization: Bearer $TOKEN'` texts as (name, value), $VARS expanded. An error names
    `option` when given (the face's own name for the texts), else carries `headers`."""
    headers = []
    for spec in specs:
        name, colon, value = spec.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise _named(f"{spec!r} must look like 'Name: value'", "headers", option)
        where = f"{option} {name.strip()}" if option else name.strip()
        headers.append(
            (name.strip(), expand_env(value.strip(), where, None if option else "headers"))
        )
    return tuple(headers)


def expand_secrets(specs: Sequence[str], option: str | None = None) -> list[tuple[str, str]]:
    """`'password=$PASSWORD'` texts as (label, value), $VARS expanded. An error names `option`
    when given (the face's own name for the texts), else carries `secrets`."""
    pairs = []
    for spec in specs:
        name, equals, value = spec.partition("=")
        if not equals or not name.strip():
            # Not echoed: without '=' the text may be the secret itself.
            raise _named("must look like LABEL=VALUE, e.g. password=$PASSWORD", "secrets", option)
        where = f"{option} {name.strip()}" if option else name.strip()
        pairs.append((name.strip(), expand_env(value, where, None if option else "secrets")))
    return pairs
