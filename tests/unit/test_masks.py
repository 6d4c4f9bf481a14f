"""Masks by shape: what each built-in must match, and what it must leave alone."""

from __future__ import annotations

import pytest

from apitape.compare.masks import Masked, ShapeMasks, masks_from_settings, replace_origins

MASKS = ShapeMasks()


@pytest.mark.parametrize(
    ("value", "placeholder"),
    [
        ("0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f", "<uuid>"),
        ("0B8F2C3E-6D1A-4C57-9F0E-2A7B9C1D4E5F", "<uuid>"),
        ("2026-11-24T03:18:17.058277Z", "<timestamp:iso8601>"),
        ("2026-11-24T03:18:17Z", "<timestamp:iso8601>"),
        ("2026-11-24T03:18:17+01:00", "<timestamp:iso8601>"),
        ("2026-11-24 03:18", "<timestamp:iso8601>"),
        ("Tue, 24 Nov 2026 03:18:16 GMT", "<timestamp:rfc1123>"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl", "<jwt>"),
        ("d41d8cd98f00b204e9800998ecf8427e", "<token>"),
        ("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRg==", "<token>"),
        ("kX9_3fQ-ZpLm2RtYw8VbN4cHs7JdGe1U", "<token>"),
    ],
)
def test_volatile_shapes_become_placeholders(value: str, placeholder: str) -> None:
    masked = MASKS.string(value)
    assert isinstance(masked, Masked)
    assert masked == placeholder
    assert masked.original == value


@pytest.mark.parametrize(
    "value",
    [
        "0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5",  # a UUID one character short
        "0b8f2c3e6d1a4c579f0e2a7b9c1d4e5fz",  # not hex
        "2026-11-24",  # a date is data, not a moment
        "12:30",
        "24 Nov 2026",
        "hello world",
        "eyJhbGciOiJIUzI1NiJ9",  # one JWT segment only
        "d41d8cd98f00b204e9800998ecf8427",  # 31 hex characters
        "abcdefghijklmnopqrstuvwxyzabcdefgh",  # long but not random: no digits or capitals
        "The Pragmatic Regression Hunter",
        "",
    ],
)
def test_ordinary_strings_are_left_alone(value: str) -> None:
    assert type(MASKS.string(value)) is str


@pytest.mark.parametrize(
    ("key", "value", "masked"),
    [
        ("created_at", 1_700_000_000, "<timestamp:epoch-s>"),
        ("expires", 1_700_000_000_000, "<timestamp:epoch-ms>"),
        ("updatedAt", 1_700_000_000.5, "<timestamp:epoch-s>"),
        ("iat", 1_795_490_297, "<timestamp:epoch-s>"),
        ("last_modified", 1_765_119_912_345, "<timestamp:epoch-ms>"),  # seen on a real service
        ("CreationDateTime", 1_765_119_912.345, "<timestamp:epoch-s>"),  # DynamoDB
        ("lastUpdated", 1_765_119_912, "<timestamp:epoch-s>"),
        ("id", 1_700_000_000, None),  # an id in the epoch range is not a time
        ("created_at", 12_345, None),  # not a plausible epoch
        ("price", 19.99, None),
        ("created_at", True, None),
    ],
)
def test_epoch_numbers_are_masked_only_under_time_like_keys(
    key: str, value: float, masked: str | None
) -> None:
    result = MASKS.number(key, value)
    if masked is None:
        assert result is value
    else:
        assert result == masked and isinstance(result, Masked) and result.original == value


def test_text_masks_every_volatile_part_and_keeps_the_rest() -> None:
    text = "id=0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f at 2026-11-24T03:18:17Z by req-0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f"
    hits: list[str] = []
    assert MASKS.text(text, hits.append) == "id=<uuid> at <timestamp:iso8601> by req-<uuid>"
    assert sorted(hits) == ["timestamp", "uuid", "uuid"]


def test_each_builtin_can_be_switched_off() -> None:
    masks = masks_from_settings({"uuid": False, "epoch": False})
    assert type(masks.string("0b8f2c3e-6d1a-4c57-9f0e-2a7b9c1d4e5f")) is str
    assert masks.number("created_at", 1_700_000_000) == 1_700_000_000
    assert masks.string("2026-11-24T03:18:17Z") == "<timestamp:iso8601>"


def test_regex_text_masks_from_config() -> None:
    import re

    masks = ShapeMasks(text_masks=[re.compile(r"served in \d+ ms")])
    assert masks.text("ok, served in 12 ms") == "ok, <masked>"


def test_origins_are_replaced() -> None:
    text = "see http://127.0.0.1:8000/books/1 and //127.0.0.1:8000/x"
    assert (
        replace_origins(text, ["http://127.0.0.1:8000", "//127.0.0.1:8000"])
        == "see <origin>/books/1 and <origin>/x"
    )


def test_milliseconds_since_1970_inside_a_text_are_masked() -> None:
    message = "UNIQUE constraint failed [parameters: ('exp', 1796662809064, 1796662809064)]"
    hits: list[str] = []
    assert MASKS.text(message, hits.append) == (
        "UNIQUE constraint failed [parameters: ('exp', <timestamp:epoch-ms>, <timestamp:epoch-ms>)]"
    )
    assert hits == ["epoch", "epoch"]
    # other numbers stay: a 12-digit amount, a 14-digit order number, a phone number
    for text in ("total 100000000000", "order 17966628090641", "call 5551234567"):
        assert MASKS.text(text) == text


def test_a_bare_host_and_port_of_either_side_is_the_origin() -> None:
    from apitape.compare.normalize import NormalizeContext, RuleNormalizer
    from apitape.http.bodies import ParsedBody

    normalizer = RuleNormalizer()
    context = NormalizeContext("GET /whoami", "replayed", "http://127.0.0.1:18080")
    body = normalizer.body(ParsedBody("json", {"host": "127.0.0.1:18080", "name": "svc"}), context)
    assert body.value == {"host": "<origin>", "name": "svc"}


@pytest.mark.parametrize(
    ("mime", "json"),
    [("application/json", True), ("application/x-amz-json-1.0", True), ("application/x-amz-json-1.1", True),
     ("application/problem+json", True), ("text/json", True), ("application/xml", False), ("text/plain", False)],
)  # fmt: skip
def test_vendor_json_types_are_json(mime: str, json: bool) -> None:
    from apitape.http.bodies import is_json_type

    assert is_json_type(mime) is json
