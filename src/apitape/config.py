"""apitape.yaml: the comparison rules, read safely and validated with file:line errors.

    masks: {uuid: true, timestamp: true, epoch: true, jwt: true, token: true, etag: true}
    templates: ["/books/{isbn}", "GET /users/{name}/repos"]
    rules:                     # for every endpoint
      ignore_headers: [x-served-by]
      compare_headers: [x-ratelimit-limit]
      ignore: ["$.meta.request_id"]
      mask: ["$.session"]
      unordered: ["$.tags"]
      tolerance: 0.01          # or {"$.price": 0.01}
      text_masks: ['served in \\d+ ms']
    endpoints:
      "GET /books/{id}": {ignore: ["$.stock"]}
    noise: apitape-noise.yaml
    redact:                    # more secrets, for `record` and for comparing in `replay`
      headers: [x-tenant-key]
      fields: ['pin|cvv']      # regex on the snake_case field name
      values: ['ACME-\\d{6}']

docs/configuration.md documents every key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apitape.errors import ConfigError
from apitape.http.endpoints import Template
from apitape.jsonpath import PathPattern, PathSyntaxError, parse_path
from apitape.redaction.redact import RedactionPolicy

BUILTIN_MASKS = ("redacted", "uuid", "timestamp", "epoch", "jwt", "token", "etag", "origin")
"""The shape masks apitape.yaml can turn off by name (`masks: {uuid: false}`)."""

DEFAULT_CONFIG = "apitape.yaml"
DEFAULT_NOISE_FILE = "apitape-noise.yaml"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
_RULE_KEYS = (
    "ignore_headers",
    "compare_headers",
    "ignore",
    "mask",
    "unordered",
    "tolerance",
    "text_masks",
)
_TOP_KEYS = (
    "masks",
    "templates",
    "rules",
    "endpoints",
    "noise",
    "sessions",
    "correlation",
    "protected_hosts",
    "login",
    "redact",
)

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALARS = yaml.constructor.SafeConstructor()
"""Builds the value of one scalar node as the safe loader would (`.inf`, `0x10`, `1_000`)."""


@dataclass(frozen=True)
class Rules:
    """Comparison rules for one scope (every endpoint, or one endpoint)."""

    ignore_headers: tuple[str, ...] = ()
    compare_headers: tuple[str, ...] = ()
    ignore: tuple[PathPattern, ...] = ()
    mask: tuple[PathPattern, ...] = ()
    unordered: tuple[PathPattern, ...] = ()
    tolerance: tuple[tuple[PathPattern, float], ...] = ()
    text_masks: tuple[re.Pattern[str], ...] = ()

    def merged(self, more: Rules) -> Rules:
        """These rules with `more` added (an endpoint's rules on top of the global ones)."""
        return Rules(*(getattr(self, name) + getattr(more, name) for name in _RULE_KEYS))


@dataclass(frozen=True)
class Login:
    """A login step run once per session (and again when the target answers 401).

    The request's body and header values may name environment variables ($PASSWORD); the
    token is read from the JSON response at `token` and sent as header `header`, formatted
    by `format` ("Bearer {token}").
    """

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: str
    token: PathPattern
    header: str = "Authorization"
    format: str = "Bearer {token}"


@dataclass(frozen=True)
class Config:
    """Everything apitape.yaml says; the defaults are what applies without a file."""

    source: str | None = None
    masks: Mapping[str, bool] = field(default_factory=dict)
    templates: tuple[Template, ...] = ()
    rules: Rules = field(default_factory=Rules)
    endpoint_rules: Mapping[str, Rules] = field(default_factory=dict)
    noise_file: str | None = None
    session_by: str | None = None
    correlation: bool = True
    extract: tuple[tuple[str, PathPattern], ...] = ()  # (endpoint, path): carry it anywhere
    protected_hosts: tuple[str, ...] = ()
    skipped_endpoints: frozenset[str] = frozenset()
    login: Login | None = None
    redaction: RedactionPolicy = field(default_factory=RedactionPolicy)

    def rules_for(self, endpoint: str) -> Rules:
        """The global rules plus those of `endpoint` (`GET /books/{id}`)."""
        specific = self.endpoint_rules.get(endpoint)
        return self.rules.merged(specific) if specific else self.rules


def load_config(path: str | os.PathLike[str] | None, *, required: bool = False) -> Config:
    """Read apitape.yaml; with no path, ./apitape.yaml if present, else the defaults."""
    if path is None:
        if not Path(DEFAULT_CONFIG).is_file():
            return Config()
        path = DEFAULT_CONFIG
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return Config()
        raise ConfigError(name, None, "no such file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, None, f"cannot be read ({exc})") from None
    return parse_config(text, name)


def parse_config(text: str, source: str = "<config>") -> Config:
    """Parse and validate config text; errors name the file, the line and the key."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(source, line, f"is not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source) from None
    except RecursionError:
        raise ConfigError(
            source, None, "nests lists or mappings too deeply to be read; fix the file"
        ) from None
    if root is None:
        return Config(source)
    reader = _Reader(source)
    top = reader.mapping(root, "the top level", _TOP_KEYS)
    masks = {}
    if "masks" in top:
        for key, (_, value) in reader.mapping(top["masks"][1], "masks", BUILTIN_MASKS).items():
            masks[key] = reader.boolean(value, f"masks.{key}")
    templates = (
        tuple(reader.template(node) for node in reader.sequence(top["templates"][1], "templates"))
        if "templates" in top
        else ()
    )
    rules = reader.rules(top["rules"][1], "rules") if "rules" in top else Rules()
    endpoint_rules: dict[str, Rules] = {}
    if "endpoints" in top:
        for name, (key_node, value) in reader.mapping(
            top["endpoints"][1], "endpoints", None
        ).items():
            reader.endpoint_name(name, key_node)
            endpoint_rules[name] = reader.rules(value, f"endpoints.{name}", endpoint=name)
    noise = reader.string(top["noise"][1], "noise") if "noise" in top else None
    session_by = None
    if "sessions" in top:
        sessions = reader.mapping(top["sessions"][1], "sessions", ("by",))
        session_by = reader.string(sessions["by"][1], "sessions.by") if "by" in sessions else None
    correlation, extract = (
        reader.correlation(top["correlation"][1]) if "correlation" in top else (True, ())
    )
    protected = tuple(
        reader.string(n, "protected_hosts").lower()
        for n in reader.sequence(top["protected_hosts"][1], "protected_hosts")
    ) if "protected_hosts" in top else ()  # fmt: skip
    login = reader.login(top["login"][1]) if "login" in top else None
    redaction = reader.redaction(top["redact"][1]) if "redact" in top else RedactionPolicy()
    return Config(
        source,
        masks,
        templates,
        rules,
        endpoint_rules,
        noise,
        session_by,
        correlation,
        extract,
        protected,
        frozenset(reader.skipped),
        login,
        redaction,
    )


def load_yaml_data(text: str, source: str) -> Any:
    """YAML (or JSON) text as plain data, loaded safely: no tag ever runs a constructor.

    Raises ConfigError naming the line of a syntax error or of a refused tag.
    """
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(source, line, f"is not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, text, source) from None
    except RecursionError:
        raise ConfigError(
            source, None, "nests lists or mappings too deeply to be read; fix the file"
        ) from None
    except (ValueError, OverflowError) as exc:  # parsed, but no Python value: 5,000 digits
        raise _value_error(text, source, exc) from None


def _yaml_error(exc: yaml.YAMLError, text: str, source: str) -> ConfigError:
    """A YAML error without a mark (a character YAML does not allow) on one line, with the
    line of the character."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        return ConfigError(
            source,
            line,
            f"is not valid YAML (character #x{exc.character:04x} is not allowed: {exc.reason})",
        )
    return ConfigError(source, None, "is not valid YAML (" + " ".join(str(exc).split()) + ")")


def _value_error(text: str, source: str, exc: Exception) -> ConfigError:
    """A scalar YAML parsed but Python cannot build, with its line (found on the error path)."""
    line = None
    try:
        stack = [yaml.compose(text, Loader=_Loader)]
    except (yaml.YAMLError, RecursionError):
        stack = []
    while stack and line is None:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                yaml.constructor.SafeConstructor().construct_object(node)
            except (ValueError, OverflowError, yaml.YAMLError):
                line = node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack += [value, key]
    if "integer string conversion" in str(exc):
        problem = "holds an integer of more than 4,300 digits, more than Python reads"
    else:
        problem = f"holds a value that cannot be read ({exc})"
    return ConfigError(source, line, f"{problem}; fix the value, or quote it to keep it as text")


def yaml_line(text: str, keys: Sequence[str | int]) -> int | None:
    """The 1-based line of the entry at `keys` (mapping keys, list indices) in YAML text.

    For a mapping key that is the line of the key itself; None when the text does not
    parse or has no such entry. Only worth its cost on an error path: it parses the text.
    """
    try:
        node = yaml.compose(text, Loader=_Loader)
    except (yaml.YAMLError, RecursionError):
        return None
    line = 1
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            found = next((pair for pair in node.value if pair[0].value == str(key)), None)
            if found is None:
                return None
            line = int(found[0].start_mark.line) + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                return None
            node = node.value[key]
            line = int(node.start_mark.line) + 1
        else:
            return None
    return line


class _Reader:
    """Turns YAML nodes into validated values, raising ConfigError at the node's line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.skipped: set[str] = set()

    def fail(self, node: yaml.Node, message: str) -> ConfigError:
        return ConfigError(self.source, node.start_mark.line + 1, message)

    def mapping(
        self, node: yaml.Node, where: str, known: Sequence[str] | None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping of keys to values")
        result: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if known is not None and key not in known:
                raise self.fail(
                    key_node, f"unknown key {key!r} in {where}; known keys: {', '.join(known)}"
                )
            if key in result:
                raise self.fail(key_node, f"key {key!r} appears twice in {where}")
            result[key] = (key_node, value_node)
        return result

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where} must be a list")
        return list(node.value)

    def string(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, f"{where} must be a string")
        return str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, f"{where} must be true or false")
        return str(node.value).lower() in ("true", "yes", "on")

    def number(self, node: yaml.Node, where: str) -> float:
        tags = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
        if not isinstance(node, yaml.ScalarNode) or node.tag not in tags:
            raise self.fail(node, f"{where} must be a number")
        try:  # YAML's own reading: 1_000, 0x10, 1.5e3, .inf and .nan all come here
            value = float(_SCALARS.construct_object(node))
        except (ValueError, OverflowError):
            value = math.inf  # an integer too long for Python or for a float
        if not math.isfinite(value):
            raise self.fail(node, f"{where} must be a finite number, not {node.value[:40]!r}")
        if value < 0:
            raise self.fail(node, f"{where} must not be negative")
        return value

    def path(self, node: yaml.Node, where: str) -> PathPattern:
        try:
            return parse_path(self.string(node, where))
        except PathSyntaxError as exc:
            raise self.fail(node, f"{where}: {exc} (see docs/configuration.md)") from None

    def regex(self, node: yaml.Node, where: str) -> re.Pattern[str]:
        text = self.string(node, where)
        try:
            return re.compile(text)
        except re.error as exc:
            raise self.fail(
                node, f"{where}: {text!r} is not a valid regular expression ({exc})"
            ) from None

    def template(self, node: yaml.Node) -> Template:
        text = self.string(node, "templates")
        method, _, path = text.rpartition(" ")
        if method and method.upper() not in _METHODS:
            raise self.fail(
                node, f"template {text!r} must be '/path/{{name}}' or 'METHOD /path/{{name}}'"
            )
        if not path.startswith("/"):
            raise self.fail(node, f"template {text!r} must start with / (or a method and a space)")
        return Template(method.upper() or None, tuple(path.split("/")))

    def endpoint_name(self, name: str, node: yaml.Node) -> None:
        method, _, path = name.partition(" ")
        if method not in _METHODS or not path.startswith("/"):
            raise self.fail(
                node, f"endpoint {name!r} must be 'METHOD /path', for example 'GET /books/{{id}}'"
            )

    def correlation(self, node: yaml.Node) -> tuple[bool, tuple[tuple[str, PathPattern], ...]]:
        """`correlation: false`, or `{enabled: ..., extract: [{endpoint, path}, ...]}`."""
        if isinstance(node, yaml.ScalarNode):
            return self.boolean(node, "correlation"), ()
        items = self.mapping(node, "correlation", ("enabled", "extract"))
        enabled = (
            self.boolean(items["enabled"][1], "correlation.enabled") if "enabled" in items else True
        )
        rules = []
        for rule in (
            self.sequence(items["extract"][1], "correlation.extract") if "extract" in items else []
        ):
            fields = self.mapping(rule, "correlation.extract", ("endpoint", "path"))
            if set(fields) != {"endpoint", "path"}:
                raise self.fail(rule, "each correlation.extract entry needs endpoint and path")
            endpoint = self.string(fields["endpoint"][1], "correlation.extract.endpoint")
            self.endpoint_name(endpoint, fields["endpoint"][1])
            rules.append((endpoint, self.path(fields["path"][1], "correlation.extract.path")))
        return enabled, tuple(rules)

    def login(self, node: yaml.Node) -> Login:
        items = self.mapping(node, "login", ("request", "token", "header", "format"))
        for required in ("request", "token"):
            if required not in items:
                raise self.fail(node, f"login needs '{required}' (see docs/replay.md)")
        request = self.mapping(
            items["request"][1], "login.request", ("method", "path", "headers", "body")
        )
        if "path" not in request:
            raise self.fail(items["request"][1], "login.request needs 'path', for example /login")
        path = self.string(request["path"][1], "login.request.path")
        if not path.startswith("/"):
            raise self.fail(request["path"][1], "login.request.path must start with /")
        method = (
            self.string(request["method"][1], "login.request.method").upper()
            if "method" in request
            else "POST"
        )
        headers = tuple(
            (name, self.string(value, f"login.request.headers.{name}"))
            for name, (_, value) in (
                self.mapping(request["headers"][1], "login.request.headers", None).items()
                if "headers" in request else []
            )
        )  # fmt: skip
        body = self.string(request["body"][1], "login.request.body") if "body" in request else ""
        header = (
            self.string(items["header"][1], "login.header")
            if "header" in items
            else "Authorization"
        )
        template = (
            self.string(items["format"][1], "login.format")
            if "format" in items
            else "Bearer {token}"
        )
        if "{token}" not in template:
            raise self.fail(items["format"][1], "login.format must contain {token}")
        return Login(
            method,
            path,
            headers,
            body,
            self.path(items["token"][1], "login.token"),
            header,
            template,
        )

    def redaction(self, node: yaml.Node) -> RedactionPolicy:
        items = self.mapping(node, "redact", ("headers", "fields", "values"))

        def each(key: str) -> list[yaml.Node]:
            return self.sequence(items[key][1], f"redact.{key}") if key in items else []

        return RedactionPolicy().extended(
            headers=[self.string(n, "redact.headers") for n in each("headers")],
            fields=[self.regex(n, "redact.fields").pattern for n in each("fields")],
            values=[self.regex(n, "redact.values").pattern for n in each("values")],
        )

    def rules(self, node: yaml.Node, where: str, endpoint: str | None = None) -> Rules:
        known = (*_RULE_KEYS, "skip") if endpoint else _RULE_KEYS
        items = self.mapping(node, where, known)
        if endpoint and "skip" in items and self.boolean(items["skip"][1], f"{where}.skip"):
            self.skipped.add(endpoint)

        def each(key: str) -> list[yaml.Node]:
            return self.sequence(items[key][1], f"{where}.{key}") if key in items else []

        tolerance: list[tuple[PathPattern, float]] = []
        if "tolerance" in items:
            value = items["tolerance"][1]
            if isinstance(value, yaml.MappingNode):
                for path_text, (key_node, number) in self.mapping(
                    value, f"{where}.tolerance", None
                ).items():
                    tolerance.append(
                        (
                            self.path(key_node, f"{where}.tolerance"),
                            self.number(number, f"{where}.tolerance.{path_text}"),
                        )
                    )
            else:
                tolerance.append((parse_path("$..*"), self.number(value, f"{where}.tolerance")))
        return Rules(
            ignore_headers=tuple(
                self.string(n, f"{where}.ignore_headers").lower() for n in each("ignore_headers")
            ),
            compare_headers=tuple(
                self.string(n, f"{where}.compare_headers").lower() for n in each("compare_headers")
            ),
            ignore=tuple(self.path(n, f"{where}.ignore") for n in each("ignore")),
            mask=tuple(self.path(n, f"{where}.mask") for n in each("mask")),
            unordered=tuple(self.path(n, f"{where}.unordered") for n in each("unordered")),
            tolerance=tuple(tolerance),
            text_masks=tuple(self.regex(n, f"{where}.text_masks") for n in each("text_masks")),
        )
