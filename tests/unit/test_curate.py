"""Curation: shapes and signatures, stats, select (filters, --minimize), merge; both formats."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape.cassette.store import iter_exchanges, load_cassette, write_cassette
from apitape.cli import main
from apitape.curate.merge import merge_cassettes
from apitape.curate.select import Filters, select_exchanges
from apitape.curate.signature import Signer, Widen, value_shape
from apitape.curate.sources import read_header
from apitape.curate.stats import Quantiles, capture_stats
from apitape.errors import CassetteError, UsageError
from apitape.models import Exchange
from apitape.testing import exchange, json_response

KEY_A = {"redaction": {"enabled": True, "key": "file", "key_id": "aaaa1111"}}
KEY_B = {"redaction": {"enabled": True, "key": "file", "key_id": "bbbb2222"}}


def at(ex: Exchange, client: str, second: int, ex_id: str) -> Exchange:
    return replace(
        ex, id=ex_id, client=f"{client}:5000", recorded_at=f"2026-12-01T10:00:{second:02d}.000000Z"
    )


def book(i: int, price: object = 9.5, status: int = 200) -> Exchange:
    body = {"id": i, "price": price} if status == 200 else {"error": "no"}
    return exchange(url=f"http://s/books/{i}", response=json_response(body, status))


def capture(tmp_path: Path, name: str = "c.yaml", metadata: dict | None = None) -> Path:
    """Three sessions: A reads two books; B reads one and misses one; C reads one book."""
    rows = [
        at(book(1), "10.0.0.1", 0, "1"),
        at(book(2), "10.0.0.2", 1, "2"),
        at(book(3), "10.0.0.1", 2, "3"),
        at(book(9, status=404), "10.0.0.2", 3, "4"),
        at(book(4), "10.0.0.3", 4, "5"),
    ]
    path = tmp_path / name
    write_cassette(path, rows, "2026-12-01T09:00:00.000000Z", metadata or KEY_A)
    return path


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"id": 1, "tags": ["a"]}, {"tags": ["b", "c"], "id": 9}, True),
        ({"price": 1.5}, {"price": 2}, True),
        ({"price": 1.5}, {"price": "1.50"}, False),
        ({"x": None}, {"x": 0}, False),
        ({"items": []}, {"items": [{"id": 1}]}, False),
        ([1, "a"], ["b", 2, 3], True),
    ],
)
def test_a_shape_is_the_structure_with_values_masked(a: object, b: object, same: bool) -> None:
    assert (value_shape(a) == value_shape(b)) is same


def test_signatures_name_endpoint_status_and_shapes_and_can_be_widened() -> None:
    sign = Signer()
    one = sign(exchange(url="http://s/books/1?format=short"))
    two = sign(exchange(url="http://s/books/2?format=long"))
    assert one == two and one.endpoint == "GET /books/{id}" and one.status == 200
    assert sign(exchange(url="http://s/books/1")) != one  # a query parameter more
    wide = Signer(widen=(Widen.parse("query:format"),))
    assert wide(exchange(url="http://s/books/1?format=short")) != wide(
        exchange(url="http://s/books/2?format=long")
    )
    with pytest.raises(UsageError):
        Widen.parse("cookie:x")


def test_quantiles_are_within_one_percent_in_constant_memory() -> None:
    q = Quantiles()
    for value in range(1, 10_001):
        q.add(float(value))
    assert q.quantile(0.5) == pytest.approx(5000, rel=0.01)
    assert q.quantile(0.95) == pytest.approx(9500, rel=0.01)
    assert len(q._buckets) < 1000


# --------------------------------------------------------------------------- stats


def test_stats_count_exchanges_sessions_endpoints_and_secrets(tmp_path: Path) -> None:
    secret = exchange(
        url="http://s/login",
        method="POST",
        request_headers=(("Authorization", "Bearer redacted-token-0123456789abcdef"),),
    )
    path = capture(tmp_path)
    rows = [*iter_exchanges(path), at(secret, "10.0.0.4", 5, "6")]
    write_cassette(path, rows, "2026-12-01T09:00:00.000000Z", KEY_A)
    found = capture_stats(path).as_dict()
    assert (found["exchanges"], found["sessions"], found["span_seconds"]) == (6, 4, 5.0)
    books = found["endpoints"][0]
    assert books["endpoint"] == "GET /books/{id}" and books["count"] == 5
    assert books["statuses"] == {"200": 4, "404": 1}
    assert (books["request_shapes"], books["response_shapes"]) == (1, 2)
    assert found["secrets"] == [{"label": "token", "placeholders": 1, "uses": 1}]
    assert found["cassettes"][0]["redaction"]["key_id"] == "aaaa1111"


# --------------------------------------------------------------------------- select


def test_filters_keep_what_matches_every_filter(tmp_path: Path) -> None:
    path = capture(tmp_path)
    out = tmp_path / "out.jsonl"
    result = select_exchanges(path, out, filters=Filters(statuses=("4xx",)))
    assert [e.id for e in iter_exchanges(out)] == ["4"]
    assert (result.exchanges_in, result.exchanges_out) == (5, 1)
    select_exchanges(
        path, out, filters=Filters(sessions=("10.0.0.1",), until="2026-12-01T10:00:01Z"), force=True
    )
    assert [e.id for e in iter_exchanges(out)] == ["1"]
    select_exchanges(path, out, filters=Filters(match=r'"id": 4'), force=True)
    assert [e.id for e in iter_exchanges(out)] == ["5"]
    with pytest.raises(UsageError):
        Filters(statuses=("abc",))
    with pytest.raises(UsageError, match="exists"):
        select_exchanges(path, out)


def test_minimize_keeps_the_fewest_whole_sessions_that_cover_every_signature(
    tmp_path: Path,
) -> None:
    path = capture(tmp_path)
    out = tmp_path / "min.yaml"
    result = select_exchanges(path, out, minimize=True)
    # B (a 200 and a 404) covers both signatures alone.
    assert [e.id for e in iter_exchanges(out)] == ["2", "4"]
    assert result.coverage_kept and result.signatures_in == 2 and result.sessions_out == 1
    assert result.reduction == 2.5
    again = tmp_path / "again.yaml"
    select_exchanges(path, again, minimize=True)
    assert again.read_text() == out.read_text()  # deterministic
    # Two examples of the 200: B has one, so the fewest sessions add A's two (not C's one
    # and then another)... any one more session with a 200 is enough; the earliest is taken.
    two = select_exchanges(path, tmp_path / "two.jsonl", minimize=True, per_signature=2)
    kept = [e.id for e in iter_exchanges(tmp_path / "two.jsonl")]
    assert two.examples_kept == two.examples_wanted == 3 and two.sessions_out == 2
    assert kept[:1] == ["1"] or kept == ["2", "4", "5"]


def test_select_keeps_the_header(tmp_path: Path) -> None:
    path = capture(tmp_path)
    select_exchanges(path, tmp_path / "o.jsonl", minimize=True)
    header = read_header(tmp_path / "o.jsonl")
    assert header["redaction"]["key_id"] == "aaaa1111"
    assert header["recorder"].startswith("apitape ")
    assert header["created_at"] == "2026-12-01T09:00:00.000000Z"
    assert header["curated"]["command"] == "select"
    assert header["curated"]["minimize"]["per_signature"] == 1


# --------------------------------------------------------------------------- merge


def test_merge_interleaves_by_time_renumbers_and_keeps_each_input_in_order(
    tmp_path: Path,
) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.jsonl"
    write_cassette(
        a, [at(book(1), "10.0.0.1", 0, "1"), at(book(2), "10.0.0.1", 4, "2")], None, KEY_A
    )
    write_cassette(
        b, [at(book(3), "10.0.0.1", 2, "1"), at(book(4), "10.0.0.2", 6, "2")], None, KEY_A
    )
    summary = merge_cassettes([a, b], tmp_path / "m.yaml")
    merged = load_cassette(tmp_path / "m.yaml")
    assert [e.id for e in merged.exchanges] == ["1", "2", "3", "4"]
    assert [e.request.url for e in merged.exchanges] == [
        f"http://s/books/{i}" for i in (1, 3, 2, 4)
    ]
    assert summary.exchanges == 4 and summary.redaction_key == "aaaa1111"
    assert merged.metadata["redaction"]["key_id"] == "aaaa1111"
    assert [s["cassette"] for s in merged.metadata["curated"]["from"]] == ["a.yaml", "b.jsonl"]


@pytest.mark.parametrize("other", [KEY_B, {"redaction": {"enabled": False}}])
def test_merge_refuses_cassettes_redacted_with_different_keys(tmp_path: Path, other: dict) -> None:
    a = capture(tmp_path, "a.yaml", KEY_A)
    b = capture(tmp_path, "b.yaml", other)
    with pytest.raises(CassetteError, match="placeholders would never match"):
        merge_cassettes([a, b], tmp_path / "m.yaml")
    assert not (tmp_path / "m.yaml").exists()


# --------------------------------------------------------------------------- the CLI


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_the_commands_print_what_they_did(tmp_path: Path) -> None:
    path = capture(tmp_path)
    code, out, _ = run("stats", str(path), "--json")
    assert code == 0 and json.loads(out)["exchanges"] == 5
    code, out, _ = run("stats", str(path))
    assert code == 0 and "GET /books/{id}" in out and "200:4 404:1" in out
    code, _, err = run("select", str(path), "--minimize", "--out", str(tmp_path / "m.jsonl"))
    assert code == 0
    assert "kept 2 of 5 exchange(s) (1 of 3 session(s))" in err and "reduction 2.5x" in err
    assert "coverage kept: 2 of 2 signature(s)" in err
    other = capture(tmp_path, "b.yaml", KEY_B)
    code, _, err = run("merge", str(path), str(other), "--out", str(tmp_path / "x.yaml"))
    assert code == 2 and "redaction key bbbb2222" in err and "Traceback" not in err
    code, _, err = run("select", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "y.yaml"))
    assert code == 2 and "no such file" in err
