"""Replayer.stream: lazy input, bounded memory, sessions in order, results as they complete."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator

import httpx
import pytest

from apitape.models import Exchange, Request, Response
from apitape.replay.replayer import Replayer, ReplayResult
from tests.unit.factories import json_response

Handler = Callable[[httpx.Request], httpx.Response]


class SlowTarget(httpx.AsyncBaseTransport):
    """Answers from a function after yielding to the event loop a few times (as a network
    would), and records what was in flight."""

    def __init__(self, handler: Handler, log: list[str], in_flight: list[int]) -> None:
        self.handler, self.log, self.in_flight = handler, log, in_flight

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.in_flight.append(self.in_flight[-1] + 1)
        self.log.append(f"send {request.url.path}")
        for _ in range(3):
            await asyncio.sleep(0)
        self.log.append(f"answer {request.url.path}")
        self.in_flight.append(self.in_flight[-1] - 1)
        answer = self.handler(request)
        return httpx.Response(answer.status_code, headers=answer.headers, stream=answer.stream)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "application/json"}, content=b"{}")


def one(session: str, path: str, index: int) -> Exchange:
    return Exchange(
        str(index),
        Request("GET", f"http://staging{path}"),
        Response(200, "OK", (("Content-Type", "application/json"),), b"{}"),
        client=f"{session}:1000",
    )


def streamed(
    exchanges: Iterator[Exchange] | list[Exchange],
    handler: Handler = ok,
    **options: object,
) -> tuple[list[ReplayResult], list[str], list[int]]:
    log: list[str] = []
    in_flight = [0]
    results: list[ReplayResult] = []

    def on_result(place: int, result: ReplayResult) -> None:
        assert place not in places
        places.append(place)
        results.append(result)

    places: list[int] = []
    replayer = Replayer(
        "http://target",
        transport_factory=lambda: SlowTarget(handler, log, in_flight),
        **options,  # type: ignore[arg-type]
    )
    replayer.stream(exchanges, on_result)
    assert sorted(places) == list(range(len(results)))  # each input position once
    return results, log, in_flight


def test_each_session_replays_in_order_one_request_after_the_previous_answer() -> None:
    sessions = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    exchanges = [one(s, f"/{s}/{n}", i) for i, (n, s) in enumerate(
        (n, s) for n in range(5) for s in sessions)]  # fmt: skip
    results, log, _ = streamed(exchanges, concurrency=3, lookahead=4)
    assert sorted(r.exchange.id for r in results) == sorted(e.id for e in exchanges)
    for session in sessions:
        mine = [line for line in log if line.split(" ")[1].startswith(f"/{session}/")]
        expected = [f"{verb} /{session}/{n}" for n in range(5) for verb in ("send", "answer")]
        assert mine == expected  # never two in flight, never out of recorded order


def test_results_come_as_they_complete_and_concurrency_is_used() -> None:
    exchanges = [one(f"10.0.1.{i}", f"/s{i}", i) for i in range(40)]
    results, _, in_flight = streamed(iter(exchanges), concurrency=4, lookahead=8)
    assert len(results) == 40
    assert max(in_flight) == 4


def test_a_generator_is_read_lazily_with_a_bounded_number_held() -> None:
    read = 0
    answered = 0
    held: list[int] = []

    def cassette() -> Iterator[Exchange]:
        nonlocal read
        for i in range(5_000):
            read += 1
            held.append(read - answered)
            yield one(f"10.1.{i // 250}.{i % 250}", f"/items/{i}", i)

    first_seen_at: list[int] = []

    def on_result(place: int, result: ReplayResult) -> None:
        nonlocal answered
        assert result.exchange.request.url.endswith(f"/items/{place}")
        answered += 1
        if not first_seen_at:
            first_seen_at.append(read)

    replayer = Replayer(
        "http://target",
        concurrency=4,
        lookahead=16,
        transport_factory=lambda: SlowTarget(ok, [], [0]),
    )
    replayer.stream(cassette(), on_result)
    assert answered == 5_000
    assert first_seen_at[0] <= 16 + 1  # the first answer came long before the input ended
    assert max(held) <= 16 + 1  # never more than lookahead read and not answered


def test_learned_ids_carry_to_later_requests_of_the_session_even_after_it_drained() -> None:
    created = Exchange(
        "1",
        Request("POST", "http://staging/books", (("Content-Type", "application/json"),), b"{}"),
        json_response({"id": 31}, 201),
        client="10.0.0.1:1",
    )
    others = [one(f"10.0.2.{i}", f"/other/{i}", 100 + i) for i in range(30)]
    read_back = Exchange(
        "2",
        Request("GET", "http://staging/books/31"),
        json_response({"id": 31}),
        client="10.0.0.1:2",
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, headers={"Content-Type": "application/json"},
                                  content=json.dumps({"id": 131}).encode())  # fmt: skip
        return ok(request)

    # lookahead 2: the creating session has drained long before its next request is read.
    results, log, _ = streamed(iter([created, *others, read_back]), handler,
                               concurrency=2, lookahead=2)  # fmt: skip
    assert "send /books/131" in log
    (last,) = [r for r in results if r.exchange.id == "2"]
    assert [(s.recorded, s.replayed) for s in last.substitutions] == [("31", 131)]


def test_replay_returns_results_in_input_order_on_top_of_the_stream() -> None:
    exchanges = [one(f"10.0.3.{i % 5}", f"/p/{i}", i) for i in range(25)]
    replayer = Replayer("http://target", concurrency=5,
                        transport_factory=lambda: SlowTarget(ok, [], [0]))  # fmt: skip
    seen: list[str] = []
    results = replayer.replay(exchanges, lambda r: seen.append(r.exchange.id))
    assert [r.exchange.id for r in results] == [e.id for e in exchanges]
    assert sorted(seen) == sorted(e.id for e in exchanges)


def test_an_error_in_on_result_stops_the_stream_and_is_raised() -> None:
    def on_result(place: int, result: ReplayResult) -> None:
        raise RuntimeError("report disk full")

    replayer = Replayer("http://target", concurrency=3,
                        transport_factory=lambda: SlowTarget(ok, [], [0]))  # fmt: skip
    with pytest.raises(RuntimeError, match="report disk full"):
        replayer.stream((one(f"10.0.4.{i}", f"/{i}", i) for i in range(100)), on_result)


def test_speed_paces_a_stream_from_the_first_recorded_moment() -> None:
    from tests.unit.test_replay_request import FakeClock

    clock = FakeClock()
    stamps = ["2026-11-24T10:00:00.000000Z", "2026-11-24T10:00:02.000000Z"]
    exchanges = (
        Exchange(str(i), Request("GET", f"http://s/{i}"), Response(200), recorded_at=stamp,
                 client="c:1")
        for i, stamp in enumerate(stamps)
    )  # fmt: skip
    replayer = Replayer("http://t", speed=2.0, clock=clock, sleep=clock.sleep,
                        transport_factory=lambda: SlowTarget(ok, [], [0]))  # fmt: skip
    replayer.stream(exchanges, lambda _, __: None)
    assert clock.sleeps == [1.0]


def test_each_result_carries_its_endpoint_as_the_run_names_it() -> None:
    # Named once, by the replayer with the run's namer; the judge and noise learning use it.
    named: list[str] = []

    def endpoint_of(recorded: Exchange) -> str:
        named.append(recorded.id)
        return f"GET /kind-{int(recorded.id) % 2}"

    exchanges = [one(f"10.0.5.{i}", f"/p/{i}", i) for i in range(6)]
    replayer = Replayer("http://target", endpoint_of=endpoint_of,
                        transport_factory=lambda: SlowTarget(ok, [], [0]))  # fmt: skip
    results = replayer.replay(exchanges)
    assert [r.endpoint for r in results] == [f"GET /kind-{i % 2}" for i in range(6)]
    assert sorted(named) == sorted(e.id for e in exchanges)  # once each
