"""The recorder's writer process, run in this process on real pipes: frames in, cassette out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.test import tflow

from apitape.capture.addon import flow_facts
from apitape.capture.exchange import Facts
from apitape.capture.writer import FrameReader, WriterSettings, frame, serve, settings_frame
from apitape.cassette import load_cassette


def facts(path: str, body: bytes = b'{"id": 1}') -> tuple[Any, ...]:
    """One exchange as the proxy hands it over: `flow_facts` of a mitmproxy flow."""
    flow = tflow.tflow(resp=True)
    flow.request.url = f"http://shop.test{path}"
    flow.request.headers.fields = (
        (b"Host", b"shop.test"),
        (b"Authorization", b"Bearer s3cr3t-token-value"),
    )
    flow.request.content = b""
    response = flow.response
    assert response is not None
    response.headers.fields = (
        (b"Content-Type", b"application/octet-stream"),
        (b"X-Caf\xe9", b"cr\xe8me"),
    )
    response.content = body
    return flow_facts(flow)


def run_writer(data: bytes) -> tuple[int, list[tuple[Any, ...]]]:
    """Feed `data` to the writer, end its input, and return its status and its answers."""
    source_read, source_write = os.pipe()
    answer_read, answer_write = os.pipe()
    os.write(source_write, data)
    os.close(source_write)
    try:
        status = serve(source_read, answer_write)
    finally:
        os.close(source_read)
        os.close(answer_write)
    reader, answers = FrameReader(), []
    while chunk := os.read(answer_read, 65536):
        answers += reader.feed(chunk)
    os.close(answer_read)
    return status, answers


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    stream = frame(("a", 1)) + frame(("b", b"\x00" * 300)) + frame(("c",))
    reader, messages = FrameReader(), []
    for start in range(0, len(stream), 7):
        messages += reader.feed(stream[start : start + 7])
    assert messages == [("a", 1), ("b", b"\x00" * 300), ("c",)]
    assert not reader.partial
    assert reader.feed(frame("cut")[:-1]) == []
    assert reader.partial


def test_every_whole_frame_is_stored_redacted_and_a_cut_off_last_one_is_not(
    tmp_path: Path,
) -> None:
    cassette = tmp_path / "c.yaml"
    binary = bytes(range(256))
    data = (
        settings_frame(WriterSettings(str(cassette)))
        + frame(facts("/a", binary))
        + frame(facts("/b"))
    )
    cut = frame(facts("/killed-mid-write"))[:-5]  # the proxy died while writing this one
    status, answers = run_writer(data + cut)
    assert status == 0
    assert answers[0] == ("ready", str(cassette))
    assert ("acked", 2, 2, 0) in answers
    assert answers[-1] == ("closed", 2, 0, [str(cassette)])
    first, second = load_cassette(cassette).exchanges
    assert first.response.body == binary
    assert second.request.url == "http://shop.test/b"
    authorization = dict(first.request.headers)["Authorization"]
    assert authorization.startswith("Bearer redacted-")
    assert ("X-Caf\xe9", "cr\xe8me") in first.response.headers  # latin-1, as on the wire


def test_the_policy_drops_what_the_filters_leave_out(tmp_path: Path) -> None:
    settings = WriterSettings(
        str(tmp_path / "c.yaml"), policy={"exclude_paths": ("/health",), "redact": False}
    )
    data = settings_frame(settings) + frame(facts("/health")) + frame(facts("/books/1"))
    status, answers = run_writer(data)
    assert status == 0
    assert answers[-1][:3] == ("closed", 1, 1)
    (kept,) = load_cassette(tmp_path / "c.yaml").exchanges
    assert kept.request.url.endswith("/books/1")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"redact_fields": ("[",)}, "is not a valid regex"),
        ({"sample": 2.0}, "must be more than 0 and at most 1"),
    ],
)
def test_unusable_settings_are_answered_with_the_reason(
    tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    status, answers = run_writer(settings_frame(WriterSettings(str(tmp_path / "c.yaml"), settings)))
    assert status == 2
    ((kind, text),) = answers
    assert kind == "error"
    assert message in text
    assert not (tmp_path / "c.yaml").exists()


def test_an_exchange_that_cannot_be_stored_is_named_by_its_method_and_url(
    tmp_path: Path,
) -> None:
    """Not `could not store b'GET' b'http'`: the method and the URL, decoded."""
    broken = Facts._make(facts("/books/7"))._replace(request_headers=((b"X-Count", 7),))
    data = settings_frame(WriterSettings(str(tmp_path / "c.yaml"))) + frame(tuple(broken))
    status, answers = run_writer(data)
    assert status == 1
    (failure,) = [text for kind, text, *_ in answers if kind == "failed"]
    assert failure.startswith("could not store GET http://shop.test/books/7 (AttributeError(")
    assert failure.endswith("please report this with the request's content type")
