"""Redaction: secrets out by name and by shape, equal secrets equal placeholders."""

from __future__ import annotations

import json
import re

import pytest

from apitape.errors import UsageError
from apitape.models import Request, Response
from apitape.redaction.redact import (
    DEFAULT_VALUE_PATTERNS,
    PLACEHOLDER,
    RedactionPolicy,
    Redactor,
    SecretFiller,
    is_placeholder,
    key_id,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4\n-----END RSA PRIVATE KEY-----"


def redactor(key: bytes = b"k" * 32) -> Redactor:
    return Redactor(key)


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("Authorization", "Bearer s3cr3t-access-token", "s3cr3t-access-token"),
        ("authorization", "Basic YWxpY2U6aHVudGVyMg==", "YWxpY2U6aHVudGVyMg=="),
        ("Proxy-Authorization", "Basic cHJveHk6cGFzcw==", "cHJveHk6cGFzcw=="),
        ("X-Api-Key", "key-1234567890", "key-1234567890"),
        ("Cookie", "session=abcdef123456; theme=dark", "abcdef123456"),
        ("Set-Cookie", "session=abcdef123456; Path=/; HttpOnly", "abcdef123456"),
        ("X-Debug", f"token was {JWT}", JWT),
    ],
)
def test_credential_headers_lose_their_secret_and_keep_their_shape(
    name: str, value: str, secret: str
) -> None:
    redacted = redactor().header(name, value)
    assert secret not in redacted
    assert PLACEHOLDER.search(redacted)
    if name.lower() in ("authorization", "proxy-authorization"):
        assert redacted.split(" ")[0] == value.split(" ")[0]  # the scheme stays readable
    if name == "Set-Cookie":
        assert redacted.startswith("session=redacted-session-")
        assert redacted.endswith("; Path=/; HttpOnly")


def test_ordinary_headers_and_cookie_names_stay() -> None:
    r = redactor()
    assert r.header("Accept", "application/json") == "application/json"
    assert r.header("Cookie", "session=abcdef123456; theme=dark").endswith(
        "; theme=" + r.placeholder("dark", "theme")
    )


@pytest.mark.parametrize(
    "field",
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "client_secret",
        "accessToken",
        "X-Refresh-Token",
        "db_password",
    ],
)
def test_secret_field_names(field: str) -> None:
    assert redactor().is_secret_field(field)


@pytest.mark.parametrize("field", ["token_type", "title", "id", "tokens_left", "author"])
def test_ordinary_field_names(field: str) -> None:
    assert not redactor().is_secret_field(field)


def test_query_form_and_json_fields_are_redacted_and_the_rest_kept() -> None:
    r = redactor()
    url = r.url("http://svc/login?user=alice&api_key=K3Y-abc%2Fdef&page=2")
    assert "K3Y" not in url and "user=alice" in url and "page=2" in url
    form = Request(
        "POST",
        "http://svc/login",
        (("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "31")),
        b"user=alice&password=hunter2%21x",
    )
    redacted = r.request(form)
    assert b"hunter2" not in redacted.body and b"user=alice" in redacted.body
    assert ("Content-Length", str(len(redacted.body))) in redacted.headers
    body = {"user": "alice", "password": "hunter2!x", "nested": [{"refresh_token": "r-12345678"}]}
    response = Response(
        200, "OK", (("Content-Type", "application/json"),), json.dumps(body).encode()
    )
    out = json.loads(r.response(response).body)
    assert out["user"] == "alice"
    assert is_placeholder(out["password"]) and is_placeholder(out["nested"][0]["refresh_token"])
    assert out["password"] == r.placeholder("hunter2!x", "password")


@pytest.mark.parametrize(
    "text",
    [
        f"here is a jwt {JWT} in prose",
        PEM,
        "aws AKIAIOSFODNN7EXAMPLE here",
        "curl -H 'Authorization: Bearer abcdefghijklmnop123'",
        "gh token ghp_" + "a" * 36,
    ],
)
def test_secret_shaped_values_are_redacted_anywhere_in_text(text: str) -> None:
    redacted = redactor().text(text)
    assert PLACEHOLDER.search(redacted)
    for secret in (
        JWT,
        "MIIBOgIBAAJBAKj34",
        "AKIAIOSFODNN7EXAMPLE",
        "abcdefghijklmnop123",
        "a" * 36,
    ):
        assert secret not in redacted


# One secret of each default value pattern, in the order of DEFAULT_VALUE_PATTERNS, with
# the part the redactor replaces.
EVERY_DEFAULT_SHAPE = [
    (JWT, JWT),
    ("BEARER abcdefghijklmnop123", "abcdefghijklmnop123"),
    ("Basic YWxpY2U6aHVudGVyMg==", "YWxpY2U6aHVudGVyMg=="),
    (PEM, "MIIBOgIBAAJBAKj34"),
    ("ASIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE"),
    ("ghs_" + "b" * 36, "b" * 36),
    ("xoxb-1234567890-abcdef", "xoxb-1234567890-abcdef"),
    ("sk_live_" + "c" * 24, "c" * 24),
    ("AIza" + "d" * 35, "d" * 35),
    ("https://b.s3/k?X-Amz-Signature=" + "e" * 64, "e" * 64),
    ("https://x.blob/c?sv=2022&sig=Zm9vYmFyYmF6cXV4cXV1eA%3D%3D", "Zm9vYmFyYmF6cXV4cXV1eA"),
    ("/k?X-Amz-Credential=KEYIDPLANTED0001%2F20261207%2Fus-east-1", "KEYIDPLANTED0001"),
]


def test_every_default_value_pattern_has_a_sample_here() -> None:
    assert len(EVERY_DEFAULT_SHAPE) == len(DEFAULT_VALUE_PATTERNS)
    for (sample, _secret), pattern in zip(EVERY_DEFAULT_SHAPE, DEFAULT_VALUE_PATTERNS, strict=True):
        assert re.search(pattern, sample), (pattern, sample)


@pytest.mark.parametrize(("sample", "secret"), EVERY_DEFAULT_SHAPE)
@pytest.mark.parametrize(
    ("words", "length"),
    [
        ("Lorem ipsum dolor sit amet. ", 40),
        ("Lorem ipsum dolor sit amet. ", 300_000),
        ("Quality basics and assets. ", 300_000),  # holds anchors ("basic"), not secrets
    ],
)
def test_secret_shapes_are_found_in_long_texts_whatever_surrounds_them(
    sample: str, secret: str, words: str, length: int
) -> None:
    # Long texts are searched only when a pattern's anchor turns up in them (any case): the
    # secret must still be found in the middle of a big body, and a body without one keeps
    # every byte.
    prose = (words * (length // len(words) + 1))[:length]
    redacted = redactor().text(f"{prose} {sample} {prose}")
    assert secret not in redacted and PLACEHOLDER.search(redacted)
    assert redactor().text(prose + " " + prose) == prose + " " + prose


def test_an_added_value_pattern_is_searched_in_long_texts_too() -> None:
    policy = RedactionPolicy().extended(values=[r"\bACME-\d{6}\b"])
    prose = "nothing secret here, " * 5000
    redacted = Redactor(b"k" * 32, policy).text(f"{prose}code ACME-123456 used{prose}")
    assert "ACME-123456" not in redacted and PLACEHOLDER.search(redacted)


def test_equal_secrets_give_equal_placeholders_across_requests_and_responses() -> None:
    r = redactor()
    login = Response(
        200, "OK", (("Content-Type", "application/json"),), b'{"access_token": "tok-ABCDEFGH-1234"}'
    )
    placeholder = json.loads(r.response(login).body)["access_token"]
    later = r.request(
        Request("GET", "http://svc/me", (("Authorization", "Bearer tok-ABCDEFGH-1234"),))
    )
    assert later.headers == (("Authorization", f"Bearer {placeholder}"),)
    # A place no rule names still loses a secret seen before, under the same placeholder.
    echoed = r.request(Request("GET", "http://svc/x", (("X-Session", "tok-ABCDEFGH-1234"),)))
    assert echoed.headers == (("X-Session", placeholder),)
    assert placeholder.startswith("redacted-access_token-")


def test_a_text_that_held_no_secret_loses_one_learned_after_it_was_seen() -> None:
    r = redactor()
    echo = Response(200, "OK", (("X-Echo", "tok-ABCDEFGH-1234"),), b'{"note": "tok-ABCDEFGH-1234"}')
    assert r.response(echo) == echo  # nothing secret-shaped, no secret known yet
    login = Response(
        200, "OK", (("Content-Type", "application/json"),), b'{"access_token": "tok-ABCDEFGH-1234"}'
    )
    placeholder = json.loads(r.response(login).body)["access_token"]
    again = r.response(echo)  # the same texts, now holding a known secret
    assert again.headers == (("X-Echo", placeholder),)
    assert json.loads(again.body) == {"note": placeholder}


def test_the_placeholder_depends_on_the_key_and_redaction_is_idempotent() -> None:
    a, b = redactor(b"a" * 32), redactor(b"b" * 32)
    assert a.placeholder("hunter2", "password") != b.placeholder("hunter2", "password")
    request = Request(
        "GET", "http://svc/?token=abcdefgh12345", (("Authorization", "Bearer xyz12345678"),)
    )
    once = a.request(request)
    assert a.request(once) == once
    assert b.request(once) == once  # a placeholder is never taken for a secret
    assert key_id(b"a" * 32) != key_id(b"b" * 32) and len(key_id(b"a")) == 12


def test_binary_bodies_stay_exact_and_disabled_policy_changes_nothing() -> None:
    binary = bytes(range(256))
    response = Response(200, "OK", (("Content-Type", "application/octet-stream"),), binary)
    assert redactor().response(response) is response
    off = Redactor(b"k", RedactionPolicy(enabled=False))
    request = Request("GET", "http://svc/?password=x", (("Authorization", "Bearer abc"),))
    assert off.request(request) is request


def test_extended_policy_adds_headers_fields_and_values() -> None:
    policy = RedactionPolicy().extended(
        headers=["X-Tenant-Secret"], fields=["pin"], values=[r"\bACME-\d{6}\b"]
    )
    r = Redactor(b"k" * 32, policy)
    assert is_placeholder(r.header("X-Tenant-Secret", "plain"))
    assert is_placeholder(r.json_value({"pin": 1234})["pin"])
    assert "ACME-123456" not in r.text("code ACME-123456 used")


def test_pretty_and_compact_json_keep_their_layout() -> None:
    r = redactor()
    compact = r.body((("Content-Type", "application/json"),), b'{"a":1,"token":"abcdefgh1"}')
    assert compact.startswith(b'{"a":1,"token":"redacted-token-')
    pretty = r.body(
        (("Content-Type", "application/json"),), b'{\n  "a": 1,\n  "token": "abcdefgh1"\n}'
    )
    assert pretty.startswith(b'{\n  "a": 1,\n  "token": "redacted-token-')


def test_fill_secrets_by_label_or_hash_escaping_for_the_place() -> None:
    r = redactor()
    ph = r.placeholder("old-pass", "password")
    request = Request(
        "POST",
        f"http://svc/login?password={ph}",
        (("Content-Type", "application/json"), ("X-Api-Key", r.placeholder("k", "x_api_key"))),
        json.dumps({"password": ph}).encode(),
    )
    filled, unfilled = SecretFiller([("password", 'new "pass"&')]).fill(request)
    assert json.loads(filled.body) == {"password": 'new "pass"&'}
    assert filled.url.endswith("password=new%20%22pass%22%26")
    assert unfilled == ("x_api_key",)
    by_hash, _ = SecretFiller([(ph.rsplit("-", 1)[1], "h")]).fill(request)
    assert json.loads(by_hash.body) == {"password": "h"}


def test_with_the_key_a_value_fills_only_the_placeholders_made_from_it() -> None:
    key = b"k" * 32
    r = Redactor(key)
    wrong, right = (
        r.placeholder("not-wonderland", "password"),
        r.placeholder("wonderland", "password"),
    )
    filler = SecretFiller([("password", "wonderland"), ("password", "builder")], key)
    body = lambda ph: json.dumps({"password": ph}).encode()  # noqa: E731
    request = lambda ph: Request("POST", "http://svc/login", JSON_TYPE, body(ph))  # noqa: E731
    assert filler.fill(request(right))[0].body == body("wonderland")
    assert filler.fill(request(wrong)) == (request(wrong), ("password",))  # stays wrong
    with pytest.raises(UsageError, match="redaction key"):
        SecretFiller([("password", "a"), ("password", "b")])


JSON_TYPE = (("Content-Type", "application/json"),)


def test_secret_options_expand_the_environment_and_refuse_bad_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from apitape.runs.settings import expand_secrets

    monkeypatch.setenv("STAGING_PW", "s3cret")
    assert expand_secrets(["password=$STAGING_PW", "x_api_key=plain"]) == [
        ("password", "s3cret"),
        ("x_api_key", "plain"),
    ]
    with pytest.raises(UsageError) as unset:
        expand_secrets(["token=$NOPE_NOT_SET"])
    assert unset.value.setting == "secrets"  # the face words it: --secret, --apitape-secret
    assert unset.value.worded("--secret").startswith("--secret token: $NOPE_NOT_SET is not set")
    with pytest.raises(UsageError, match=r"^--apitape-secret token: \$NOPE_NOT_SET is not set"):
        expand_secrets(["token=$NOPE_NOT_SET"], "--apitape-secret")
    with pytest.raises(UsageError, match="LABEL=VALUE") as caught:
        expand_secrets(["just-a-secret-value"])
    assert "just-a-secret-value" not in str(caught.value)  # it may be the secret itself
