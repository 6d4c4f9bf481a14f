"""Correlation by provenance: what a response produced is carried, whatever its shape; what the
client chose, what a reordered list suggests and what merely looks alike is not."""

from __future__ import annotations

import json

import pytest

from apitape.models import Difference, Request, Response
from apitape.replay.correlate import Correlator
from tests.unit.test_correlate import answer, ex

XML = (("Content-Type", "application/xml"),)
RUN_OLD, RUN_NEW = "0f3c9a8e2b7d4c1e9a6b5d4c3b2a1f0e", "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"


def learned_from(recorded: object, replayed: object, **request: object) -> Correlator:
    correlator = Correlator()
    correlator.learn(
        ex("POST", "/things", response=recorded, **request), "POST /things", answer(replayed)
    )  # type: ignore[arg-type]
    return correlator


@pytest.mark.parametrize(
    ("recorded", "replayed", "later", "expected_url"),
    [
        # a nanoid-style 4-character id: produced under `id`, carried into the path
        ({"id": "aB3x"}, {"id": "Qz9k"}, "/posts/aB3x", "/posts/Qz9k"),
        (
            {"post": {"id": "7Hk2pQz"}},
            {"post": {"id": "m3Nq81x"}},
            "/posts/7Hk2pQz/comments",
            "/posts/m3Nq81x/comments",
        ),
        # a short numeric id under an id-like key, used in a query
        ({"upload_id": 12}, {"upload_id": 13}, "/parts?upload_id=12", "/parts?upload_id=13"),
        # millisecond timestamps are distinctive: carried into ?_since=
        (
            {"last_modified": 1765119912345},
            {"last_modified": 1765119999999},
            "/feed?_since=1765119912345",
            "/feed?_since=1765119999999",
        ),
        # a distinctive value inside a longer query value
        (
            {"run_id": RUN_OLD},
            {"run_id": RUN_NEW},
            f"/artifacts?path=1/{RUN_OLD}/artifacts",
            f"/artifacts?path=1%2F{RUN_NEW}%2Fartifacts",
        ),
    ],
)
def test_a_produced_value_is_carried_whatever_its_shape(
    recorded, replayed, later, expected_url
) -> None:
    correlator = learned_from(recorded, replayed)
    request, made = correlator.rewrite(ex("GET", later).request, "2")
    assert request.url == f"http://staging:8000{expected_url}"
    assert made


@pytest.mark.parametrize(
    ("first", "recorded", "replayed", "later"),
    [
        # the client chose "my-list" before the response echoed it: never learned
        ("/lists?name=my-list", {"id": "my-list"}, {"id": "my-list-2"}, "/lists/my-list"),
        # a list whose order differs between builds teaches nothing about its items
        (
            "/posts",
            [{"id": 1, "title": "a"}, {"id": 2, "title": "b"}],
            [{"id": 2, "title": "b"}, {"id": 1, "title": "a"}],
            "/posts/1/comments",
        ),
        ("/tags", ["1", "2"], ["2", "1"], "/tags/1"),
        # a coincidental short number under a key that names nothing
        ("/stats", {"count": 1}, {"count": 2}, "/books/1?page=1"),
    ],
)
def test_what_the_service_did_not_produce_is_not_carried(first, recorded, replayed, later) -> None:
    correlator = Correlator()
    earlier = ex("GET", first, response=recorded)
    correlator.rewrite(earlier.request, "1")  # the client sent this first
    correlator.learn(earlier, f"GET {first}", answer(replayed))
    request, made = correlator.rewrite(ex("GET", later).request, "2")
    assert (request.url, made) == (f"http://staging:8000{later}", [])


def test_list_items_pair_by_identity_and_the_one_new_item_pairs_with_the_new_one() -> None:
    recorded = [{"id": 1, "token": "old-token-1"}, {"id": "n-aa", "name": "mine"}]
    replayed = [{"id": "n-zz", "name": "mine"}, {"id": 1, "token": "old-token-1"}]
    correlator = learned_from(recorded, replayed)
    request, _ = correlator.rewrite(ex("DELETE", "/things/n-aa").request, "2")
    assert request.url == "http://staging:8000/things/n-zz"


def test_a_distinctive_value_inside_a_json_string_is_carried() -> None:
    correlator = learned_from({"run_id": RUN_OLD}, {"run_id": RUN_NEW})
    body = {"run_id": RUN_OLD, "source": f"runs:/{RUN_OLD}/model"}
    request, made = correlator.rewrite(ex("POST", "/models", body=body).request, "2")
    assert json.loads(request.body) == {"run_id": RUN_NEW, "source": f"runs:/{RUN_NEW}/model"}
    assert {s.used_in for s in made} == {"body $.run_id", "body $.source (inside)"}


@pytest.mark.parametrize(
    ("header", "sent", "carried"),
    [
        ("If-None-Match", '"e-old"', '"e-new"'),
        ("If-Match", '"e-old"', '"e-new"'),
        ("If-None-Match", 'W/"e-old", "other"', 'W/"e-new", "other"'),
        ("If-Range", '"e-old"', '"e-new"'),
        ("If-Modified-Since", "Mon, 07 Dec 2026 10:00:00 GMT", "Mon, 07 Dec 2026 11:30:00 GMT"),
        ("If-Unmodified-Since", "Mon, 07 Dec 2026 10:00:00 GMT", "Mon, 07 Dec 2026 11:30:00 GMT"),
    ],
)
def test_validators_are_carried_by_their_http_meaning(header: str, sent: str, carried: str) -> None:
    correlator = Correlator()
    recorded = ex("GET", "/doc", response={"a": 1},
                  response_headers=(("ETag", '"e-old"'), ("Last-Modified", "Mon, 07 Dec 2026 10:00:00 GMT")))  # fmt: skip
    replayed = answer(
        {"a": 1}, (("ETag", '"e-new"'), ("Last-Modified", "Mon, 07 Dec 2026 11:30:00 GMT"))
    )
    correlator.learn(recorded, "GET /doc", replayed)
    request, made = correlator.rewrite(ex("GET", "/doc", headers=((header, sent),)).request, "2")
    assert request.headers == ((header, carried),)
    assert made[0].used_in == f"header {header.lower()}"


def test_an_etag_the_client_invented_is_left_alone() -> None:
    correlator = Correlator()
    correlator.learn(
        ex("GET", "/doc", response={}, response_headers=(("ETag", '"e-old"'),)),
        "GET /doc",
        answer({}, (("ETag", '"e-new"'),)),
    )
    request, made = correlator.rewrite(
        ex("GET", "/doc", headers=(("If-None-Match", '"mine"'),)).request, "2"
    )
    assert (request.headers, made) == ((("If-None-Match", '"mine"'),), [])


def test_an_id_from_an_xml_answer_is_carried_into_the_query() -> None:
    body = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>big.bin</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>"
    correlator = Correlator()
    recorded = ex("POST", "/b/big.bin?uploads=", response=None)
    recorded = recorded.__class__(
        recorded.id, recorded.request, Response(200, "", XML, body.format("up-Old7").encode())
    )
    correlator.learn(
        recorded, "POST /b/big.bin", Response(200, "", XML, body.format("up-New9").encode())
    )
    later = Request("PUT", "http://staging:8000/b/big.bin?partNumber=1&uploadId=up-Old7", (), b"")
    request, made = correlator.rewrite(later, "2")
    assert request.url == "http://staging:8000/b/big.bin?partNumber=1&uploadId=up-New9"
    assert made[0].learned_from.endswith("/InitiateMultipartUploadResult/UploadId")


def test_a_generated_identifier_nobody_used_is_the_services_own_where_it_was_learned() -> None:
    correlator = learned_from({"_rev": "3-467948a2e07c1d2d"}, {"_rev": "3-5cb956763628fab8"})
    made_up = Difference("$._rev", "value_changed", "3-467948a2e07c1d2d", "3-5cb956763628fab8")
    assert correlator.explains(made_up)
    # elsewhere, or of another shape, or a number, it is a difference
    assert not correlator.explains(
        Difference("$.other", "value_changed", "3-467948a2e07c1d2d", "3-5cb956763628fab8")
    )
    other = learned_from({"_rev": "3-467948a2e07c1d2d"}, {"_rev": "4-5cb9567636"})
    assert not other.explains(
        Difference("$._rev", "value_changed", "3-467948a2e07c1d2d", "4-5cb9567636")
    )
    counted = learned_from({"id": 5}, {"id": 6})
    assert not counted.explains(Difference("$.id", "value_changed", 5, 6))


def test_an_xml_answer_labelled_html_still_teaches_its_ids() -> None:
    html = (("Content-Type", "text/html; charset=utf-8"),)
    body = '<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><UploadId>{}</UploadId></InitiateMultipartUploadResult>'
    correlator = Correlator()
    recorded = ex("POST", "/b/big.bin?uploads=")
    recorded = recorded.__class__(
        recorded.id, recorded.request, Response(200, "", html, body.format("up-Old7").encode())
    )
    correlator.learn(
        recorded, "POST /b/big.bin", Response(200, "", XML, body.format("up-New9").encode())
    )
    request, _ = correlator.rewrite(
        Request("GET", "http://staging:8000/b/big.bin?uploadId=up-Old7", (), b""), "2"
    )
    assert request.url == "http://staging:8000/b/big.bin?uploadId=up-New9"
