"""`apitape import` and `apitape export` with files the real mitmdump writes and reads."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apitape.cassette import load_cassette
from apitape.models import first_header
from apitape.processes import listening_port, stop
from tests.integration.conftest import BIN, BINARY, Upstream, run_apitape
from tests.integration.test_capture import check_recorded_session, send_session


def mitmdump_session(upstream: Upstream, tmp_path: Path, *options: str) -> None:
    """Run the real mitmdump as a reverse proxy with `options`, send a session, stop it."""
    log = tmp_path / "mitmdump.log"
    command = [
        str(BIN / "mitmdump"),
        "--mode",
        f"reverse:{upstream.url}",
        "--listen-host",
        "127.0.0.1",
        "-p",
        "0",  # mitmdump binds a port of its own and logs which
        "--set",
        f"confdir={tmp_path / 'mitmproxy-conf'}",
        *options,
    ]
    with open(log, "w") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        port = listening_port(process, log, timeout=60)
        responses = send_session(f"http://127.0.0.1:{port}")
        assert [r.status_code for r in responses] == [200, 200, 200, 201]
    finally:
        status = stop(process)  # SIGTERM: mitmdump writes its HAR dump as it shuts down
    assert status == 0, log.read_text()


def import_and_replay(source: Path, upstream: Upstream, tmp_path: Path) -> Path:
    cassette = tmp_path / "imported.yaml"
    result = run_apitape("import", str(source), "--cassette", str(cassette))
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        f"apitape: imported 4 exchange(s) from {source} into {cassette} (0 skipped: no response)\n"
    )
    replayed = run_apitape("replay", str(cassette), "--target", upstream.url)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    return cassette


def test_a_har_mitmproxy_wrote_imports_and_replays(upstream: Upstream, tmp_path: Path) -> None:
    har = tmp_path / "dump.har"
    mitmdump_session(upstream, tmp_path, "--set", f"hardump={har}")
    assert json.loads(har.read_text())["log"]["creator"]["name"] == "mitmproxy"

    cassette = import_and_replay(har, upstream, tmp_path)
    book, books, cover, thing = load_cassette(cassette).exchanges
    assert [e.id for e in (book, books, cover, thing)] == ["1", "2", "3", "4"]
    assert (book.request.method, book.request.url) == ("GET", f"{upstream.url}/books/1")
    assert json.loads(book.response.body) == {"id": 1, "title": "Dune", "price": 9.5}
    # mitmproxy's HAR holds the decoded body under the gzip header: the header goes
    assert books.extra == {"response_encoding": "gzip"}
    assert first_header(books.response.headers, "content-encoding") is None
    assert first_header(books.response.headers, "content-length") == str(len(books.response.body))
    assert len(json.loads(books.response.body)["items"]) == 39
    assert cover.response.body == BINARY  # base64 in the HAR, byte-exact here
    assert json.loads(thing.request.body) == {"name": "lamp"}
    assert (thing.response.status, thing.response.reason) == (201, "Created")
    for exchange in (book, books, cover, thing):
        assert exchange.recorded_at is not None and exchange.recorded_at.endswith("Z")
        assert exchange.duration_ms is not None and exchange.duration_ms >= 0


def test_a_flow_file_mitmdump_wrote_imports_as_the_recorder_would_store_it(
    upstream: Upstream, tmp_path: Path
) -> None:
    flows = tmp_path / "dump.mitm"
    mitmdump_session(upstream, tmp_path, "-w", str(flows))
    cassette = import_and_replay(flows, upstream, tmp_path)
    check_recorded_session(cassette, upstream)  # the same checks as `apitape record`'s


# mitmproxy's HAR reader, run in its own process: importing mitmproxy here would turn the
# deprecation warnings it triggers in newer pyparsing into errors (filterwarnings = error).
READ_WITH_MITMPROXY = """
import base64, json, sys
from mitmproxy.io import read_flows_from_paths

def b64(data):
    return base64.b64encode(data or b"").decode()

print(json.dumps([
    {
        "method": f.request.method,
        "url": f.request.url,
        "request_headers": [[k.decode(), v.decode()] for k, v in f.request.headers.fields],
        "request_body": b64(f.request.content),
        "status": f.response.status_code,
        "response_headers": [[k.decode(), v.decode()] for k, v in f.response.headers.fields],
        "response_body": b64(f.response.content),
    }
    for f in read_flows_from_paths([sys.argv[1]])
]))
"""


def test_an_exported_har_loads_in_mitmproxy_with_the_same_exchanges(
    upstream: Upstream, tmp_path: Path
) -> None:
    flows = tmp_path / "dump.mitm"
    mitmdump_session(upstream, tmp_path, "-w", str(flows))
    cassette = tmp_path / "c.yaml"
    assert run_apitape("import", str(flows), "--cassette", str(cassette)).returncode == 0
    har = tmp_path / "out.har"
    result = run_apitape("export", str(cassette), "--har", str(har))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"apitape: exported 4 exchange(s) from {cassette} to {har}\n"

    document = json.loads(har.read_text(encoding="utf-8"))
    assert document["log"]["version"] == "1.2"
    assert document["log"]["creator"]["name"] == "apitape"
    read = subprocess.run(
        [sys.executable, "-c", READ_WITH_MITMPROXY, str(har)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(read.stdout)
    exchanges = load_cassette(cassette).exchanges
    assert len(loaded) == len(exchanges) == 4
    for flow, exchange in zip(loaded, exchanges, strict=True):
        request, response = exchange.request, exchange.response
        assert (flow["method"], flow["url"]) == (request.method, request.url)
        assert base64.b64decode(flow["request_body"]) == request.body
        assert flow["status"] == response.status
        assert base64.b64decode(flow["response_body"]) == response.body
        # mitmproxy's reader adds `content-length: 0` to a request without a body
        assert [(k, v) for k, v in flow["request_headers"] if k != "content-length"] == [
            (name, value) for name, value in request.headers
        ]
        assert [tuple(pair) for pair in flow["response_headers"]] == list(response.headers)

    # mitmdump itself lists the file's requests...
    listed = subprocess.run(
        [str(BIN / "mitmdump"), "-nr", str(har), "--set", f"confdir={tmp_path / 'conf'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert listed.stdout.count(f"{upstream.url}/") == 4

    # ...and apitape reads its own HAR back into the same cassette, ids and timing included
    again = tmp_path / "again.yaml"
    assert run_apitape("import", str(har), "--cassette", str(again)).returncode == 0
    assert load_cassette(again).exchanges == exchanges


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.har", b"these are my notes", "is not a HAR file: not valid JSON"),
        (
            "entry.har",
            b'{"log": {"entries": [{"request": {"method": "GET"}, "response": {"status": 200}}]}}',
            "log.entries[0].request.url: is missing; fix or remove this entry",
        ),
        ("random.mitm", bytes(range(256)), "is not a mitmproxy flow file"),
        ("empty.flows", b"", "holds no HTTP exchange with a response (0 skipped)"),
        ("missing.har", None, "no such file"),
        ("missing.mitm", None, "no such file"),
    ],
)
def test_a_bad_source_exits_2_naming_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    cassette = tmp_path / "c.yaml"
    result = run_apitape("import", str(source), "--cassette", str(cassette))
    assert result.returncode == 2
    assert result.stderr.startswith(f"apitape: error: {source}: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not cassette.exists()


def test_import_keeps_an_existing_cassette_unless_forced(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[1] / "fixtures" / "sample.har"
    cassette = tmp_path / "c.yaml"
    cassette.write_text("precious\n")
    refused = run_apitape("import", str(source), "--cassette", str(cassette))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"apitape: error: --force is needed to replace {cassette}, which exists "
        "(or import into a new path)\n"
    )
    assert cassette.read_text() == "precious\n"
    forced = run_apitape("import", str(source), "--cassette", str(cassette), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "imported 5 exchange(s)" in forced.stderr and "(1 skipped: no response)" in forced.stderr


def test_export_of_a_bad_cassette_exits_2_naming_it(tmp_path: Path) -> None:
    for cassette, message in (
        (tmp_path / "missing.yaml", "no such file"),
        (Path(__file__), "is not"),
    ):
        result = run_apitape("export", str(cassette), "--har", str(tmp_path / "out.har"))
        assert result.returncode == 2
        assert result.stderr.startswith(f"apitape: error: {cassette}")
        assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.har").exists()
