"""Noise against real instances of the bookstore: masks, learned noise, three-way mode."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

import apitape
from apitape.demo import DEMO_PASSWORD, bookstore, drive_client
from tests.integration.conftest import run_apitape

RANDOM = ("--random-field", "cache_hits")


def record_session(workdir: Path, extra_args: Sequence[str] = ()) -> Path:
    """Record the bookstore client's session through `apitape record` in front of v1."""
    cassette = workdir / "session.yaml"
    key = workdir / "redaction.key"
    with (
        bookstore(1, workdir / "recorded-v1.sqlite3", extra_args) as v1,
        apitape.recording(v1, cassette, redact_key_file=key, log=workdir / "record.log") as proxy,
    ):
        drive_client(proxy, io.StringIO())
    return cassette


def fill(cassette: Path) -> tuple[str, ...]:
    """Replay options that put alice's redacted password back where it was used."""
    key = cassette.parent / "redaction.key"
    return ("--redact-key-file", str(key), "--secret", f"password={DEMO_PASSWORD}")


def replay(cassette: Path, target: str, report: Path, *extra: str) -> tuple[int, dict]:
    result = run_apitape(
        "replay",
        str(cassette),
        *fill(cassette),
        "--target",
        target,
        "--report-json",
        str(report),
        *extra,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result.returncode, json.loads(report.read_text())


def differences(report: dict) -> list[tuple[str, str, str]]:
    return sorted(
        {
            (i["endpoint"], re.sub(r"\[\d+\]", "[*]", d["path"]), d["kind"])
            for i in report["interactions"]
            for d in i["differences"]
        }
    )


@pytest.fixture(scope="module")
def cassette(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_session(tmp_path_factory.mktemp("recorded"))


def test_unchanged_build_reports_nothing_three_times(cassette: Path, tmp_path: Path) -> None:
    # Each run: a new process, a new database, new timestamps and tokens, another port.
    for run in range(3):
        with bookstore(1, tmp_path / f"fresh-{run}.sqlite3") as fresh_v1:
            status, report = replay(cassette, fresh_v1, tmp_path / f"r{run}.json")
        assert status == 0, differences(report)
        assert report["summary"] == {
            "total": 17,
            "passed": 17,
            "regressions": 0,
            "errors": 0,
            "skipped": 0,
            "confirmations": 0,
        }
        rules = {(i["path"], i["rule"]) for i in report["ignored"]}
        assert ("$.token", "redacted") in rules
        assert ("headers.location", "origin") in rules


def test_learned_noise_hides_a_field_that_changes_on_every_call(tmp_path: Path) -> None:
    cassette = record_session(tmp_path, RANDOM)
    with bookstore(1, tmp_path / "fresh.sqlite3", RANDOM) as fresh_v1:
        status, report = replay(cassette, fresh_v1, tmp_path / "before.json")
    assert status == 1
    assert {path for _, path, _ in differences(report)} == {"$.cache_hits"}

    noise_file = tmp_path / "apitape-noise.yaml"
    with bookstore(1, tmp_path / "baseline.sqlite3", RANDOM) as baseline:
        learned = run_apitape(
            "learn",
            str(cassette),
            *fill(cassette),
            "--target",
            baseline,
            "--runs",
            "3",
            "--output",
            str(noise_file),
        )
    assert learned.returncode == 0, learned.stderr
    text = noise_file.read_text()
    assert '"GET /books/{id}":' in text
    assert '"$.cache_hits": {between_runs: ' in text
    assert "# differed between baseline runs in" in text

    with bookstore(1, tmp_path / "fresh2.sqlite3", RANDOM) as fresh_v1:
        status, report = replay(
            cassette, fresh_v1, tmp_path / "after.json", "--noise", str(noise_file)
        )
    assert status == 0, differences(report)
    assert any(
        i["path"] == "$.cache_hits" and i["rule"].startswith("noise") for i in report["ignored"]
    )


def test_learned_noise_still_reports_the_planted_regressions(tmp_path: Path) -> None:
    cassette = record_session(tmp_path, RANDOM)
    noise_file = tmp_path / "noise.yaml"
    with bookstore(1, tmp_path / "baseline.sqlite3", RANDOM) as baseline:
        assert (
            run_apitape(
                "learn",
                str(cassette),
                *fill(cassette),
                "--target",
                baseline,
                "--output",
                str(noise_file),
            ).returncode
            == 0
        )
    with bookstore(2, tmp_path / "v2.sqlite3", RANDOM) as v2:
        status, report = replay(cassette, v2, tmp_path / "r.json", "--noise", str(noise_file))
    assert status == 1
    assert differences(report) == [
        ("GET /books", "$.items[*].isbn", "field_removed"),
        ("GET /books", "latency", "latency_increased"),
        ("GET /books/{id}", "$.price", "type_changed"),
        ("POST /books", "status", "status_changed"),
    ]


def test_three_way_same_build_reports_nothing(cassette: Path, tmp_path: Path) -> None:
    with (
        bookstore(1, tmp_path / "baseline.sqlite3", RANDOM) as baseline,
        bookstore(1, tmp_path / "candidate.sqlite3", RANDOM) as candidate,
    ):
        result = run_apitape("replay", str(cassette), *fill(cassette), "--baseline", baseline, "--candidate", candidate,
                             "--report-json", str(tmp_path / "r.json"), "--show-noise")  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.returncode == 0, differences(report)
    assert report["expected_from"] == "baseline"
    assert (report["target"], report["baseline"]) == (candidate, baseline)
    assert f"the candidate {candidate} against the baseline {baseline}" in result.stdout
    assert "Masked or treated as noise" in result.stdout
    assert any(i["path"] == "$.cache_hits" for i in report["ignored"])


def test_three_way_reports_what_the_candidate_does_differently(
    cassette: Path, tmp_path: Path
) -> None:
    with (
        bookstore(1, tmp_path / "baseline.sqlite3", RANDOM) as baseline,
        bookstore(2, tmp_path / "candidate.sqlite3", RANDOM) as candidate,
    ):
        result = run_apitape("replay", str(cassette), *fill(cassette), "--baseline", baseline, "--candidate", candidate,
                             "--report-json", str(tmp_path / "r.json"))  # fmt: skip
    report = json.loads((tmp_path / "r.json").read_text())
    assert result.returncode == 1
    assert differences(report) == [
        ("GET /books", "$.items[*].isbn", "field_removed"),
        ("GET /books", "latency", "latency_increased"),
        ("GET /books/{id}", "$.price", "type_changed"),
        ("POST /books", "status", "status_changed"),
    ]
    assert {d["expected_from"] for i in report["interactions"] for d in i["differences"]} == {
        "baseline"
    }


def test_the_documented_example_config_replays_the_bookstore_cleanly(
    cassette: Path, tmp_path: Path
) -> None:
    config = Path(__file__).resolve().parents[2] / "examples" / "apitape.yaml"
    with bookstore(1, tmp_path / "fresh.sqlite3") as fresh_v1:
        status, report = replay(cassette, fresh_v1, tmp_path / "r.json", "--config", str(config))
    assert status == 0, differences(report)
    assert ("POST /login", "$.expires_at", "mask") in {
        (i["endpoint"], i["path"], i["rule"]) for i in report["ignored"]
    }


def test_a_crud_session_replays_cleanly_where_the_new_build_hands_out_other_ids(
    cassette: Path, tmp_path: Path
) -> None:
    # The recorded session created book 31; this database hands out 131 instead.
    with bookstore(1, tmp_path / "other-history.sqlite3", ("--id-offset", "100")) as fresh_v1:
        status, report = replay(cassette, fresh_v1, tmp_path / "on.json")
    assert status == 0, differences(report)
    carried = {
        (s["recorded"], s["replayed"], s["used_in"])
        for i in report["interactions"]
        for s in i["substitutions"]
    }
    assert ("31", "131", "path segment 2") in carried
    create = next(
        i
        for i in report["interactions"]
        if i["endpoint"] == "POST /books" and i["status"]["expected"] == 201
    )
    assert any(i["path"] == "$.id" and i["rule"] == "correlated" for i in report["ignored"])
    assert create["differences"] == []


def test_without_correlation_the_same_replay_shows_false_regressions(
    cassette: Path, tmp_path: Path
) -> None:
    with bookstore(1, tmp_path / "other-history.sqlite3", ("--id-offset", "100")) as fresh_v1:
        status, report = replay(cassette, fresh_v1, tmp_path / "off.json", "--no-correlate")
    assert status == 1
    assert ("GET /books/{id}", "status", "status_changed") in differences(report)  # a false 404
    assert all(i["substitutions"] == [] for i in report["interactions"])
