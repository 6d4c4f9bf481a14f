"""forecast_client.py tested against a cassette apitape recorded, with no weather service running.

The cassette holds `redacted-api_key-...` where the client sent its key; the client under
test sends a real key, and the placeholder matches it. Run: pytest examples/testing
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from forecast_client import ForecastClient
from vcr.errors import CannotOverwriteExistingCassetteException

from apitape.testing import play_cassette

CASSETTE = Path(__file__).parent / "cassettes" / "forecast.yaml"
BASE_URL = "http://weather.example:8000"  # the service the cassette was recorded from
API_KEY = "wk_test_not_the_recorded_key"  # any key: the recording has only a placeholder


@pytest.mark.apitape_cassette("cassettes/forecast.yaml")  # next to this file
def test_forecast_comes_from_the_recording() -> None:
    forecast = ForecastClient(BASE_URL, API_KEY).forecast("Paris")
    assert forecast["days"][0] == {"date": "2026-11-25", "high_c": 11, "low_c": 4, "sky": "rain"}


@pytest.mark.apitape_cassette("cassettes/forecast.yaml")
def test_subscribing_sends_the_key_in_the_json_body(apitape_vcr: Any) -> None:
    client = ForecastClient(BASE_URL, API_KEY)
    client.forecast("Paris")
    assert client.subscribe("Paris", "ada@example.com") == "sub-42"
    assert apitape_vcr.all_played  # vcrpy's cassette: every recorded exchange was asked for


def test_a_request_the_recording_lacks_fails_with_the_reason() -> None:
    client = ForecastClient(BASE_URL, API_KEY)
    with play_cassette(CASSETTE), pytest.raises(CannotOverwriteExistingCassetteException) as caught:
        client.forecast("Lyon")
    assert "parameter city: 'Lyon' != recorded 'Paris'" in str(caught.value)
