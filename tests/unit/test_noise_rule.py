"""The noise rule (after Diffy) and the noise file round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from apitape.errors import ConfigError
from apitape.models import Difference
from apitape.verdict.noise import (
    EndpointNoise,
    FieldNoise,
    NoiseCounter,
    NoiseModel,
    load_noise_file,
    write_noise_file,
)

MODEL = NoiseModel(
    {
        "GET /a": EndpointNoise(
            12, 12, {"$.hits": FieldNoise(12, 12), "$.rare": FieldNoise(1, 0)}, 12, 12
        ),
        "GET /b": EndpointNoise(2, 2, {"status": FieldNoise(2, 2)}, 0, 0),  # status always differed
    }
)


@pytest.mark.parametrize(
    ("endpoint", "path", "raw", "total", "signal"),
    [
        ("GET /a", "$.hits", 12, 12, False),  # differs as often as the baseline does
        ("GET /a", "$.rare", 12, 12, True),  # 12 of 12 against 1 of 12: a regression
        ("GET /a", "$.rare", 1, 12, False),  # as rare as the noise
        ("GET /a", "$.price", 1, 12, True),  # never noisy: one difference is signal
        ("GET /a", "$.price", 0, 12, False),
        ("GET /b", "$.hits", 2, 2, False),  # no same-status evidence on /b: /a's rate stands in
        ("GET /new", "$.hits", 3, 3, False),  # an endpoint never learned: pooled rate
        ("GET /new", "$.price", 3, 3, True),
    ],
)
def test_field_is_reported_only_above_its_noise(
    endpoint: str, path: str, raw: int, total: int, signal: bool
) -> None:
    assert MODEL.is_signal(endpoint, path, raw, total) is signal


def test_counter_counts_only_status_when_statuses_differ() -> None:
    counter = NoiseCounter()
    counter.add("GET /x", [Difference("$.hits", "value_changed", 1, 2)], from_recording=False)
    counter.add(
        "GET /x",
        [
            Difference("status", "status_changed", 200, 404),
            Difference("$.title", "field_removed", "a", None),
        ],
        from_recording=False,
    )
    learned = counter.model("test").endpoints["GET /x"]
    assert learned.runs_compared == 2 and learned.runs_same_status == 1
    assert set(learned.fields) == {"$.hits", "status"}
    assert learned.evidence("$.hits") == (1, 1)
    assert learned.evidence("status") == (1, 2)


def test_noise_file_round_trips_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    write_noise_file(path, MODEL, {"baseline": "http://127.0.0.1:1", "runs": 2})
    text = path.read_text()
    assert (
        "# differed between baseline runs in 12 of 12; from the recording in 12 of 12 comparisons with the same status"
        in text
    )
    loaded = load_noise_file(path)
    assert loaded.endpoints == MODEL.endpoints
    assert (loaded.relative_threshold, loaded.absolute_threshold) == (20.0, 0.03)


def test_broken_noise_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    path.write_text('version: 1\nendpoints:\n  "GET /a":\n    runs_compared: many\n')
    with pytest.raises(ConfigError, match=r"noise.yaml, line 3: endpoint 'GET /a'"):
        load_noise_file(path)
    path.write_text("version: 7\n")
    with pytest.raises(ConfigError, match="line 1: is not an apitape noise file"):
        load_noise_file(path)
