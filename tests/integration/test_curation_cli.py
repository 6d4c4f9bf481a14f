"""`apitape stats`, `select` and `merge` as a user runs them (issue 20): the installed command
on real cassette files of both formats, what it prints, what it writes, how it fails."""

from __future__ import annotations

import json
import os
import string
import subprocess
from dataclasses import replace
from pathlib import Path
from random import Random

import pytest

from apitape.cassette.store import iter_exchanges, load_cassette, write_cassette
from apitape.curate.sources import read_header
from apitape.models import Exchange
from apitape.testing import exchange, json_response
from tests.integration.conftest import BIN
from tests.integration.test_bad_input import CASSETTES

KEY_A = {"redaction": {"enabled": True, "key": "file", "key_id": "aaaa1111"}}
KEY_B = {"redaction": {"enabled": True, "key": "file", "key_id": "bbbb2222"}}


def apitape(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "APITAPE_DEBUG"}
    environment.update(env or {})
    return subprocess.run(
        [str(BIN / "apitape"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def failed(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """The one error line of a run that exited 2 without a traceback; it names `names`."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("apitape: error:")]
    assert len(errors) == 1, result.stderr
    for name in names:
        assert name in errors[0], errors[0]
    return errors[0]


def at(ex: Exchange, client: str, second: int, ex_id: int) -> Exchange:
    return replace(
        ex,
        id=str(ex_id),
        client=f"{client}:5000",
        recorded_at=f"2026-12-01T10:00:{second:02d}.000000Z",
        duration_ms=float(second + 1),
    )


def shop(path: Path, metadata: dict[str, object] | None = None) -> Path:
    """Three clients: 10.0.0.1 logs in (a token, a password) and reads a book; 10.0.0.2
    reads one and misses one; 10.0.0.3 lists the books with a query."""
    login = exchange(
        method="POST",
        url="http://s/login",
        body=b'{"user": "a", "password": "redacted-password-0123456789abcdef"}',
        request_headers=(("Content-Type", "application/json"),),
        response=json_response({"token": "redacted-token-fedcba9876543210"}),
    )
    authed = (("Authorization", "Bearer redacted-token-fedcba9876543210"),)
    rows = [
        at(login, "10.0.0.1", 0, 1),
        at(exchange(url="http://s/books/1", request_headers=authed,
                    response=json_response({"id": 1, "price": 9.5})), "10.0.0.1", 1, 2),
        at(exchange(url="http://s/books/2", response=json_response({"id": 2, "price": 7})),
           "10.0.0.2", 2, 3),
        at(exchange(url="http://s/books/9", response=json_response({"error": "no"}, 404)),
           "10.0.0.2", 3, 4),
        at(exchange(url="http://s/books?page=2", response=json_response({"items": []})),
           "10.0.0.3", 4, 5),
    ]  # fmt: skip
    write_cassette(path, rows, "2026-12-01T09:00:00.000000Z", metadata or KEY_A)
    return path


def ids(path: Path) -> list[str]:
    return [e.id for e in iter_exchanges(path)]


# --------------------------------------------------------------------------- stats


@pytest.mark.parametrize("name", ["shop.yaml", "shop.jsonl"])
def test_stats_show_each_endpoint_and_the_secrets_by_label(tmp_path: Path, name: str) -> None:
    shop(tmp_path / name)
    done = apitape("stats", name, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert (found["exchanges"], found["sessions"], found["span_seconds"]) == (5, 3, 4.0)
    assert found["cassettes"][0]["redaction"]["key_id"] == "aaaa1111"
    assert found["cassettes"][0]["recorder"].startswith("apitape ")
    rows = {row["endpoint"]: row for row in found["endpoints"]}
    assert list(rows) == ["GET /books/{id}", "GET /books", "POST /login"]
    books = rows["GET /books/{id}"]
    assert books["method"] == "GET" and books["count"] == 3
    assert books["statuses"] == {"200": 2, "404": 1}
    assert books["content_types"] == {"application/json": 3}
    assert books["latency_ms"] == {
        "p50": pytest.approx(3.0, rel=0.01),
        "p95": pytest.approx(4.0, rel=0.01),
    }
    assert set(books["response_bytes"]) == {"p50", "p95"}
    assert (books["request_shapes"], books["response_shapes"]) == (1, 2)
    assert rows["POST /login"]["request_bytes"]["p50"] > 0
    assert found["secrets"] == [
        {"label": "password", "placeholders": 1, "uses": 1},
        {"label": "token", "placeholders": 1, "uses": 2},
    ]
    table = apitape("stats", name, cwd=tmp_path).stdout
    assert "5 exchange(s) in 1 cassette(s)" in table and "3 session(s) by client" in table
    assert f"{name}: apitape " in table and "redaction key aaaa1111" in table
    for column in ("endpoint", "count", "statuses", "type", "body p50/95", "ms p50/95", "shapes"):
        assert column in table
    assert "200:2 404:1" in table
    assert "Redacted secrets" in table and "password" in table and "token" in table


def posts(path: Path, sessions: int = 30) -> Path:
    """Clients that each create a post and read it back by the short random id the service
    made: the guess from the path's shape alone would see 30 endpoints."""
    rnd = Random(1)
    rows: list[Exchange] = []
    for s in range(sessions):
        pid = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(7))
        created = exchange(
            method="POST", url="http://s/posts", response=json_response({"id": pid}, 201)
        )
        read = exchange(url=f"http://s/posts/{pid}", response=json_response({"id": pid}))
        rows += [at(created, f"10.1.0.{s}", s, 2 * s + 1), at(read, f"10.1.0.{s}", s, 2 * s + 2)]
    write_cassette(path, rows, "2026-12-01T09:00:00.000000Z", KEY_A)
    return path


def test_endpoints_are_named_as_the_replay_names_them_with_learned_parameters(
    tmp_path: Path,
) -> None:
    posts(tmp_path / "posts.jsonl")
    found = json.loads(apitape("stats", "posts.jsonl", "--json", cwd=tmp_path).stdout)
    assert [(r["endpoint"], r["count"]) for r in found["endpoints"]] == [
        ("GET /posts/{id}", 30),
        ("POST /posts", 30),
    ]
    done = apitape("select", "posts.jsonl", "--minimize", "--out", "suite.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "kept 2 of 60 exchange(s) (1 of 30 session(s)) in suite.yaml; reduction 30.0x" in (
        done.stderr
    )
    assert "coverage kept: 2 of 2 signature(s)" in done.stderr
    done = apitape(
        "select", "posts.jsonl", "--endpoint", "GET /posts/{id}", "--out", "reads.yaml",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ids(tmp_path / "reads.yaml") == [str(2 * s + 2) for s in range(30)]


# --------------------------------------------------------------------------- select


@pytest.mark.parametrize(
    ("filters", "kept"),
    [
        (["--endpoint", "GET /books/*"], ["2", "3", "4"]),
        (["--endpoint", "POST /*", "--endpoint", "GET /books"], ["1", "5"]),
        (["--method", "post"], ["1"]),
        (["--status", "4xx"], ["4"]),
        (["--status", "404,200", "--method", "GET"], ["2", "3", "4", "5"]),
        (["--since", "2026-12-01T10:00:02Z", "--until", "2026-12-01T10:00:03Z"], ["3", "4"]),
        (["--since", "2026-12-01T11:00:02+01:00"], ["3", "4", "5"]),
        (["--session", "10.0.0.2"], ["3", "4"]),  # by client: its address without the port
        (["--session", "10.0.0.[23]", "--status", "200"], ["3", "5"]),
        (["--match", "page=\\d"], ["5"]),
        (["--match", '"error"'], ["4"]),
    ],
)
def test_select_filters(tmp_path: Path, filters: list[str], kept: list[str]) -> None:
    shop(tmp_path / "shop.jsonl")
    done = apitape("select", "shop.jsonl", *filters, "--out", "out.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ids(tmp_path / "out.yaml") == kept
    assert f"kept {len(kept)} of 5 exchange(s)" in done.stderr


def test_a_time_without_a_zone_is_utc_whatever_the_machine_s_zone(tmp_path: Path) -> None:
    shop(tmp_path / "shop.yaml")
    for zone in ("UTC", "America/New_York", "Asia/Tokyo"):
        done = apitape(
            "select", "shop.yaml", "--since", "2026-12-01T10:00:03", "--out", "o.yaml",
            "--force", cwd=tmp_path, env={"TZ": zone},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert ids(tmp_path / "o.yaml") == ["4", "5"], zone


@pytest.mark.parametrize("suffix", ["yaml", "jsonl"])
def test_minimize_keeps_whole_sessions_the_same_way_every_time(tmp_path: Path, suffix: str) -> None:
    shop(tmp_path / f"shop.{suffix}")
    args = ("select", f"shop.{suffix}", "--minimize")
    first = apitape(*args, "--out", f"a.{suffix}", cwd=tmp_path)
    second = apitape(*args, "--out", f"b.{suffix}", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr
    assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()
    # Every session shows a signature no other does (a login, a 404, the list): all kept.
    assert ids(tmp_path / f"a.{suffix}") == ["1", "2", "3", "4", "5"]
    assert first.stderr.splitlines() == [
        f"apitape: kept 5 of 5 exchange(s) (3 of 3 session(s)) in a.{suffix}; reduction 1.0x",
        "apitape: coverage kept: 4 of 4 signature(s); 4 of 4 example(s) wanted at "
        "--per-signature 1",
    ]
    header = read_header(tmp_path / f"a.{suffix}")
    assert header["redaction"]["key_id"] == "aaaa1111"
    assert header["recorder"].startswith("apitape ")
    assert header["curated"]["minimize"] == {"per_signature": 1, "session_by": "client"}


def test_per_signature_keeps_up_to_k_examples_of_each(tmp_path: Path) -> None:
    posts(tmp_path / "posts.yaml", sessions=5)
    done = apitape(
        "select", "posts.yaml", "--minimize", "--per-signature", "3", "--out", "k.jsonl",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ids(tmp_path / "k.jsonl") == ["1", "2", "3", "4", "5", "6"]  # 3 whole sessions
    assert "coverage kept: 2 of 2 signature(s); 6 of 6 example(s) wanted at --per-signature 3" in (
        done.stderr
    )


def test_per_signature_without_minimize_is_refused(tmp_path: Path) -> None:
    shop(tmp_path / "shop.yaml")
    done = apitape("select", "shop.yaml", "--per-signature", "3", "--out", "o.yaml", cwd=tmp_path)
    assert "--per-signature counts the examples kept when minimizing" in failed(done)
    assert not (tmp_path / "o.yaml").exists()


def test_a_selection_that_keeps_nothing_says_so(tmp_path: Path) -> None:
    shop(tmp_path / "shop.yaml")
    done = apitape("select", "shop.yaml", "--status", "5xx", "--out", "o.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "apitape: warning: no exchange was kept: o.yaml holds none; widen the filters" in (
        done.stderr
    )
    assert "kept 0 of 5 exchange(s) (0 of 3 session(s)) in o.yaml; nothing kept" in done.stderr
    assert "reduction" not in done.stderr


# --------------------------------------------------------------------------- merge


def two_proxies(tmp_path: Path, b_metadata: dict[str, object] | None = None) -> None:
    """Client X's session spans both proxies; a.yaml and b.jsonl each in recorded order."""

    def row(n: int, client: str, second: int) -> Exchange:
        return at(exchange(url=f"http://s/items/{n}"), client, second, n)

    write_cassette(
        tmp_path / "a.yaml", [row(1, "X", 0), row(2, "Y", 1), row(3, "X", 4)], None,
        {**KEY_A, "recorder": "apitape 0.0.9"},
    )  # fmt: skip
    write_cassette(
        tmp_path / "b.jsonl", [row(11, "X", 2), row(12, "Z", 3), row(13, "X", 6)], None,
        b_metadata or KEY_A,
    )  # fmt: skip


@pytest.mark.parametrize("out", ["week.yaml", "week.jsonl"])
def test_merge_renumbers_and_keeps_sessions_in_recorded_order(tmp_path: Path, out: str) -> None:
    two_proxies(tmp_path)
    done = apitape("merge", "a.yaml", "b.jsonl", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"apitape: merged 6 exchange(s) from 2 cassette(s) into {out}, redaction key aaaa1111\n"
    )
    merged = load_cassette(tmp_path / out)
    assert [e.id for e in merged.exchanges] == ["1", "2", "3", "4", "5", "6"]
    assert [e.request.url.rsplit("/", 1)[1] for e in merged.exchanges] == [
        "1", "2", "11", "12", "3", "13",
    ]  # fmt: skip
    x = [e.request.url.rsplit("/", 1)[1] for e in merged.exchanges if e.client == "X:5000"]
    assert x == ["1", "11", "3", "13"]
    header = read_header(tmp_path / out)
    assert header["redaction"]["key_id"] == "aaaa1111"
    assert header["recorder"] == f"apitape 0.0.9, {read_header(tmp_path / 'b.jsonl')['recorder']}"
    assert [s["cassette"] for s in header["curated"]["from"]] == ["a.yaml", "b.jsonl"]


def test_merge_refuses_different_redaction_keys_naming_both_files(tmp_path: Path) -> None:
    two_proxies(tmp_path, KEY_B)
    done = apitape("merge", "a.yaml", "b.jsonl", "--out", "week.yaml", cwd=tmp_path)
    line = failed(done, "a.yaml", "b.jsonl", "aaaa1111", "bbbb2222")
    assert "one key file, or $APITAPE_REDACT_KEY, for every proxy" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.jsonl"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("name", sorted(CASSETTES))
@pytest.mark.parametrize("command", ["stats", "select", "merge"])
def test_bad_cassettes_exit_2_naming_the_file_and_write_nothing(
    tmp_path: Path, name: str, command: str
) -> None:
    (tmp_path / name).write_text(CASSETTES[name], encoding="utf-8", errors="surrogatepass")
    args = [command, name] if command == "stats" else [command, name, "--out", "out.jsonl"]
    failed(apitape(*args, cwd=tmp_path), name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("command", ["stats", "select", "merge"])
def test_a_missing_cassette(tmp_path: Path, command: str) -> None:
    args = (
        [command, "gone.yaml"] if command == "stats" else [command, "gone.yaml", "--out", "o.yaml"]
    )
    assert "no such file" in failed(apitape(*args, cwd=tmp_path), "gone.yaml")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["select"], ["select", "--minimize"], ["merge"]])
def test_a_bad_exchange_midway_leaves_the_existing_out_as_it_was(
    tmp_path: Path, command: list[str]
) -> None:
    good = shop(tmp_path / "shop.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "torn.jsonl").write_text("".join([*good[:3], '{"request": 1}\n', *good[3:]]))
    (tmp_path / "out.yaml").write_text("the previous suite\n")
    done = apitape(*command, "torn.jsonl", "--out", "out.yaml", "--force", cwd=tmp_path)
    failed(done, "torn.jsonl, line 4")
    assert (tmp_path / "out.yaml").read_text() == "the previous suite\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.yaml", "shop.jsonl", "torn.jsonl"]


@pytest.mark.parametrize("command", ["select", "merge"])
def test_an_out_that_cannot_be_written(tmp_path: Path, command: str) -> None:
    shop(tmp_path / "shop.yaml")
    failed(apitape(command, "shop.yaml", "--out", "shop.yaml/o.jsonl", cwd=tmp_path),
           "shop.yaml/o.jsonl", "not a folder")  # fmt: skip
    (tmp_path / "suites").mkdir()
    failed(apitape(command, "shop.yaml", "--out", "suites", "--force", cwd=tmp_path),
           "suites", "is a folder")  # fmt: skip
    failed(apitape(command, "shop.yaml", "--out", "shop.yaml", "--force", cwd=tmp_path),
           "shop.yaml", "one of the inputs")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.yaml", "suites"]
    assert list((tmp_path / "suites").iterdir()) == []
