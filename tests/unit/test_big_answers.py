"""Big answers cost no memory that grows with the run: results with big bodies are judged at
once and let go, examples with big bodies wait on disk, examples pushed out are dropped, the
replayer reads a session of big exchanges as it sends them; deadline errors name the phase."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import httpx

from apitape.models import Exchange, Response
from apitape.replay.http1 import WAITING, ReadDeadline, WriteDeadline
from apitape.replay.replayer import (
    LOOKAHEAD_BYTES,
    Replayer,
    ReplayResult,
    build_request,
    describe_error,
)
from apitape.verdict.judge import BIG_RESULT, Judge
from apitape.verdict.spool import Shelf
from tests.unit.factories import exchange

TARGET = "http://127.0.0.1:9000"
BIG = b'{"blob": "' + b"x" * BIG_RESULT + b'"}'
JSON = (("Content-Type", "application/json"),)


def big_result(place: int, url: str = "http://s/blobs/1") -> ReplayResult:
    recorded = exchange(url=url, response=Response(200, "OK", JSON, BIG), exchange_id=str(place))
    answer = Response(200, "OK", JSON, bytes(BIG))  # equal, not the same object
    return ReplayResult(recorded, build_request(recorded, TARGET), answer, 1.0)


def test_a_shelf_keeps_small_items_in_memory_and_big_ones_on_disk() -> None:
    shelf: Shelf[bytes] = Shelf(big=100)
    shelf.put("small", b"s" * 10, 10)
    shelf.put("big", b"b" * 1000, 1000)
    shelf.put("big2", b"c" * 1000, 1000)
    assert dict(shelf) == {"small": b"s" * 10, "big": b"b" * 1000, "big2": b"c" * 1000}
    assert list(shelf) == ["small", "big", "big2"]
    shelf.discard("big")
    shelf.discard("absent")
    assert dict(shelf) == {"small": b"s" * 10, "big2": b"c" * 1000}
    shelf.put("big2", b"small now", 9)
    assert shelf["big2"] == b"small now" and len(shelf) == 2


def test_a_result_with_big_bodies_is_judged_at_once_and_let_go() -> None:
    judgement = Judge(TARGET)
    result = big_result(0)
    held = weakref.ref(result)
    judgement.add(0, result, "c.yaml")
    del result
    gc.collect()
    # Judged (not waiting for a batch of 64) and kept as the endpoint's example on disk only.
    assert held() is None
    report = judgement.finish()
    assert report.interactions[0].outcome.value == "pass"
    recorded, answer = report.examples["0"]
    assert answer is not None and answer.body == BIG and recorded.response.body == BIG


def test_examples_pushed_out_by_earlier_exchanges_are_let_go() -> None:
    judgement = Judge(TARGET)
    for place in reversed(range(10)):  # later places answer first, as with --concurrency
        judgement.add(place, big_result(place), "c.yaml")
    report = judgement.finish()
    assert sorted(report.examples) == ["0", "1", "2"]


def test_a_session_of_big_exchanges_is_read_as_it_is_sent() -> None:
    size = 4 * 1024 * 1024
    count = 2 * LOOKAHEAD_BYTES // size  # twice what may be read ahead
    read = [0]
    ahead: list[int] = []

    def exchanges() -> Iterator[Exchange]:
        for i in range(count):  # one client: one session, replayed in order
            read[0] += 1
            yield exchange(url=f"http://s/blobs/{i}", exchange_id=str(i),
                           response=Response(200, "OK", JSON, b"x" * size))  # fmt: skip

    answered = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        ahead.append(read[0] - answered[0])
        answered[0] += 1
        return httpx.Response(200, content=b"ok")

    replayer = Replayer(TARGET, concurrency=2,
                        transport_factory=lambda: httpx.MockTransport(handler))  # fmt: skip
    results: list[ReplayResult] = []
    replayer.stream(exchanges(), lambda _, result: results.append(result))
    assert len(results) == count
    assert max(ahead) <= LOOKAHEAD_BYTES // size + 2 < count


def test_a_deadline_error_says_how_far_the_exchange_got() -> None:
    def described(error: httpx.TimeoutException) -> str:
        error.request = httpx.Request("GET", TARGET + "/x")
        return describe_error(error, 2)

    body = ReadDeadline("the body was still arriving (1,234 bytes so far)")
    assert described(body) == (
        "no complete answer within 2 s: the body was still arriving (1,234 bytes so far)"
    )
    sending = WriteDeadline("the request was still being sent (10 of 20 bytes)")
    assert described(sending) == (
        "no complete answer within 2 s: the request was still being sent (10 of 20 bytes)"
    )
    assert described(ReadDeadline(WAITING, waiting=True)) == (
        "no response within 2 s (raise the timeout if the target is just slow)"
    )
    assert described(httpx.ConnectTimeout("slow")) == "connect timed out after 2 s"
