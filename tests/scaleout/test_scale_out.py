"""`apitape replay --ray/--workers`: the bookstore's sessions sharded four ways on a real Ray
judge as one process does; a killed worker's shard is retried; a shard that fails twice ends
the run naming it; shards in an S3-compatible server; a `ray start` cluster on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import apitape
from apitape.demo import bookstore
from apitape.models import RunReport
from apitape.processes import stop, wait_for_output
from apitape.report.json_report import write_json_report
from apitape.runs.settings import RunSettings
from apitape.scale.ray_runner import ScaleOut, ShardDone, replay_on_ray
from apitape.scale.shard import shard_cassettes
from apitape.verdict.latency import LatencyPolicy
from apitape.verdict.noise import EndpointNoise, FieldNoise, NoiseModel, write_noise_file
from tests.bookstore_cassette import SECRET, SECRETS
from tests.scaleout.conftest import session_set

BIN = Path(sys.executable).parent


def verdicts(report: RunReport) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    return [
        (i.id, i.cassette, i.outcome.value, [(d.path, d.kind) for d in i.differences])
        for i in report.interactions
    ]


def groups(report: RunReport) -> list[tuple[str, str, str, int, int, list[str]]]:
    """The groups and their example exchanges (not the example's milliseconds)."""
    assert report.groups is not None
    return [
        (g.endpoint, g.path, g.kind, g.count, g.total, [e.id for e in g.examples])
        for g in report.groups
    ]


ALIKE = RunSettings(secrets=SECRETS, latency=LatencyPolicy(factor=0))
"""The two runs compared are timed apart: a slow moment in one (a loaded CI machine) would
make an endpoint 'slower' there only, which says nothing about the merge."""


def judged_alike(single: RunReport, merged: RunReport) -> None:
    """Same verdicts, noise decisions, correlation explanations, groups and exit status."""
    assert verdicts(merged) == verdicts(single)
    assert merged.ignored == single.ignored  # masks, noise and correlated, with their counts
    assert groups(merged) == groups(single)
    assert merged.counts == single.counts
    assert merged.skipped == single.skipped
    assert merged.exit_status == single.exit_status
    assert [(r.endpoint, r.count) for r in merged.latency] == [
        (r.endpoint, r.count) for r in single.latency
    ]
    # the recorded side is the cassette's, the same in both: the merged sketches' p95 is the
    # exact one within the sketch's relative error (ddsketch: only with the ray extra)
    from apitape.scale.sketch import RELATIVE_ACCURACY

    for one, many in zip(single.latency, merged.latency, strict=True):
        assert one.recorded_p95 is not None and many.recorded_p95 is not None
        assert abs(many.recorded_p95 - one.recorded_p95) <= RELATIVE_ACCURACY * one.recorded_p95
    assert any("DDSketch" in note for note in merged.notes)


@pytest.fixture
def noise_file(tmp_path: Path) -> Path:
    """$.price of GET /books/{id} differs on its own in 3 of 4 baseline runs: a decision the
    global counts make (40 of 56 answers differ there), which some shards alone would not."""
    model = NoiseModel(
        {
            "GET /books/{id}": EndpointNoise(
                runs_compared=4, fields={"$.price": FieldNoise(between_runs=3)}
            )
        },
        source=str(tmp_path / "noise.yaml"),
    )
    path = tmp_path / "noise.yaml"
    write_noise_file(path, model, {"learned_at": "2026-11-24T00:00:00Z"})
    return path


def test_four_shards_on_ray_judge_as_one_process(
    tmp_path: Path, noise_file: Path, local_ray: None
) -> None:
    cassette = session_set(tmp_path / "sessions.jsonl")
    settings = replace(ALIKE, noise_path=str(noise_file), concurrency=2)
    with bookstore(2, tmp_path / "single.sqlite3") as v2:
        single = apitape.replay(cassette, v2, settings=settings)
    done: list[ShardDone] = []
    with bookstore(2, tmp_path / "merged.sqlite3") as v2:
        merged = replay_on_ray([str(cassette)], v2, settings, ScaleOut(shards=4), done.append)
    assert sorted(d.index for d in done) == [0, 1, 2, 3]
    assert sum(d.exchanges for d in done) == 120
    assert single.exit_status == 1  # POST /books answers 200: a status is never noise
    assert any(i.rule.startswith("noise") and i.path == "$.price" for i in single.ignored)
    assert any(i.rule == "correlated" for i in single.ignored)
    judged_alike(single, merged)
    # every report format is written from the merged report as from the single one
    for report, name in ((single, "single"), (merged, "merged")):
        write_json_report(report, tmp_path / f"{name}.json")
    one, many = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("single", "merged"))
    assert one["summary"] == many["summary"] and one["groups"] == many["groups"]


def ray_task_pids() -> list[int]:
    """The processes running a shard for this test's Ray (started by this process: another
    test run on the machine has its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::_run_shard") and os.getpid() in ancestors(int(entry.name)):
                pids.append(int(entry.name))
    return pids


def ancestors(pid: int) -> list[int]:
    """The parent of `pid`, its parent, and so on, from /proc."""
    found = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        found.append(pid)
    return found


def test_a_killed_worker_s_shard_is_retried_and_the_report_is_complete(
    tmp_path: Path, local_ray: None
) -> None:
    cassette = session_set(tmp_path / "reads.jsonl", 4, reads_only=True)
    settings = ALIKE
    with bookstore(2, tmp_path / "single.sqlite3") as v2:
        single = apitape.replay(cassette, v2, settings=settings)
        killed: list[int] = []

        def kill_one() -> None:
            # The task's process is killed as soon as it is seen running a shard, so it is
            # mid-shard whatever the speed of the machine (a pause first gave a fast shard
            # time to finish, and the kill then hit an idle worker or a process gone).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                for pid in ray_task_pids():
                    with contextlib.suppress(ProcessLookupError):  # gone meanwhile: the next one
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        break
                time.sleep(0.01)

        killer = threading.Thread(target=kill_one)
        killer.start()
        merged = replay_on_ray([str(cassette)], v2, settings, ScaleOut(shards=2))
        killer.join()
    assert killed, "no Ray task process was found to kill"
    assert merged.input_error is None
    assert len(merged.interactions) == len(single.interactions)
    judged_alike(single, merged)


def test_a_shard_that_fails_twice_ends_the_run_naming_it(tmp_path: Path, local_ray: None) -> None:
    cassette = session_set(tmp_path / "sessions.jsonl")
    manifest = shard_cassettes([str(cassette)], str(tmp_path / "shards"), 4)
    broken = Path(manifest.shard_location(2))
    broken.write_bytes(broken.read_bytes() + b"\n")  # no longer what the manifest says
    with bookstore(2, tmp_path / "v2.sqlite3") as v2:
        report = replay_on_ray(
            [str(tmp_path / "shards")], v2, RunSettings(secrets=SECRETS), ScaleOut()
        )
    assert report.exit_status == 2
    assert report.input_error is not None
    assert re.search(r"shard 2 \(.*shard-00002-of-00004.jsonl\) failed twice", report.input_error)
    assert "does not match its manifest" in report.input_error
    assert len(report.interactions) == manifest.exchanges - manifest.shards[2].exchanges or (
        report.notes and "of 4 shard(s)" in report.notes[-1]
    )


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """moto's S3-compatible server on a loopback port, and the environment that points there."""
    log = tmp_path / "moto.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        # werkzeug logs the port it bound: " * Running on http://127.0.0.1:47009"
        port = wait_for_output(server, log, re.compile(r"Running on http://[\d.]+:(\d+)")).group(1)
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        import fsspec

        fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True).mkdir("shards")
        yield endpoint
    finally:
        stop(server)


def test_shards_in_an_s3_compatible_server(tmp_path: Path, s3_server: str) -> None:
    import fsspec
    import ray

    cassette = session_set(tmp_path / "sessions.jsonl")
    run = subprocess.run(
        [str(BIN / "apitape"), "shard", str(cassette), "--into", "s3://shards/run-1", "-n", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "manifest: s3://shards/run-1/manifest.json" in run.stderr
    fs = fsspec.filesystem("s3", endpoint_url=s3_server, skip_instance_cache=True)
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.ls("shards/run-1")) == [
        "manifest.json",
        *(f"shard-{i:05d}-of-00004.jsonl" for i in range(4)),
    ]
    settings = ALIKE
    with bookstore(2, tmp_path / "single.sqlite3") as v2:
        single = apitape.replay(cassette, v2, settings=settings)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # after the AWS env
    try:
        with bookstore(2, tmp_path / "merged.sqlite3") as v2:
            merged = replay_on_ray(["s3://shards/run-1"], v2, settings, ScaleOut())
    finally:
        ray.shutdown()
    judged_alike(single, merged)


def test_a_ray_start_cluster_of_two_processes_on_loopback(tmp_path: Path) -> None:
    # Ray's sockets live under its temp dir: a pytest path is longer than a socket path may be
    ray_dir = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    ray_bin = str(BIN / "ray")
    common = ["--num-cpus", "1", "--block", "--disable-usage-stats"]
    log = tmp_path / "ray-head.log"
    with open(log, "w") as log_file:
        head = subprocess.Popen(
            [ray_bin, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", "0",
             "--include-dashboard", "false", "--temp-dir", ray_dir, *common],
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = None
    try:
        # --port 0: Ray picks the port and, once started, says how to join: --address='IP:PORT'
        joined = wait_for_output(head, log, re.compile(r"--address='[^':]+:(\d+)'"), 120)
        port = joined.group(1)
        worker = subprocess.Popen(
            [ray_bin, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1",
             *common],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        cassette = session_set(tmp_path / "sessions.jsonl")
        with bookstore(2, tmp_path / "single.sqlite3") as v2:
            single = apitape.replay(cassette, v2, settings=ALIKE)
        with bookstore(2, tmp_path / "merged.sqlite3") as v2:
            deadline = time.monotonic() + 60
            while True:  # wait until the worker node has joined: two CPUs
                status = subprocess.run(
                    [ray_bin, "status", "--address", f"127.0.0.1:{port}"],
                    capture_output=True, text=True,
                )  # fmt: skip
                if "2.0 CPU" in status.stdout or "0.0/2.0 CPU" in status.stdout:
                    break
                assert time.monotonic() < deadline, status.stdout + status.stderr
                time.sleep(1)
            result = subprocess.run(
                [str(BIN / "apitape"), "replay", str(cassette), "--target", v2,
                 "--secret", SECRET, "--report-json", str(tmp_path / "r.json"),
                 "--latency-factor", "0",
                 "--shards", "4", "--ray", f"127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        assert result.returncode == single.exit_status == 1, result.stderr
        assert result.stderr.count("done (") == 4
        merged = json.loads((tmp_path / "r.json").read_text())
        assert [
            (i["id"], i["outcome"], [(d["path"], d["kind"]) for d in i["differences"]])
            for i in merged["interactions"]
        ] == [(i, o, d) for i, _, o, d in verdicts(single)]
    finally:
        for process in (worker, head):
            if process is not None:
                stop(process, timeout=60)
        shutil.rmtree(ray_dir, ignore_errors=True)
