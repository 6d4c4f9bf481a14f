"""Every recording option, declared once: `apitape record`'s and `import`'s flags and the
recorder's mitmproxy options (`--set apitape_NAME`) are both made from this table.

It imports neither mitmproxy nor click, so the CLI and `apitape import` read it without
loading mitmproxy; `cli.options` makes the click options, `Recorder.load` the mitmproxy ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apitape.errors import UsageError


@dataclass(frozen=True)
class Setting:
    """One recording option: its Python name, type, default and help, and its CLI flag.

    `type` is str, bool, int, float or tuple (of str: a repeatable flag, a mitmproxy
    sequence). The mitmproxy option is `apitape_<name>`. A bool that is on by default is the
    flag pair `--X/--no-X`; one that is off, the flag `--X`.
    """

    name: str
    type: type
    default: Any
    help: str
    flag: str
    metavar: str | None = None
    group: str = "policy"
    """Which commands take it: policy (record and import), files or proxy (record)."""
    optional: bool = False
    """None is a value too: no limit."""
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False
    """The minimum itself is not allowed (a sample of 0)."""

    @property
    def option(self) -> str:
        """The mitmproxy option's name: `apitape_hosts` for hosts."""
        return f"apitape_{self.name}"

    # mitmproxy's options carry str, bool, int, None and sequences of str, not floats:
    # `--set` parses no float ("Unsupported option type"). So a float setting (the sample
    # rate) is a str option, and these three methods are the one place that converts.

    @property
    def option_type(self) -> object:
        """The type `loader.add_option` declares (mitmproxy's own typespecs)."""
        if self.type is tuple:
            return Sequence[str]
        if self.type is float:
            return str
        return self.type | None if self.optional else self.type

    def to_option(self, value: Any) -> Any:
        """`value` as the mitmproxy option holds it."""
        if self.type is tuple:
            return list(value)
        if self.type is float and value is not None:
            return _float_text(value)
        return value

    def from_option(self, value: Any) -> Any:
        """The mitmproxy option's value, typed and checked against the bounds.

        Raises UsageError naming this setting when it is not a number or out of bounds.
        """
        if self.type is tuple:
            return tuple(value)
        if self.type is float and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise UsageError(
                    f"must be a number{self._bounds_text()}, not {value!r}", self.name
                ) from None
        if value is not None and not self.within_bounds(value):
            raise UsageError(f"must be{self._bounds_text()}, not {value}", self.name)
        return value

    def within_bounds(self, value: float) -> bool:
        """Whether `value` is within the setting's minimum and maximum."""
        low, high = self.minimum, self.maximum
        if low is not None and (value < low or (self.above_minimum and value == low)):
            return False
        return high is None or value <= high

    def _bounds_text(self) -> str:
        low, high = self.minimum, self.maximum
        parts = []
        if low is not None:
            parts.append(f"more than {low:g}" if self.above_minimum else f"{low:g} or more")
        if high is not None:
            parts.append(f"at most {high:g}")
        return f" {' and '.join(parts)}" if parts else ""


def _float_text(value: float) -> str:
    """`1` for 1.0, `0.1` for 0.1: the shortest text that reads back as the same float."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _repeatable(name: str, flag: str, help_text: str) -> Setting:
    return Setting(name, tuple, (), help_text, flag, metavar="PATTERN")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "cassette",
        str,
        "",
        "Cassette to append every completed exchange to: YAML, or JSON lines for a .jsonl "
        "path. A new file is created with its directory; an existing apitape cassette is "
        "continued. The proxy refuses to start without it.",
        "--cassette",
        metavar="PATH",
        group="cassette",
    ),
    _repeatable("hosts", "--host", "Record only these hosts (glob, e.g. *.staging.example)."),
    _repeatable("exclude_hosts", "--exclude-host", "Never record these hosts (glob)."),
    _repeatable("paths", "--path", "Record only these paths (glob, e.g. '/api/*')."),
    _repeatable(
        "exclude_paths", "--exclude-path", "Never record these paths (glob, e.g. /health)."
    ),
    _repeatable("methods", "--method", "Record only these methods (GET, POST, ...)."),
    _repeatable(
        "exclude_methods", "--exclude-method", "Never record these methods (e.g. OPTIONS)."
    ),
    _repeatable(
        "content_types",
        "--content-type",
        "Record only responses of these types (glob, 'application/*json').",
    ),
    _repeatable(
        "exclude_content_types",
        "--exclude-content-type",
        "Never record responses of these types (glob, 'image/*').",
    ),
    _repeatable("redact_headers", "--redact-header", "Another header whose value is a secret."),
    _repeatable(
        "redact_fields",
        "--redact-field",
        "Another secret field name (query, form, JSON): a regex on the snake_case name.",
    ),
    _repeatable(
        "redact_values",
        "--redact-value",
        "A regex of secret values, redacted wherever they appear.",
    ),
    Setting(
        "redact",
        bool,
        True,
        "Replace secrets (credential headers, cookies, password/token/key fields, JWTs, "
        "private keys) by keyed-hash placeholders before writing (on by default). Off only "
        "for test traffic: the cassette then holds every credential as it was sent.",
        "--redact",
    ),
    Setting(
        "redact_key_file",
        str,
        "",
        "Redaction key file (made if missing; keep it out of the repo) so recordings share "
        "placeholders. Default: $APITAPE_REDACT_KEY, else a key per recording.",
        "--redact-key-file",
        metavar="PATH",
    ),
    Setting(
        "sample",
        float,
        1.0,
        "Fraction of sessions to record, more than 0 and at most 1; each session is kept or "
        "left out whole.",
        "--sample",
        metavar="RATE",
        minimum=0,
        maximum=1,
        above_minimum=True,
    ),
    Setting(
        "session_by",
        str,
        "client",
        "What a session is, for sampling: client, connection, header:NAME, cookie:NAME.",
        "--session-by",
        metavar="KEY",
    ),
    Setting(
        "max_body_size",
        int,
        None,
        "Store bodies larger than this many bytes as their size and SHA-256 only.",
        "--max-body-size",
        metavar="BYTES",
        optional=True,
        minimum=0,
    ),
    Setting(
        "max_exchanges",
        int,
        None,
        "Rotate: start a new numbered cassette (NAME-0002.yaml...) after this many exchanges "
        "per file.",
        "--max-exchanges",
        metavar="N",
        group="files",
        optional=True,
        minimum=1,
    ),
    Setting(
        "max_bytes",
        int,
        None,
        "Rotate: start a new numbered cassette once a file reaches this many bytes.",
        "--max-bytes",
        metavar="N",
        group="files",
        optional=True,
        minimum=1,
    ),
    Setting(
        "fsync",
        bool,
        False,
        "fsync the cassette after every exchange (slower).",
        "--fsync",
        group="files",
    ),
    Setting(
        "durable",
        bool,
        False,
        "Answer each client only once its exchange is written and fsynced to the cassette "
        "(one fsync per batch of concurrent exchanges), so not even a power cut loses an "
        "answered exchange; without it, the few in the pipe to the writer can be lost if "
        "the proxy and the writer are killed together. Slower: see docs/capture.md.",
        "--durable",
        group="files",
    ),
    Setting(
        "writer_timeout",
        int,
        30,
        "Stop the proxy when the cassette writer has made no progress this many seconds "
        "(a dead disk).",
        "--writer-timeout",
        metavar="SECONDS",
        group="files",
        minimum=1,
    ),
    Setting(
        "rewrite_urls",
        bool,
        True,
        "Reverse mode: in the response headers a client gets (Location, Content-Location, "
        "Link, Next-Page...), replace the service's own scheme://host:port by the proxy's, "
        "as nginx's proxy_redirect does, so clients that follow them stay on the proxy and "
        "are recorded (on by default). The cassette keeps what the service said.",
        "--rewrite-urls",
        group="proxy",
    ),
    Setting(
        "stop_timeout",
        int,
        10,
        "On a graceful stop (Ctrl-C, SIGTERM), seconds to wait for the exchanges in flight "
        "to be answered and handed to the writer; those still unanswered then are cut off, "
        "their clients get no answer, and the log says how many. A second Ctrl-C to "
        "`apitape record` stops waiting.",
        "--stop-timeout",
        metavar="SECONDS",
        group="proxy",
        minimum=0,
    ),
)
"""Every recording option, in the order `--help` lists them."""

BY_NAME = {setting.name: setting for setting in SETTINGS}


def settings_of(group: str) -> tuple[Setting, ...]:
    """The settings of one group (policy, files, proxy, cassette), in the table's order."""
    return tuple(setting for setting in SETTINGS if setting.group == group)


POLICY = settings_of("policy")
"""What `build_policy` takes: redaction, filters, sampling, body limits."""


def defaults(settings: Sequence[Setting] = SETTINGS) -> dict[str, Any]:
    """Each setting's default, by name."""
    return {setting.name: setting.default for setting in settings}


def mitmproxy_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The recorder's mitmproxy options (`apitape_NAME`) for these settings' values."""
    return {BY_NAME[name].option: BY_NAME[name].to_option(value) for name, value in values.items()}


def from_mitmproxy(options: Any) -> dict[str, Any]:
    """Every setting's value, typed and checked, from the recorder's mitmproxy options."""
    return {
        setting.name: setting.from_option(getattr(options, setting.option)) for setting in SETTINGS
    }
