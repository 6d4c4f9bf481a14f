"""`apitape shard`: sessions whole and in order, a stable hash, a manifest that checks the
shards, sessions spanning cassettes put back in recorded_at order. No Ray needed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import apitape
from apitape.cassette import iter_exchanges
from apitape.cli import main
from apitape.errors import UsageError
from apitape.models import Exchange
from apitape.scale.shard import (
    is_manifest,
    origin_of,
    read_manifest,
    shard_cassettes,
    shard_of,
    verify,
)
from tests.unit.factories import exchange, json_response


def session_set(sessions: int, per_session: int, stamp: int = 0) -> list[Exchange]:
    """`sessions` clients, their requests interleaved as real traffic is."""
    out = []
    for step in range(per_session):
        for client in range(sessions):
            base = exchange(url=f"http://s:8000/books/{step}", exchange_id=f"{client}-{step}")
            out.append(
                replace(
                    base,
                    client=f"10.0.0.{client + 1}:{4000 + step}",
                    recorded_at=f"2026-11-24T10:00:{stamp + step:02d}.{client:06d}Z",
                )
            )
    return out


def read_shards(directory: Path) -> list[list[tuple[int, int, Exchange]]]:
    manifest = read_manifest(str(directory))
    return [
        [origin_of(e) for e in iter_exchanges(manifest.shard_location(i))]
        for i in range(len(manifest.shards))
    ]


def test_a_shard_gives_back_each_exchange_as_it_was_in_its_input(tmp_path: Path) -> None:
    """Every field, extra included, comes back from the shard as it was recorded; only the
    shard's own id and mark are gone."""
    recorded = [
        replace(e, duration_ms=12.5, connection=f"c{n}", extra={"note": [n, {"k": "v"}]})
        for n, e in enumerate(session_set(3, 2))
    ]
    cassette = tmp_path / "set.jsonl"
    apitape.write_cassette(cassette, recorded)
    shard_cassettes([str(cassette)], str(tmp_path / "shards"), 2)
    back = sorted((place, original) for shard in read_shards(tmp_path / "shards")
                  for place, _, original in shard)  # fmt: skip
    assert [original for _, original in back] == recorded
    assert [original.extra for _, original in back] == [e.extra for e in recorded]


def test_the_hash_is_stable_and_spreads_keys() -> None:
    assert shard_of("10.0.0.1", 4) == shard_of("10.0.0.1", 4)
    assert shard_of("10.0.0.1", 1) == 0
    # fixed values: a shard must not move between machines, processes or versions
    assert [shard_of(f"10.0.0.{i}", 4) for i in range(1, 9)] == [
        shard_of(f"10.0.0.{i}", 4) for i in range(1, 9)
    ]
    assert len({shard_of(f"client-{i}", 4) for i in range(100)}) == 4


def test_every_session_goes_whole_and_in_order_to_one_shard(tmp_path: Path) -> None:
    cassette = tmp_path / "set.jsonl"
    apitape.write_cassette(cassette, session_set(12, 5))
    manifest = shard_cassettes([str(cassette)], str(tmp_path / "shards"), 4)
    shards = read_shards(tmp_path / "shards")
    assert manifest.exchanges == 60 == sum(len(s) for s in shards)
    assert [s.exchanges for s in manifest.shards] == [len(s) for s in shards]
    owner: dict[str, int] = {}
    for index, shard in enumerate(shards):
        places = [place for place, _, _ in shard]
        assert places == sorted(places)
        for _, source, original in shard:
            assert source == 0
            client = (original.client or "").rsplit(":", 1)[0]
            assert owner.setdefault(client, index) == index  # never split
    assert len(owner) == 12
    # each exchange comes back as it was in its cassette: its own id, no shard mark
    originals = {e.id: e for e in iter_exchanges(cassette)}
    for shard in shards:
        for _, _, original in shard:
            assert original == originals[original.id]
            assert original.extra == originals[original.id].extra


def test_the_manifest_records_inputs_key_counts_and_checksums(tmp_path: Path) -> None:
    cassette = tmp_path / "set.jsonl"
    apitape.write_cassette(cassette, session_set(6, 3))
    shard_cassettes([str(cassette)], str(tmp_path / "out"), 3, "client")
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert data["inputs"] == [str(cassette)]
    assert data["session_by"] == "client"
    assert data["n"] == 3 and data["exchanges"] == 18
    assert sum(s["sessions"] for s in data["shards"]) == 6
    assert is_manifest(str(tmp_path / "out")) and not is_manifest(str(cassette))
    manifest = read_manifest(str(tmp_path / "out" / "manifest.json"))
    first = Path(manifest.shard_location(0))
    verify(first, manifest.shards[0])
    first.write_bytes(first.read_bytes() + b"\n")
    with pytest.raises(UsageError, match="does not match its manifest"):
        verify(first, manifest.shards[0])


def test_the_manifest_carries_the_path_parameters_the_whole_capture_taught(
    tmp_path: Path,
) -> None:
    # Each client creates a post (the service makes up its key) and reads it back; the
    # keys are words, so only the traffic says `/posts/<key>` is one endpoint, not many.
    keys = ["Qazwsx", "Edcrfv", "Tgbyhn", "Ujmikl"]
    traffic = []
    for n, key in enumerate(keys):
        made = exchange("POST", "http://s/posts", json_response({"key": key}, 201),
                        exchange_id=f"{n}-a")  # fmt: skip
        read = exchange(url=f"http://s/posts/{key}", exchange_id=f"{n}-b")
        traffic += [replace(e, client=f"10.0.0.{n}:1") for e in (made, read)]
    cassette = tmp_path / "posts.jsonl"
    apitape.write_cassette(cassette, traffic)
    written = shard_cassettes([str(cassette)], str(tmp_path / "out"), 4, "client")
    manifest = read_manifest(str(tmp_path / "out"))
    assert manifest.path_parameters == written.path_parameters
    learned = manifest.path_parameters
    assert learned is not None
    assert {learned.rename(f"GET /posts/{key}") for key in keys} == {"GET /posts/{id}"}
    assert learned.rename("GET /posts") == "GET /posts"
    assert [p.template for p in learned.learned] == ["/posts/{id}"]
    # A manifest written before they were kept still reads; the driver then learns itself.
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    del data["path_parameters"]
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(data))
    assert read_manifest(str(tmp_path / "out")).path_parameters is None


def test_two_proxies_cassettes_shard_together_and_spanning_sessions_are_reordered(
    tmp_path: Path,
) -> None:
    # Without client affinity each proxy saw some of a session's requests: proxy A the even
    # steps, proxy B the odd ones.
    everything = session_set(3, 6)
    a = [e for e in everything if int(e.id.split("-")[1]) % 2 == 0]
    b = [e for e in everything if int(e.id.split("-")[1]) % 2 == 1]
    paths = [tmp_path / "proxy-a.jsonl", tmp_path / "proxy-b.jsonl"]
    for path, part in zip(paths, (a, b), strict=True):
        apitape.write_cassette(path, part)
    result = CliRunner().invoke(
        main,
        ["shard", *map(str, paths), "--into", str(tmp_path / "s"), "-n", "2"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "3 session(s) appear in several cassettes" in result.output
    for shard in read_shards(tmp_path / "s"):
        by_client: dict[str, list[str]] = {}
        for _, _, original in shard:
            by_client.setdefault(original.client or "", []).append(original.recorded_at or "")
        for stamps in by_client.values():
            assert stamps == sorted(stamps)
    manifest = read_manifest(str(tmp_path / "s"))
    assert manifest.reordered_sessions == 3 and manifest.exchanges == 18


def test_sessions_that_stay_in_one_cassette_keep_the_inputs_order(tmp_path: Path) -> None:
    first = session_set(2, 2)
    second = [replace(e, client=f"10.9.{e.client}") for e in session_set(2, 2)]
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    apitape.write_cassette(paths[0], first)
    apitape.write_cassette(paths[1], second)
    manifest = shard_cassettes(list(map(str, paths)), str(tmp_path / "s"), 1)
    assert manifest.reordered_sessions == 0
    (only,) = read_shards(tmp_path / "s")
    assert [(place, source) for place, source, _ in only] == [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 1),
        (5, 1),
        (6, 1),
        (7, 1),
    ]


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    apitape.write_cassette(empty, [])
    runner = CliRunner()
    result = runner.invoke(main, ["shard", str(empty), "--into", str(tmp_path / "s"), "-n", "2"])
    assert result.exit_code == 2
    assert "nothing to shard" in result.output
    result = runner.invoke(
        main, ["shard", str(empty), "--into", str(tmp_path / "s"), "-n", "2", "--session-by", "x"]
    )
    assert result.exit_code == 2 and "'x' is not one of" in result.output
    with pytest.raises(UsageError, match="not a shard manifest"):
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "manifest.json").write_text("{}")
        read_manifest(str(tmp_path / "m"))


def test_the_extra_is_named_when_ray_is_missing_or_three_way_mode_is_asked(tmp_path: Path) -> None:
    cassette = tmp_path / "one.jsonl"
    apitape.write_cassette(cassette, [exchange()])
    result = CliRunner().invoke(
        main,
        [
            "replay",
            str(cassette),
            "--baseline",
            "http://a",
            "--candidate",
            "http://b",
            "--workers",
            "2",
        ],
    )
    assert result.exit_code == 2 and "three-way mode runs in one process" in result.output


def test_the_kuberay_rayjob_manifest_runs_apitape_on_ray() -> None:
    import yaml

    path = Path(__file__).resolve().parents[2] / "examples" / "kuberay" / "rayjob.yaml"
    job = yaml.safe_load(path.read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    entry = job["spec"]["entrypoint"].split()
    assert entry[:2] == ["apitape", "replay"] and entry[2].startswith("s3://")
    assert entry[-2:] == ["--ray", "auto"]
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    assert cluster["workerGroupSpecs"][0]["replicas"] >= 1
    # every option the entrypoint uses is one `apitape replay` takes
    result = CliRunner().invoke(main, ["replay", "--help"])
    for option in (o for o in entry if o.startswith("--")):
        assert option in result.output, option
