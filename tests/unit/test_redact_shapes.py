"""Every default redaction rule, and every secret shape, planted and looked for in the stored
exchange; what is not a secret (ids, digests, routing) stays readable."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from apitape.cassette import write_cassette
from apitape.models import Exchange, Request, Response
from apitape.redaction.redact import (
    DEFAULT_FIELD_PATTERNS,
    DEFAULT_HEADERS,
    DEFAULT_VALUE_PATTERNS,
    PLACEHOLDER,
    RedactionPolicy,
    Redactor,
    SecretFiller,
    high_entropy,
    is_placeholder,
)

KEY = b"k" * 32
JSON = (("Content-Type", "application/json"),)


def stored(exchange: Exchange, tmp_path: Path, policy: RedactionPolicy | None = None) -> bytes:
    """The exchange as a recorder stores it: redacted, then written as a JSON-lines cassette."""
    redacted = Redactor(KEY, policy or RedactionPolicy()).exchange(exchange)
    path = tmp_path / "stored.jsonl"
    write_cassette(path, [redacted], "2026-12-07T00:00:00Z")
    return path.read_bytes()


def an_exchange(request: Request, response: Response | None = None) -> Exchange:
    return Exchange("1", request, response or Response(200, "OK", JSON, b'{"ok": true}'))


def only(**rules: tuple[str, ...]) -> RedactionPolicy:
    """The default policy with every other kind of rule off, to test one kind alone."""
    return replace(RedactionPolicy(headers=(), fields=(), values=()), **rules)


# ---------------------------------------------------------------------- the default rules

# One row per default header: (name, planted value, the secret that must not be stored).
HEADER_ROWS = [
    ("Authorization", "Token 0123abcd-planted-authz", "0123abcd-planted-authz"),
    ("Proxy-Authorization", "Basic cGxhbnRlZDpwcm94eQ==", "cGxhbnRlZDpwcm94eQ=="),
    ("Cookie", "sid=planted-cookie-value", "planted-cookie-value"),
    ("Set-Cookie", "sid=planted-set-cookie; Path=/", "planted-set-cookie"),
    ("X-Api-Key", "planted-x-api-key", "planted-x-api-key"),
    ("Api-Key", "planted-api-key", "planted-api-key"),
    ("ApiKey", "planted-apikey-header", "planted-apikey-header"),
    ("X-Auth-Token", "planted-auth-token", "planted-auth-token"),
    ("X-Access-Token", "planted-access-token", "planted-access-token"),
    ("X-Refresh-Token", "planted-refresh-token", "planted-refresh-token"),
    ("X-CSRF-Token", "planted-csrf-token", "planted-csrf-token"),
    ("X-XSRF-Token", "planted-xsrf-token", "planted-xsrf-token"),
    ("X-Amz-Security-Token", "planted-amz-session", "planted-amz-session"),
    ("X-Goog-Api-Key", "planted-goog-api-key", "planted-goog-api-key"),
]


def test_every_default_header_has_a_row() -> None:
    assert sorted(name.lower() for name, _, _ in HEADER_ROWS) == sorted(DEFAULT_HEADERS)


@pytest.mark.parametrize(("name", "value", "secret"), HEADER_ROWS)
@pytest.mark.parametrize("policy", ["defaults", "the header list alone"])
def test_each_default_header_is_redacted(
    name: str, value: str, secret: str, policy: str, tmp_path: Path
) -> None:
    # With the header list alone, no field pattern or value shape can hide a header
    # missing from the defaults: removing one fails its row here.
    chosen = RedactionPolicy() if policy == "defaults" else only(headers=DEFAULT_HEADERS)
    response = Response(200, "OK", ((name, value), *JSON), b"{}")
    exchange = an_exchange(Request("GET", "http://svc/me", ((name, value),)), response)
    raw = stored(exchange, tmp_path, chosen)
    assert secret.encode() not in raw
    assert raw.count(b"redacted-") >= 2  # in the request and in the response


# The words the default field pattern ends a secret name with, each with a name using it.
FIELD_ROWS = [
    ("password", "password"),
    ("passwd", "db_passwd"),
    ("pass", "pass"),
    ("pwd", "userPwd"),
    ("passphrase", "key-passphrase"),
    ("secret", "app-secret"),
    ("token", "refreshToken"),
    ("api_key", "api_key"),
    ("apikey", "apikey"),
    ("access_key", "aws_access_key"),
    ("private_key", "private_key"),
    ("secret_key", "secretKey"),
    ("client_secret", "client_secret"),
    ("session_id", "session_id"),
    ("sessionid", "sessionid"),
    ("otp", "otp"),
    ("pin_code", "pin_code"),
    ("ssn", "ssn"),
    ("signature", "X-Goog-Signature"),
    ("sig", "sig"),
]
FIELD_PLACES = ["query", "form", "json", "json nested", "multipart", "xml", "text"]


def _words_of_the_default_field_pattern() -> set[str]:
    (pattern,) = DEFAULT_FIELD_PATTERNS
    inner = pattern[pattern.index("(?:", 3) + 3 : -1]
    words = set()
    for word in inner.split("|"):
        optional = re.fullmatch(r"(\w+)_\?(\w+)", word)
        words |= (
            {optional[1] + "_" + optional[2], optional[1] + optional[2]} if optional else {word}
        )
    return words


def test_every_word_of_the_default_field_pattern_has_a_row() -> None:
    assert _words_of_the_default_field_pattern() == {word for word, _ in FIELD_ROWS} | {"apikey"}


def field_request(place: str, name: str, secret: str) -> Request:
    if place == "query":
        return Request("GET", f"http://svc/x?user=alice&{name}={secret}", ())
    if place == "form":
        form = (("Content-Type", "application/x-www-form-urlencoded"),)
        return Request("POST", "http://svc/x", form, f"user=alice&{name}={secret}".encode())
    if place == "json":
        body = {"user": "alice", name: secret}
        return Request("POST", "http://svc/x", JSON, json.dumps(body).encode())
    if place == "json nested":
        body = {"items": [{"user": "alice", "auth": {name: secret}}]}
        return Request("POST", "http://svc/x", JSON, json.dumps(body).encode())
    if place == "multipart":
        body = (
            f'--b0undary\r\nContent-Disposition: form-data; name="user"\r\n\r\nalice\r\n'
            f'--b0undary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{secret}\r\n'
            "--b0undary--\r\n"
        ).encode()
        multipart = (("Content-Type", "multipart/form-data; boundary=b0undary"),)
        return Request("POST", "http://svc/x", multipart, body)
    if place == "xml":
        body = f"<login><user>alice</user><{name}>{secret}</{name}></login>".encode()
        return Request("POST", "http://svc/x", (("Content-Type", "application/xml"),), body)
    body = f"user=alice\n{name}={secret}\n".encode()
    return Request("POST", "http://svc/x", (("Content-Type", "text/plain"),), body)


@pytest.mark.parametrize("place", FIELD_PLACES)
@pytest.mark.parametrize(("word", "name"), FIELD_ROWS)
def test_each_default_field_word_is_redacted_in_every_body_type(
    word: str, name: str, place: str, tmp_path: Path
) -> None:
    secret = f"planted-{word}-value-{place.replace(' ', '-')}"
    raw = stored(
        an_exchange(field_request(place, name, secret)),
        tmp_path,
        only(fields=DEFAULT_FIELD_PATTERNS),
    )
    assert secret.encode() not in raw
    assert b"alice" in raw  # the field beside it stays


# One row per default value pattern, in their order: (text holding it, the secret part).
VALUE_ROWS = [
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.cGxhbnRlZC1zaWc", "eyJzdWIiOiJwbGFudGVkIn0"),
    ("logged: Bearer planted-bearer-0001", "planted-bearer-0001"),
    ("logged: Basic cGxhbnRlZDpiYXNpYw==", "cGxhbnRlZDpiYXNpYw=="),
    (
        "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIPLANTEDKEYBODY\n-----END EC PRIVATE KEY-----",
        "MHcCAQEEIPLANTEDKEYBODY",
    ),
    ("key id AKIAPLANTED000000001", "AKIAPLANTED000000001"),
    ("gh ghp_" + "P" * 36, "P" * 36),
    ("slack xoxp-planted-0001-slack", "xoxp-planted-0001-slack"),
    ("stripe sk_live_PLANTEDstripe0001", "PLANTEDstripe0001"),
    ("google AIza" + "G" * 35, "G" * 35),
    ("https://s3/b/k?X-Amz-Signature=" + "5a" * 32, "5a" * 32),
    ("https://blob/c?sv=1&sig=PlantedSasSignature0001%3D", "PlantedSasSignature0001"),
    ("https://s3/b/k?X-Amz-Credential=PLANTEDKEYID0001%2F20261207", "PLANTEDKEYID0001"),
]


def test_every_default_value_pattern_has_a_row() -> None:
    assert len(VALUE_ROWS) == len(DEFAULT_VALUE_PATTERNS)
    for (text, _), pattern in zip(VALUE_ROWS, DEFAULT_VALUE_PATTERNS, strict=True):
        assert re.search(pattern, text), pattern


@pytest.mark.parametrize(("text", "secret"), VALUE_ROWS)
@pytest.mark.parametrize("policy", ["defaults", "the value patterns alone"])
def test_each_default_value_pattern_is_redacted_in_free_text(
    text: str, secret: str, policy: str, tmp_path: Path
) -> None:
    chosen = RedactionPolicy() if policy == "defaults" else only(values=DEFAULT_VALUE_PATTERNS)
    plain = (("Content-Type", "text/plain"),)
    exchange = an_exchange(
        Request("POST", "http://svc/log", plain, f"before {text} after".encode()),
        Response(200, "OK", plain, f"echo: {text}".encode()),
    )
    raw = stored(exchange, tmp_path, chosen)
    assert secret.encode() not in raw
    assert b"before" in raw and b"echo:" in raw


# ---------------------------------------------------------------------- shapes by name


@pytest.mark.parametrize(
    "name", ["Private-Token", "X-Vault-Token", "X-Build-Token", "X-Hub-Signature", "X-Db-Password"]
)
def test_any_header_named_like_a_secret_field_is_redacted(name: str) -> None:
    redacted = Redactor(KEY).header(name, "planted-header-0001")
    assert is_placeholder(redacted)
    assert redacted.startswith("redacted-" + name.lower().replace("-", "_") + "-")


@pytest.mark.parametrize(
    "name", ["X-Token-Type", "X-Request-Id", "Idempotency-Key", "Sec-WebSocket-Key"]
)
def test_ordinary_headers_stay(name: str) -> None:
    assert Redactor(KEY).header(name, "abc-1234-ordinary") == "abc-1234-ordinary"


def test_a_multipart_body_keeps_binary_parts_and_its_length_true() -> None:
    binary = bytes(range(256))
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nmp-planted-1\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + binary + b"\r\n"
        b'--XyZ\r\nContent-Disposition: form-data; name="meta"\r\nContent-Type: application/json'
        b'\r\n\r\n{"api_key": "mp-planted-2", "n": 1}\r\n--XyZ--\r\n'
    )
    headers = (("Content-Type", 'multipart/form-data; boundary="XyZ"'), ("Content-Length", "1"))
    redacted = Redactor(KEY).request(Request("POST", "http://svc/up", headers, body))
    assert b"mp-planted" not in redacted.body
    assert binary in redacted.body and redacted.body.endswith(b"\r\n--XyZ--\r\n")
    assert ("Content-Length", str(len(redacted.body))) in redacted.headers
    # Filled back on replay, the binary part byte for byte.
    filled, unfilled = SecretFiller([("password", "p1"), ("api_key", "k2")]).fill(redacted)
    assert unfilled == () and binary in filled.body
    assert b'name="password"\r\n\r\np1\r\n' in filled.body and b'"api_key": "k2"' in filled.body


def test_names_in_text_and_xml_keep_their_surroundings() -> None:
    r = Redactor(KEY)
    xml = r.body(
        (("Content-Type", "text/xml"),),
        b'<a><s:Password xmlns:s="u"> x-planted-1 </s:Password><user pass="x-planted-2"/></a>',
    )
    assert b"planted" not in xml
    assert xml.startswith(b'<a><s:Password xmlns:s="u"> redacted-password-')
    assert b'<user pass="redacted-pass-' in xml
    text = r.body((("Content-Type", "text/plain"),), b"DB_PASSWORD='t-planted-3'\ntokens_left: 4")
    assert b"planted" not in text and text.endswith(b"\ntokens_left: 4")


# ---------------------------------------------------------------------- shapes by value


@pytest.mark.parametrize(
    "url",
    [
        "http://svc/runs/0123456789abcdef0123456789abcdef",  # a 32-hex run id
        "http://svc/pkg/-rev/3-2c513354b2620567",  # an npm _rev
        "http://svc/items/123e4567-e89b-12d3-a456-426614174000",  # a UUID
        "http://svc/p/pkg-1.0.tar.gz#sha256=" + "ab" * 32,  # a digest in the fragment
        "http://svc/v2/x/blobs/sha256:" + "cd" * 32,  # a digest in the path
        "http://svc/AmazonDynamoDBv20120810/ListObjectsV2Response/getUserPreferencesForAccount",
        "http://svc/files/README-Getting-Started.md",
    ],
)
def test_ids_digests_and_names_in_urls_stay(url: str) -> None:
    assert Redactor(KEY).url(url) == url


def test_a_random_token_as_a_path_segment_is_redacted_and_remembered() -> None:
    r = Redactor(KEY)
    token = "Zx8Kq2Lm9Vn4Pw7Rt3Ys6Ub1"
    url = r.url(f"http://svc/reset/{token}/confirm")
    assert token not in url and re.fullmatch(
        r"http://svc/reset/redacted-path_token-\w{16}/confirm", url
    )
    assert r.url(url) == url  # idempotent
    assert token not in r.text(f"see /reset/{token}")  # and gone from the answer that echoes it
    assert high_entropy(token) and not high_entropy("0123456789abcdef0123456789abcdef")


SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=AKIAPLANTED000000001/20261207/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "9f" * 32
)


def test_sigv4_keeps_its_routing_and_hides_the_key_id_and_the_signature() -> None:
    r = Redactor(KEY)
    redacted = r.header("Authorization", SIGV4)
    assert "AKIAPLANTED" not in redacted and "9f9f" not in redacted
    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=(redacted-aws_access_key_id-\w{16})/20261207/us-east-1/"
        r"dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
        r"Signature=redacted-signature-\w{16}",
        redacted,
    )
    assert match
    # The key id's placeholder is stable; a second request's signature gets its own.
    again = r.header("Authorization", SIGV4.replace("9f" * 32, "8e" * 32))
    assert again.startswith(redacted.split(",")[0]) and again != redacted
    # --secret fills the key id, with or without the recording's key; the signature stays.
    request = Request("POST", "http://svc/", (("Authorization", redacted),))
    for filler in (
        SecretFiller([("aws_access_key_id", "AKIAREPLAY0000000001")]),
        SecretFiller([("aws_access_key_id", "AKIAPLANTED000000001")], KEY),
    ):
        filled, unfilled = filler.fill(request)
        assert "/us-east-1/dynamodb/" in filled.headers[0][1] and unfilled == ("signature",)
        assert "Credential=AKIA" in filled.headers[0][1]


def test_a_presigned_url_keeps_its_scope_and_hides_key_id_and_signature() -> None:
    url = (
        "https://b.s3/k.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAPLANTED000000001%2F20261207%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261207T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "7c" * 32
    )
    r = Redactor(KEY)
    redacted = r.url(url)
    assert "AKIAPLANTED" not in redacted and "7c7c" not in redacted
    assert re.search(
        r"X-Amz-Credential=redacted-aws_access_key_id-\w{16}%2F20261207%2Fus-east-1%2Fs3%2F",
        redacted,
    )
    assert re.search(r"X-Amz-Signature=redacted-signature-\w{16}$", redacted)
    # The same URL handed out in a JSON answer: the same placeholders.
    body = r.body(JSON, json.dumps({"url": url}).encode())
    assert json.loads(body)["url"] == redacted


# ---------------------------------------------------------------------- filling with a scheme


@pytest.mark.parametrize("scheme", ["Basic", "Bearer", "Token", "Digest"])
@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("given_with_scheme", [False, True])
def test_a_secret_fills_with_or_without_its_scheme(
    scheme: str, with_key: bool, given_with_scheme: bool
) -> None:
    credential = "dXNlcjpwYXNzd29yZA=="
    recorded = Redactor(KEY).header("Authorization", f"{scheme} {credential}")
    assert PLACEHOLDER.search(recorded) and recorded.startswith(scheme + " ")
    given = f"{scheme} {credential}" if given_with_scheme else credential
    filler = SecretFiller([("authorization", given)], KEY if with_key else None)
    filled, unfilled = filler.fill(Request("GET", "http://svc/", (("Authorization", recorded),)))
    assert filled.headers == (("Authorization", f"{scheme} {credential}"),)
    assert unfilled == ()


def test_a_value_with_a_scheme_fills_a_placeholder_without_one_whole() -> None:
    placeholder = Redactor(KEY).placeholder("Basic dXNlcjpwYXNz", "x_credentials")
    request = Request("GET", "http://svc/", (("X-Credentials", placeholder),))
    filled, _ = SecretFiller([("x_credentials", "Basic dXNlcjpwYXNz")]).fill(request)
    assert filled.headers == (("X-Credentials", "Basic dXNlcjpwYXNz"),)


@pytest.mark.parametrize(
    "text",
    [
        # an npm package's integrity (Subresource Integrity, base64 with '/') and its tarball data
        "sha512-/a1B5C9/asHL9R5HtlZAw1DTE3QLIOSfSbfNmWmAq3+ds0Y8g==",
        "H4sIAAAAAAAC/+2VwWoCMRCGc/YphlxsocZJu7tCi+LVgzdfIG5Gid3Nhk0UQfruJctaCu2x3VLJd/nhz0AIz",
        '{"integrity":"sha512-/B5C9/asHL9R5HtlZAw1DTE3QLIOSfSbfNmWmAq3+ds0Y8g=="}',
    ],
)
def test_base64_is_not_a_path_full_of_tokens(text: str) -> None:
    """Its `/` separate nothing: redacting a run of it would change a checksum the service
    verifies (a real npm publish was refused with `shasum error` when it was)."""
    assert Redactor(b"k" * 32).text(text) == text
