"""Redaction behaviours no other test pinned: each test here was written for mutants that
survived benchmarks/mutation/run (see benchmarks/mutation/results.md), and states what a user
would see go wrong: a secret left in clear, a body changed that held none, a replay that
fills the wrong value."""

from __future__ import annotations

import base64
import json
import re

import pytest

from apitape.errors import UsageError
from apitape.models import Exchange, Request, Response
from apitape.redaction.redact import (
    RedactionPolicy,
    Redactor,
    SecretFiller,
    high_entropy,
    is_placeholder,
    key_id,
)

KEY = b"k" * 32
JSON = (("Content-Type", "application/json"),)
TEXT = (("Content-Type", "text/plain"),)


def placeholder(label: str) -> str:
    return rf"redacted-{label}-[0-9a-f]{{16}}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------------- whole exchanges


def test_a_secret_only_in_the_response_is_redacted() -> None:
    request = Request("GET", "http://svc/me", (("Accept", "application/json"),))
    body = b'{"access_token": "planted-answer-token-01"}'
    response = Response(200, "OK", (*JSON, ("Content-Length", str(len(body)))), body)
    redacted = Redactor(KEY).exchange(Exchange("1", request, response))
    assert b"planted-answer-token-01" not in redacted.response.body
    assert redacted.request == request


def test_a_redacted_message_keeps_its_method_status_reason_and_a_true_length() -> None:
    r = Redactor(KEY)
    body = b"password=planted-form-pass-01"
    form = (("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", "29"))
    request = r.request(Request("PATCH", "http://svc/login", form, body))
    assert request.method == "PATCH"
    assert ("Content-Length", str(len(request.body))) in request.headers
    answer = b'{"token": "planted-answer-token-02"}'
    response = r.response(Response(201, "Created", (*JSON, ("Content-Length", "36")), answer))
    assert (response.status, response.reason) == (201, "Created")
    assert ("Content-Length", str(len(response.body))) in response.headers
    assert len(response.body) != len(answer)


# ---------------------------------------------------------------------- headers


def test_a_credential_header_after_a_header_seen_before_is_still_redacted() -> None:
    r = Redactor(KEY)
    accept = ("Accept", "application/json")
    assert r.headers((accept,)) == (accept,)  # now known to hold nothing secret
    redacted = r.headers((accept, ("Authorization", "Token planted-second-token-02")))
    assert redacted[0] == accept
    assert re.fullmatch("Token " + placeholder("authorization"), redacted[1][1])


def test_a_credential_header_is_redacted_even_when_its_value_was_seen_as_clean_text() -> None:
    r = Redactor(KEY)
    r.headers((("X-Trace", "plantedvalue123"),))
    redacted = r.headers((("X-Trace", "plantedvalue123"), ("Authorization", "plantedvalue123")))
    assert re.fullmatch(placeholder("authorization"), redacted[1][1])


def test_an_authorization_without_a_scheme_is_one_placeholder() -> None:
    assert re.fullmatch(
        placeholder("authorization"), Redactor(KEY).header("Authorization", "planted0nospace")
    )


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        (b64("alice:pa:ss:word"), "Basic alice:" + placeholder("password")),  # a ':' in it
        (b64("apitokenwithoutcolon01"), "Basic " + placeholder("authorization")),
        (b64("alice:"), "Basic " + placeholder("authorization")),  # no password
        (b64("alice:pw") + "!*", "Basic " + placeholder("authorization")),  # not base64
    ],
)
def test_a_basic_credential_keeps_only_its_user_readable(credential: str, expected: str) -> None:
    redacted = Redactor(KEY).header("Authorization", f"Basic {credential}")
    assert re.fullmatch(expected, redacted), redacted
    assert "pa:ss" not in redacted and "apitoken" not in redacted


def test_an_aws4_scheme_that_is_not_sigv4_is_redacted_whole() -> None:
    redacted = Redactor(KEY).header("Authorization", "AWS4-HMAC-SHA256 planted-not-sigv4-01")
    assert re.fullmatch("AWS4-HMAC-SHA256 " + placeholder("authorization"), redacted)


def test_redacting_a_redacted_sigv4_header_again_changes_nothing() -> None:
    sigv4 = (
        "AWS4-HMAC-SHA256 Credential=AKIAPLANTED000000001/20261207/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=" + "ab" * 32
    )
    once = Redactor(KEY).header("Authorization", sigv4)
    assert Redactor(KEY).header("Authorization", once) == once


def test_cookies_keep_their_names_and_separators_and_lose_whole_values() -> None:
    r = Redactor(KEY)
    redacted = r.header("Cookie", "sid=cGxhbnRlZC1jb29raWU=; theme=dark")
    assert re.fullmatch(f"sid={placeholder('sid')}; theme={placeholder('theme')}", redacted)
    # the placeholder of the value itself (not of `value;`): replay fills it by its hash
    assert redacted.startswith("sid=" + r.placeholder("cGxhbnRlZC1jb29raWU=", "sid") + "; ")
    assert re.fullmatch(f"={placeholder('cookie')}", Redactor(KEY).header("Cookie", "=orphan01"))


def test_a_header_named_in_an_extended_policy_is_redacted() -> None:
    policy = RedactionPolicy().extended(headers=["X-Internal-Cred"])
    assert policy.extras[0] == ("x-internal-cred",)
    assert is_placeholder(Redactor(KEY, policy).header("X-Internal-Cred", "planted-cred-01"))


# ---------------------------------------------------------------------- query strings and forms


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("debug&token=planted-query-token-01&x=1", ("debug&token=", "&x=1")),  # a bare flag first
        ("token=cGxhbnRlZC10b2tlbg==&x=1", ("token=", "&x=1")),  # '=' in the value
    ],
)
def test_every_secret_query_value_is_redacted_whole(query: str, kept: tuple[str, str]) -> None:
    url = Redactor(KEY).url(f"http://svc/a?{query}")
    assert re.fullmatch(
        re.escape(f"http://svc/a?{kept[0]}") + placeholder("token") + re.escape(kept[1]), url
    )


def test_a_presigned_key_id_without_its_scope_is_redacted_alone() -> None:
    url = Redactor(KEY).url("http://svc/k?X-Amz-Credential=AKIAPLANTED000000001&x=1")
    assert re.fullmatch(
        re.escape("http://svc/k?X-Amz-Credential=")
        + placeholder("aws_access_key_id")
        + re.escape("&x=1"),
        url,
    )


# ---------------------------------------------------------------------- JSON bodies


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":  [1, 2],  "b": {"c": [true, null, 2.5]}}',
        b'[{"ids": [1, 2, 3]}, ["x", "y"]]',
        b'{"caf\\u00e9": "cr\\u00e8me", "n": [0]}',
    ],
)
def test_a_json_body_without_secrets_is_kept_byte_for_byte(body: bytes) -> None:
    assert Redactor(KEY).body(JSON, body) is body


@pytest.mark.parametrize(
    "body",
    [
        '{"user": "Zoë", "password": "planted-json-pass-01"}',
        '{"user":"Zoë","password":"planted-json-pass-01"}',
        '{"password": "planted-json-pass-01"}',
        '{\n  "user": "Zoë",\n  "password": "planted-json-pass-01"\n}',
    ],
)
def test_a_redacted_json_body_keeps_its_layout_and_its_characters(body: str) -> None:
    redacted = Redactor(KEY).body(JSON, body.encode()).decode()
    expected = re.escape(body).replace("planted\\-json\\-pass\\-01", placeholder("password"))
    assert re.fullmatch(expected, redacted), redacted


def test_each_item_of_a_list_under_a_secret_name_is_redacted() -> None:
    body = b'{"token": ["planted-list-token-01", "planted-list-token-02"], "ids": [1, 2]}'
    redacted = json.loads(Redactor(KEY).body(JSON, body))
    assert all(re.fullmatch(placeholder("token"), item) for item in redacted["token"])
    assert redacted["ids"] == [1, 2]


@pytest.mark.parametrize("headers", [JSON, ()], ids=["json", "no content type"])
def test_a_number_under_a_secret_name_becomes_a_json_string(
    headers: tuple[tuple[str, str], ...],
) -> None:
    redacted = json.loads(Redactor(KEY).body(headers, b'{"pin_code": 482913, "n": 7}'))
    assert re.fullmatch(placeholder("pin_code"), redacted["pin_code"]) and redacted["n"] == 7


def test_distinct_numbers_under_a_secret_name_get_distinct_placeholders() -> None:
    r = Redactor(KEY)
    redacted = json.loads(r.body(JSON, b'[{"otp": 482913}, {"otp": 551007}]'))
    assert [item["otp"] for item in redacted] == [
        r.placeholder("482913", "otp"),
        r.placeholder("551007", "otp"),
    ]


def test_a_text_body_without_a_content_type_is_searched_for_names() -> None:
    redacted = Redactor(KEY).body((), b"user=alice\npassword=planted-nomime-01")
    assert re.fullmatch(b"user=alice\npassword=" + placeholder("password").encode(), redacted)


def test_a_body_sent_as_json_that_is_not_json_is_searched_as_text() -> None:
    redacted = Redactor(KEY).body(JSON, b"oops Bearer planted-bearer-value-01 {")
    assert re.fullmatch(b"oops Bearer " + placeholder("secret").encode() + b" {", redacted)


# ---------------------------------------------------------------------- text


def test_a_secret_name_with_a_colon_in_text_is_redacted() -> None:
    redacted = Redactor(KEY).body(TEXT, b"user: alice\ntoken: planted-colon-token-01")
    assert re.fullmatch(b"user: alice\ntoken: " + placeholder("token").encode(), redacted)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "jwt"),
        ("Bearer planted-opaque-bearer-01", "secret"),
        ("key AKIAPLANTED000000042 used", "aws_access_key_id"),
        ("-----BEGIN PRIVATE KEY-----\nMIIPLANTED\n-----END PRIVATE KEY-----", "private_key"),
        ("?sig=PlantedSasSignature0042&sv=1", "sig"),
    ],
)
def test_a_secret_shape_in_text_gets_its_label_and_is_redacted_once(text: str, label: str) -> None:
    r = Redactor(KEY)
    once = r.text(text)
    assert re.search(placeholder(label), once), once
    assert Redactor(KEY).text(once) == once  # a placeholder is never redacted again


def test_a_secret_seen_before_is_found_again_with_padding_and_inside_a_path() -> None:
    r = Redactor(KEY)
    r.body(JSON, b'{"access_token": "planted-learned-token-01", "otp": "8charsOK"}')
    made = r.placeholder("planted-learned-token-01", "x")
    assert r.text("echo planted-learned-token-01== end") == f"echo {made} end"
    assert r.text("see /reset/planted-learned-token-01/ok") == f"see /reset/{made}/ok"
    assert r.text("otp 8charsOK again") == f"otp {r.placeholder('8charsOK', 'x')} again"
    r.body(JSON, b'{"token": "cGxhbnRlZC1wYWRkZWQ="}')  # learned with its padding
    assert "cGxhbnRlZC1wYWRkZWQ" not in r.text("echo cGxhbnRlZC1wYWRkZWQ= end")


def test_the_oldest_secret_is_forgotten_first() -> None:
    r = Redactor(KEY, memory=2)
    secrets = ("planted-memory-01", "planted-memory-02", "planted-memory-03")
    for secret in secrets:
        r.body(JSON, json.dumps({"token": secret}).encode())
    remembered = r.text(" ".join(secrets)).split(" ")
    assert remembered[0] == secrets[0]
    assert all(is_placeholder(word) for word in remembered[1:])


def test_a_token_in_a_link_in_text_is_redacted_without_being_seen_before() -> None:
    redacted = Redactor(KEY).text('<a href="/reset/Hy4Tq8Wm2Zc7Kp3Rv9Ls5Nf0/confirm">reset</a>')
    assert re.fullmatch(
        '<a href="/reset/' + placeholder("path_token") + '/confirm">reset</a>', redacted
    )
    # the shortest text that can hold one: '/' and 20 characters
    assert re.fullmatch(
        "/" + placeholder("path_token"), Redactor(KEY).text("/AbCdEfGhIjKlMnOpQrSt")
    )


def test_added_rules_apply_in_long_texts_and_text_bodies_that_hold_no_default_word() -> None:
    policy = RedactionPolicy().extended(fields=[r"customer_number"], values=[r"CUST-\d{6}"])
    r = Redactor(KEY, policy)
    long_text = "x" * 80 + " CUST-123456 " + "y" * 10  # over 64 characters, no default anchor
    assert "CUST-123456" not in r.text(long_text)
    body = r.body(TEXT, b"customer_number=12345678")
    assert re.fullmatch(b"customer_number=" + placeholder("customer_number").encode(), body)


def test_labels_are_snake_case_of_at_most_40_characters_never_empty() -> None:
    r = Redactor(KEY)
    assert r.placeholder("planted-label-01", "__Pass__Word__").startswith("redacted-pass_word-")
    assert r.placeholder("planted-label-02", "A" * 50).startswith("redacted-" + "a" * 40 + "-")
    assert is_placeholder(r.placeholder("planted-label-03", "--"))


def test_a_credential_found_by_shape_is_labelled_by_what_it_looks_like() -> None:
    assert re.fullmatch(
        "Bearer " + placeholder("jwt"), Redactor(KEY).text("Bearer eyJhbGciOiJIUzI1NiJ9abc")
    )
    policy = RedactionPolicy().extended(values=[r"<(?P<secret>[^>]*PRIVATE KEY[^>]*)>"])
    redacted = Redactor(KEY, policy).text("key <RSA PRIVATE KEY planted01>")
    assert re.fullmatch("key <" + placeholder("private_key") + ">", redacted)


# ---------------------------------------------------------------------- multipart


def multipart(boundary: str, *parts: bytes) -> bytes:
    return b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts) + (
        b"--" + boundary.encode() + b"--\r\n"
    )


def form_part(name: str, value: bytes) -> bytes:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data;boundary=XyZ", "XyZ"),  # no space after ';'
        ('multipart/form-data; boundary="a=b"', "a=b"),  # '=' in a quoted boundary
    ],
)
def test_any_valid_multipart_boundary_is_understood(content_type: str, boundary: str) -> None:
    body = multipart(boundary, form_part("password", b"planted-mp-pass-01"))
    redacted = Redactor(KEY).body((("Content-Type", content_type),), body)
    assert b"planted-mp-pass" not in redacted


def test_a_malformed_part_does_not_stop_the_parts_after_it() -> None:
    body = multipart("XyZ", b"no blank line here", form_part("password", b"planted-mp-pass-02"))
    redacted = Redactor(KEY).body((("Content-Type", "multipart/form-data; boundary=XyZ"),), body)
    assert b"planted-mp-pass" not in redacted and b"no blank line here" in redacted


def test_a_secret_part_gets_the_placeholder_the_same_secret_gets_elsewhere() -> None:
    r = Redactor(KEY)
    body = multipart("XyZ", form_part("password", b"planted-mp-pass-03"))
    redacted = r.body((("Content-Type", "multipart/form-data; boundary=XyZ"),), body)
    assert r.placeholder("planted-mp-pass-03", "x").encode() in redacted
    # and one that is not UTF-8 is redacted too (read as Latin-1)
    body = multipart("XyZ", form_part("password", b"planted-\xff\xfe-03"))
    redacted = r.body((("Content-Type", "multipart/form-data; boundary=XyZ"),), body)
    assert b"planted-" not in redacted


def test_a_secret_part_holding_a_blank_line_is_redacted_whole() -> None:
    body = multipart("XyZ", form_part("password", b"planted-line-01\r\n\r\nplanted-line-02"))
    redacted = Redactor(KEY).body((("Content-Type", "multipart/form-data; boundary=XyZ"),), body)
    assert b"planted-line" not in redacted


def test_a_file_part_under_a_secret_name_is_kept_byte_for_byte() -> None:
    data = bytes(range(40, 120))
    part = (
        b'Content-Disposition: form-data; name="signature"; filename="sig.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + data
    )
    body = multipart("XyZ", part)
    assert Redactor(KEY).body((("Content-Type", "multipart/form-data; boundary=XyZ"),), body) == (
        body
    )


# ---------------------------------------------------------------------- shapes and key ids


@pytest.mark.parametrize(
    ("segment", "token"),
    [
        ("AbCdEfGhIjKlMnOpQrSt", True),  # 20 characters: the shortest token
        ("AbCdEfGhIjKlMnOpQrS", False),  # 19
        ("Abc1Abc2Abc3Abc4ab5ab6ab7ab8", True),  # capitals 0.2 of the letters
        ("ABCDa1EFGHb2IJKLc3MNOPd4", True),  # 0.8
        ("ABCDa1EFGHb2IJKLc3MNOPQ", False),  # 0.85
        ("AbcdEfghIjklMnopQrst", True),  # lower-case runs of 3
        ("AbcdeFghijKlmnoPqrstUvwxy", False),  # of 4: words, not a token
    ],
)
def test_a_path_token_is_told_by_its_length_and_its_mix_of_cases(segment: str, token: bool) -> None:
    assert high_entropy(segment) is token


def test_a_key_id_is_stable_across_versions() -> None:
    # Cassettes carry it in their header; a replay compares it with its own key's.
    assert key_id(KEY) == "67cd2c2191fe"


# ---------------------------------------------------------------------- filling on replay


@pytest.mark.parametrize("with_key", [False, True])
def test_a_basic_credential_that_is_not_user_and_password_fills_back_whole(
    with_key: bool,
) -> None:
    credential = "Basic " + b64("apitokenwithoutcolon01")
    recorded = Redactor(KEY).header("Authorization", credential)
    request = Request("GET", "http://svc/", (("Authorization", recorded),))
    filler = SecretFiller([("authorization", credential)], KEY if with_key else None)
    filled, unfilled = filler.fill(request)
    assert filled.headers == (("Authorization", credential),) and unfilled == ()


def test_a_whole_placeholder_given_as_the_name_fills_it() -> None:
    made = Redactor(KEY).placeholder("planted-fill-01", "api_key")
    request = Request("DELETE", f"http://svc/keys?api_key={made}", ())
    filled, unfilled = SecretFiller([(made, "new value/1")]).fill(request)
    assert filled.method == "DELETE" and unfilled == ()
    assert filled.url == "http://svc/keys?api_key=new%20value%2F1"  # escaped for a URL


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/x-www-form-urlencoded", "a+b%26c%3D%22%27%3C"),
        ("application/xml", "a b&amp;c=&quot;&apos;&lt;"),
        ("application/json", "a b&c=\\\"'<"),
    ],
)
def test_a_filled_body_value_is_escaped_for_its_body_type(content_type: str, expected: str) -> None:
    made = Redactor(KEY).placeholder("planted-fill-02", "password")
    request = Request("POST", "http://svc/", (("Content-Type", content_type),), made.encode())
    filled, _ = SecretFiller([("password", "a b&c=\"'<")]).fill(request)
    assert filled.body.decode() == expected


def test_two_values_for_one_label_without_the_key_say_to_give_the_key() -> None:
    with pytest.raises(UsageError) as caught:
        SecretFiller([("password", "one"), ("password", "two")])
    assert caught.value.setting == "secrets"
    assert caught.value.worded("--secret") == (
        "--secret password is given twice with different values; give the redaction key the "
        "cassettes were recorded with (its key file, or $APITAPE_REDACT_KEY) so each value fills "
        "only the placeholders made from it"
    )
