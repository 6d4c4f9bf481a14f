"""Each default redaction rule, tested by what it keeps off the disk and off the terminal.

The cases are made from the rules themselves (`DEFAULT_HEADERS`, the alternatives of
`DEFAULT_FIELD_PATTERNS`, each value pattern of `DEFAULT_VALUE_PATTERNS` with an example
built from its regex, and the path-token shape), so a rule added later is tested without
touching this file. Every case plants distinctive values where its rule applies (request and
response headers; query, form, JSON request and JSON response fields; a header value and JSON
strings whose names say nothing), sent through real `apitape record` proxies (a YAML and a
JSON-lines cassette) to a real upstream. Then none of the values may be found in any artefact:
the cassettes (as bytes and as apitape reads them back), a HAR export, the `--save-responses`
cassette of a replay, and everything record, export, replay and `replay --dry-run` printed.
A control recording with `--no-redact` must hold every value, so no case passes by planting
nothing.
"""

from __future__ import annotations

import json
import random
import re
import string
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from re import _constants as sre  # the regex parser's opcodes (Python 3.11+)
from re import _parser as sre_parse
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from apitape.cassette import load_cassette
from apitape.processes import free_port, stop, wait_for_port
from apitape.redaction.redact import (
    DEFAULT_FIELD_PATTERNS,
    DEFAULT_HEADERS,
    DEFAULT_VALUE_PATTERNS,
    high_entropy,
    snake_case,
)
from tests.integration.conftest import BIN, Upstream, _serve, run_apitape

ALNUM = string.ascii_letters + string.digits
PRINTABLE = [c for c in string.printable if not c.isspace()]


# ---------------------------------------------------------------------- examples from a regex


CATEGORIES: dict[Any, Any] = {
    sre.CATEGORY_DIGIT: str.isdigit,
    sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre.CATEGORY_SPACE: str.isspace,
    sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == "_",
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}


class Example:
    """One string a regex matches, built from the parsed regex: literals as written, each
    character class filled with random letters and digits where it allows them (so examples
    are distinct), a class repeated without bound 12 longer than its minimum (a literal or a
    group as few times as it may: `=*` none), `?` and `{0,n}` left out,
    `{n,m}` at its minimum, and the `alternative`-th branch of the first alternation (the
    first branch of any other)."""

    def __init__(self, pattern: str, alternative: int = 0, seed: str = "") -> None:
        self.random = random.Random(f"{pattern} {alternative} {seed}")
        self.alternative = alternative
        self.alternatives = 1  # how many the first alternation has
        self.branched = False
        self.groups: dict[int, str] = {}
        self.literals = [""]  # runs of literal text: the longest names the case
        self.text = self.build(sre_parse.parse(pattern))

    @property
    def name(self) -> str:
        """Its first literal run of three or more characters (`eyJ`, `AKIA`), else the longest."""
        return next((run for run in self.literals if len(run) >= 3), max(self.literals, key=len))

    def build(self, items: Any) -> str:
        return "".join(self.one(op, av) for op, av in items)

    def one(self, op: Any, av: Any) -> str:
        if op == sre.LITERAL:
            self.literals[-1] += chr(av)
            return chr(av)
        if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            return ""  # \b, ^, lookarounds: the surroundings the test gives must fit them
        if op == sre.SUBPATTERN:
            group, _add, _del, items = av
            text = self.build(items)
            if group:
                self.groups[group] = text
            return text
        if op == sre.BRANCH:
            choices = av[1]
            index = 0
            if not self.branched:
                self.branched, self.alternatives, index = True, len(choices), self.alternative
            return self.build(choices[index])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, items = av
            some = len(items) == 1 and items[0][0] in (sre.IN, sre.ANY, sre.NOT_LITERAL)
            if some and all(c.isspace() for c in self.candidates(items)):
                some = False  # `\s+`: one space will do
            count = low + 12 if high == sre.MAXREPEAT and some else max(low, 1 if some else 0)
            return "".join(self.build(items) for _ in range(count))
        if op == sre.GROUPREF:
            return self.groups.get(av, "")
        self.literals.append("")
        if op == sre.IN:
            return self.random.choice(self.candidates([(op, av)]))
        if op in (sre.ANY, sre.NOT_LITERAL):
            return self.random.choice([c for c in ALNUM if op == sre.ANY or c != chr(av)])
        raise ValueError(f"no example can be made of {op}: give this pattern one by hand")

    def candidates(self, items: Any) -> list[str]:
        """The characters a class matches: letters and digits when it allows any."""
        if items[0][0] != sre.IN:
            return list(ALNUM)
        members = items[0][1]
        for pool in (ALNUM, PRINTABLE, " "):
            found = [c for c in pool if self.in_class(members, c)]
            if found:
                return found
        raise ValueError(f"no character fits {members}")

    def in_class(self, members: Any, c: str) -> bool:
        negate, hit = False, False
        for op, av in members:
            if op == sre.NEGATE:
                negate = True
            elif op == sre.LITERAL:
                hit |= c == chr(av)
            elif op == sre.RANGE:
                hit |= av[0] <= ord(c) <= av[1]
            elif op == sre.CATEGORY:
                hit |= bool(CATEGORIES[av](c))
        return hit != negate


def example_of(pattern: str, alternative: int, seed: str) -> tuple[str, str, str]:
    """(text holding a match, the secret in it that must not be stored, a name for it)."""
    compiled = re.compile(pattern)
    for attempt in range(50):
        example = Example(pattern, alternative, f"{seed}/{attempt}")
        text = f"see {example.text} end"
        match = compiled.search(text)
        if match is not None:
            secret = match.group("secret") if "secret" in compiled.groupindex else match.group()
            if secret and len(secret) >= 8:
                return text, secret, example.name
    raise AssertionError(f"no example of {pattern!r} was found; give it one by hand")


def alternatives_of(pattern: str) -> int:
    return Example(pattern).alternatives


# ---------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Rule:
    """A default rule and what is planted for it: (place, planted text, secret) triples."""

    id: str
    plants: tuple[tuple[str, str, str], ...]


def plain_value(rule_id: str, place: str) -> str:
    """A distinctive value no value pattern matches (lower case and digits only)."""
    chooser = random.Random(f"{rule_id} {place}")
    return "plant" + "".join(
        chooser.choice(string.ascii_lowercase + string.digits) for _ in range(14)
    )


HEADER_FORMS = {
    "authorization": "Token {}",
    "proxy-authorization": "Token {}",
    "cookie": "sid={}",
    "set-cookie": "sid={}; Path=/",
}


def header_rule(name: str) -> Rule:
    rule_id = f"header:{name}"
    form = HEADER_FORMS.get(name, "{}")
    plants = []
    for place in ("request header", "response header"):
        value = plain_value(rule_id, place)
        plants.append((f"{place} {name}", form.format(value), value))
    return Rule(rule_id, tuple(plants))


FIELD_PLACES = ("query", "form", "json request", "json response")


def field_rule(name: str) -> Rule:
    rule_id = f"field:{name}"
    plants = []
    for place in FIELD_PLACES:
        value = plain_value(rule_id, place)
        plants.append((f"{place} {name}", value, value))
    return Rule(rule_id, tuple(plants))


def field_names() -> list[str]:
    """A field name for each alternative of the default field patterns."""
    names = []
    for pattern in DEFAULT_FIELD_PATTERNS:
        for alternative in range(alternatives_of(pattern)):
            name = Example(pattern, alternative).text.strip("_") or "secret"
            assert re.fullmatch(pattern, snake_case(name)), (pattern, name)
            names.append(name)
    return list(dict.fromkeys(names))


VALUE_PLACES = ("request header", "json request", "json response")


def value_rules() -> list[Rule]:
    rules = []
    for pattern in DEFAULT_VALUE_PATTERNS:
        for alternative in range(alternatives_of(pattern)):
            plants, name = [], ""
            for place in VALUE_PLACES:
                text, secret, name = example_of(pattern, alternative, place)
                plants.append((place, text, secret))
            rules.append(Rule(f"value:{name.strip('-=?&; ')}", tuple(plants)))
    chooser = random.Random("path token")
    token = ""
    while not high_entropy(token):  # a whole URL path segment that looks random
        token = "".join(chooser.choice(ALNUM) for _ in range(24))
    rules.append(Rule("value:path_token", (("url path", token, token),)))
    return rules


# What the defaults redacted when this test was written. A rule added later gets its case from
# the rules themselves (above); a rule removed keeps its case here, so removing one fails this
# test with the secret it then lets through.
PINNED_HEADERS = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key",
    "apikey", "x-auth-token", "x-access-token", "x-refresh-token", "x-csrf-token",
    "x-xsrf-token", "x-amz-security-token", "x-goog-api-key",
)  # fmt: skip
PINNED_FIELDS = (
    "password", "passwd", "pass", "pwd", "passphrase", "secret", "token", "apikey",
    "access_key", "private_key", "secret_key", "client_secret", "sessionid", "otp", "pin_code",
    "ssn", "signature", "sig",
)  # fmt: skip
PINNED_VALUES = {  # a case's name: (a text holding a match, the secret in it)
    "eyJ": ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwaW5uZWQifQ.cGlubmVkLWp3dA", None),
    "bearer": ("Bearer pinnedBearerValue0001", "pinnedBearerValue0001"),
    "Basic": ("Basic cGlubmVkOmJhc2ljMDAwMQ", "cGlubmVkOmJhc2ljMDAwMQ"),
    "BEGIN PRIVATE KEY": (
        "-----BEGIN PRIVATE KEY-----MIIPinned0001-----END PRIVATE KEY-----",
        None,
    ),
    "AKIA": ("AKIAPINNEDKEY0000001", None),
    "ASIA": ("ASIAPINNEDKEY0000002", None),
    "gh": ("ghp_PinnedGithubToken0000000000000000001", None),
    "xox": ("xoxb-pinned-slack-0001", None),
    "k_live_": ("sk_live_PinnedStripe00000001", None),
    "k_test_": ("sk_test_PinnedStripe00000002", None),
    "AIza": ("AIzaPinnedGoogleKey00000000000000000001", None),
    "x-amz-signature": ("?X-Amz-Signature=PinnedAmzSignature0001", "PinnedAmzSignature0001"),
    "x-goog-signature": ("?X-Goog-Signature=PinnedGoogSignature01", "PinnedGoogSignature01"),
    "signature": ("?signature=PinnedPlainSignature0001", "PinnedPlainSignature0001"),
    "sig": ("&sig=PinnedSasSignature00001", "PinnedSasSignature00001"),
    "x-amz-credential": ("&X-Amz-Credential=PINNEDKEYID00001/2026", "PINNEDKEYID00001"),
}


def all_rules() -> list[Rule]:
    """The cases of today's default rules, and of the pinned ones no longer among them."""
    rules = [header_rule(n) for n in DEFAULT_HEADERS] + [field_rule(n) for n in field_names()]
    rules += value_rules()
    ids = {rule.id for rule in rules}
    rules += [header_rule(n) for n in PINNED_HEADERS if f"header:{n}" not in ids]
    rules += [field_rule(n) for n in PINNED_FIELDS if f"field:{n}" not in ids]
    for name, (example, secret) in PINNED_VALUES.items():
        if f"value:{name}" not in ids:
            text = f"see {example} end"
            plants = tuple((place, text, secret or example) for place in VALUE_PLACES)
            rules.append(Rule(f"value:{name}", plants))
    return rules


RULES = all_rules()


def by_place(rules: list[Rule], prefix: str) -> list[tuple[str, str]]:
    """(name, planted text) of every plant whose place starts with `prefix`."""
    return [
        (place.removeprefix(prefix).strip(), text)
        for rule in rules
        for place, text, _ in rule.plants
        if place.startswith(prefix)
    ]


# ---------------------------------------------------------------------- the upstream and traffic


def planted_routes(upstream: Upstream) -> None:
    """The upstream answers with the response-side plants."""

    def answer(
        status: int, headers: list[tuple[str, str]], body: object
    ) -> Any:  # a route of tests.integration.conftest
        def route(handler: BaseHTTPRequestHandler, _body: bytes) -> Any:
            return status, dict(headers), json.dumps(body).encode()

        return route

    json_type = [("Content-Type", "application/json")]
    response_headers = json_type + by_place(RULES, "response header")
    values = [
        place_text for rule in RULES if rule.id.startswith("value") for place_text in rule.plants
    ]
    value_answer = {f"note{i}": t for i, (p, t, _) in enumerate(values) if p == "json response"}
    field_answer = dict(by_place([r for r in RULES if r.id.startswith("field")], "json response"))
    token = next(r for r in RULES if r.id == "value:path_token").plants[0][1]
    upstream.routes.update(
        {
            ("GET", "/headers"): answer(200, response_headers, {"ok": True}),
            ("GET", "/query"): answer(200, json_type, {"ok": True}),
            ("POST", "/form"): answer(200, json_type, {"ok": True}),
            ("POST", "/fields"): answer(200, json_type, field_answer),
            ("POST", "/values"): answer(200, json_type, value_answer),
            ("GET", f"/files/{token}"): answer(200, json_type, {"ok": True}),
        }
    )


def send_planted(base_url: str) -> None:
    fields = [(r.id, p, t) for r in RULES if r.id.startswith("field") for p, t, _ in r.plants]
    values = [(r.id, p, t) for r in RULES if r.id.startswith("value") for p, t, _ in r.plants]

    def field(place: str) -> dict[str, str]:
        return {p.removeprefix(place).strip(): t for _, p, t in fields if p.startswith(place)}

    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as client:
        # the header rules' plants; the value rules' (no name) go as X-Note-N below
        headers = [(n, t) for n, t in by_place(RULES, "request header") if n]
        assert client.get("/headers", headers=headers).status_code == 200
        assert client.get("/query?" + urlencode(field("query"))).status_code == 200
        assert client.post("/form", data=field("form")).status_code == 200
        assert client.post("/fields", json=field("json request")).status_code == 200
        notes = [(f"X-Note-{i}", t) for i, (_, p, t) in enumerate(values) if p == "request header"]
        body = {f"note{i}": t for i, (_, p, t) in enumerate(values) if p == "json request"}
        assert client.post("/values", headers=notes, json=body).status_code == 200
        token = next(r for r in RULES if r.id == "value:path_token").plants[0][1]
        assert client.get(f"/files/{token}").status_code == 200


def record(upstream_url: str, cassette: Path, *extra: str) -> str:
    """Send the planted traffic through `apitape record`; what the proxy printed."""
    port = free_port()
    log = cassette.with_suffix(".log")
    command = [
        str(BIN / "apitape"), "record", "--port", str(port), "--cassette", str(cassette),
        "--upstream", upstream_url, "--confdir", str(cassette.parent / "mitmproxy"), *extra,
    ]  # fmt: skip
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port("127.0.0.1", port, process, timeout=60)
        send_planted(f"http://127.0.0.1:{port}")
    finally:
        status = stop(process)
    printed = log.read_text()
    assert status == 0, printed
    return printed


# ---------------------------------------------------------------------- the artefacts


def readable(cassette: Path) -> str:
    """Every URL, header and body of a cassette as apitape reads it back (all six exchanges)."""
    texts = []
    exchanges = load_cassette(cassette).exchanges
    assert len(exchanges) == 6, cassette
    for exchange in exchanges:
        for message in (exchange.request, exchange.response):
            texts += [f"{n}: {v}" for n, v in message.headers]
            texts.append(message.body.decode("utf-8", "replace"))
        texts.append(exchange.request.url)
    return "\n".join(texts)


@dataclass
class Recorded:
    artefacts: dict[str, bytes]  # what must hold no planted secret, by name
    control: bytes  # the --no-redact cassette, which must hold them all


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    tmp = tmp_path_factory.mktemp("default-rules")
    upstream = Upstream(url="")
    stop_upstream = _serve(upstream)
    try:
        planted_routes(upstream)
        artefacts: dict[str, bytes] = {}
        cassettes = {"yaml": tmp / "rules.yaml", "jsonl": tmp / "rules.jsonl"}
        for kind, cassette in cassettes.items():
            artefacts[f"record output ({kind})"] = record(upstream.url, cassette).encode()
            artefacts[cassette.name] = cassette.read_bytes()
            artefacts[f"{cassette.name} read back"] = readable(cassette).encode()
            har = tmp / f"{kind}.har"
            exported = run_apitape("export", str(cassette), "--har", str(har))
            assert exported.returncode == 0, exported.stderr
            artefacts[har.name] = har.read_bytes()
            artefacts[f"export output ({kind})"] = (exported.stdout + exported.stderr).encode()
        saved = tmp / "saved.yaml"
        replay = run_apitape(
            "replay", str(cassettes["yaml"]), "--target", upstream.url, "-v",
            "--save-responses", str(saved),
        )  # fmt: skip
        assert replay.returncode in (0, 1), replay.stdout + replay.stderr
        artefacts["replay output"] = (replay.stdout + replay.stderr).encode()
        artefacts[saved.name] = saved.read_bytes()
        artefacts[f"{saved.name} read back"] = readable(saved).encode()
        dry = run_apitape("replay", str(cassettes["jsonl"]), "--target", upstream.url, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        artefacts["--dry-run output"] = (dry.stdout + dry.stderr).encode()

        control = tmp / "control.yaml"
        record(upstream.url, control, "--no-redact")
        yield Recorded(artefacts, control.read_bytes() + readable(control).encode())
    finally:
        stop_upstream()


def test_the_cases_cover_every_default_rule_and_every_pinned_one() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    headers = {i.removeprefix("header:") for i in ids if i.startswith("header:")}
    assert headers == set(DEFAULT_HEADERS) | set(PINNED_HEADERS)
    texts = [text for rule in RULES if rule.id.startswith("value:") for _, text, _ in rule.plants]
    for pattern in DEFAULT_VALUE_PATTERNS:
        assert any(re.search(pattern, text) for text in texts), pattern
    assert {f"value:{name}" for name in PINNED_VALUES} <= set(ids)
    assert {f"field:{name}" for name in PINNED_FIELDS} <= set(ids)


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_no_planted_value_of_a_default_rule_reaches_any_artefact(
    rule: Rule, recorded: Recorded
) -> None:
    for place, _, secret in rule.plants:
        assert secret.encode() in recorded.control, f"{place}: never recorded, so never tested"
    leaks = [
        f"{place} ({secret}) in {name}"
        for place, _, secret in rule.plants
        for name, data in recorded.artefacts.items()
        if secret.encode() in data
    ]
    assert not leaks, "planted values found:\n" + "\n".join(leaks)
