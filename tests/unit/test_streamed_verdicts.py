"""Verdicts judged as results arrive, in any order, and spooled to disk: same reports."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from apitape.models import Outcome
from apitape.replay.replayer import ReplayResult, build_request
from apitape.report.html import html_report
from apitape.report.json_report import write_json_report
from apitape.report.junit import junit_xml
from apitape.verdict.groups import group_differences
from apitape.verdict.judge import Judge, JudgeOptions, judge
from apitape.verdict.latency import LatencyPolicy
from apitape.verdict.noise import EndpointNoise, FieldNoise, NoiseModel
from apitape.verdict.spool import Spool, pack
from tests.unit.factories import exchange, json_response

TARGET = "http://127.0.0.1:9000"


def results(count: int) -> list[ReplayResult]:
    """A mix: equal answers, a price that became a string, a slow endpoint, errors."""
    made = []
    for i in range(count):
        url = f"http://s/books/{i}" if i % 3 else f"http://s/authors/{i}"
        recorded = exchange(
            url=url,
            response=json_response({"id": i, "price": 10}),
            exchange_id=str(i),
            duration_ms=1.0,
        )
        price: object = "10" if i % 7 == 0 else 10
        replayed = json_response({"id": i, "price": price})
        error = "connection reset" if i % 11 == 5 else None
        slow = 900.0 if url.startswith("http://s/authors") else 1.0
        made.append(
            ReplayResult(
                recorded,
                build_request(recorded, TARGET),
                None if error else replayed,
                None if error else slow,
                error,
            )
        )
    return made


def test_spool_gives_items_back_in_place_order_from_memory_and_from_disk() -> None:
    for in_memory in (1000, 3):
        spool: Spool[str] = Spool(in_memory=in_memory)
        places = list(range(50))
        random.Random(1).shuffle(places)
        for place in places:
            spool.put(place, f"item {place}")
        assert len(spool) == 50
        assert list(spool) == [f"item {i}" for i in range(50)]
        view = spool.view(lambda place, item: f"{place}: {item.upper()}")
        assert view[7] == "7: ITEM 7" and view[-1] == "49: ITEM 49" and len(view) == 50
        assert list(view)[3] == "3: ITEM 3"
        spool.close()


def test_items_packed_by_other_processes_are_stored_as_they_are_and_placed_later() -> None:
    # Shards' verdicts reach the driver packed, one run per shard as each finishes; the
    # driver's spool writes each run as it is, between reads (a read moves the file's
    # position; the next write must go to its end), and places them once all are in.
    for in_memory in (1000, 10):  # the shards' spools in memory, or on disk
        runs = []
        for shard in range(2):  # shard 0 has the even places, shard 1 the odd ones
            spool_of_shard: Spool[dict[str, object]] = Spool(in_memory=in_memory)
            places = list(range(shard, 40, 2))
            for local, place in reversed(list(enumerate(places))):
                spool_of_shard.put(local, {"id": place, "text": "é" * place})
            runs.append((places, pack(spool_of_shard.pickled())))
        spool: Spool[dict[str, object]] = Spool(in_memory=1000)
        spool.put(0, {"id": "not adopted"})  # a spool with items of its own moves to disk
        shard_1 = spool.put_packed(runs[1][1])
        assert spool.view(lambda _, item: item)[0]["id"] == "not adopted"
        shard_0 = spool.put_packed(runs[0][1])
        assert len(shard_0) == len(shard_1) == 20
        spool.place([(place + 1, at) for place, at in zip(runs[1][0], shard_1, strict=True)])
        spool.place([(place + 1, at) for place, at in zip(runs[0][0], shard_0, strict=True)])
        assert len(spool) == 41
        assert [item["id"] for item in spool] == ["not adopted", *range(40)]
        assert list(spool)[40]["text"] == "é" * 39
        spool.close()


def test_results_judged_out_of_order_and_spooled_give_the_same_reports(tmp_path: Path) -> None:
    made = results(60)
    options = JudgeOptions(latency=LatencyPolicy(factor=2.0, min_ms=100.0))
    in_order = judge(made, ["c.yaml"] * len(made), TARGET, options)

    streamed = Judge(TARGET, options, spool=Spool(in_memory=4))
    order = list(range(len(made)))
    random.Random(7).shuffle(order)
    for place in order:
        streamed.add(place, made[place], "c.yaml")
    report = streamed.finish()

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_json_report(in_order, first)
    write_json_report(report, second)
    assert first.read_text() == second.read_text()
    assert junit_xml(in_order) == junit_xml(report)
    assert report.count(Outcome.ERROR) == sum(1 for r in made if r.error)
    # The slow endpoint's exchanges became regressions when the verdicts were read.
    authors = [i for i in report.interactions if i.endpoint == "GET /authors/{id}"]
    assert authors and all(i.outcome is not Outcome.PASS for i in authors)
    assert any(g.kind == "latency_increased" for g in report.groups or ())


def test_groups_made_as_verdicts_come_equal_groups_read_back_in_order(tmp_path: Path) -> None:
    """With nothing decided at the end (no noise, no slower endpoint), `finish` uses the
    groups and counts made as each verdict came, in any order, without reading the verdicts
    back: the same report, examples of the lowest places first."""
    made = results(60)
    options = JudgeOptions(latency=LatencyPolicy(factor=0))
    in_order = judge(made, ["c.yaml"] * len(made), TARGET, options)
    streamed = Judge(TARGET, options, spool=Spool(in_memory=4))
    for place in reversed(range(len(made))):
        streamed.add(place, made[place], "c.yaml")
    report = streamed.finish()
    assert report.groups == tuple(group_differences(report.interactions))
    assert report.groups and report.groups[0].examples[0].id == "0"
    assert report.counts == {
        **Counter(i.outcome.value for i in report.interactions),
        "credential_refreshed": 0,
    }
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    write_json_report(in_order, first)
    write_json_report(report, second)
    assert first.read_text() == second.read_text()


def test_the_html_example_has_the_responses_of_the_earliest_exchange() -> None:
    made = results(30)
    streamed = Judge(TARGET, spool=Spool(in_memory=2))
    for place in reversed(range(len(made))):
        streamed.add(place, made[place], "c.yaml")
    report = streamed.finish()
    price = next(g for g in report.groups or () if g.path == "$.price")
    assert price.examples[0].id == "0"
    assert "0" in streamed.responses()
    page = html_report(report, streamed.responses())
    assert "$.price" in page and "type_changed" in page


def test_noise_applied_after_the_fact_removes_differences_and_lowers_outcomes() -> None:
    made = results(30)
    # $.price of /books differs on its own in every baseline run: noise, not a regression.
    learned = EndpointNoise(runs_compared=10, fields={"$.price": FieldNoise(between_runs=10)})
    options = JudgeOptions(noise=NoiseModel({"GET /books/{id}": learned}))
    report = judge(made, ["c.yaml"] * len(made), TARGET, options)
    books = [i for i in report.interactions if i.endpoint == "GET /books/{id}"]
    assert books and all(not i.differences and i.outcome is not Outcome.REGRESSION for i in books)
    authors = [i for i in report.interactions if i.endpoint == "GET /authors/{id}"]
    assert any(i.outcome is Outcome.REGRESSION for i in authors)  # not noise there
    assert any(f.path == "$.price" and f.rule.startswith("noise") for f in report.ignored)
