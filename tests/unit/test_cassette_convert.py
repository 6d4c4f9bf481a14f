"""`apitape convert`: YAML <-> JSON lines, exact round trips, no overwrite without --force."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from apitape.cassette import convert_cassette, load_cassette, write_cassette
from apitape.cli import main
from tests.unit.factories import exchange
from tests.unit.test_cassette import CREATED, golden_exchanges
from tests.unit.test_cassette_stream import varied_exchanges

METADATA = {"redaction": {"enabled": True, "key": "env", "key_id": "ab12"}, "sample": {"rate": 0.5}}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_yaml_to_json_lines_and_back_is_exact(tmp_path: Path) -> None:
    original = tmp_path / "c.yaml"
    exchanges = golden_exchanges() + varied_exchanges(3, 20)
    write_cassette(
        original, [e.with_id(str(n)) for n, e in enumerate(exchanges, 1)], CREATED, METADATA
    )
    assert invoke("convert", str(original), str(tmp_path / "c.jsonl")) == (
        0,
        "",
        f"apitape: converted 23 exchange(s) from {original} to {tmp_path / 'c.jsonl'}\n",
    )
    assert invoke("convert", str(tmp_path / "c.jsonl"), str(tmp_path / "back.yaml"))[0] == 0
    before, middle, after = (
        load_cassette(tmp_path / name) for name in ("c.yaml", "c.jsonl", "back.yaml")
    )
    assert before.exchanges == middle.exchanges == after.exchanges
    assert [e.extra for e in before.exchanges] == [e.extra for e in after.exchanges]
    assert before.metadata == middle.metadata == after.metadata
    assert (tmp_path / "back.yaml").read_text() == original.read_text()  # byte for byte


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    source, target = tmp_path / "c.yaml", tmp_path / "c.jsonl"
    write_cassette(source, [exchange()], CREATED)
    target.write_text("precious")
    code, _, err = invoke("convert", str(source), str(target))
    assert (code, target.read_text()) == (2, "precious")
    assert err == f"apitape: error: --force is needed to replace {target}, which exists\n"
    assert invoke("convert", str(source), str(target), "--force")[0] == 0
    assert len(load_cassette(target).exchanges) == 1


def test_bad_input_exits_2_naming_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    source, target = tmp_path / "c.yaml", tmp_path / "c.jsonl"
    write_cassette(source, [exchange(exchange_id="1"), exchange(exchange_id="2")], CREATED)
    text = source.read_text()
    second = text.index("- request:", text.index("# end of exchange 1"))
    source.write_text(
        text[:second] + text[second:].replace("uri: http://staging.example:8000", "uri: ", 1)
    )
    code, _, err = invoke("convert", str(source), str(target))
    line = text.count("\n", 0, second) + 1
    assert code == 2
    assert err.startswith(f"apitape: error: {source}, line {line}: interaction 2: request.uri")
    assert list(tmp_path.iterdir()) == [source]  # no half-written DST, no temp file


def test_a_torn_tail_is_dropped_with_a_warning(tmp_path: Path) -> None:
    source, target = tmp_path / "c.jsonl", tmp_path / "c.yaml"
    write_cassette(source, [exchange(exchange_id="1"), exchange(exchange_id="2")], CREATED)
    source.write_bytes(source.read_bytes()[:-20])
    code, _, err = invoke("convert", str(source), str(target))
    assert code == 0
    assert f"apitape: warning: {source}, line 3: the last exchange was cut off" in err
    assert [e.id for e in load_cassette(target).exchanges] == ["1"]


def test_converting_onto_itself_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "c.yaml"
    write_cassette(source, [exchange()], CREATED)
    code, _, err = invoke("convert", str(source), str(source), "--force")
    assert code == 2 and "is the cassette being converted" in err


def test_a_vcrpy_cassette_gets_an_apitape_header(tmp_path: Path) -> None:
    source = tmp_path / "vcr.yaml"
    source.write_text(
        "interactions:\n- request: {method: GET, uri: 'http://h/'}\n"
        "  response: {status: {code: 204}}\nversion: 1\n"
    )
    convert_cassette(source, tmp_path / "c.jsonl")
    converted = load_cassette(tmp_path / "c.jsonl")
    assert converted.metadata["format"] == 1
    assert [(e.id, e.response.status) for e in converted.exchanges] == [("1", 204)]


@pytest.mark.parametrize("target", ["c.jsonl", "c.yaml"])
def test_conversion_streams_in_memory_independent_of_size(tmp_path: Path, target: str) -> None:
    def peak(count: int) -> int:
        source = tmp_path / f"{count}.yaml"
        write_cassette(source, (exchange(exchange_id=str(i)) for i in range(1, count + 1)), CREATED)
        tracemalloc.start()
        try:
            convert_cassette(source, tmp_path / f"{count}-{target}")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(2000) < 2 * peak(50)
