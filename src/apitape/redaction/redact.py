"""Redaction: secrets become keyed-hash placeholders before anything reaches the disk.

A secret is found by where it sits (a credential header, a query/form/JSON/multipart/XML
field or a `name=value` in text whose name looks secret) or by what it looks like (a JWT,
`Bearer ...`, a private key, a cloud key id, a signed URL's signature, a random-looking URL
path segment). Of an AWS Signature V4 only the key id and the signature are secret: the
scheme, date, region, service and signed headers stay readable (servers route by them).
It is replaced by `redacted-<label>-<hash>`: the hash is an HMAC of the secret under a key
that never goes into a cassette, so equal secrets give equal placeholders (replay can carry
a login token to its later uses through its placeholder) and nobody can recover the secret.
The label names where the secret was first seen, so `--secret LABEL=VALUE` can fill it in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit
from xml.sax.saxutils import escape as xml_escape

from apitape import fastjson
from apitape.errors import UsageError
from apitape.http.bodies import is_json_type, media_type
from apitape.models import Exchange, Headers, Request, Response, first_header

PLACEHOLDER = re.compile(r"redacted-([a-z0-9_]{1,40})-([0-9a-f]{16})")
"""A placeholder in a cassette: its label and the keyed hash of the secret it replaced."""

DEFAULT_HEADERS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "x-refresh-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amz-security-token",
    "x-goog-api-key",
)
"""Headers whose values are credentials, compared case-insensitively. A header is also one
when its name is a secret field name (`Private-Token`, `X-Vault-Token`, `X-Build-Token`)."""

# A field name is secret when its last word is one of these (after camelCase and dashes
# become snake_case): `access_token`, `refreshToken`, `db-password`, but not `token_type`.
# `signature` and `sig` are signed URLs' parameters (AWS, Google, Azure SAS).
DEFAULT_FIELD_PATTERNS = (
    r"(?:.*_)?(?:password|passwd|pass|pwd|passphrase|secret|token|api_?key|apikey|"
    r"access_key|private_key|secret_key|client_secret|session_?id|otp|pin_code|ssn|"
    r"signature|sig)",
)
# Words one of which every default field name holds: a text without any of them has no
# `name=value` or `<name>` to look at.
_FIELD_ANCHORS = ("pass", "pwd", "secret", "token", "key", "session", "otp", "pin", "ssn", "sig")

_DEFAULT_VALUES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # JSON Web Tokens: base64url header and payload both start with `{"`.
    (r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", ("eyj",), "jwt"),
    # A credential after an auth scheme anywhere in text (a logged header, an echoed request).
    (r"(?i:\bbearer)\s+(?P<secret>[A-Za-z0-9._~+/-]{12,}=*)", ("bearer",), "secret"),
    (r"\bBasic\s+(?P<secret>[A-Za-z0-9+/]{12,}={0,2})", ("basic",), "secret"),
    # PEM private keys of every kind.
    (
        r"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )?PRIVATE KEY-----",
        ("-----begin ",),
        "private_key",
    ),
    # Cloud and SaaS key formats: AWS key ids, GitHub, Slack, Stripe, Google API keys.
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", ("akia", "asia"), "aws_access_key_id"),
    (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), "secret"),
    (r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", ("xox",), "secret"),
    (r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", ("k_live_", "k_test_"), "secret"),
    (r"\bAIza[0-9A-Za-z_-]{35}\b", ("aiza",), "secret"),
    # Signed URLs wherever they are written (a presigned URL in a JSON answer, a logged
    # request): the signature, and the key id at the head of an X-Amz-Credential.
    (
        r"(?i:[?&;](?:x-amz-signature|x-goog-signature|signature)=)"
        r"(?!redacted-)(?P<secret>[A-Za-z0-9%+/=_-]{16,})",
        ("signature=",),
        "signature",
    ),
    (r"(?i:[?&;]sig=)(?!redacted-)(?P<secret>[A-Za-z0-9%+/=_-]{16,})", ("sig=",), "sig"),
    (
        r"(?i:[?&;]x-amz-credential=)(?!redacted-)(?P<secret>[A-Za-z0-9]{8,})",
        ("x-amz-credential=",),
        "aws_access_key_id",
    ),
)
"""Each default value pattern, with its anchors (strings one of which every match holds,
lower-cased) and the label of its placeholders.

Python's regex engine tries every alternative of the value patterns at every position of a
text: 13 MB/s here, 39 ms for one 512 KB JSON string, and that scan held a recording's writer
to 9 MB/s of 512 KB responses. `str.lower` and `in` get through the same text in well under a
millisecond, so a long text is searched only if an anchor turns up in it (any case). A
pattern without anchors (one the user added) is searched for in every text."""

DEFAULT_VALUE_PATTERNS = tuple(pattern for pattern, _anchors, _label in _DEFAULT_VALUES)
"""Values redacted wherever they appear; a group named `secret` narrows what is replaced."""
_VALUE_ANCHORS = {pattern: anchors for pattern, anchors, _label in _DEFAULT_VALUES}
_VALUE_LABELS = {pattern: label for pattern, _anchors, label in _DEFAULT_VALUES}
_ANCHORED_FROM = 64  # texts this long or longer look for the anchors first

# Where a secret already seen may turn up again in free text: a run of token characters.
_TOKEN_RUN = re.compile(r"[A-Za-z0-9._~+/-]{8,}={0,2}")
_MIN_REMEMBERED = 8  # shorter secrets are redacted where found, not searched for elsewhere
_UNREDACTED = (bool, type(None))  # JSON values never replaced, whatever their field's name
_CLEAN_TEXTS = 8192  # texts remembered as holding no secret (header values, JSON strings)
_CLEAN_TEXT_LENGTH = 256  # longer texts rarely repeat: not worth keeping
_AUTH_HEADERS = ("authorization", "proxy-authorization")
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_SCHEMES = ("basic", "bearer", "token", "digest")  # a --secret value may start with one

# AWS Signature V4, in an Authorization header (`AWS4-HMAC-SHA256 Credential=AKIA.../20261207/
# us-east-1/s3/aws4_request, SignedHeaders=..., Signature=...`) and in presigned URLs.
_SIGV4_PARTS = re.compile(r"\b(?P<name>Credential|Signature)=(?P<value>[^,\s]+)")
_SCOPE_SEPARATOR = re.compile(r"/|%2[Ff]")
# Query parameters whose secret part has a label of its own, by lower-cased name.
_SIGNATURE_FIELDS = {"x-amz-signature": "signature", "x-goog-signature": "signature"}
_CREDENTIAL_FIELDS = ("x-amz-credential",)

# A whole URL path segment long and mixed enough to be a token rather than a name or an id.
_PATH_SEGMENT = re.compile(r"(?<![^/])[A-Za-z0-9_-]{20,}(?![^/])")
# The same in text (a link in an HTML or JSON answer): a URL (`https://host/...`) or an
# absolute path starting a word, never base64 (`sha512-/B5C9/asHL...`, a tarball's data),
# whose `/` are not path separators.
_LINK_IN_TEXT = re.compile(r"(?:https?://[^\s\"'<>/]+|(?<![^\s\"'(=<>]))/[^\s\"'<>+=]*")
_PATH_SEGMENT_IN_TEXT = re.compile(r"(?<=/)[A-Za-z0-9_-]{20,}(?=[/?#]|$)")
_LOWER_RUN = re.compile(r"[a-z]+")
_PATH_LABEL = "path_token"

# `password=hunter2`, `api_key: x`, `password="x"` in text; `<password>x</password>` in XML.
_TEXT_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]{0,63})[\"']?[ \t]*[=:][ \t]*[\"']?"
    r"(?P<secret>[^\s\"'&;,<>]+)"
)
_XML_ELEMENT = re.compile(
    r"<(?P<tag>(?:[A-Za-z_][\w.-]*:)?(?P<name>[A-Za-z_][\w.-]*))(?:\s[^<>]*)?>"
    r"(?P<secret>[^<]+)</(?P=tag)>"
)


def high_entropy(segment: str) -> bool:
    """Whether a URL path segment looks like a random token: 20 or more characters of both
    cases, the capitals not rare or dominant, the lower-case runs short (`kX9pQ2...`, not
    `ListObjectsV2Response`). Hex ids, digests and UUIDs have one case only: never tokens."""
    if len(segment) < 20 or segment.islower() or segment.isupper():
        return False
    letters = sum(c.isalpha() for c in segment)
    upper = sum(c.isupper() for c in segment)
    if not letters or not 0.2 <= upper / letters <= 0.8:
        return False
    runs = _LOWER_RUN.findall(segment)
    return bool(runs) and sum(map(len, runs)) / len(runs) <= 3


def _any_of(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """One regex matching where any of `patterns` does (their `secret` groups unnamed);
    None for no patterns."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns).replace("(?P<secret>", "(?:"))


@dataclass(frozen=True)
class RedactionPolicy:
    """What counts as a secret: header names, field-name patterns, value patterns."""

    headers: tuple[str, ...] = DEFAULT_HEADERS
    fields: tuple[str, ...] = DEFAULT_FIELD_PATTERNS
    values: tuple[str, ...] = DEFAULT_VALUE_PATTERNS
    enabled: bool = True

    @property
    def extras(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """The headers, field patterns and value patterns added to the defaults."""
        return (
            self.headers[len(DEFAULT_HEADERS) :],
            self.fields[len(DEFAULT_FIELD_PATTERNS) :],
            self.values[len(DEFAULT_VALUE_PATTERNS) :],
        )

    def extended(
        self,
        headers: Iterable[str] = (),
        fields: Iterable[str] = (),
        values: Iterable[str] = (),
    ) -> RedactionPolicy:
        """This policy with more header names, field patterns and value patterns."""
        return replace(
            self,
            headers=(*self.headers, *(h.lower() for h in headers)),
            fields=(*self.fields, *fields),
            values=(*self.values, *values),
        )


def snake_case(name: str) -> str:
    """`accessToken`, `Access-Token` and `access token` all become `access_token`."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def label_of(name: str) -> str:
    """The placeholder label for a header, field or pattern name."""
    return snake_case(name)[:40] or "secret"


def given_label(name: str) -> str:
    """The label a secret given as `NAME=VALUE` fills: NAME's own label, or, when NAME is a
    whole placeholder (`redacted-password-95c2...`), the label inside it."""
    exact = PLACEHOLDER.fullmatch(name)
    return exact.group(1) if exact is not None else label_of(name)


def is_placeholder(value: str) -> bool:
    """Whether `value` is exactly one redaction placeholder."""
    return PLACEHOLDER.fullmatch(value) is not None


def key_id(key: bytes) -> str:
    """A short fingerprint of a redaction key, safe to write into a cassette's header."""
    return hashlib.sha256(b"apitape key id:" + key).hexdigest()[:12]


@dataclass
class Redactor:
    """Replaces the secrets in requests and responses by keyed-hash placeholders.

    It remembers the secrets it has seen (up to `memory`), so a token first seen in a login
    response is also replaced where a later request carries it in a place no rule names.
    """

    key: bytes
    policy: RedactionPolicy = field(default_factory=RedactionPolicy)
    memory: int = 4096

    def __post_init__(self) -> None:
        self._headers = frozenset(h.lower() for h in self.policy.headers)
        self._field = re.compile("|".join(f"(?:{p})" for p in self.policy.fields))
        # One pass to tell whether any pattern matches at all (most text has none).
        self._value = _any_of(self.policy.values)
        self._value_parts = [re.compile(p) for p in self.policy.values]
        self._value_labels = {p: _VALUE_LABELS.get(p, "secret") for p in self.policy.values}
        # Texts are searched for `name=value` and `<name>` only if they hold a field anchor
        # (always, when fields were added: their names have no anchors).
        added_fields = len(self.policy.fields) > len(DEFAULT_FIELD_PATTERNS)
        self._field_anchors = () if added_fields else _FIELD_ANCHORS
        self._credential_headers: dict[str, bool] = {}
        self._unanchored_value = _any_of([p for p in self.policy.values if p not in _VALUE_ANCHORS])
        self._anchors = tuple({a for p in self.policy.values for a in _VALUE_ANCHORS.get(p, ())})
        self._known: OrderedDict[str, str] = OrderedDict()
        self._field_cache: dict[str, bool] = {}
        # Texts `text` left as they were, with no placeholder made or used: header values and
        # JSON strings repeat from exchange to exchange. Valid while no secret is learned.
        self._clean: set[str] = set()

    # ------------------------------------------------------------------ placeholders

    def placeholder(self, secret: str, label: str, remember: bool = True) -> str:
        """The placeholder of `secret`; one seen before keeps the label it was first given.

        `remember=False` for secrets never seen twice (a request's signature): remembering
        them would only make every clean text be searched again."""
        known = self._known.get(secret)
        if known is not None:
            self._known.move_to_end(secret)
            return known
        made = f"redacted-{label_of(label)}-{placeholder_hash(self.key, secret)}"
        if remember and len(secret) >= _MIN_REMEMBERED:
            self._known[secret] = made
            self._clean.clear()  # a text clean so far may hold this secret
            if len(self._known) > self.memory:
                self._known.popitem(last=False)
        return made

    def _secret(self, value: str, label: str) -> str:
        if not value or is_placeholder(value):
            return value
        return self.placeholder(value, label)

    def is_secret_field(self, name: str) -> bool:
        """Whether a query, form or JSON field of this name holds a secret."""
        cached = self._field_cache.get(name)
        if cached is None:
            cached = self._field.fullmatch(snake_case(name)) is not None
            if len(self._field_cache) < 10_000:
                self._field_cache[name] = cached
        return cached

    def is_credential_header(self, name: str) -> bool:
        """Whether a header's whole value is a secret: a named one, or a secret field name."""
        cached = self._credential_headers.get(name)
        if cached is None:
            cached = name.lower() in self._headers or self.is_secret_field(name)
            if len(self._credential_headers) < 10_000:
                self._credential_headers[name] = cached
        return cached

    # ------------------------------------------------------------------ whole messages

    def exchange(self, exchange: Exchange) -> Exchange:
        """The exchange with every secret in its request and response replaced."""
        if not self.policy.enabled:
            return exchange
        request = self.request(exchange.request)
        response = self.response(exchange.response)
        if request is exchange.request and response is exchange.response:
            return exchange
        return replace(exchange, request=request, response=response)

    def request(self, request: Request) -> Request:
        """The request with its secrets replaced (URL, headers, body)."""
        if not self.policy.enabled:
            return request
        url = self.url(request.url)
        headers = self.headers(request.headers)
        body = self.body(request.headers, request.body)
        if url == request.url and headers == request.headers and body == request.body:
            return request
        fixed = _with_length(headers, len(body)) if body != request.body else headers
        return Request(request.method, url, fixed, body)

    def response(self, response: Response) -> Response:
        """The response with its secrets replaced (headers, body)."""
        if not self.policy.enabled:
            return response
        headers = self.headers(response.headers)
        body = self.body(response.headers, response.body)
        if headers == response.headers and body == response.body:
            return response
        fixed = _with_length(headers, len(body)) if body != response.body else headers
        return Response(response.status, response.reason, fixed, body)

    # ------------------------------------------------------------------ parts

    def url(self, url: str) -> str:
        """The URL with secret query parameters, secret-shaped values and random-looking
        path segments (tokens) replaced."""
        parts = urlsplit(url)
        query = self.form(parts.query, quote_value=quote) if parts.query else parts.query
        path = self.text(parts.path)
        if len(path) >= 20 and not path.islower():
            path = _PATH_SEGMENT.sub(self._path_segment, path)
        if query == parts.query and path == parts.path:
            return url
        return urlunsplit((parts.scheme, parts.netloc, path, query, parts.fragment))

    def _link(self, match: re.Match[str]) -> str:
        return _PATH_SEGMENT_IN_TEXT.sub(self._path_segment, match.group(0))

    def _path_segment(self, match: re.Match[str]) -> str:
        segment = match.group(0)
        if not high_entropy(segment):
            return segment
        return self.placeholder(segment, _PATH_LABEL)

    def headers(self, headers: Headers) -> Headers:
        """Credential headers replaced by name; the others searched for secret values."""
        clean, credential = self._clean, self.is_credential_header
        redacted: list[tuple[str, str]] | None = None
        for index, (name, value) in enumerate(headers):
            if value in clean and not credential(name):
                continue  # a value seen before with nothing to redact
            new = self.header(name, value)
            if new != value:
                if redacted is None:
                    redacted = list(headers)
                redacted[index] = (name, new)
        return headers if redacted is None else tuple(redacted)

    def header(self, name: str, value: str) -> str:
        """One header value with its secrets replaced."""
        if not self.is_credential_header(name):
            return self.text(value)
        lowered = name.lower()
        if lowered in _AUTH_HEADERS:
            scheme, space, credential = value.partition(" ")
            if space and credential.strip():
                if scheme.upper().startswith("AWS4-"):
                    signed = self._sigv4(credential.strip())
                    if signed is not None:
                        return f"{scheme} {signed}"
                if scheme.lower() == "basic":
                    basic = self._basic(credential.strip())
                    if basic is not None:
                        return f"{scheme} {basic}"
                return f"{scheme} {self._secret(credential.strip(), lowered)}"
            return self._secret(value, lowered)
        if lowered == "cookie":
            return "; ".join(self._cookie(pair) for pair in value.split("; "))
        if lowered == "set-cookie":
            first, semicolon, attributes = value.partition(";")
            return self._cookie(first) + semicolon + attributes
        return self._secret(value, lowered)

    def _basic(self, credential: str) -> str | None:
        """A Basic credential as `user:redacted-password-...`, decoded so a reader sees whose
        it is and that it was redacted; replay encodes it again (`SecretFiller.fill`). The
        user stays, so a recorded wrong password replays as a wrong password for that user
        (a placeholder for the whole credential would not even decode: 401, not 403). None
        when the credential is not base64 of `user:password`."""
        if _basic_inside(f"Basic {credential}") is not None:
            return credential  # redacted already
        pair = decoded_basic(credential)
        if pair is None:
            return None
        user, password = pair
        return f"{user}:{self._secret(password, 'password')}"

    def _sigv4(self, params: str) -> str | None:
        """An AWS Signature V4's parameters with the key id and the signature replaced; None
        when they are not SigV4's."""
        found = False

        def one(match: re.Match[str]) -> str:
            nonlocal found
            found = True
            value = match.group("value")
            if match.group("name") == "Signature":
                return f"Signature={self._signature(value)}"
            key_id, slash, scope = value.partition("/")
            return f"Credential={self._secret(key_id, 'aws_access_key_id')}{slash}{scope}"

        redacted = _SIGV4_PARTS.sub(one, params)
        return redacted if found else None

    def _signature(self, value: str) -> str:
        """A request signature's placeholder: it differs per request, so it is not remembered."""
        return value if is_placeholder(value) else self.placeholder(value, "signature", False)

    def _cookie(self, pair: str) -> str:
        name, equals, value = pair.partition("=")
        if not equals:
            return pair
        return f"{name}={self._secret(value, name.strip() or 'cookie')}"

    def form(self, text: str, quote_value: Any = quote_plus) -> str:
        """`a=1&password=x` with each secret-named field's value replaced."""
        changed = False
        pairs = text.split("&")
        for index, pair in enumerate(pairs):
            name, equals, value = pair.partition("=")
            if not equals or not value:
                continue
            decoded_name = unquote_plus(name)
            lowered = decoded_name.lower()
            if lowered in _CREDENTIAL_FIELDS:
                # The key id heads the scope (`AKIA.../20261207/us-east-1/s3/aws4_request`):
                # only it is secret; the region and service stay readable.
                key_id, *scope = _SCOPE_SEPARATOR.split(value, maxsplit=1)
                secret = unquote_plus(key_id)
                if secret and not is_placeholder(secret):
                    redacted = quote_value(self._secret(secret, "aws_access_key_id"))
                    rest = value[len(key_id) :] if scope else ""
                    pairs[index] = f"{name}={redacted}{rest}"
                    changed = True
            elif self.is_secret_field(decoded_name):
                secret = unquote_plus(value)
                if not is_placeholder(secret):
                    label = _SIGNATURE_FIELDS.get(lowered, decoded_name)
                    pairs[index] = f"{name}={quote_value(self._secret(secret, label))}"
                    changed = True
        joined = "&".join(pairs) if changed else text
        return self.text(joined)

    def body(self, headers: Headers, body: bytes) -> bytes:
        """A body with its secrets replaced: JSON, forms, multipart parts and `name=value`
        or `<name>` in text by field name; any text by value."""
        if not body:
            return body
        mime = media_type(headers)
        if mime == _MULTIPART:
            return self._multipart(headers, body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body  # binary: kept exact (a secret in an image is out of reach)
        if is_json_type(mime) or (not mime and text[:1] in "{["):
            redacted = self._json_text(text)
        elif mime == _FORM:
            redacted = self.form(text)
        else:
            redacted = self.text(self._named_in_text(text))
        return body if redacted == text else redacted.encode("utf-8")

    def _named_in_text(self, text: str) -> str:
        """`password=x`, `token: x`, `<password>x</password>`, `password="x"` in a text body
        with the value replaced, when the name is a secret field name."""
        anchors = self._field_anchors
        if anchors and not any(map(text.lower().__contains__, anchors)):
            return text
        if "<" in text and "</" in text:
            text = _XML_ELEMENT.sub(self._named_match, text)
        if "=" in text or ":" in text:
            text = _TEXT_PAIR.sub(self._named_match, text)
        return text

    def _named_match(self, match: re.Match[str]) -> str:
        name, secret = match.group("name"), match.group("secret")
        stripped = secret.strip()
        if not stripped or is_placeholder(stripped) or not self.is_secret_field(name):
            return match.group(0)
        start, end = match.span("secret")
        base = match.start(0)
        whole = match.group(0)
        new = secret.replace(stripped, self._secret(stripped, name), 1)
        return whole[: start - base] + new + whole[end - base :]

    def _multipart(self, headers: Headers, body: bytes) -> bytes:
        """A multipart/form-data body with each part redacted: a secret-named field's value
        replaced, the other parts as bodies of their own type; binary parts kept exact."""
        boundary = _parameter(first_header(headers, "content-type") or "", "boundary")
        if not boundary:
            return body
        delimiter = b"--" + boundary.encode("latin-1")
        pieces = body.split(delimiter)
        changed = False
        for index in range(1, len(pieces)):
            piece = pieces[index]
            if piece.startswith(b"--"):
                break  # the closing delimiter: what follows is the epilogue
            head, blank, content = piece.partition(b"\r\n\r\n")
            if not blank:
                continue
            trailer = b"\r\n" if content.endswith(b"\r\n") else b""
            data = content[: len(content) - len(trailer)]
            part_headers = tuple(
                (name.strip(), value.strip())
                for name, colon, value in (
                    line.partition(":") for line in head.decode("latin-1").split("\r\n")
                )
                if colon
            )
            disposition = first_header(part_headers, "content-disposition") or ""
            name = _parameter(disposition, "name")
            if name and _parameter(disposition, "filename") is None and self.is_secret_field(name):
                try:
                    value = data.decode("utf-8")
                except UnicodeDecodeError:
                    value = data.decode("latin-1")
                new = self._secret(value, name).encode("utf-8") if value else data
            else:
                new = self.body(part_headers, data)
            if new != data:
                pieces[index] = head + blank + new + trailer
                changed = True
        return delimiter.join(pieces) if changed else body

    def _json_text(self, text: str) -> str:
        try:
            value = fastjson.loads(text)
        except ValueError:
            return self.text(text)
        redacted = self.json_value(value)
        if redacted is value:
            return text
        indent = re.match(r"[\[{]\n( +)", text)
        compact = '": ' not in text and '", ' not in text
        return json.dumps(
            redacted,
            ensure_ascii=False,
            indent=len(indent.group(1)) if indent else None,
            separators=(",", ":") if compact and not indent else None,
        )

    def json_value(self, value: Any, name: str | None = None) -> Any:
        """A parsed JSON value with secret-named fields and secret-shaped strings replaced;
        `value` itself when nothing in it is (new containers only where something changed)."""
        if isinstance(value, dict):
            copy: dict[Any, Any] | None = None
            clean = self._clean
            for key, item in value.items():
                kind = type(item)
                if kind in _UNREDACTED or (
                    ((kind is str and item in clean) or kind is int or kind is float)
                    and not self.is_secret_field(key)
                ):
                    continue  # what the walk below would keep as it is, found without it
                new = self.json_value(item, key)
                if new is not item and not (type(new) is str and new == item):
                    if copy is None:
                        copy = dict(value)
                    copy[key] = new
            return value if copy is None else copy
        if isinstance(value, list):
            changed: list[Any] | None = None
            for index, item in enumerate(value):
                new = self.json_value(item, name)
                if new is not item and not (type(new) is str and new == item):
                    if changed is None:
                        changed = list(value)
                    changed[index] = new
            return value if changed is None else changed
        secret_name = name is not None and self.is_secret_field(name)
        if isinstance(value, str):
            if secret_name and value:
                return self._secret(value, name or "secret")
            return value if value in self._clean else self.text(value)
        if secret_name and isinstance(value, int | float) and not isinstance(value, bool):
            return self._secret(str(value), name or "secret")
        return value

    def text(self, text: str) -> str:
        """Free text with secret-shaped values and secrets seen before replaced."""
        clean = self._clean
        if text in clean:
            return text
        original = text
        secret_shaped = self._secret_shaped(text)
        if secret_shaped:
            for pattern in self._value_parts:
                text = pattern.sub(self._value_match, text)
        if self._known:
            text = _TOKEN_RUN.sub(self._known_match, text)
        if len(text) > 20 and "/" in text and not text.islower():  # a token has capitals
            text = _LINK_IN_TEXT.sub(self._link, text)
        if not secret_shaped and text == original and len(text) <= _CLEAN_TEXT_LENGTH:
            if len(clean) >= _CLEAN_TEXTS:
                clean.clear()
            clean.add(original)
        return text

    def _secret_shaped(self, text: str) -> bool:
        """Whether a value pattern matches somewhere in `text`."""
        if self._value is None:
            return False
        if len(text) >= _ANCHORED_FROM:
            if self._unanchored_value is not None and self._unanchored_value.search(text):
                return True
            if not any(map(text.lower().__contains__, self._anchors)):
                return False
        return self._value.search(text) is not None

    def _value_match(self, match: re.Match[str]) -> str:
        group = "secret" if "secret" in match.re.groupindex else 0
        secret = match.group(group)
        if secret is None or is_placeholder(secret):
            return match.group(0)
        start, end = match.span(group)
        base = match.start(0)
        whole = match.group(0)
        label = self._value_labels.get(match.re.pattern, "secret")
        if label == "secret":
            label = "jwt" if secret.startswith("eyJ") else label
            label = "private_key" if "PRIVATE KEY" in secret else label
        return whole[: start - base] + self.placeholder(secret, label) + whole[end - base :]

    def _known_match(self, match: re.Match[str]) -> str:
        run = match.group(0)
        known = self._known.get(run) or self._known.get(run.rstrip("="))
        if known is not None:
            return known
        if "/" in run:  # a path (`/reset/TOKEN/confirm`): its segments may be known
            parts = run.split("/")
            if any(part in self._known for part in parts):
                return "/".join(self._known.get(part, part) for part in parts)
        return run


def _parameter(header: str, name: str) -> str | None:
    """A parameter of a header value (`boundary` of a Content-Type, `name` of a
    Content-Disposition), unquoted; None when absent."""
    for part in header.split(";")[1:]:
        key, equals, value = part.partition("=")
        if equals and key.strip().lower() == name:
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return None


def decoded_basic(credential: str) -> tuple[str, str] | None:
    """(user, password) of a Basic credential's base64, or None when it is not one."""
    try:
        text = base64.b64decode(credential, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, colon, password = text.partition(":")
    return (user, password) if colon and password else None


def encoded_basic(user: str, password: str) -> str:
    """A Basic credential's base64 of `user:password`."""
    return base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _basic_inside(value: str) -> tuple[str, str, str] | None:
    """(scheme, user, password) of a header value `Basic user:redacted-password-...` as the
    recorder writes a redacted Basic credential, else None."""
    scheme, space, credential = value.partition(" ")
    if not space or scheme.lower() != "basic" or "redacted-" not in credential:
        return None
    user, colon, password = credential.strip().partition(":")
    return (scheme, user, password) if colon else None


def without_scheme(value: str) -> str:
    """A credential without its auth scheme: `Basic dXNlcjpwYXNz` -> `dXNlcjpwYXNz`."""
    scheme, space, rest = value.partition(" ")
    if space and scheme.lower() in _SCHEMES and rest.strip():
        return rest.strip()
    return value


def _with_length(headers: Headers, length: int) -> Headers:
    """Content-Length made true again after a body changed size."""
    return tuple(
        (name, str(length)) if name.lower() == "content-length" else (name, value)
        for name, value in headers
    )


def placeholder_hash(key: bytes, secret: str) -> str:
    """The hash part of the placeholder `secret` gets under `key`."""
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def placeholder_labels(request: Request) -> tuple[str, ...]:
    """The labels of the placeholders a request still carries, each once."""
    found: list[str] = []
    for text in (request.url, *(value for _, value in request.headers)):
        if "redacted-" in text:
            found += [m.group(1) for m in PLACEHOLDER.finditer(text)]
    if b"redacted-" in request.body:
        found += [m.group(1) for m in PLACEHOLDER.finditer(request.body.decode("utf-8", "replace"))]
    return tuple(dict.fromkeys(found))


class SecretFiller:
    """Puts real values back where a cassette has placeholders, before a request is sent.

    Each secret is `(name, value)`. With the recording's key, a value fills exactly the
    placeholders that were made from it (so a recorded wrong password stays wrong); without
    it, a value fills every placeholder whose label is `name`. A name may also be a
    placeholder's hash or the whole placeholder. A value may carry its auth scheme
    (`Basic dXNlcjpwYXNz`): where the placeholder follows that scheme, only the rest goes in.
    """

    def __init__(self, secrets: Iterable[tuple[str, str]], key: bytes | None = None) -> None:
        self._by_hash: dict[str, str] = {}
        self._by_label: dict[str, str] = {}
        for name, value in secrets:
            match = PLACEHOLDER.fullmatch(name)
            if match or re.fullmatch(r"[0-9a-f]{16}", name):
                self._by_hash[match.group(2) if match else name] = value
            elif key is not None:
                self._by_hash[placeholder_hash(key, value)] = value
                bare = without_scheme(value)
                if bare != value:  # the recorder hashed only what follows the scheme
                    self._by_hash.setdefault(placeholder_hash(key, bare), bare)
                pair = decoded_basic(bare)
                if pair is not None:  # a whole Basic credential: its password is what was hashed
                    self._by_hash.setdefault(placeholder_hash(key, pair[1]), pair[1])
            else:
                label = label_of(name)
                if label in self._by_label and self._by_label[label] != value:
                    raise UsageError(
                        f"{name} is given twice with different values; give the redaction key the "
                        "cassettes were recorded with (its key file, or $APITAPE_REDACT_KEY) "
                        "so each value fills only the placeholders made from it",
                        "secrets",
                    )
                self._by_label[label] = value
                pair = decoded_basic(without_scheme(value))
                if pair is not None:
                    self._by_label.setdefault("password", pair[1])

    def __bool__(self) -> bool:
        return bool(self._by_hash or self._by_label)

    def _value(self, match: re.Match[str]) -> str | None:
        value = self._by_hash.get(match.group(2)) or self._by_label.get(match.group(1))
        if value is None:
            return None
        bare = without_scheme(value)
        if bare is not value:
            # `Basic redacted-...` filled with `Basic dXNl...` would say the scheme twice.
            scheme = value.partition(" ")[0] + " "
            start = match.start()
            before = match.string[max(0, start - len(scheme)) : start]
            if before.lower() == scheme.lower():
                return bare
        return value

    def fill(self, request: Request) -> tuple[Request, tuple[str, ...]]:
        """The request with placeholders filled, and the labels of those left unfilled."""
        unfilled: list[str] = []

        def fill_text(text: str, escape: Any) -> str:
            def one(match: re.Match[str]) -> str:
                value = self._value(match)
                if value is None:
                    unfilled.append(match.group(1))
                    return match.group(0)
                return str(escape(value))

            return PLACEHOLDER.sub(one, text) if "redacted-" in text else text

        def fill_header(value: str) -> str:
            basic = _basic_inside(value)
            if basic is None:
                return fill_text(value, str)
            scheme, user, password = basic
            # encoded again, filled or not: `user:redacted-...` is the cassette's way to write it
            return f"{scheme} {encoded_basic(user, fill_text(password, str))}"

        url = fill_text(request.url, lambda v: quote(v, safe=""))
        headers = tuple((name, fill_header(value)) for name, value in request.headers)
        body = request.body
        if b"redacted-" in body:
            mime = media_type(request.headers)
            escape: Any = str
            if is_json_type(mime):
                escape = lambda v: json.dumps(v)[1:-1]  # noqa: E731 - inside a JSON string
            elif mime == _FORM:
                escape = quote_plus
            elif mime.endswith("xml"):
                escape = lambda v: xml_escape(v, {'"': "&quot;", "'": "&apos;"})  # noqa: E731
            # surrogateescape: a multipart body with a binary file part comes back byte-exact.
            text = body.decode("utf-8", "surrogateescape")
            body = fill_text(text, escape).encode("utf-8", "surrogateescape")
        if url == request.url and headers == request.headers and body == request.body:
            return request, tuple(dict.fromkeys(unfilled))
        return Request(request.method, url, headers, body), tuple(dict.fromkeys(unfilled))
