"""`apitape replay --dry-run` writes UTF-8 whatever it is given: a lone surrogate (a byte of
an argument that was not UTF-8) is shown escaped, and a cassette holding one is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import BIN, REPO, Upstream

CASSETTE = REPO / "cassettes" / "bookstore.yaml"


def dry_run(*args: str) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `apitape replay --dry-run`, both decoded strictly."""
    # A str argument holding "\udcff" reaches the process as the byte 0xff (os.fsencode).
    result = subprocess.run(
        [str(BIN / "apitape"), "replay", *args, "--dry-run"], capture_output=True, timeout=60
    )
    # The assertion itself: decode raises UnicodeDecodeError on invalid UTF-8.
    return result.returncode, result.stdout.decode("utf-8"), result.stderr.decode("utf-8")


def test_a_header_byte_that_is_not_utf8_is_shown_escaped(upstream: Upstream) -> None:
    status, out, err = dry_run(
        str(CASSETTE), "--target", upstream.url, "--header", "X-Trace: a\udcffb"
    )
    assert status == 0, err
    assert "    X-Trace: a\\udcffb\n" in out
    assert out.endswith("apitape: dry run: 17 request(s) shown, none sent\n")
    assert upstream.hits == []


def test_a_target_byte_that_is_not_utf8_is_shown_escaped(upstream: Upstream) -> None:
    status, out, err = dry_run(str(CASSETTE), "--target", upstream.url + "/v\udcff")
    assert status == 0, err
    assert out.startswith(f"#1 GET {upstream.url}/v\\udcff/health\n")
    assert upstream.hits == []


@pytest.mark.parametrize("where", ["uri", "body", "header"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\uDC80"])
def test_a_jsonl_cassette_holding_a_lone_surrogate_is_refused(
    where: str, escape: str, tmp_path: Path
) -> None:
    request = {"method": "POST", "uri": "http://svc/a", "headers": {}, "body": "x"}
    if where == "header":
        request["headers"] = {"X-A": ["PLACE"]}
    else:
        request[where] = request[where] + "PLACE"  # type: ignore[operator]
    entry = {"request": request, "response": {"status": {"code": 200, "message": "OK"}}}
    header = json.dumps({"version": 1, "apitape": {"format": 1}})
    cassette = tmp_path / "lone.jsonl"
    cassette.write_text(f"{header}\n{json.dumps(entry).replace('PLACE', escape)}\n")

    status, out, err = dry_run(str(cassette), "--target", "http://127.0.0.1:9")
    assert status == 2
    assert out == ""
    assert err.startswith(f"apitape: error: {cassette}, line 2: holds a \\ud800-\\udfff escape")
    assert err.count("\n") == 1 and "Traceback" not in err
